"""The zoo's base datasets: small, deterministic (numpy, fixed seeds) and easy, so that any sane model beats a
constant prediction. Each base knows its true answers for the rows to predict; the renderers never change the
values, only how they are laid out on disk."""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd


@dataclass
class TableBase:
    """A tabular (or text-column) task: `train` holds features + target, `test` the features only; `y_test` the
    true answers for the test rows, in order. No id column: renderers add one in the style they test."""
    name: str
    train: pd.DataFrame
    test: pd.DataFrame
    target: str
    y_test: np.ndarray
    problem_type: str  # binary | multiclass | regression


@dataclass
class SeriesBase:
    """Long-format time series: `train` (series, time, value) and `test` (series, time) with `y_test`."""
    name: str
    train: pd.DataFrame  # columns: series, time (pd.Timestamp), value
    test: pd.DataFrame   # columns: series, time
    y_test: np.ndarray
    freq: str            # D | MS | QS


@dataclass
class ImageBase:
    """PNG bytes per image; train images with a class, test images with their true class."""
    train: list[tuple[str, str, bytes]] = field(default_factory=list)  # (stem, class, png)
    test: list[tuple[str, str, bytes]] = field(default_factory=list)


@dataclass
class DocBase:
    """Short documents with a class: (stem, class, text)."""
    train: list[tuple[str, str, str]] = field(default_factory=list)
    test: list[tuple[str, str, str]] = field(default_factory=list)


N_TEST = 60


# -- tabular --------------------------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def churn() -> TableBase:
    """Binary yes/no: short tenure, high charges and a month-to-month contract mean churn. Accented city names
    (they test the encodings)."""
    rng = np.random.default_rng(11)
    n = 300
    tenure = rng.integers(1, 72, size=n)
    charges = rng.uniform(20, 120, size=n).round(2)
    contract = rng.choice(["month-to-month", "one year", "two year"], size=n, p=[0.5, 0.3, 0.2])
    city = rng.choice(["Zürich", "Málaga", "Besançon", "Köln", "Lyon"], size=n)
    age = rng.integers(18, 80, size=n)
    logit = -0.09 * (tenure - 30) + 0.05 * (charges - 70) + 2.0 * (contract == "month-to-month") - 1.0
    y = np.where(logit + rng.logistic(scale=0.4, size=n) > 0, "yes", "no")
    df = pd.DataFrame({"age": age, "tenure": tenure, "monthly_charges": charges, "contract": contract,
                       "city": city, "churn": y})
    return _split("churn", df, "churn", "binary")


@lru_cache(maxsize=None)
def trees() -> TableBase:
    """Multiclass (3 well separated clusters) over four numeric measurements."""
    rng = np.random.default_rng(12)
    n = 270
    kinds = np.array(["oak", "pine", "birch"])
    k = rng.integers(0, 3, size=n)
    centers = np.array([[20.0, 8.0, 0.6, 40.0], [30.0, 4.0, 0.45, 10.0], [15.0, 5.0, 0.65, 70.0]])
    x = centers[k] + rng.normal(size=(n, 4)) * np.array([2.5, 1.0, 0.04, 8.0])
    df = pd.DataFrame({"height": x[:, 0].round(2), "crown_width": x[:, 1].round(2), "wood_density": x[:, 2].round(3),
                       "leaf_count": x[:, 3].round(0).astype(int), "kind": kinds[k]})
    return _split("trees", df, "kind", "multiclass")


@lru_cache(maxsize=None)
def houses() -> TableBase:
    """Regression: the price from area, rooms and district."""
    rng = np.random.default_rng(13)
    n = 280
    area = rng.uniform(30, 220, size=n).round(1)
    rooms = rng.integers(1, 7, size=n)
    district = rng.choice(["centre", "harbour", "hills", "old town"], size=n)
    built = rng.integers(1950, 2022, size=n)
    price = (2500 * area + 8000 * rooms + np.select([district == "centre", district == "hills"], [60000, 30000], 0)
             + 400 * (built - 1950) + rng.normal(0, 12000, size=n))
    df = pd.DataFrame({"area": area, "rooms": rooms, "district": district, "year_built": built,
                       "price": price.round(0).astype(int)})
    return _split("houses", df, "price", "regression")


_TOPICS = {
    "sports": ["match", "goal", "team", "coach", "league", "score", "player", "stadium", "season", "referee"],
    "weather": ["rain", "storm", "sunny", "forecast", "wind", "cloud", "snow", "temperature", "humid", "frost"],
    "cooking": ["recipe", "oven", "flour", "garlic", "bake", "sauce", "butter", "simmer", "onion", "pepper"],
}
_FILLER = ["the", "a", "today", "we", "saw", "really", "very", "some", "new", "again", "and", "with", "after"]


def _sentence(rng, topic: str) -> str:
    words = (list(rng.choice(_TOPICS[topic], size=rng.integers(3, 6)))
             + list(rng.choice(_FILLER, size=rng.integers(3, 7))))
    rng.shuffle(words)
    return " ".join(words).capitalize() + "."


@lru_cache(maxsize=None)
def reviews() -> TableBase:
    """Text classification: short synthetic sentences, one topic vocabulary per class."""
    rng = np.random.default_rng(14)
    n = 240
    topics = rng.choice(list(_TOPICS), size=n)
    text = [_sentence(rng, t) for t in topics]
    df = pd.DataFrame({"text": text, "topic": topics})
    return _split("reviews", df, "topic", "multiclass")


def _split(name: str, df: pd.DataFrame, target: str, ptype: str) -> TableBase:
    test = df.iloc[:N_TEST].reset_index(drop=True)
    train = df.iloc[N_TEST:].reset_index(drop=True)
    return TableBase(name=name, train=train, test=test.drop(columns=[target]), target=target,
                     y_test=test[target].to_numpy(), problem_type=ptype)


TABLE_BASES = {"churn": churn, "trees": trees, "houses": houses, "reviews": reviews}


# -- documents ------------------------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def documents() -> DocBase:
    rng = np.random.default_rng(15)
    out = DocBase()
    topics = list(_TOPICS)
    for i in range(150):
        t = topics[i % 3]
        out.train.append((f"doc_{i:03d}", t, " ".join(_sentence(rng, t) for _ in range(2))))
    for i in range(36):
        t = topics[int(rng.integers(0, 3))]
        out.test.append((f"new_{i:03d}", t, " ".join(_sentence(rng, t) for _ in range(2))))
    return out


# -- images ---------------------------------------------------------------------------------------------------
_COLORS = {"red": (200, 40, 40), "green": (40, 170, 60), "blue": (40, 70, 200)}


def _png(rng, cls: str) -> bytes:
    from PIL import Image, ImageDraw

    bg = tuple(int(v) for v in rng.integers(180, 240, size=3))
    im = Image.new("RGB", (16, 16), bg)
    d = ImageDraw.Draw(im)
    col = tuple(int(np.clip(c + rng.integers(-25, 26), 0, 255)) for c in _COLORS[cls])
    x0, y0 = (int(v) for v in rng.integers(0, 6, size=2))
    x1, y1 = x0 + int(rng.integers(7, 11)), y0 + int(rng.integers(7, 11))
    (d.ellipse if rng.random() < 0.5 else d.rectangle)([x0, y0, x1, y1], fill=col)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


@lru_cache(maxsize=None)
def images() -> ImageBase:
    """16x16 PNGs: a red, green or blue shape on a light background; 20 per class to train, 24 to predict."""
    rng = np.random.default_rng(16)
    out = ImageBase()
    classes = list(_COLORS)
    for i in range(60):
        c = classes[i % 3]
        out.train.append((f"img_{i:03d}", c, _png(rng, c)))
    for i in range(24):
        c = classes[int(rng.integers(0, 3))]
        out.test.append((f"q_{i:03d}", c, _png(rng, c)))
    return out


# -- time series ----------------------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def series(freq: str = "MS", n_series: int = 4, single: bool = False) -> SeriesBase:
    """Trend + season + small noise. Monthly: 36 months to learn, 6 to forecast; quarterly: 24 + 4; daily:
    84 days + 14 (weekly season)."""
    rng = np.random.default_rng({"MS": 21, "QS": 22, "D": 23}[freq] + 10 * single)
    n, h, period, start = {"MS": (36, 6, 12, "2016-01-01"), "QS": (24, 4, 4, "2014-01-01"),
                           "D": (84, 14, 7, "2019-01-03")}[freq]
    names = ["north", "south", "east", "west", "central"][: (1 if single else n_series)]
    tr, te, y_te = [], [], []
    for s, name in enumerate(names):
        t = pd.date_range(start, periods=n + h, freq=freq)
        k = np.arange(n + h)
        y = (100 + 30 * s + (1.5 + 0.5 * s) * k + (12 + 3 * s) * np.sin(2 * np.pi * k / period)
             + rng.normal(0, 1.5, size=n + h)).round(2)
        tr.append(pd.DataFrame({"series": name, "time": t[:n], "value": y[:n]}))
        te.append(pd.DataFrame({"series": name, "time": t[n:]}))
        y_te.append(y[n:])
    return SeriesBase(name=f"series_{freq}{'_single' if single else ''}", train=pd.concat(tr, ignore_index=True),
                      test=pd.concat(te, ignore_index=True), y_test=np.concatenate(y_te), freq=freq)


def learnable_check(base: TableBase) -> tuple[float, float]:
    """(score of a plain model, score of a constant) on the base's own test rows: the signal must be easy."""
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.feature_extraction.text import TfidfVectorizer

    if "text" in base.train.columns:
        vec = TfidfVectorizer().fit(base.train["text"])
        Xtr, Xte = vec.transform(base.train["text"]), vec.transform(base.test["text"])
    else:
        X = pd.get_dummies(pd.concat([base.train.drop(columns=[base.target]), base.test]), dtype=float)
        Xtr, Xte = X.iloc[: len(base.train)], X.iloc[len(base.train):]
    y = base.train[base.target]
    if base.problem_type == "regression":
        pred = RandomForestRegressor(n_estimators=100, random_state=0).fit(Xtr, y).predict(Xte)
        return float(np.sqrt(np.mean((pred - base.y_test) ** 2))), float(np.std(base.y_test))
    pred = RandomForestClassifier(n_estimators=100, random_state=0).fit(Xtr, y).predict(Xte)
    majority = pd.Series(base.y_test).value_counts(normalize=True).iloc[0]
    return float(np.mean(pred == base.y_test)), float(majority)


def series_naive_mae(base: SeriesBase) -> tuple[float, float]:
    """(MAE of a seasonal-naive forecast, MAE of each series' training mean) on the rows to forecast."""
    period = {"MS": 12, "QS": 4, "D": 7}[base.freq]
    snaive, mean = [], []
    for name, g in base.train.groupby("series", sort=False):
        h = int((base.test["series"] == name).sum())
        last = g["value"].to_numpy()[-period:]
        snaive.append(np.resize(last, h))
        mean.append(np.full(h, g["value"].mean()))
    y = base.y_test
    return float(np.mean(np.abs(np.concatenate(snaive) - y))), float(np.mean(np.abs(np.concatenate(mean) - y)))



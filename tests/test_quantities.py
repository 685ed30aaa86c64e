"""Numbers written with decoration (currencies, units, percentages, ranges, open bounds) are read as numbers, the
same way for the training rows, the rows to predict and new rows; codes, dates and mixed units are left alone."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from mlwright.perception.quantities import learn_quantity_format, read_quantities


@pytest.mark.parametrize("values, expected, unit", [
    (["$1,200", "$950", "$12,500.50", "$3.2k", "$1.5M"], [1200, 950, 12500.5, 3200, 1.5e6], "$"),
    (["12 kg", "350 g", "1.5kg", "2 kg", "800 g"], [12, 0.35, 1.5, 2, 0.8], "kg"),
    (["3+ years", "< 1 year", "5 years", "10+ years", "n/a"], [3, 1, 5, 10, np.nan], "years"),
    (["45%", "12.5%", "100%", "0%", "7 %"], [45, 12.5, 100, 0, 7], "%"),
    (["10-20", "20-30", "30 - 40", "5 to 10", "65+"], [15, 25, 35, 7.5, 65], ""),
    (["1.234,50 €", "12,00 €", "3,99 €", "999,90 €", "0,50 €"], [1234.5, 12, 3.99, 999.9, 0.5], "€"),
    (["3 bedrooms", "1 bedroom", "2 bedrooms", "4 bedrooms", "1 bedroom"], [3, 1, 2, 4, 1], "bedroom"),
])
def test_decorated_numbers_are_read(values, expected, unit):
    learned = learn_quantity_format(pd.Series(values * 3, dtype=object))
    assert learned is not None
    fmt, _ = learned
    assert fmt.unit == unit
    np.testing.assert_allclose(read_quantities(pd.Series(values, dtype=object), fmt), expected)


@pytest.mark.parametrize("values", [
    ["A-12", "B-7", "C-3"], ["2020-01", "2020-02", "2021-03"], ["02139", "10001", "94105"], ["12 kg", "3 m", "4 s"],
    ["1", "2", "3.5"], ["red", "green", "blue"], ["1.2.3", "2.0.1", "3.1.4"], ["$5", "€7", "£9"],
])
def test_codes_dates_plain_numbers_and_mixed_units_are_left_alone(values):
    assert learn_quantity_format(pd.Series(values * 5, dtype=object)) is None


def test_a_run_reads_decorated_columns_as_numbers_and_predict_reads_new_rows_alike(tmp_path):
    rng = np.random.default_rng(0)
    n = 400
    weight, years, price = rng.uniform(1, 50, n), rng.integers(0, 15, n), rng.uniform(100, 5000, n)
    y = 3 * weight + 10 * years + 0.01 * price + rng.normal(0, 3, n)
    df = pd.DataFrame({
        "id": range(n),
        "weight": [f"{v:.1f} kg" if v > 5 else f"{v * 1000:.0f} g" for v in weight],
        "experience": ["<1 year" if e == 0 else f"{e}+ years" if e >= 10 else f"{e} years" for e in years],
        "price": [f"${p:,.2f}" for p in price], "score": y})
    data = tmp_path / "data"
    data.mkdir()
    df.iloc[:300].to_csv(data / "train.csv", index=False)
    df.iloc[300:].drop(columns="score").to_csv(data / "test.csv", index=False)
    out = tmp_path / "run"
    r = run_cli("run", str(data), "--task", "predict score", "--output", str(out), "--time-limit", "40",
                "--no-autogluon")
    assert r.returncode == 0, r.stderr[-2000:]
    spec = json.loads((out / "run.json").read_text())["task"]
    assert set(spec["quantity_columns"]) == {"weight", "experience", "price"}
    assert spec["quantity_columns"]["weight"]["units"] == {"kg": 1.0, "g": 0.001}
    pred = pd.read_csv(out / "predictions.csv")
    rmse = float(np.sqrt(np.mean((pred["score"].to_numpy() - y[300:]) ** 2)))
    assert rmse < 0.35 * float(np.std(y[300:])), rmse  # the numbers carry the signal: read as categories they would not
    r = run_cli("predict", str(out), str(data / "test.csv"), "--output", str(tmp_path / "again.csv"))
    assert r.returncode == 0, r.stderr[-2000:]
    again = pd.read_csv(tmp_path / "again.csv")
    np.testing.assert_allclose(again["score"], pred["score"], rtol=1e-6)


def test_long_columns_are_read_whatever_their_sample_says_and_word_columns_are_skipped():
    """learn_readings tries the number readings only where a sample of the values mostly holds digits: a long column
    of decorated numbers with a fifth of odd entries is still read (its sample is far above the floor), a long
    column of words is not tried, and plain numbers with odd entries still become numbers."""
    from mlwright.perception.feature_readings import DIGIT_SAMPLE, digit_share, learn_readings

    n = 3 * DIGIT_SAMPLE
    rng = np.random.default_rng(0)
    weights = [f"{w} kg" if rng.random() < 0.85 else "unknown" for w in rng.integers(1, 90, n)]
    counts = [str(v) if rng.random() < 0.9 else "n/a" for v in rng.integers(0, 500, n)]
    words = rng.choice(["red", "green", "blue", "light grey"], n).tolist()
    train = pd.DataFrame({"weight": weights, "count": counts, "colour": words})
    test = train.iloc[:10].copy()
    assert digit_share(train["colour"]) == 0.0 and digit_share(train["weight"]) > 0.8
    notes: list[str] = []
    quantities: dict = {}
    _, numeric = learn_readings(train, test, ["weight", "count", "colour"], notes, quantities)
    assert numeric == ["count"] and list(quantities) == ["weight"]
    assert train["weight"].dtype == float and train["weight"].isna().mean() == pytest.approx(0.15, abs=0.02)
    assert train["colour"].dtype == object

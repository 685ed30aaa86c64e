"""mlwright recipe: statistical and global forecasting models, chosen on a holdout window.
Candidates: seasonal naive / naive / drift (numpy), statsforecast AutoETS, Dynamic Optimized Theta, AutoCES,
MSTL and a reduced AutoARIMA, Croston/ADIDA for intermittent series, and a global LightGBM on scaled lags.
Each runs in its own forked process with a deadline (two at a time on two cores); the last `horizon` rows of
each series are held out, every candidate and the mean of the best k are scored there with the task metric,
and the winning configuration is refit on the full series to forecast the test rows."""
# <<common>>
import argparse
import multiprocessing as mp
import pickle
import traceback
import warnings
from multiprocessing.connection import wait as mp_wait

warnings.filterwarnings("ignore")

# ==== forecasting helpers: identical in timeseries_naive and timeseries_stats (a test checks it) ==========
TS = SPEC.get("timeseries") or {}
ITEM, TIME = TS.get("item_column", "__series__"), TS.get("timestamp_column")
SYNTHETIC_ITEM = ITEM.startswith("__")
HORIZON = max(1, int(TS.get("horizon") or 1))
SEASON = max(1, int(TS.get("season_period") or 1))
FREQ = TS.get("freq")
METRIC = SPEC["metric"]
BUDGET = float(PARAMS.get("time_budget", 300.0))
KEYS = [SPEC["output_id_column"]] if SPEC.get("output_id_column") else []
if TIME not in KEYS:
    KEYS.append(TIME)
VALUE_COLS = [c for c in SPEC["output_columns"] if c not in KEYS]
N_CPU = max(1, min(2, os.cpu_count() or 1))


def elapsed():
    return time.time() - T0


def to_time(values):
    """Timestamps as a tz-naive DatetimeIndex (NaT where unparseable); integer stamps like 20140801 or 2014 are dates."""
    s = pd.Series(values).reset_index(drop=True)
    if not pd.api.types.is_datetime64_any_dtype(s):
        if pd.api.types.is_numeric_dtype(s):
            s = s.map(lambda v: None if pd.isna(v) else str(int(v)) if float(v).is_integer() else str(v))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                s = pd.to_datetime(s, errors="coerce", format="mixed")
            except (ValueError, TypeError):
                s = pd.to_datetime(s, errors="coerce", format="mixed", utc=True)
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    return pd.DatetimeIndex(s)


def item_values(df):
    if ITEM in df.columns:
        return df[ITEM].astype(str).to_numpy()
    return np.full(len(df), "series", dtype=object)


def fit_clock(times, items):
    """How timestamps become integer steps: the task's frequency grid when the stamps sit on it, calendar months
    (or quarters/years) for monthly-like steps, else the median step between consecutive stamps of a series."""
    ok = ~np.asarray(times.isna())
    t = times[ok]
    if len(t) == 0:
        return {"mode": "none"}
    origin = t.min()
    clock = {"mode": "step", "origin": origin, "freq": None, "months": 0, "step_s": 86400.0}
    if FREQ:
        try:
            grid = pd.date_range(origin, t.max(), freq=FREQ)
            if 1 <= len(grid) <= 5_000_000 and grid[0] == origin and (grid.get_indexer(t) >= 0).mean() >= 0.9:
                clock.update(mode="grid", freq=FREQ)
                return clock
        except (ValueError, TypeError, OverflowError):
            pass
    df = pd.DataFrame({"i": np.asarray(items)[ok], "t": t}).drop_duplicates().sort_values(["i", "t"])
    d = df.groupby("i")["t"].diff().dt.total_seconds()
    d = d[d > 0]
    step = float(d.median()) if len(d) else 86400.0
    for months, lo, hi in ((1, 27, 32), (3, 85, 95), (12, 360, 370)):
        if lo <= step / 86400 <= hi:
            clock.update(mode="months", months=months)
            return clock
    clock["step_s"] = step if step > 0 else 86400.0
    return clock


def positions(clock, times):
    """Integer step of each timestamp on the clock (NaN where the timestamp is missing)."""
    out = np.full(len(times), np.nan)
    ok = ~np.asarray(times.isna())
    if clock["mode"] == "none" or not ok.any():
        return out
    t, o = times[ok], clock["origin"]
    if clock["mode"] == "grid":
        n = len(pd.date_range(o, max(t.max(), o), freq=clock["freq"]))
        grid = pd.date_range(o, periods=n + 1, freq=clock["freq"])
        idx = np.clip(grid.searchsorted(t), 0, len(grid) - 1)
        prev = np.clip(idx - 1, 0, len(grid) - 1)
        tv, gi, gp = t.asi8, grid.asi8[idx], grid.asi8[prev]
        out[ok] = np.where(np.abs(tv - gp) < np.abs(gi - tv), prev, idx)
    elif clock["mode"] == "months":
        mdiff = (t.year - o.year) * 12 + (t.month - o.month)
        out[ok] = np.round(np.asarray(mdiff, dtype=float) / clock["months"])
    else:
        out[ok] = np.round((t - o).total_seconds().to_numpy() / clock["step_s"])
    return out


def build_histories(items, pos, y):
    """item -> (first step, values on the regular grid (gaps linearly interpolated), observed count)."""
    df = pd.DataFrame({"i": items, "p": pos, "y": y}).dropna()
    if df.empty:
        return {}
    df["p"] = df["p"].astype(np.int64)
    df = df.groupby(["i", "p"], sort=True)["y"].mean().reset_index()
    out = {}
    for i, g in df.groupby("i", sort=False):
        p, v = g["p"].to_numpy(), g["y"].to_numpy(dtype=float)
        span = int(p[-1] - p[0] + 1)
        if span > 20 * len(p) + 10_000:  # too sparse for a grid: the observations are taken as consecutive
            out[i] = (int(p[-1]) - len(p) + 1, v, len(p))
        else:
            out[i] = (int(p[0]), np.interp(np.arange(p[0], p[-1] + 1), p, v), len(p))
    return out


def steps_for(hist, items, pos):
    """Forecast step (1 = the first step after the history's end) of each query row; 0 for unknown items."""
    k = np.zeros(len(items), dtype=np.int64)
    last = {i: h[0] + len(h[1]) - 1 for i, h in hist.items()}
    counter = {}
    for j, (i, p) in enumerate(zip(items, pos)):
        if i not in last:
            continue
        if np.isnan(p):  # no usable timestamp: the next free steps, in row order
            counter[i] = counter.get(i, 0) + 1
            k[j] = counter[i]
        else:
            k[j] = max(1, int(p) - last[i])
    return k


def mase_scale(hist_values):
    """The scorer's scale: in-sample seasonal-naive MAE of the observed history (lag 1 when it is too short)."""
    h = np.asarray(hist_values, dtype=float)
    lag = SEASON if len(h) > SEASON else 1
    scale = np.nanmean(np.abs(h[lag:] - h[:-lag])) if len(h) > lag else np.nan
    if not np.isfinite(scale) or scale == 0:
        scale = np.nanmean(np.abs(h)) if len(h) else np.nan
        if not np.isfinite(scale) or scale == 0:
            scale = 1.0
    return float(scale)


class Holdout:
    """The last `horizon` rows of each long-enough series, held out to choose the model."""

    def __init__(self, frame):
        n_items = frame["i"].nunique()
        good = frame[["p", "y"]].notna().all(axis=1).groupby(frame["i"]).all()
        sizes = frame.groupby("i").size()
        min_hist = max(4, min(SEASON, 2 * HORIZON))
        h = pd.Series(0, index=sizes.index)
        h[(sizes >= HORIZON + min_hist) & good] = HORIZON
        self.relaxed = (h > 0).sum() < max(1, 0.5 * n_items)
        if self.relaxed:  # too few long series: shorter windows on the short ones
            short = (h == 0) & good & (sizes >= 2)
            h[short] = np.minimum(HORIZON, sizes[short] // 2)
        self.h = h[h > 0]
        f = frame.sort_values(["i", "p"], kind="stable")
        rank_from_end = f.groupby("i").cumcount(ascending=False)
        held = rank_from_end.to_numpy() < f["i"].map(self.h).fillna(0).to_numpy()
        self.rows = f[held]
        rest = f[~held]
        self.hist = build_histories(rest["i"].to_numpy(), rest["p"].to_numpy(), rest["y"].to_numpy())
        self.rows = self.rows[self.rows["i"].isin(self.hist)]
        self.k = steps_for(self.hist, self.rows["i"].to_numpy(), self.rows["p"].to_numpy())
        self.H = int(self.k.max()) if len(self.k) else 0
        scales = {i: mase_scale(g["y"].to_numpy()) for i, g in rest.groupby("i", sort=False)}
        self.items = self.rows["i"].to_numpy()
        self.y = self.rows["y"].to_numpy(dtype=float)
        self.scale = np.array([scales.get(i, 1.0) for i in self.items])
        self.n_items, self.n_total = len(self.h), n_items

    def values(self, fc):
        """The forecasts of the held rows (fc: item -> array over steps 1..H)."""
        return np.array([fc[i][k - 1] for i, k in zip(self.items, self.k)], dtype=float)

    def score(self, fc):
        """The task metric on the held rows (MASE: mean over series of MAE / scale, as mlwright scores it)."""
        yp = self.values(fc)
        err = np.abs(self.y - yp)
        if METRIC == "mase":
            per = pd.Series(err / self.scale).groupby(self.items).mean()
            return float(per.mean())
        if METRIC == "rmse":
            return float(np.sqrt(np.mean(err ** 2)))
        if METRIC == "mse":
            return float(np.mean(err ** 2))
        if METRIC == "mape":
            return float(np.mean(err / np.maximum(np.abs(self.y), np.finfo(float).eps)))
        return float(np.mean(err))


def baseline_forecast(name, hist, H):
    """numpy forecasts for every series: naive, snaive, drift, mean (last season/window), smean (seasonal mean)."""
    out = {}
    steps = np.arange(H)
    for i, (_, a, _) in hist.items():
        n = len(a)
        m = SEASON if SEASON > 1 and n >= SEASON else 1
        if name == "snaive" and m > 1:
            f = a[n - m + steps % m]
        elif name == "drift" and n > 1:
            f = a[-1] + (a[-1] - a[0]) / (n - 1) * (steps + 1)
        elif name == "mean":
            w = m if m > 1 else min(n, max(3, min(HORIZON, 12)))
            f = np.repeat(a[-w:].mean(), H)
        elif name == "smean" and m > 1:
            k = min(3, n // m)
            f = a[n - k * m:].reshape(k, m).mean(axis=0)[steps % m]
        else:
            f = np.repeat(a[-1], H)
        out[i] = np.asarray(f, dtype=float)
    return out


def sanitize(fc, fallback, hist, nonneg):
    """Finite, plausible forecasts: non-finite or missing values come from the fallback, wild ones are clipped."""
    out = {}
    for i, fb in fallback.items():
        a = np.asarray(fc.get(i, fb), dtype=float)
        if a.shape != fb.shape:
            a = fb.copy()
        bad = ~np.isfinite(a)
        if bad.any():
            a = np.where(bad, fb, a)
        v = hist[i][1]
        span = max(float(np.ptp(v)), float(np.mean(np.abs(v))), 1e-9)
        a = np.clip(a, v.min() - 3 * span, v.max() + 3 * span)
        out[i] = np.clip(a, 0, None) if nonneg else a
    return out


def ensemble(members):
    return {i: np.mean([m[i] for m in members], axis=0) for i in members[0]}


def choose(scores, max_k=4):
    """The config (a tuple of candidate names, averaged) with the best holdout score: every single candidate and
    the mean of the best k for k = 2..max_k."""
    ranked = sorted(scores, key=lambda n: scores[n])
    configs = [(n,) for n in ranked] + [tuple(ranked[:k]) for k in range(2, min(max_k, len(ranked)) + 1)]
    return configs


def write_prediction(path, frame, values):
    out = pd.DataFrame(index=range(len(frame)))
    for k in KEYS:
        out[k] = frame[k].to_numpy() if k in frame.columns else ""
    for c in VALUE_COLS:
        out[c] = np.asarray(values, dtype=float)
    out[SPEC["output_columns"]].to_csv(path, index=False)


def prepare(train, test):
    """Clock, training frame (item, step, target, row) and the test rows' items and steps."""
    t_tr, t_te = to_time(train[TIME]), to_time(test[TIME])
    i_tr, i_te = item_values(train), item_values(test)
    clock = fit_clock(t_tr.append(t_te), np.concatenate([i_tr, i_te]))
    y = pd.to_numeric(train[TARGET], errors="coerce").to_numpy(dtype=float)
    frame = pd.DataFrame({"i": i_tr, "p": positions(clock, t_tr), "y": y, "row": np.arange(len(train))})
    bad_t, bad_y = int(frame["p"].isna().sum()), int(np.isnan(y).sum())
    if bad_t or bad_y:
        log(f"training rows without a usable timestamp: {bad_t}, without a target: {bad_y} (left out of the histories)")
    return clock, frame, i_te, positions(clock, t_te)


def describe(hist, label):
    lens = np.array([len(h[1]) for h in hist.values()]) if hist else np.array([0])
    gaps = sum(len(h[1]) - h[2] for h in hist.values())
    log(f"{label}: {len(hist)} series, length min {lens.min()} / median {int(np.median(lens))} / max {lens.max()}"
        f", {gaps} missing steps interpolated; season {SEASON}, horizon {HORIZON}")
    short_season = int((lens < 2 * SEASON + 2).sum()) if SEASON > 1 else 0
    if short_season:
        log(f"{short_season} series are shorter than two seasons ({2 * SEASON + 2} steps), too short for seasonal "
            "models")
    tiny = int((lens < 3).sum())
    if tiny:
        log(f"{tiny} series have fewer than 3 points: they get the naive (last value) forecast")


def forecast_rows(fc, items, k, fallback_value):
    vals = np.full(len(items), fallback_value, dtype=float)
    unknown = 0
    for j, (i, s) in enumerate(zip(items, k)):
        f = fc.get(i)
        if f is None or s < 1:
            unknown += 1
            continue
        vals[j] = f[min(s, len(f)) - 1]
    if unknown:
        log(f"{unknown} rows belong to series absent from the training data: forecast = the training median "
            f"{fallback_value:.4g}")
    return vals


def main(fit, predict):
    """The `fit` / `predict` sub-commands of every recipe; forecasts write their own keys (item, timestamp)."""
    ap = argparse.ArgumentParser(description="mlwright forecasting solution: fit on the history or forecast rows")
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fit")
    f.add_argument("--train", required=True)
    f.add_argument("--test", required=True)
    f.add_argument("--out", default=".")
    f.add_argument("--model", default="model")
    p = sub.add_parser("predict")
    p.add_argument("--model", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    a = ap.parse_args()
    if a.cmd == "fit":
        os.makedirs(a.model, exist_ok=True)
        fit(load_table(a.train), load_table(a.test), a.out, a.model)
    else:
        new = load_table(a.input)
        if TIME not in new.columns:
            sys.exit(f"error: new data lacks the timestamp column {TIME!r}")
        if ITEM not in new.columns and not SYNTHETIC_ITEM:
            sys.exit(f"error: new data lacks the series column {ITEM!r}")
        write_prediction(a.output, new, predict(a.model, new))
        log(f"wrote {a.output} ({len(new)} rows)")


def load_bundle(model_dir):
    with open(os.path.join(model_dir, "forecast.pkl"), "rb") as fh:
        return pickle.load(fh)


def bundle_predict(bundle, new, refit):
    """Forecasts for new rows from a saved bundle; steps past the stored path are forecast again by `refit`."""
    items = item_values(new)
    if SYNTHETIC_ITEM and len(bundle["hist"]) == 1:
        items = np.full(len(new), next(iter(bundle["hist"])), dtype=object)
    k = steps_for(bundle["hist"], items, positions(bundle["clock"], to_time(new[TIME])))
    fc = bundle["forecast"]
    need = int(k.max()) if len(k) else 0
    if need > bundle["H"]:
        log(f"new rows reach step {need}, past the stored {bundle['H']} steps: forecasting again")
        fc = refit(bundle, need)
    return forecast_rows(fc, items, k, bundle["fallback_value"])
# ==== end of forecasting helpers =============================================================================

BASE_MODELS = ("snaive", "naive", "drift", "mean", "smean")
BASELINES = BASE_MODELS if SEASON > 1 else ("naive", "drift", "mean")
MAX_STAT_LEN = max(1000, 20 * SEASON)  # statistical models see at most this many recent steps
HOLDOUT_SHARE = float(PARAMS.get("holdout_share", 0.5))  # candidates must finish by this share of the budget
FINAL_SHARE = 0.88  # the refit must finish by this share of the budget


def effective_season(n):
    return SEASON if SEASON > 1 and n >= 2 * SEASON + 2 else 1


def _second_season():
    """A longer second season for MSTL: a year of days for daily data, a week of hours for hourly data."""
    base = str(FREQ or "").lstrip("0123456789").split("-")[0]
    return {("D", 7): 365, ("h", 24): 168, ("H", 24): 168}.get((base, SEASON))


SECOND_SEASON = _second_season()


def sf_model(name, seasons):
    from statsforecast import models as M

    m = seasons[0]
    if name == "ets":
        return M.AutoETS(season_length=m if m <= 24 else 1)
    if name == "theta":
        return M.DynamicOptimizedTheta(season_length=m)
    if name == "ces":
        return M.AutoCES(season_length=m)
    if name == "mstl":
        if m == 1:
            return M.AutoETS(model="ZZN")
        return M.MSTL(season_length=list(seasons) if len(seasons) > 1 else m,
                      trend_forecaster=M.AutoETS(model="ZZN"))
    if name == "arima":
        return M.AutoARIMA(season_length=m if m <= 24 else 1, max_p=3, max_q=3, max_P=1, max_Q=1, nmodels=30)
    if name == "croston":
        return M.CrostonOptimized()
    if name == "adida":
        return M.ADIDA()
    raise ValueError(name)


def _sf_call(name, seasons, items, hist, H):
    from statsforecast import StatsForecast
    from statsforecast import models as M

    arrays = [hist[i][1][-MAX_STAT_LEN:] for i in items]
    df = pd.DataFrame({"unique_id": np.repeat(np.asarray(items, dtype=object), [len(a) for a in arrays]),
                       "ds": np.concatenate([np.arange(len(a)) for a in arrays]),
                       "y": np.concatenate(arrays)})
    m = seasons[0]
    fallback = M.SeasonalNaive(season_length=m) if m > 1 else M.Naive()
    fc = StatsForecast(models=[sf_model(name, seasons)], freq=1, n_jobs=1,
                       fallback_model=fallback).forecast(df=df, h=H)
    if "unique_id" not in fc.columns:
        fc = fc.reset_index()
    col = [c for c in fc.columns if c not in ("unique_id", "ds", "index")][0]
    fc = fc.sort_values(["unique_id", "ds"], kind="stable")
    vals = fc[col].to_numpy(dtype=float).reshape(-1, H)
    return {str(u): v for u, v in zip(fc["unique_id"].to_numpy()[::H], vals)}


def sf_forecast(name, hist, H, deadline=None):
    """One statsforecast model on every series, grouped by the seasons each series is long enough for. A probe
    on a few series first: when the whole run would end past the deadline, give up early (TimeoutError)."""
    out, groups = {}, {}
    for i, (_, a, _) in hist.items():
        n = len(a)
        if n < 3:
            out[i] = np.repeat(a[-1], H)
            continue
        seasons = (effective_season(n),)
        if name == "mstl" and seasons[0] > 1 and SECOND_SEASON and n >= 2 * SECOND_SEASON + 2:
            seasons = (seasons[0], SECOND_SEASON)
        groups.setdefault(seasons, []).append(i)
    total = sum(len(v) for v in groups.values())
    t0, done = time.time(), 0
    for seasons, items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        if deadline is not None and done == 0 and total > 4:
            probe = max(2, min(len(items) // 10, 20))
            out.update(_sf_call(name, seasons, items[:probe], hist, H))
            done, items = probe, items[probe:]
            projected = (time.time() - t0) / done * total
            if t0 + projected > deadline:
                raise TimeoutError(f"projected {projected:.0f}s for {total} series, past the deadline")
        if items:
            out.update(_sf_call(name, seasons, items, hist, H))
            done += len(items)
    return out


def lgbm_lags(hist):
    base = max(6, min(SEASON, 28))
    lags = set(range(1, base + 1))
    if SEASON > 1:
        lags |= {SEASON, 2 * SEASON}
    lens = np.array([len(h[1]) for h in hist.values()])
    lags = sorted(L for L in lags if L <= 400)
    while len(lags) > 3 and lags[-1] > 0.5 * np.median(lens):
        lags.pop()
    return np.array(lags)


def lgbm_forecast(hist, H):
    """A global LightGBM over all series: lags scaled by the level of the last season, calendar position, trained
    on every window of every series, forecast recursively."""
    import lightgbm as lgb

    lags = lgbm_lags(hist)
    maxlag, w = int(lags.max()), int(min(max(SEASON, 4), lags.max()))
    rng = np.random.default_rng(0)
    Xs, ys = [], []
    for i, (p0, a, _) in hist.items():
        n = len(a)
        if n <= maxlag + 1:
            continue
        W = np.lib.stride_tricks.sliding_window_view(a, maxlag + 1)[-2000:]
        t = np.arange(n - len(W), n)
        level = np.abs(W[:, maxlag - w:maxlag]).mean(axis=1)
        level = np.where(level > 0, level, 1.0)
        X = W[:, maxlag - lags] / level[:, None]
        Xs.append(np.column_stack([X, (p0 + t) % max(SEASON, 1)]))
        ys.append(W[:, -1] / level)
    if not Xs:
        raise ValueError(f"no series is longer than the {maxlag + 1} steps the lag features need")
    X, y = np.vstack(Xs), np.concatenate(ys)
    if len(y) > 300_000:
        keep = rng.choice(len(y), 300_000, replace=False)
        X, y = X[keep], y[keep]
    model = lgb.LGBMRegressor(objective="l1" if METRIC in ("mase", "mae", "mape") else "l2", n_estimators=400,
                              learning_rate=0.05, num_leaves=31 if len(y) > 5000 else 15,
                              min_child_samples=20 if len(y) > 5000 else 10, subsample=0.8, subsample_freq=1,
                              colsample_bytree=0.8, n_jobs=1, verbose=-1, random_state=0)
    model.fit(X, y)
    items = list(hist)
    buf = np.vstack([np.concatenate([np.repeat(hist[i][1][0], max(0, maxlag - len(hist[i][1]))),
                                     hist[i][1][-maxlag:]]) for i in items])
    ends = np.array([hist[i][0] + len(hist[i][1]) for i in items])
    preds = np.zeros((len(items), H))
    for s in range(H):
        level = np.abs(buf[:, maxlag - w:]).mean(axis=1)
        level = np.where(level > 0, level, 1.0)
        Xf = np.column_stack([buf[:, maxlag - lags] / level[:, None], (ends + s) % max(SEASON, 1)])
        p = model.predict(Xf) * level
        preds[:, s] = p
        buf = np.column_stack([buf[:, 1:], p])
    return dict(zip(items, preds))


def candidate_forecast(name, hist, H, deadline=None):
    if name in ("snaive", "naive", "drift", "mean", "smean"):
        return baseline_forecast(name, hist, H)
    if name == "lgbm":
        return lgbm_forecast(hist, H)
    return sf_forecast(name, hist, H, deadline)


def _child(conn, name, hist, H, deadline):
    t = time.time()
    try:
        try:  # one BLAS thread per process: candidates already run N_CPU at a time
            from threadpoolctl import threadpool_limits

            threadpool_limits(1)
        except ImportError:
            pass
        res = candidate_forecast(name, hist, H, deadline)
        conn.send(("ok", res, time.time() - t))
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which skips the candidate
        conn.send(("error", f"{type(e).__name__}: {e}".strip()[:300] + "\n" + traceback.format_exc()[-600:],
                   time.time() - t))
    finally:
        conn.close()


def run_candidates(names, hist, H, deadline):
    """Each candidate in its own forked process, N_CPU at a time; a candidate not done by the deadline is killed.
    Returns name -> (forecasts, seconds) for the candidates that succeeded."""
    ctx = mp.get_context("fork")
    pending, running, results = list(names), {}, {}
    while pending or running:
        while pending and len(running) < N_CPU:
            name = pending.pop(0)
            if time.time() > deadline - 1:
                log(f"candidate {name}: skipped, no time left")
                continue
            r, w = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_child, args=(w, name, hist, H, deadline), daemon=True)
            p.start()
            w.close()
            running[r] = (name, p, time.time())
        if not running:
            break
        ready = mp_wait(list(running), timeout=max(0.05, min(1.0, deadline - time.time())))
        for r in ready:
            name, p, t0 = running.pop(r)
            try:
                status, payload, secs = r.recv()
            except (EOFError, OSError):
                status, payload, secs = "error", f"process ended without a result (exit code {p.exitcode})", 0.0
            p.join(5)
            if status == "ok":
                results[name] = (payload, time.time() - t0)
            else:
                log(f"candidate {name} failed: {payload.splitlines()[0]}")
        if time.time() > deadline:
            for r, (name, p, t0) in running.items():
                p.kill()
                p.join(5)
                log(f"candidate {name}: stopped at the deadline after {time.time() - t0:.0f}s")
            running.clear()
            for name in pending:
                log(f"candidate {name}: skipped, no time left")
            pending = []
    return results


def stat_candidates(hist):
    lens = np.array([len(h[1]) for h in hist.values()])
    names = ["theta", "ces", "ets"]
    if not PARAMS.get("light"):
        names += ["lgbm"]
        if SEASON > 1 and (lens >= 2 * SEASON + 2).mean() >= 0.5:
            names += ["mstl"]
        names += ["arima"]
    values = np.concatenate([h[1] for h in hist.values()])
    if np.mean(values == 0) > 0.3:
        names = ["croston", "adida"] + names
    return names


def reseason(fc, hist):
    """Series with one to two seasons are too short for a seasonal model: add the last season's pattern
    (its deviations from its own mean) to the non-seasonal forecast."""
    out = dict(fc)
    for i, (_, a, _) in hist.items():
        n = len(a)
        if i in out and SEASON > 1 and SEASON <= n < 2 * SEASON + 2:
            pattern = a[n - SEASON:] - a[n - SEASON:].mean()
            out[i] = out[i] + pattern[np.arange(len(out[i])) % SEASON]
    return out


def model_forecasts(names, hist, H, deadline, nonneg, seasonal):
    """name -> (sanitized forecasts, seconds) for the candidates that finished in time."""
    fb = baseline_forecast("snaive", hist, H)
    res = {n: (sanitize(baseline_forecast(n, hist, H), fb, hist, nonneg), 0.0) for n in names if n in BASE_MODELS}
    other = [n for n in names if n not in BASE_MODELS]
    if other:
        for name, (fc, secs) in run_candidates(other, hist, H, deadline).items():
            fc = reseason(fc, hist) if seasonal and name != "lgbm" else fc
            res[name] = (sanitize(fc, fb, hist, nonneg), secs)
    return res


def refit_config(config, hist, H, nonneg, seasonal, deadline):
    """The chosen configuration on the full histories; a member that fails or overruns is left out."""
    members = model_forecasts(config, hist, H, deadline, nonneg, seasonal)
    used = [n for n in config if n in members]
    if not used:
        log("no member of the chosen configuration could be refit: seasonal naive instead")
        return members.get("snaive", model_forecasts(["snaive"], hist, H, deadline, nonneg, seasonal)["snaive"])[0], (
            "snaive",)
    if len(used) < len(config):
        log(f"refit without {sorted(set(config) - set(used))}: the ensemble uses {used}")
    return ensemble([members[n][0] for n in used]), tuple(used)


def preload():
    """Import the libraries once, before forking, so each candidate process starts warm."""
    t = time.time()
    import lightgbm  # noqa: F401
    import statsforecast.models  # noqa: F401
    from statsforecast import StatsForecast  # noqa: F401

    log(f"statsforecast and lightgbm imported ({time.time() - t:.1f}s)")


def fit(train, test, out_dir, model_dir):
    preload()
    clock, frame, i_te, p_te = prepare(train, test)
    nonneg = bool(np.nanmin(frame["y"]) >= 0) if frame["y"].notna().any() else False
    fallback_value = float(np.nanmedian(frame["y"])) if frame["y"].notna().any() else 0.0
    ho = Holdout(frame)
    describe(ho.hist, "holdout histories")
    log(f"holdout: the last {HORIZON} rows of {ho.n_items}/{ho.n_total} series"
        + (" (relaxed: shorter windows on short series)" if ho.relaxed else "") + f"; budget {BUDGET:.0f}s")
    base = model_forecasts(BASELINES, ho.hist, ho.H, None, nonneg, False)
    seasonal = SEASON > 1 and bool(ho.score(base["snaive"][0]) < ho.score(base["naive"][0]))
    if SEASON > 1:
        log(f"seasonal naive {'beats' if seasonal else 'does not beat'} naive on the holdout: short series "
            + ("get the last season's pattern on top of non-seasonal models" if seasonal else "stay non-seasonal"))
    names = stat_candidates(ho.hist)
    log(f"candidates: {', '.join(list(BASELINES) + names)}")
    cand = {**base, **model_forecasts(names, ho.hist, ho.H, T0 + HOLDOUT_SHARE * BUDGET, nonneg, seasonal)}
    scores = {n: s for n, s in ((n, ho.score(fc)) for n, (fc, _) in cand.items()) if np.isfinite(s)}
    for n in sorted(scores, key=scores.get):
        log(f"candidate {n:7s} holdout {METRIC} {scores[n]:.4f}  ({cand[n][1]:.1f}s)")
    # the best configuration whose refit fits in the time left (members run N_CPU at a time)
    left = T0 + FINAL_SHARE * BUDGET - time.time()
    best, best_score = ("snaive",) if SEASON > 1 else ("naive",), np.inf
    for config in choose(scores, max_k=4):
        cost = 1.3 * sum(cand[n][1] for n in config) / min(N_CPU, len(config)) + 1
        if cost > left:
            continue
        s = ho.score(ensemble([cand[n][0] for n in config]))
        if s < best_score - 1e-9:
            best, best_score = config, s
    log(f"chosen: {' + '.join(best)} (holdout {METRIC} {best_score:.4f}; seasonal naive "
        f"{scores.get('snaive', scores.get('naive', np.nan)):.4f})")
    oof = ho.values(ensemble([cand[n][0] for n in best]))
    pd.DataFrame({"__row__": ho.rows["row"].to_numpy(), "prediction": oof}).to_csv(
        os.path.join(out_dir, "oof_predictions.csv"), index=False)
    pd.DataFrame({"candidate": list(scores), METRIC: list(scores.values()),
                  "seconds": [round(cand[n][1], 2) for n in scores]}).sort_values(METRIC).to_csv(
        os.path.join(out_dir, "candidates.csv"), index=False)

    hist = build_histories(frame["i"].to_numpy(), frame["p"].to_numpy(), frame["y"].to_numpy())
    describe(hist, "full histories")
    k = steps_for(hist, i_te, p_te)
    H = max(HORIZON, int(k.max()) if len(k) else 1)
    fc, used = refit_config(best, hist, H, nonneg, seasonal, T0 + FINAL_SHARE * BUDGET)
    bundle = {"clock": clock, "hist": hist, "config": used, "forecast": fc, "H": H, "nonneg": nonneg,
              "seasonal": seasonal, "fallback_value": fallback_value, "scores": scores}
    with open(os.path.join(model_dir, "forecast.pkl"), "wb") as fh:
        pickle.dump(bundle, fh)
    write_prediction(os.path.join(out_dir, SPEC["prediction_file"]), test, forecast_rows(fc, i_te, k, fallback_value))
    log(f"wrote {SPEC['prediction_file']} ({len(test)} rows) and oof_predictions.csv ({len(oof)} rows)")


def predict(model_dir, new):
    bundle = load_bundle(model_dir)

    def again(b, H):
        return refit_config(b["config"], b["hist"], H, b["nonneg"], b["seasonal"], time.time() + 3600)[0]

    return bundle_predict(bundle, new, again)


if __name__ == "__main__":
    main(fit, predict)

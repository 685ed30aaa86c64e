"""mlwright recipe: statistical and global forecasting models, chosen on backtest windows.
Candidates: seasonal naive / naive / drift (numpy), statsforecast AutoETS, Dynamic Optimized Theta, AutoCES,
MSTL and a reduced AutoARIMA, Croston/ADIDA for intermittent series, and a global LightGBM on scaled lags.
Each runs in its own forked process with a deadline (two at a time on two cores). The last `horizon` rows of
each series are held out, then (time allowing) the windows before them, every candidate refit on the history
before each; singles, means of the best k and a forward-selected weighted mean are scored on all windows with
the task metric, and the winning configuration is refit on the full series to forecast the test rows."""
from mlwright.runtime.common import *  # noqa: F403 - inlined in the rendered script
from mlwright.runtime.timeseries import *  # noqa: F403 - inlined in the rendered script
import multiprocessing as mp
import pickle
import traceback
import warnings
from multiprocessing.connection import wait as mp_wait

warnings.filterwarnings("ignore")

BASE_MODELS = ("snaive", "naive", "drift", "mean", "smean")
BASELINES = BASE_MODELS if SEASON > 1 else ("naive", "drift", "mean")
MAX_STAT_LEN = max(1000, 20 * SEASON)  # statistical models see at most this many recent steps
HOLDOUT_SHARE = float(PARAMS.get("holdout_share", 0.5))  # candidates must finish by this share of the budget
FINAL_SHARE = 0.88  # the refit must finish by this share of the budget
BACKTEST_WINDOWS = 1 if PARAMS.get("light") else int(PARAMS.get("backtest_windows", 3))


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


class Covariates:
    """Known covariates (columns given for the future rows too) per series and step, from the training rows and
    the rows to forecast: numeric columns as numbers, others as codes of one mapping shared by all rows."""

    def __init__(self, names):
        self.names, self.codes, self.table = list(names), {}, {}

    def encode(self, df):
        cols = []
        for c in self.names:
            v = df[c] if c in df.columns else pd.Series(np.nan, index=df.index)
            num = pd.to_numeric(v, errors="coerce")
            if c not in self.codes and (v.isna() | num.notna()).mean() >= 0.95:
                cols.append(num.to_numpy(dtype=float))
                continue
            codes = self.codes.setdefault(c, {})
            for x in pd.unique(v.dropna().astype(str)):
                codes.setdefault(x, float(len(codes)))
            cols.append(v.astype(str).map(codes).where(v.notna()).to_numpy(dtype=float))
        return np.column_stack(cols) if cols else np.zeros((len(df), 0))

    def add(self, df, items, pos):
        """Rows of `df` (their series and steps) become known covariate values; later rows win."""
        X = self.encode(df)
        ok = ~np.isnan(pos)
        frame = pd.DataFrame({"i": np.asarray(items)[ok], "p": pos[ok].astype(np.int64), "j": np.flatnonzero(ok)})
        for i, g in frame.groupby("i", sort=False):
            p0, m = self.table.get(i, (None, None))
            lo, hi = int(g["p"].min()), int(g["p"].max())
            if p0 is not None:
                lo, hi = min(lo, p0), max(hi, p0 + len(m) - 1)
            if hi - lo + 1 > 20 * (len(g) + (len(m) if m is not None else 0)) + 10_000:
                continue  # too sparse for a grid (its history is compressed too): these rows add no covariates
            grid = np.full((hi - lo + 1, len(self.names)), np.nan)
            if p0 is not None:
                grid[p0 - lo:p0 - lo + len(m)] = m
            grid[g["p"].to_numpy() - lo] = X[g["j"].to_numpy()]
            self.table[i] = (lo, grid)

    def at(self, i, pos):
        """Covariates of series `i` at integer steps `pos` (NaN where unknown)."""
        out = np.full((len(pos), len(self.names)), np.nan)
        if i in self.table:
            p0, m = self.table[i]
            k = np.asarray(pos, dtype=np.int64) - p0
            ok = (k >= 0) & (k < len(m))
            out[ok] = m[k[ok]]
        return out

    def informative(self):
        """Whether any covariate varies within a series (static ones add nothing a series' own level lacks)."""
        for _, m in self.table.values():
            if len(m) > 1 and np.nanmax(np.nan_to_num(np.nanstd(m, axis=0), nan=0.0)) > 0:
                return True
        return False


COV = None  # set by fit/predict before the candidate processes fork


def lgbm_forecast(hist, H, cov=None):
    """A global LightGBM over all series: lags scaled by the level of the last season, calendar position and (with
    `cov`) the known covariates of the target step, trained on every window of every series, forecast recursively."""
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
        parts = [X, (p0 + t) % max(SEASON, 1)]
        if cov is not None:
            parts.append(cov.at(i, p0 + t))
        Xs.append(np.column_stack(parts))
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
    future = [cov.at(i, e + np.arange(H)) for i, e in zip(items, ends)] if cov is not None else None
    preds = np.zeros((len(items), H))
    for s in range(H):
        level = np.abs(buf[:, maxlag - w:]).mean(axis=1)
        level = np.where(level > 0, level, 1.0)
        parts = [buf[:, maxlag - lags] / level[:, None], (ends + s) % max(SEASON, 1)]
        if future is not None:
            parts.append(np.vstack([f[s] for f in future]))
        p = model.predict(np.column_stack(parts)) * level
        preds[:, s] = p
        buf = np.column_stack([buf[:, 1:], p])
    return dict(zip(items, preds))


def candidate_forecast(name, hist, H, deadline=None):
    if name in ("snaive", "naive", "drift", "mean", "smean"):
        return baseline_forecast(name, hist, H)
    if name == "lgbm":
        return lgbm_forecast(hist, H)
    if name == "lgbm_cov":
        return lgbm_forecast(hist, H, COV)
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
                status, payload, _secs = r.recv()
            except (EOFError, OSError):
                status, payload, _secs = "error", f"process ended without a result (exit code {p.exitcode})", 0.0
            p.join(5)
            if status == "ok":
                results[name] = (payload, time.time() - t0)
            else:
                log(f"candidate {name} failed: {payload.splitlines()[0]}")
        if time.time() > deadline:
            for _r, (name, p, t0) in running.items():
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
    if COV is not None:
        names = ["lgbm_cov"] + names  # the only candidate that sees the known covariates: it runs first
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
            fc = reseason(fc, hist) if seasonal and not name.startswith("lgbm") else fc
            res[name] = (sanitize(fc, fb, hist, nonneg), secs)
    return res


def refit_config(config, hist, H, nonneg, seasonal, deadline):
    """The chosen configuration on the full histories; a member that fails or overruns is left out."""
    members = model_forecasts(list(dict.fromkeys(config)), hist, H, deadline, nonneg, seasonal)  # repeats: weights
    used = [n for n in config if n in members]
    if not used:
        log("no member of the chosen configuration could be refit: seasonal naive instead")
        return members.get("snaive", model_forecasts(["snaive"], hist, H, deadline, nonneg, seasonal)["snaive"])[0], (
            "snaive",)
    if len(used) < len(config):
        log(f"refit without {sorted(set(config) - set(used))}: the ensemble uses {used}")
    return ensemble([members[n][0] for n in used]), tuple(used)


def backtest_windows(ho, cand, names, deadline, first_s, nonneg, seasonal):
    """The last window and up to BACKTEST_WINDOWS - 1 earlier ones of the same length, each with every candidate
    refit on the history before it, while the time one window took still fits before the deadline: a choice
    made on one window of a few rows per series is mostly luck. A window where a candidate fails is dropped."""
    windows, w = [(ho, cand)], ho
    while len(windows) < BACKTEST_WINDOWS:
        if time.time() + 1.3 * first_s > deadline:
            log(f"{len(windows)} backtest window(s): another would end past the candidates' deadline")
            break
        w = w.earlier()
        if w is None:
            log(f"{len(windows)} backtest window(s): the series are too short for another")
            break
        c = {**model_forecasts(BASELINES, w.hist, w.H, None, nonneg, seasonal),
             **model_forecasts(names, w.hist, w.H, deadline, nonneg, seasonal)}
        if missing := sorted(set(cand) - set(c)):
            log(f"backtest window {len(windows) + 1} dropped: {', '.join(missing)} did not finish")
            break
        windows.append((w, c))
    if len(windows) > 1:
        log(f"{len(windows)} backtest windows of {HORIZON} steps: candidates scored by their mean")
    return windows


def describe_config(config):
    """'theta + ets' for a plain mean; weights as shares for a weighted one ('theta 50% + ets 25% + lgbm 25%')."""
    counts = {n: config.count(n) for n in dict.fromkeys(config)}
    if all(v == 1 for v in counts.values()):
        return " + ".join(counts)
    return " + ".join(f"{n} {100 * v / len(config):.0f}%" for n, v in counts.items())


def preload():
    """Import the libraries once, before forking, so each candidate process starts warm."""
    t = time.time()
    import lightgbm  # noqa: F401
    import statsforecast.models  # noqa: F401
    from statsforecast import StatsForecast  # noqa: F401

    log(f"statsforecast and lightgbm imported ({time.time() - t:.1f}s)")


def known_covariates(train, test, frame, i_te, p_te):
    names = [c for c in TS.get("known_covariates") or [] if c in train.columns and c in test.columns]
    if not names:
        return None
    cov = Covariates(names)
    cov.add(train, item_values(train), frame["p"].to_numpy())
    cov.add(test, i_te, p_te)
    if not cov.informative():
        log(f"known covariates {names} do not vary within any series: not used")
        return None
    log(f"known covariates for the global LightGBM: {names}")
    return cov


def fit(train, test, out_dir, model_dir):
    global COV
    preload()
    clock, frame, i_te, p_te = prepare(train, test)
    COV = known_covariates(train, test, frame, i_te, p_te)
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
    deadline = T0 + HOLDOUT_SHARE * BUDGET
    started = time.time()
    cand = {**base, **model_forecasts(names, ho.hist, ho.H, deadline, nonneg, seasonal)}
    windows = backtest_windows(ho, cand, [n for n in names if n in cand], deadline, time.time() - started,
                               nonneg, seasonal)
    scores = {}
    for n in cand:  # a candidate's score: its mean over the windows
        s = float(np.mean([w.score(c[n][0]) for w, c in windows]))
        if np.isfinite(s):
            scores[n] = s
    for n in sorted(scores, key=scores.get):
        log(f"candidate {n:7s} holdout {METRIC} {scores[n]:.4f}  ({cand[n][1]:.1f}s)")
    # the best configuration whose refit fits in the time left (members run N_CPU at a time)
    left = T0 + FINAL_SHARE * BUDGET - time.time()
    forecasts = [(w, {n: c[n][0] for n in scores}) for w, c in windows]

    def cost(config):
        return 1.3 * sum(cand[n][1] for n in set(config)) / min(N_CPU, len(set(config))) + 1

    def window_score(config):
        return float(np.mean([w.score(ensemble([f[n] for n in config])) for w, f in forecasts]))

    best, best_score = ("snaive",) if SEASON > 1 else ("naive",), np.inf
    configs = choose(scores, max_k=4)
    # a weighted mean, the weights chosen on the windows, of the models that beat the naive benchmark on their own
    # (weak members win weight on the windows by chance and lose it on the future)
    bar = scores.get("snaive" if SEASON > 1 else "naive", np.inf)
    pool = [n for n in scores if scores[n] < bar and cost((n,)) <= left]
    if len(pool) > 1:
        configs.append(greedy_ensemble(forecasts, pool, steps=10)[0])
    for config in configs:
        if cost(config) > left:
            continue
        s = window_score(config)
        if s < best_score - 1e-9:
            best, best_score = config, s
    log(f"chosen: {describe_config(best)} (holdout {METRIC} {best_score:.4f} over {len(windows)} window"
        f"{'s' if len(windows) > 1 else ''}; seasonal naive {scores.get('snaive', scores.get('naive', np.nan)):.4f})")
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
              "seasonal": seasonal, "fallback_value": fallback_value, "scores": scores, "cov": COV}
    with open(os.path.join(model_dir, "forecast.pkl"), "wb") as fh:
        pickle.dump(bundle, fh)
    write_prediction(os.path.join(out_dir, SPEC["prediction_file"]), test, forecast_rows(fc, i_te, k, fallback_value))
    log(f"wrote {SPEC['prediction_file']} ({len(test)} rows) and oof_predictions.csv ({len(oof)} rows)")


def predict(model_dir, new):
    global COV
    bundle = load_bundle(model_dir)
    COV = bundle.get("cov")
    if COV is not None and "lgbm_cov" in bundle["config"]:
        # the forecasts depend on the new rows' covariates: learn them, and forecast again (H=0 forces it)
        items = item_values(new)
        if SYNTHETIC_ITEM and len(bundle["hist"]) == 1:
            items = np.full(len(new), next(iter(bundle["hist"])), dtype=object)
        COV.add(new, items, positions(bundle["clock"], to_time(new[TIME])))
        bundle = dict(bundle, H=0)

    def again(b, H):
        return refit_config(b["config"], b["hist"], H, b["nonneg"], b["seasonal"], time.time() + 3600)[0]

    return bundle_predict(bundle, new, again)


if __name__ == "__main__":
    main(fit, predict)

"""mlwright recipe: instant forecasting baseline: naive, seasonal naive, drift, window means (numpy only).
The last `horizon` rows of each series are held out; the best candidate (or the mean of the best two) by the
task metric on that holdout is refit on the full series and forecasts the test rows."""
from mlwright.runtime.common import *  # noqa: F403 - inlined in the rendered script
from mlwright.runtime.timeseries import *  # noqa: F403 - inlined in the rendered script
import pickle
import warnings

warnings.filterwarnings("ignore")

CANDIDATES = ("naive", "snaive", "drift", "mean", "smean") if SEASON > 1 else ("naive", "drift", "mean")


def run_config(config, hist, H, nonneg):
    fb = baseline_forecast("snaive", hist, H)
    return sanitize(ensemble([baseline_forecast(n, hist, H) for n in config]), fb, hist, nonneg)


def fit(train, test, out_dir, model_dir):
    clock, frame, i_te, p_te = prepare(train, test)
    nonneg = bool(np.nanmin(frame["y"]) >= 0) if frame["y"].notna().any() else False
    fallback_value = float(np.nanmedian(frame["y"])) if frame["y"].notna().any() else 0.0
    ho = Holdout(frame)
    describe(ho.hist, "holdout histories")
    log(f"holdout: the last {HORIZON} rows of {ho.n_items}/{ho.n_total} series"
        + (" (relaxed: shorter windows on short series)" if ho.relaxed else ""))
    scores = {}
    for name in CANDIDATES:
        scores[name] = ho.score(run_config((name,), ho.hist, ho.H, nonneg))
        log(f"candidate {name}: holdout {METRIC} {scores[name]:.4f}")
    best, best_score = None, np.inf
    for config in choose(scores, max_k=2):
        s = ho.score(run_config(config, ho.hist, ho.H, nonneg)) if len(config) > 1 else scores[config[0]]
        if s < best_score - 1e-12:
            best, best_score = config, s
    log(f"chosen: {' + '.join(best)} (holdout {METRIC} {best_score:.4f})")
    oof = ho.values(run_config(best, ho.hist, ho.H, nonneg))
    pd.DataFrame({"__row__": ho.rows["row"].to_numpy(), "prediction": oof}).to_csv(
        os.path.join(out_dir, "oof_predictions.csv"), index=False)
    hist = build_histories(frame["i"].to_numpy(), frame["p"].to_numpy(), frame["y"].to_numpy())
    describe(hist, "full histories")
    k = steps_for(hist, i_te, p_te)
    H = max(HORIZON, int(k.max()) if len(k) else 1)
    fc = run_config(best, hist, H, nonneg)
    bundle = {"clock": clock, "hist": hist, "config": best, "forecast": fc, "H": H, "nonneg": nonneg,
              "fallback_value": fallback_value, "scores": scores}
    with open(os.path.join(model_dir, "forecast.pkl"), "wb") as fh:
        pickle.dump(bundle, fh)
    write_prediction(os.path.join(out_dir, SPEC["prediction_file"]), test, forecast_rows(fc, i_te, k, fallback_value))
    log(f"wrote {SPEC['prediction_file']} ({len(test)} rows) and oof_predictions.csv ({len(oof)} rows)")


def predict(model_dir, new):
    bundle = load_bundle(model_dir)
    return bundle_predict(bundle, new, lambda b, H: run_config(b["config"], b["hist"], H, b["nonneg"]))


if __name__ == "__main__":
    main(fit, predict)

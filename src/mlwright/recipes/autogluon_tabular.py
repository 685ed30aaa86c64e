"""mlwright recipe: AutoGluon TabularPredictor, bagged (out-of-fold validation on every training row). Several tags
or targets: one predictor per target (its own model folder), each with its share of the fitting time."""
from mlwright.runtime.common import *  # noqa: F403 - inlined in the rendered script
from autogluon.tabular import TabularPredictor

TIME_LIMIT = float(PARAMS.get("time_limit", 120))  # fitting seconds of the whole script (all targets together)
MIN_FIT_S = 5.0  # below this AutoGluon fits no model at all
RAY_DIR = "/tmp/mlwright-ray"  # a short path: Ray's unix sockets live under it (the sandbox's /tmp is private)


def fold_strategy():
    """How AutoGluon fits the bagged folds. As AutoGluon does by default, side by side in Ray workers, one core
    each (on small and medium tables faster than one fold at a time on every core): Ray is started here, local
    to this attempt (its files in the private /tmp, no network, no cluster), and stops with the script. Without
    Ray, or where it cannot start, one fold after another in this process."""
    if cores() < 2:
        return {"fold_fitting_strategy": "sequential_local"}
    try:
        import ray

        if not ray.is_initialized():
            with phase("library_start"):
                ray.init(address="local", num_cpus=cores(), include_dashboard=False, log_to_driver=False,
                         configure_logging=False, _temp_dir=RAY_DIR)
        return {}
    except Exception as e:  # not installed, or no room for it here: the same models, one fold at a time
        log(f"Ray did not start ({type(e).__name__}: {e}): the folds are fitted one after another")
        return {"fold_fitting_strategy": "sequential_local"}


# AutoGluon model types and the library each needs
MODEL_LIBRARIES = {"FASTAI": "fastai", "NN_TORCH": "torch", "CAT": "catboost", "XGB": "xgboost", "GBM": "lightgbm"}


def not_installed():
    """The model types whose library is not installed here: AutoGluon would start each one in every fold and fail
    on its import, 3-4 s each on 2 cores, several times a run (the portfolio holds several of each type)."""
    import importlib.util

    missing = [kind for kind, lib in MODEL_LIBRARIES.items() if importlib.util.find_spec(lib) is None]
    if missing:
        log(f"not installed here, left out: {', '.join(MODEL_LIBRARIES[k] for k in missing)}")
    return missing


def to_frame(proba):
    return as_class_frame(proba.to_numpy(), list(proba.columns))


def to_output(pred, predictor):
    """AutoGluon's predictions as the output contract's: values (back from the log scale), or class probabilities.
    A binary model's internal prediction is the positive class's probability (one column)."""
    if PROBLEM == "regression":
        return np.expm1(pred) if LOG_TARGET else pred
    if pred.ndim == 1:
        pred = np.column_stack([1 - pred, pred])
    return as_class_frame(pred, list(predictor.class_labels))


def crossfit_ensemble_oof(predictor):
    """Out-of-fold predictions of AutoGluon's weighted ensemble that its weights did not see. AutoGluon chooses the
    weights on its base models' out-of-fold predictions and reports the ensemble's predictions on those same rows,
    which flatters it (by 0.001-0.002 rmsle or AUC on small tables): next to mlwright's other attempts, whose blend
    is cross-fitted, it would be chosen for its optimism. Here each of mlwright's blend folds gets weights chosen by
    AutoGluon's own ensemble selection (same size and metric) on the other folds. The test predictions stay
    AutoGluon's (weights from every row). None when the best model is not a weighted ensemble (a single bagged
    model's out-of-fold predictions are honest already) or when the ensemble cannot be rebuilt exactly."""
    try:
        from autogluon.core.models.greedy_ensemble.ensemble_selection import EnsembleSelection

        trainer = predictor._trainer
        best = predictor.model_best
        if not best.startswith("WeightedEnsemble"):
            return None
        child = trainer.load_model(best)
        child = child.load_child(child.models[0])
        sel = child.model
        level = trainer.get_model_attribute(best, "level")
        names = trainer.get_model_names(stack_name="core", level=level - 1)
        preds = {m: np.asarray(trainer.get_model_oof(m), dtype=float) for m in names}
        # the check that this is AutoGluon's ensemble: its weights over these predictions give its own out-of-fold
        mine = sum(preds[m] * w for m, w in zip(child.base_model_names, sel.weights_))
        theirs = predictor.predict_oof(model=best) if PROBLEM == "regression" else \
            predictor.predict_proba_oof(model=best, as_multiclass=False)
        if not np.allclose(mine, np.asarray(theirs, dtype=float), atol=1e-6):
            log(f"{best}'s out-of-fold predictions were not rebuilt from its base models: its own are used")
            return None
        y = np.asarray(trainer.load_y())
        folds = blend_fold_ids(np.arange(len(y)), len(y))
        out = np.zeros_like(mine)
        size = int(child.params.get("ensemble_size", sel.ensemble_size))
        for k in range(BLEND_FOLDS):
            fit_rows, rows = folds != k, folds == k
            es = EnsembleSelection(ensemble_size=size, problem_type=sel.problem_type, metric=sel.metric,
                                   sorted_initialization=sel.sorted_initialization, bagging=sel.bagging,
                                   tie_breaker=sel.tie_breaker, subsample_size=sel.subsample_size)
            es.fit([preds[m][fit_rows] for m in names], y[fit_rows])
            out[rows] = es.predict_proba([preds[m][rows] for m in names])
        log(f"{best}: out-of-fold predictions cross-fitted over {len(names)} base models ({BLEND_FOLDS} folds)")
        return to_output(out, predictor)
    except Exception as e:  # AutoGluon's internals moved: its own out-of-fold predictions, flattering but valid
        log(f"ensemble out-of-fold predictions not cross-fitted: {type(e).__name__}: {e}")
        return None


def fit(train, test, out_dir, model_dir):
    data = train[FEATURES].copy()
    y = target_series(train)
    data[TARGET] = np.log1p(y.clip(lower=0)) if LOG_TARGET else y
    limit = fit_time_limit(TIME_LIMIT, floor=MIN_FIT_S)
    if limit < MIN_FIT_S:
        stop_for_time(f"{limit:.1f}s of fitting time left for target {TARGET!r}: AutoGluon needs at least "
                      f"{MIN_FIT_S:.0f}s")
    fit_args = dict(
        presets=PARAMS.get("presets", "best_quality"),
        time_limit=limit,
        num_bag_folds=int(PARAMS.get("num_bag_folds", 8)),
        num_bag_sets=1,
        num_stack_levels=int(PARAMS.get("num_stack_levels", 0)),
        dynamic_stacking=False,
        ag_args_ensemble=fold_strategy(),
        num_cpus=cores(),
        verbosity=2,
    )
    excluded = list(dict.fromkeys([*(PARAMS.get("excluded_model_types") or []), *not_installed()]))
    if excluded:
        fit_args["excluded_model_types"] = excluded
    metric = AUTOGLUON_METRICS[SPEC["metric"]]  # the metric of the target being fitted
    log(f"AutoGluon fit: {len(data)} rows, metric {metric}, {fit_args}")
    predictor = TabularPredictor(label=TARGET, problem_type=PROBLEM, eval_metric=metric, path=model_dir)
    LIMITS["model_fit"] = TIME_LIMIT  # all the fits together keep to it (fit_time_limit)
    with phase("model_fit"):
        predictor.fit(data, **fit_args)
    log("fit done")
    oof = crossfit_ensemble_oof(predictor)
    if oof is None:  # the best model's own out-of-fold predictions
        oof = to_output(predictor.predict_oof(transformed=False).to_numpy(dtype=float), predictor) \
            if PROBLEM == "regression" else to_frame(predictor.predict_proba_oof(transformed=False))
    oof_rows = np.arange(len(data))
    test_pred = predict(model_dir, test, predictor)
    predictor.leaderboard(silent=True).to_csv(os.path.join(out_dir, "leaderboard.csv"), index=False)
    fi_budget = float(PARAMS.get("importance_time", 0)) / FITS["total"]
    if fi_budget > 0:
        with phase("importance"):
            write_importance(predictor, out_dir, len(data), fi_budget)
    slim(predictor)
    write_outputs(out_dir, test, test_pred, oof_rows, oof)


def slim(predictor):
    """Only what predicting new rows needs stays in the model folder: the best model and the models it uses, without
    the training data copy (AutoGluon's own advice for deployment). The others can be hundreds of MB that would be
    hashed, copied and shipped with the run for nothing."""
    try:
        with phase("saving"):
            predictor.delete_models(models_to_keep="best", dry_run=False)
            predictor.save_space()
    except Exception as e:  # a bigger folder, never a failed attempt
        log(f"model folder not reduced: {type(e).__name__}: {e}")


# seconds per row and feature of one shuffle set (the bagged model's children predict their out-of-fold rows):
# measured on 2 cores, 1750 n-gram features x 500 rows took 53 s. AutoGluon checks its time limit only between
# shuffle sets, so a first set that cannot fit is not started: on text it outlasted the whole attempt
FI_ROW_FEATURE_S = 6e-5
FI_MIN_ROWS = 200


def write_importance(predictor, out_dir, n_rows, time_limit):
    """Permutation importance of the best single (bagged) model on its own out-of-fold rows: AutoGluon scores the
    original features of a bagged ensemble only on new data, and the weighted ensemble's inputs are model outputs.
    Fewer rows when one shuffle set of every feature would not fit `time_limit`; none below FI_MIN_ROWS."""
    try:
        board = predictor.leaderboard(silent=True)
        singles = board[~board["model"].str.startswith("WeightedEnsemble")]
        if singles.empty:
            return
        model = singles.iloc[0]["model"]
        n_features = len(predictor._trainer.load_model(model).features or [])
        rows = min(1000, n_rows, int(time_limit / (max(n_features, 1) * FI_ROW_FEATURE_S)))
        if rows < FI_MIN_ROWS:
            log(f"feature importance skipped: {n_features} features of {model} would take more than {time_limit:.0f}s")
            return
        fi = predictor.feature_importance(data=None, model=model, feature_stage="transformed_model",
                                          subsample_size=rows, time_limit=time_limit, num_shuffle_sets=3)
        fi = fi.reset_index().rename(columns={"index": "feature"})
        fi.to_csv(os.path.join(out_dir, "feature_importance.csv"), index=False)
        log(f"feature importance of {model}: {len(fi)} features")
    except Exception as e:  # importance is a report nicety, never a reason to fail
        log(f"feature importance skipped: {type(e).__name__}: {e}")


def predict(model_dir, new, predictor=None):
    predictor = predictor or TabularPredictor.load(model_dir, require_py_version_match=False)
    X = new[FEATURES]
    if PROBLEM == "regression":
        return to_output(predictor.predict(X).to_numpy(dtype=float), predictor)
    return to_frame(predictor.predict_proba(X))


if __name__ == "__main__":
    cli(fit, predict)

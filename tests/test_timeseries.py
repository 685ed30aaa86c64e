"""Forecasting end to end through the real CLI: monthly series with trend, season, noise, different starts,
missing months and a series too short for the horizon; the recipes choose a model on the last window of each
series, mlwright scores that window itself (MASE), and the saved model forecasts the test rows again."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli

TASK = ("Forecast the next 6 months for every item. Write forecast.csv with columns item_id,timestamp,target. "
        "Metric: MASE.")
RECIPES = Path(__file__).resolve().parents[1] / "src" / "mlwright" / "recipes"


def make_monthly(folder: Path, seed: int = 0, horizon: int = 6, short_len: int = 4) -> tuple[Path, pd.DataFrame]:
    """6 monthly series (trend + yearly season + noise, different start dates, a few missing months) and one
    series of `short_len` points; test.csv lists the next `horizon` months of every series."""
    rng = np.random.default_rng(seed)
    train, test, truth = [], [], []
    for s in range(6):
        n = 48 + 6 * s
        start = pd.Timestamp("2015-01-01") + pd.DateOffset(months=int(rng.integers(0, 24)))
        t = pd.date_range(start, periods=n + horizon, freq="MS")
        k = np.arange(n + horizon)
        y = 100 + 20 * s + 0.8 * k + 15 * np.sin(2 * np.pi * (t.month.to_numpy() - 1) / 12) + rng.normal(0, 3, len(k))
        df = pd.DataFrame({"item_id": f"item_{s}", "timestamp": t.strftime("%Y-%m-%d"), "target": y.round(2)})
        hist = df.iloc[:n]
        hist = hist.drop(hist.iloc[5:n - 12].sample(2, random_state=s).index)  # two missing months
        train.append(hist)
        test.append(df.iloc[n:][["item_id", "timestamp"]])
        truth.append(df.iloc[n:])
    t = pd.date_range("2019-03-01", periods=short_len + horizon, freq="MS")
    short = pd.DataFrame({"item_id": "tiny", "timestamp": t.strftime("%Y-%m-%d"),
                          "target": 50 + rng.normal(0, 2, len(t)).round(2)})
    train.append(short.iloc[:short_len])
    test.append(short.iloc[short_len:][["item_id", "timestamp"]])
    truth.append(short.iloc[short_len:])
    folder.mkdir(parents=True, exist_ok=True)
    pd.concat(train).to_csv(folder / "train.csv", index=False)
    pd.concat(test).to_csv(folder / "test.csv", index=False)
    return folder, pd.concat(truth, ignore_index=True)


def _keys(df: pd.DataFrame) -> list[tuple[str, str]]:
    return sorted(zip(df["item_id"].astype(str), df["timestamp"].astype(str)))


def test_forecast_run_validates_beats_seasonal_naive_and_predicts_again(tmp_path):
    data, truth = make_monthly(tmp_path / "monthly")
    out = tmp_path / "run"
    r = run_cli("run", str(data), "--task", TASK, "--output", str(out), "--time-limit", "60")
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads((out / "run.json").read_text())
    assert s["status"] == "succeeded"
    task = s["task"]
    assert task["problem_type"] == "forecasting" and task["metric"] == "mase"
    assert task["timeseries"]["horizon"] == 6 and task["timeseries"]["season_period"] == 12
    score = s["best"]["validation_score"]
    assert np.isfinite(score) and score < 1.5
    assert s["wall_seconds"] < 66
    # the statistical recipe beats the naive baselines on mlwright's own holdout score
    attempts = {a.name.split("-", 1)[1]: a for a in (out / "attempts").iterdir()}
    assert {"timeseries_naive", "timeseries_stats"} <= set(attempts)
    stats_log = (attempts["timeseries_stats"] / "stdout.txt").read_text()
    naive = float(re.search(r"candidate snaive\s+holdout mase ([\d.]+)", stats_log).group(1))
    assert score < naive
    assert "fewer than" in stats_log or "shorter than" in stats_log  # the short series is reported
    # the prediction file: exactly the test keys, finite values, close to the truth
    test = pd.read_csv(data / "test.csv")
    pred = pd.read_csv(out / "forecast.csv")
    assert list(pred.columns) == ["item_id", "timestamp", "target"]
    assert len(pred) == len(test) and _keys(pred) == _keys(test)
    assert np.isfinite(pred["target"]).all()
    merged = truth.merge(pred, on=["item_id", "timestamp"], suffixes=("", "_pred"))
    long_rows = merged[merged["item_id"] != "tiny"]
    assert np.mean(np.abs(long_rows["target"] - long_rows["target_pred"])) < 12  # season amplitude 15, noise 3
    report = (out / "report.html").read_text()  # a forecast plot per series (a few of them)
    assert re.search(r'src="data:image/png;base64,[^"]{2000,}" alt="forecasts per series"', report)
    # the saved model forecasts the test rows again, with the same values
    r = run_cli("predict", str(out), str(data / "test.csv"), "--output", str(tmp_path / "again.csv"))
    assert r.returncode == 0, r.stderr[-3000:]
    again = pd.read_csv(tmp_path / "again.csv")
    assert list(again.columns) == ["item_id", "timestamp", "target"] and len(again) == len(test)
    both = pred.merge(again, on=["item_id", "timestamp"], suffixes=("", "_again"))
    assert len(both) == len(test) and np.allclose(both["target"], both["target_again"])


def test_series_too_short_for_the_horizon_are_reported_not_fatal(tmp_path):
    # every series but one is shorter than horizon + season: the holdout relaxes, nothing crashes
    rng = np.random.default_rng(3)
    rows, test = [], []
    for s, n in enumerate((30, 5, 2, 1)):
        t = pd.date_range("2020-01-01", periods=n + 4, freq="D")
        y = 10 + s + np.sin(np.arange(n + 4)) + rng.normal(0, 0.1, n + 4)
        df = pd.DataFrame({"shop": f"shop{s}", "day": t.strftime("%Y-%m-%d"), "sold": y.round(3)})
        rows.append(df.iloc[:n])
        test.append(df.iloc[n:][["shop", "day"]])
    data = tmp_path / "short"
    data.mkdir()
    pd.concat(rows).to_csv(data / "train.csv", index=False)
    pd.concat(test).to_csv(data / "test.csv", index=False)
    out = tmp_path / "run"
    r = run_cli("run", str(data), "--task", "forecast sold for the next 4 days per shop", "--output", str(out),
                "--time-limit", "30")
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads((out / "run.json").read_text())
    assert s["status"] == "succeeded" and np.isfinite(s["best"]["validation_score"])
    logs = "".join(p.read_text() for p in (out / "attempts").glob("*/stdout.txt"))
    assert "fewer than 3 points" in logs and "relaxed" in logs
    pred = pd.read_csv(out / "predictions.csv")
    assert len(pred) == 16 and pred["sold"].notna().all()
    assert sorted(pred["shop"].unique()) == ["shop0", "shop1", "shop2", "shop3"]


def test_single_series_keys_are_the_timestamps(tmp_path):
    t = pd.date_range("2021-01-04", periods=110, freq="D")
    y = 20 + 5 * np.sin(2 * np.pi * np.arange(110) / 7) + 0.05 * np.arange(110)
    df = pd.DataFrame({"date": t.strftime("%Y-%m-%d"), "visitors": y.round(2)})
    data = tmp_path / "one"
    data.mkdir()
    df.iloc[:96].to_csv(data / "train.csv", index=False)
    df.iloc[96:][["date"]].to_csv(data / "test.csv", index=False)
    out = tmp_path / "run"
    r = run_cli("run", str(data), "--task", "forecast visitors for the next 14 days; write out.csv with date,visitors",
                "--output", str(out), "--time-limit", "30", "--no-autogluon")
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads((out / "run.json").read_text())
    assert s["task"]["timeseries"]["item_column"] == "__series__"
    pred = pd.read_csv(out / "out.csv")
    assert list(pred.columns) == ["date", "visitors"] and list(pred["date"]) == list(df["date"].iloc[96:])
    assert np.abs(pred["visitors"].to_numpy() - df["visitors"].iloc[96:].to_numpy()).mean() < 1.0
    r = run_cli("predict", str(out), str(data / "test.csv"), "--output", str(tmp_path / "again.csv"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert len(pd.read_csv(tmp_path / "again.csv")) == 14


@pytest.mark.parametrize("recipe", ["timeseries_naive", "timeseries_stats"])
def test_rendered_recipes_inline_the_shared_helpers(recipe):
    from mlwright.coding.recipe_coder import render_script
    from mlwright.schemas import AttemptPlan, TaskSpec, TimeSeriesSpec

    ts = TimeSeriesSpec(item_column="item", timestamp_column="t", horizon=3, freq="MS", season_period=12)
    spec = TaskSpec(problem_type="forecasting", target="y", metric="mase", higher_is_better=False, train_table="a",
                    test_table="b", id_column="item", prediction_file="p.csv", output_id_column="item",
                    output_columns=["item", "t", "y"], output_kind="value", feature_columns=[], n_train_rows=10,
                    n_test_rows=3, modality="timeseries", timeseries=ts)
    code = render_script(AttemptPlan(attempt_id=1, recipe=recipe, title="t", time_budget_s=10), spec)
    assert "<<include" not in code and "<<common>>" not in code
    assert "def prepare(" in code and "end of forecasting helpers" in code  # standalone: helpers inlined
    compile(code, recipe, "exec")


def make_promo_daily(folder: Path, horizon: int = 14, seed: int = 1) -> tuple[Path, pd.DataFrame]:
    """8 daily series whose sales jump by 40 on promotion days; `promo` is known for the future rows too."""
    rng = np.random.default_rng(seed)
    train, test, truth = [], [], []
    for s in range(8):
        n = 150 + 10 * s
        t = pd.date_range("2023-01-01", periods=n + horizon, freq="D") + pd.Timedelta(days=3 * s)
        promo = (rng.random(len(t)) < 0.25).astype(int)
        y = 60 + 5 * s + 8 * np.sin(2 * np.pi * t.dayofweek.to_numpy() / 7) + 40 * promo + rng.normal(0, 3, len(t))
        df = pd.DataFrame({"store": f"s{s}", "date": t.strftime("%Y-%m-%d"), "promo": promo, "sales": y.round(1)})
        train.append(df.iloc[:n])
        test.append(df.iloc[n:][["store", "date", "promo"]])
        truth.append(df.iloc[n:])
    folder.mkdir(parents=True, exist_ok=True)
    pd.concat(train).to_csv(folder / "train.csv", index=False)
    pd.concat(test).to_csv(folder / "test.csv", index=False)
    return folder, pd.concat(truth, ignore_index=True)


def test_known_covariates_drive_the_forecast(tmp_path):
    data, truth = make_promo_daily(tmp_path / "promo")
    out = tmp_path / "run"
    r = run_cli("run", str(data), "--task", "Forecast daily sales of each store for the next 14 days (MAE).",
                "--output", str(out), "--time-limit", "60")
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads((out / "run.json").read_text())
    assert s["task"]["timeseries"]["known_covariates"] == ["promo"]
    log = next((out / "attempts").glob("*-timeseries_stats")).joinpath("stdout.txt").read_text()
    assert "known covariates for the global LightGBM: ['promo']" in log
    assert "lgbm_cov" in re.search(r"chosen: (.*)", log).group(1)  # the holdout prefers the model that sees promo
    pred = pd.read_csv(out / "predictions.csv") if (out / "predictions.csv").exists() else \
        pd.read_csv(out / s["task"]["prediction_file"])
    merged = truth.merge(pred, on=["store", "date"], suffixes=("", "_pred"))
    assert len(merged) == len(truth)
    assert np.mean(np.abs(merged["sales"] - merged["sales_pred"])) < 10  # promo effect 40, noise 3
    # the saved model reads the covariates of new rows: flipping promo moves the forecast by about the effect
    flipped = pd.read_csv(data / "test.csv").assign(promo=lambda d: 1 - d["promo"])
    flipped.to_csv(tmp_path / "flipped.csv", index=False)
    r = run_cli("predict", str(out), str(tmp_path / "flipped.csv"), "--output", str(tmp_path / "again.csv"))
    assert r.returncode == 0, r.stderr[-3000:]
    again = pred.merge(pd.read_csv(tmp_path / "again.csv"), on=["store", "date"], suffixes=("", "_flip"))
    moved = (again["sales_flip"] - again["sales"]) * np.where(flipped["promo"].to_numpy() == 1, 1, -1)
    assert len(again) == len(truth) and moved.mean() > 20


def test_wide_table_of_series_is_forecast_and_written_back_wide(tmp_path):
    """train.csv: one date column and one column per store; test.csv: the next 14 dates only."""
    rng = np.random.default_rng(3)
    t = pd.date_range("2024-01-01", periods=120 + 14, freq="D")
    wide = pd.DataFrame({"date": t.strftime("%Y-%m-%d")})
    for s in range(4):
        wide[f"store_{s}"] = (50 + 10 * s + 12 * (t.dayofweek.to_numpy() >= 5) + rng.normal(0, 2, len(t))).round(1)
    data = tmp_path / "wide"
    data.mkdir()
    wide.iloc[:120].to_csv(data / "train.csv", index=False)
    wide.iloc[120:][["date"]].to_csv(data / "test.csv", index=False)
    out = tmp_path / "run"
    r = run_cli("run", str(data), "--task", "Forecast every store's daily sales for the next 14 days (MAE).",
                "--output", str(out), "--time-limit", "60", "--no-autogluon")
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads((out / "run.json").read_text())
    ts = s["task"]["timeseries"]
    assert ts["wide"]["series"] == [f"store_{k}" for k in range(4)] and ts["horizon"] == 14
    pred = pd.read_csv(out / "predictions.csv")
    assert list(pred.columns) == ["date"] + [f"store_{k}" for k in range(4)]
    assert list(pred["date"]) == list(wide["date"].iloc[120:])
    err = np.abs(pred.iloc[:, 1:].to_numpy() - wide.iloc[120:, 1:].to_numpy())
    assert err.mean() < 4  # weekend effect 12, noise 2
    r = run_cli("predict", str(out), str(data / "test.csv"), "--output", str(tmp_path / "again.csv"))
    assert r.returncode == 0, r.stderr[-3000:]
    again = pd.read_csv(tmp_path / "again.csv")
    assert list(again.columns) == list(pred.columns) and np.allclose(again.iloc[:, 1:], pred.iloc[:, 1:])


def test_a_named_target_among_train_only_columns_is_not_a_wide_table():
    from mlwright.perception.task_text import parse_task_text
    from mlwright.perception.wide_series import detect_wide

    t = pd.date_range("2024-01-01", periods=60, freq="h").strftime("%Y-%m-%d %H:%M")
    train = pd.DataFrame({"datetime": t[:48], "temp": range(48), "casual": range(48), "count": range(48)})
    test = pd.DataFrame({"datetime": t[48:], "temp": range(12)})
    assert detect_wide(train, test, parse_task_text("predict count per hour", [])) is None
    assert detect_wide(train, test, parse_task_text("forecast the series", [])).series == ["casual", "count"]


def test_wide_detection_ignores_empty_columns_and_short_names_read_as_words():
    from mlwright.perception.task_text import parse_task_text
    from mlwright.perception.wide_series import detect_wide

    t = pd.date_range("2024-01-01", periods=40, freq="D").strftime("%Y-%m-%d")
    train = pd.DataFrame({"date": t[:30], "y": np.arange(30.0), "Unnamed: 2": np.nan})
    test = pd.DataFrame({"date": t[30:]})
    assert detect_wide(train, test, parse_task_text("forecast the next days", [])) is None  # one real column
    wide = pd.DataFrame({"date": t[:30], "A": np.arange(30.0), "B": np.arange(30.0) * 2})
    found = detect_wide(wide, test, parse_task_text("forecast a few days ahead for every series", []))
    assert found is not None and found.series == ["A", "B"]


def test_wide_table_with_dates_as_columns(tmp_path):
    """train.csv: one row per product (numeric ids) and one column per month; test.csv: the products with the
    next 6 month columns empty. The prediction file fills those columns."""
    rng = np.random.default_rng(5)
    months = pd.date_range("2021-01-01", periods=42, freq="MS").strftime("%Y-%m")
    rows = []
    for p in range(6):
        k = np.arange(42)
        rows.append(100 + 15 * p + 1.5 * k + 10 * np.sin(2 * np.pi * k / 12) + rng.normal(0, 1.5, 42))
    full = pd.DataFrame(np.round(rows, 1), columns=months).assign(product=range(101, 107), region="north")
    data = tmp_path / "bycol"
    data.mkdir()
    full[["product", "region"] + list(months[:36])].to_csv(data / "train.csv", index=False)
    test = full[["product", "region"]].copy()
    for m in months[36:]:
        test[m] = np.nan
    test.to_csv(data / "test.csv", index=False)
    out = tmp_path / "run"
    r = run_cli("run", str(data), "--task", "Forecast monthly sales of every product for the next 6 months.",
                "--output", str(out), "--time-limit", "60", "--no-autogluon")
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads((out / "run.json").read_text())
    assert s["task"]["timeseries"]["wide"]["dates_as_columns"] and s["task"]["timeseries"]["horizon"] == 6
    pred = pd.read_csv(out / "predictions.csv")
    assert list(pred.columns) == ["product"] + list(months[36:]) and list(pred["product"]) == list(range(101, 107))
    err = np.abs(pred[list(months[36:])].to_numpy() - full[list(months[36:])].to_numpy())
    assert err.mean() < 6  # season amplitude 10, noise 1.5
    r = run_cli("predict", str(out), str(data / "test.csv"), "--output", str(tmp_path / "again.csv"))
    assert r.returncode == 0, r.stderr[-3000:]
    again = pd.read_csv(tmp_path / "again.csv")
    assert list(again.columns) == list(pred.columns) and np.allclose(again.iloc[:, 1:], pred.iloc[:, 1:])


def _monthly_sales(n_stores: int, n_months: int, seed: int, ends_early: int = 0) -> pd.DataFrame:
    """Monthly sales per store (trend + yearly season + noise); store k's history ends `ends_early * k` months
    before the others'."""
    rng = np.random.default_rng(seed)
    parts = []
    for s in range(n_stores):
        n = n_months - ends_early * s
        t = pd.date_range("2016-01-01", periods=n, freq="MS")
        k = np.arange(n)
        y = 200 + 30 * s + 1.2 * k + 20 * np.sin(2 * np.pi * (t.month.to_numpy() - 1) / 12) + rng.normal(0, 2, n)
        parts.append(pd.DataFrame({"store": f"store_{s}", "t": t, "sales": y.round(1)}))
    return pd.concat(parts, ignore_index=True)


def test_periods_written_like_2019_jan_are_dates_and_come_back_as_written(tmp_path):
    full = _monthly_sales(3, 42, seed=11)
    full["month"] = full["t"].dt.strftime("%Y %b")
    data = tmp_path / "months"
    data.mkdir()
    last6 = full.groupby("store").cumcount(ascending=False) < 6
    full.loc[~last6, ["store", "month", "sales"]].to_csv(data / "train.csv", index=False)
    full.loc[last6, ["store", "month"]].to_csv(data / "test.csv", index=False)
    out = tmp_path / "run"
    r = run_cli("run", str(data), "--task", "Forecast monthly sales per store.", "--output", str(out),
                "--time-limit", "25", "--no-autogluon")
    assert r.returncode == 0, r.stderr[-3000:]
    ts = json.loads((out / "run.json").read_text())["task"]["timeseries"]
    assert ts["timestamp_column"] == "month" and ts["freq"] == "MS" and ts["date_format"]["pattern"] == "%Y %b"
    assert pd.read_parquet(out / "inputs" / "train.parquet")["month"].dtype.kind == "M"  # recipes see timestamps
    raw = pd.read_csv(data / "test.csv", dtype=str)
    pred = pd.read_csv(out / "predictions.csv", dtype=str)
    assert list(pred.columns) == ["store", "month", "sales"]
    assert sorted(zip(pred["store"], pred["month"])) == sorted(zip(raw["store"], raw["month"]))  # e.g. '2019 Jul'
    truth = full.loc[last6].merge(pred.astype({"sales": float}), on=["store", "month"], suffixes=("", "_pred"))
    assert len(truth) == 18 and np.abs(truth["sales"] - truth["sales_pred"]).mean() < 30  # the series' level
    r = run_cli("predict", str(out), str(data / "test.csv"), "--output", str(tmp_path / "again.csv"))
    assert r.returncode == 0, r.stderr[-3000:]
    again = pd.read_csv(tmp_path / "again.csv", dtype=str)
    assert sorted(zip(again["store"], again["month"])) == sorted(zip(raw["store"], raw["month"]))


def test_quarters_written_2019q1(tmp_path):
    rng = np.random.default_rng(4)
    parts = []
    for s in range(4):
        t = pd.period_range("2010Q1", periods=40, freq="Q")
        q = t.quarter.to_numpy()
        y = 50 + 5 * s + 0.5 * np.arange(40) + 8 * (q == 4) - 4 * (q == 1) + rng.normal(0, 0.5, 40)
        parts.append(pd.DataFrame({"region": f"r{s}", "quarter": t.strftime("%YQ%q"), "revenue": y.round(2)}))
    full = pd.concat(parts, ignore_index=True)
    last4 = full.groupby("region").cumcount(ascending=False) < 4
    data = tmp_path / "quarters"
    data.mkdir()
    full[~last4].to_csv(data / "history.csv", index=False)
    full.loc[last4, ["region", "quarter"]].to_csv(data / "future.csv", index=False)
    out = tmp_path / "run"
    r = run_cli("run", str(data), "--task", "forecast revenue for the next 4 quarters; write out.csv",
                "--output", str(out), "--time-limit", "20", "--no-autogluon")
    assert r.returncode == 0, r.stderr[-3000:]
    ts = json.loads((out / "run.json").read_text())["task"]["timeseries"]
    assert ts["season_period"] == 4 and ts["horizon"] == 4
    pred = pd.read_csv(out / "out.csv", dtype=str)
    assert sorted(pred["quarter"].unique()) == ["2019Q1", "2019Q2", "2019Q3", "2019Q4"]
    truth = full[last4].merge(pred.astype({"revenue": float}), on=["region", "quarter"], suffixes=("", "_pred"))
    assert len(truth) == 16 and np.abs(truth["revenue"] - truth["revenue_pred"]).mean() < 3  # Q4 effect 8


def test_history_only_table_forecasts_the_next_months_per_store(tmp_path):
    full = _monthly_sales(3, 40, seed=5, ends_early=2)  # the stores' histories end in different months
    full["month"] = full["t"].dt.strftime("%b %Y")
    data = tmp_path / "history"
    data.mkdir()
    full[["store", "month", "sales"]].to_csv(data / "sales.csv", index=False)
    out = tmp_path / "run"
    r = run_cli("run", str(data), "--task", "forecast the next 6 months for every store", "--output", str(out),
                "--time-limit", "20", "--no-autogluon")
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads((out / "run.json").read_text())
    assert s["task"]["problem_type"] == "forecasting" and s["task"]["target"] == "sales"
    assert any("made by mlwright" in n for n in s["task"]["notes"])
    pred = pd.read_csv(out / "predictions.csv", dtype=str)
    assert list(pred.columns) == ["store", "month", "sales"] and len(pred) == 18
    for store, g in pred.groupby("store"):
        last = full.loc[full["store"] == store, "t"].max()
        want = pd.date_range(last, periods=7, freq="MS")[1:].strftime("%b %Y").tolist()  # e.g. 'Jan 2019'
        assert g["month"].tolist() == want
    assert pd.to_numeric(pred["sales"]).notna().all()


def test_history_only_perception_numbered_series_weeks_and_blank_future_rows():
    from mlwright.perception.infer import infer_task
    from mlwright.perception.task_text import parse_task_text

    rng = np.random.default_rng(1)
    t = pd.date_range("2020-01-06", periods=60, freq="W-MON")
    df = pd.concat([pd.DataFrame({"store": s, "week": t.strftime("%G-W%V"), "units": rng.integers(50, 500, 60)})
                    for s in (1, 2, 3)], ignore_index=True)
    inf = infer_task({"h.csv": df}, parse_task_text("forecast units for the next 8 weeks per store", ["h.csv"]))
    ts = inf.spec.timeseries
    assert (ts.item_column, inf.spec.target, ts.freq, ts.horizon) == ("store", "units", "W-MON", 8)
    assert len(inf.test) == 24 and inf.test["week"].dtype.kind == "M"
    assert inf.time_labels["label"].tolist()[:2] == ["2021-W09", "2021-W10"]  # the weeks after 2021-W08
    # the user left the future values blank: those rows are the ones to predict, not mlwright's
    blank = df.assign(units=df["units"].where(df.groupby("store").cumcount() < 56))
    inf = infer_task({"h.csv": blank}, parse_task_text("forecast units per store", ["h.csv"]))
    assert len(inf.test) == 12 and inf.spec.test_table.startswith("h.csv")


@pytest.fixture
def forecasting_runtime(tmp_path, monkeypatch):
    """runtime.timeseries configured for a monthly MASE task with a 6-month horizon, as a rendered script is."""
    import importlib

    from conftest import reload_runtime
    from mlwright.schemas import TaskSpec, TimeSeriesSpec

    ts = TimeSeriesSpec(item_column="item", timestamp_column="t", horizon=6, freq="MS", season_period=12)
    spec = TaskSpec(problem_type="forecasting", target="y", metric="mase", higher_is_better=False, train_table="a",
                    test_table="b", id_column="item", prediction_file="p.csv", output_id_column="item",
                    output_columns=["item", "t", "y"], output_kind="value", feature_columns=[], n_train_rows=10,
                    n_test_rows=3, modality="timeseries", timeseries=ts)
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"spec": spec.model_dump(mode="json"), "params": {}}))
    monkeypatch.setenv("MLWRIGHT_CONFIG", str(cfg))
    reload_runtime()
    return importlib.reload(importlib.import_module("mlwright.runtime.timeseries"))


def test_backtest_windows_step_back_and_the_weighted_mean_cancels_opposite_errors(forecasting_runtime):
    rt = forecasting_runtime
    rng = np.random.default_rng(0)
    frame = pd.concat([pd.DataFrame({"i": f"s{s}", "p": np.arange(n), "y": rng.normal(100, 10, n)})
                       for s, n in enumerate((60, 48, 40))], ignore_index=True).assign(row=lambda d: np.arange(len(d)))
    last = rt.Holdout(frame)
    before = last.earlier()
    assert before is not None and len(before.rows) == len(last.rows) == 18
    for item in ("s0", "s1", "s2"):  # the earlier window is the 6 steps just before the last one, same series
        p_last = last.rows.loc[last.rows["i"] == item, "p"]
        p_before = before.rows.loc[before.rows["i"] == item, "p"]
        assert list(p_before) == list(p_last - 6)
        assert len(before.hist[item][1]) == len(last.hist[item][1]) - 6
    windows, w = [last], last
    while (w := w.earlier()) is not None:
        windows.append(w)
    assert len(windows) == 4  # a 5th would leave the shortest series (40 points) under 12 points of history

    def truth(h, shift=0.0, noise=0.0):
        fc = {i: np.zeros(h.H) for i in h.hist}
        for i, k, y in zip(h.items, h.k, h.y):
            fc[i][k - 1] = y + shift + noise * rng.normal()
        return fc

    # one model always 5 too high, one 5 too low, one noisy: equal weights on the first two cancel their errors
    pairs = [(h, {"high": truth(h, 5.0), "low": truth(h, -5.0), "noisy": truth(h, noise=8.0)}) for h in windows]
    members, score = rt.greedy_ensemble(pairs, ["high", "low", "noisy"])
    assert set(members) == {"high", "low"} and members.count("high") == members.count("low")
    assert score < 1e-9 < min(np.mean([h.score(c[n]) for h, c in pairs]) for n in ("high", "low", "noisy"))

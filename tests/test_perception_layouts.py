"""Perception on the folder layouts users bring: side files, headerless tables, split flags, blank targets,
templates, documents beside tables, and ids checked against the raw test file."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from mlwright.errors import DataError
from mlwright.explain import explain
from mlwright.perception.side_files import extract_column_lists
from mlwright.schemas import TaskSpec
from mlwright.validation.raw_ids import check_raw_ids

COLS = ["cust", "x1", "x2", "cat", "label"]


def _table(n=300, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n).round(3), rng.normal(size=n).round(3)
    cat = rng.choice(["a", "b", "c"], n)
    return pd.DataFrame({"cust": rng.choice(np.arange(1000, 99999), n, replace=False), "x1": x1, "x2": x2,
                         "cat": cat, "label": np.where(x1 + x2 + (cat == "a") > 0.5, "yes", "no")})


def _headerless(tmp_path, side: dict[str, str]):
    df = _table()
    df[:240].to_csv(tmp_path / "train.csv", header=False, index=False)
    df[240:].drop(columns="label").to_csv(tmp_path / "test.csv", header=False, index=False)
    for name, text in side.items():
        (tmp_path / name).write_text(text)
    return df[240:]


@pytest.mark.parametrize("name,text", [
    ("columns.txt", "cust\nx1\nx2\ncat\nlabel\n"),
    ("README.md", "# Shop data\nNo header rows. Fields:\n\n1. cust - the customer id\n2. x1 - a measurement\n"
                  "3. x2 - another one\n4. cat - shop category\n5. label - bought or not\n"),
    ("data_dictionary.md", "| column | meaning |\n|---|---|\n| cust | customer identifier |\n| x1 | m1 |\n"
                           "| x2 | m2 |\n| cat | category |\n| label | the target |\n"),
    ("names", "Columns: cust, x1, x2, cat, label\n"),
    ("schema.json", json.dumps({"fields": [{"name": c, "type": "x"} for c in COLS]})),
])
def test_headerless_tables_take_names_from_side_files(tmp_path, name, text):
    test = _headerless(tmp_path, {name: text})
    ex = explain(tmp_path, "predict label for every test row; write predictions.csv with columns cust,label")
    s = ex.spec
    assert s.target == "label" and s.id_column == "cust" and not s.ids_numbered
    assert s.feature_columns == ["x1", "x2", "cat"]
    assert ex.test_keys == [str(v) for v in test["cust"].head(5)]
    assert any("column names from" in n for n in s.notes)
    assert ex.files[name] == "side file (read as evidence)"


def test_headerless_without_side_file_keeps_the_first_column_as_the_id(tmp_path):
    test = _headerless(tmp_path, {})
    ex = explain(tmp_path, "which customers buy? write predictions.csv with columns id,label")
    s = ex.spec
    assert s.id_column == "col_0" and s.output_columns == ["id", "label"] and not s.ids_numbered
    assert "col_0" not in s.feature_columns
    assert ex.test_keys == [str(v) for v in test["cust"].head(5)]


def test_side_file_lists_in_the_forms_people_write_them():
    text = ("Intro prose that is not a list.\n\n- `a`: first\n- b (int): second\n- c - third\n\n"
            "| name | desc |\n|----|----|\n| d | x |\n| e | y |\n\nColumns: f, g, h\n")
    lists = [names for names, _ in extract_column_lists(text)]
    assert ["a", "b", "c"] in lists and ["d", "e"] in lists and ["f", "g", "h"] in lists


def test_blank_target_column_and_template_order(tmp_path):
    df = _table()
    df[:240].to_csv(tmp_path / "train.csv", index=False)
    future = df[240:].assign(label="")
    future.to_csv(tmp_path / "to_predict.csv", index=False)
    wanted = df["cust"][240:].sample(20, random_state=1)
    pd.DataFrame({"cust": wanted, "label": ""}).to_csv(tmp_path / "sample_submission.csv", index=False)
    ex = explain(tmp_path, "fill in the label column")
    s = ex.spec
    assert s.target == "label" and s.test_table == "to_predict.csv" and s.id_column == "cust"
    assert s.n_test_rows == 20  # exactly the template's keys, in its order
    assert ex.test_keys == [str(v) for v in wanted.head(5)]


def test_one_table_with_a_split_column(tmp_path):
    df = _table()
    df["split"] = np.where(np.arange(len(df)) < 240, "train", "test")
    df.loc[df["split"] == "test", "label"] = "unknown"  # labels of test rows may hold anything
    df.to_csv(tmp_path / "all.csv", index=False)
    ex = explain(tmp_path, "predict label for the test rows")
    s = ex.spec
    assert s.n_test_rows == 60 and s.n_train_rows == 240 and "split" not in s.feature_columns
    assert s.class_labels == ["no", "yes"]


def test_forced_id_and_test_are_checked(tmp_path):
    _headerless(tmp_path, {"columns.txt": "\n".join(COLS)})
    with pytest.raises(DataError, match="--id 'nope'"):
        explain(tmp_path, "predict label", id_column="nope")
    with pytest.raises(DataError, match="--test 'other.csv'"):
        explain(tmp_path, "predict label", test="other.csv")


def _spec(**kw) -> TaskSpec:
    base = dict(problem_type="binary", target="label", metric="accuracy", higher_is_better=True,
                train_table="train.csv",
                test_table="test.csv", id_column="cust", prediction_file="predictions.csv", output_id_column="cust",
                output_columns=["cust", "label"], output_kind="label", feature_columns=["x1"], n_train_rows=1,
                n_test_rows=1, test_sources=["test.csv"])
    return TaskSpec(**(base | kw))


def test_raw_id_check_catches_invented_ids(tmp_path):
    test = _headerless(tmp_path, {})
    numbered = pd.DataFrame({"id": np.arange(len(test)), "label": "yes"})
    why = check_raw_ids(_spec(id_column=None, output_id_column="id", output_columns=["id", "label"],
                              ids_numbered=True), numbered, tmp_path)
    assert why and "unique ids" in why and "column 1" in why
    ok = pd.DataFrame({"cust": test["cust"].astype(str), "label": "yes"})
    assert check_raw_ids(_spec(), ok, tmp_path) is None
    wrong = ok.assign(cust=np.arange(len(ok)).astype(str))
    assert "not the values of any column" in check_raw_ids(_spec(), wrong, tmp_path)


def test_leading_zero_ids_stay_as_written(tmp_path):
    df = _table(120)
    df["cust"] = [f"{i:05d}" for i in range(len(df))]
    df[:90].to_csv(tmp_path / "train.csv", index=False)
    df[90:].drop(columns="label").to_csv(tmp_path / "test.csv", index=False)
    ex = explain(tmp_path, "predict label; write predictions.csv with columns cust,label")
    assert ex.test_keys[0] == "00090"


def test_train_table_with_a_test_folder_of_documents(tmp_path):
    """The CLI end to end: test/<id>.txt documents, the output columns name the target."""
    rng = np.random.default_rng(0)
    vocab = {"sea": "ship wave sail storm harbour", "war": "sword king battle castle siege",
             "love": "heart rose kiss dream letter"}
    rows = []
    for i in range(160):
        b = list(vocab)[i % 3]
        rows.append((f"s{i:04d}", " ".join(rng.choice(vocab[b].split() + "the a of and".split(), 12)), b))
    df = pd.DataFrame(rows, columns=["id", "sentence", "book"])
    data = tmp_path / "data"
    (data / "test").mkdir(parents=True)
    df[:120].to_csv(data / "train.csv", index=False)
    for id_, text, _ in rows[120:]:
        (data / "test" / f"{id_}.txt").write_text(text)
    out = tmp_path / "out"
    t0 = time.time()
    explained = subprocess.run([sys.executable, "-m", "mlwright", "explain", str(data), "--task",
                                "Which book is each test sentence from? Write predictions.csv with columns id,book"],
                               capture_output=True, text=True)
    assert explained.returncode == 0, explained.stderr
    assert "target: 'book'" in explained.stdout and time.time() - t0 < 20
    res = subprocess.run([sys.executable, "-m", "mlwright", "run", str(data), "--task",
                          "Which book is each test sentence from? Write predictions.csv with columns id,book",
                          "--output", str(out), "--time-limit", "40", "--no-autogluon"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    pred = pd.read_csv(out / "predictions.csv")
    assert list(pred.columns) == ["id", "book"]
    assert sorted(pred["id"]) == sorted(r[0] for r in rows[120:])
    truth = dict((r[0], r[2]) for r in rows[120:])
    assert (pred["book"] == pred["id"].map(truth)).mean() > 0.6


def test_labels_kept_apart_from_the_features(tmp_path):
    """train_features + train_labels (key, outcome) + test_features: the labels join their features by the key."""
    df = _table()
    df[:240].drop(columns="label").to_csv(tmp_path / "train_features.csv", index=False)
    df[:240][["cust", "label"]].sample(frac=1, random_state=2).to_csv(tmp_path / "train_labels.csv", index=False)
    df[240:].drop(columns="label").to_csv(tmp_path / "test_features.csv", index=False)
    s = explain(tmp_path, "Predict the label for test_features.csv; write predictions.csv with columns cust,label").spec
    assert s.target == "label" and s.test_table == "test_features.csv" and s.n_train_rows == 240
    assert s.feature_columns == ["x1", "x2", "cat"]
    assert any(n.startswith("labels: 'train_labels.csv'") for n in s.notes)


def test_labels_for_some_rows_and_a_template_of_the_rest(tmp_path):
    """One features table for everyone, the known outcomes apart, a template listing the keys to predict."""
    df = _table()
    df.drop(columns="label").sample(frac=1, random_state=3).to_csv(tmp_path / "customers.csv", index=False)
    df[:240][["cust", "label"]].to_csv(tmp_path / "labels.csv", index=False)
    wanted = df["cust"][240:].sample(25, random_state=4)
    pd.DataFrame({"cust": wanted, "label": ""}).to_csv(tmp_path / "submission_template.csv", index=False)
    ex = explain(tmp_path, "predict label for the customers in the template")
    assert ex.spec.target == "label" and ex.spec.n_train_rows == 240 and ex.spec.n_test_rows == 25
    assert ex.test_keys == [str(v) for v in wanted.head(5)]


def test_a_lookup_table_is_not_taken_for_labels(tmp_path):
    """A one-to-one table of extra facts beside a normal train/test pair stays a join, never the target."""
    df = _table()
    df[:240].to_csv(tmp_path / "train.csv", index=False)
    df[240:].drop(columns="label").to_csv(tmp_path / "test.csv", index=False)
    pd.DataFrame({"cust": df["cust"], "region": np.where(df["x1"] > 0, "n", "s")}).to_csv(tmp_path / "regions.csv",
                                                                                        index=False)
    s = explain(tmp_path, "predict label").spec
    assert s.target == "label" and s.train_table == "train.csv" and s.joins


def test_labels_present_in_the_rows_to_predict_are_ignored(tmp_path):
    df = _table()
    df["is_test"] = (np.arange(len(df)) >= 240).astype(int)
    df.to_csv(tmp_path / "data.csv", index=False)
    s = explain(tmp_path, "Train on is_test = 0 and predict label for is_test = 1; write predictions.csv with "
                          "columns cust,label").spec
    assert s.target == "label" and s.n_test_rows == 60 and s.id_column == "cust"
    assert "is_test" not in s.feature_columns


def test_a_single_output_column_has_no_key(tmp_path):
    df = _table().drop(columns="cust")
    df[:240].to_csv(tmp_path / "train.csv", index=False)
    df[240:].drop(columns="label").to_csv(tmp_path / "test.csv", index=False)
    s = explain(tmp_path, "Predict label. Write predictions.csv with a single column label, in the test order.").spec
    assert s.output_columns == ["label"] and s.key_columns == []
    ok = pd.DataFrame({"label": ["yes"] * 60})
    assert check_raw_ids(s.model_copy(update={"test_sources": ["test.csv"]}), ok, tmp_path) is None


def test_raw_id_check_does_not_take_measurements_for_ids(tmp_path):
    df = _table()
    df[240:].drop(columns=["label", "cust"]).to_csv(tmp_path / "test.csv", index=False)  # x1, x2 unique decimals
    numbered = pd.DataFrame({"id": np.arange(60), "label": "yes"})
    assert check_raw_ids(_spec(id_column=None, output_id_column="id", output_columns=["id", "label"],
                               ids_numbered=True), numbered, tmp_path) is None


def test_forecasts_keyed_by_the_rows_own_id(tmp_path):
    """Test rows (id, store, month) and a task asking for id,sales: forecasts per (store, month), written per id."""
    from mlwright.perception.forecast_output import by_row_key

    months = pd.date_range("2018-01-01", periods=24, freq="MS")
    hist = pd.DataFrame([(s, m.strftime("%Y-%m-%d"), 100 + 10 * (s == "b") + i) for s in "ab"
                         for i, m in enumerate(months)], columns=["store", "month", "sales"])
    hist.to_csv(tmp_path / "train.csv", index=False)
    fut = pd.date_range("2020-01-01", periods=3, freq="MS").strftime("%Y-%m-%d")
    test = pd.DataFrame([(9000 - i, s, m) for i, (s, m) in enumerate((s, m) for s in "ba" for m in fut)],
                        columns=["id", "store", "month"])
    test.to_csv(tmp_path / "test.csv", index=False)
    s = explain(tmp_path,
                "Forecast `sales` for every row of test.csv. Write predictions.csv with columns id,sales.").spec
    assert s.problem_type == "forecasting" and s.timeseries.output_columns == ["id", "sales"]
    assert s.output_columns == ["store", "month", "sales"]  # what the attempts write
    pred = pd.DataFrame({"store": ["a"] * 3 + ["b"] * 3, "month": list(fut) * 2, "sales": [1, 2, 3, 4, 5, 6]})
    rows = test.assign(month=pd.to_datetime(test["month"]))
    out = by_row_key(pred.astype(str), rows, s)
    assert list(out.columns) == ["id", "sales"] and out["id"].tolist() == test["id"].tolist()
    assert out["sales"].tolist() == ["4", "5", "6", "1", "2", "3"]


def test_parts_of_one_table_are_stacked(tmp_path):
    """train_2022 + train_2023 (same columns, names differing in numbers) train together; a lookup-table reading of
    the second part would silently halve the training rows."""
    df = _table()
    df[:120].to_csv(tmp_path / "train_2022.csv", index=False)
    df[120:240].to_csv(tmp_path / "train_2023.csv", index=False)
    (tmp_path / "test").mkdir()
    df[240:270].drop(columns="label").to_csv(tmp_path / "test" / "part-0.csv", index=False)
    df[270:].drop(columns="label").to_csv(tmp_path / "test" / "part-1.csv", index=False)
    s = explain(tmp_path, "predict label; write predictions.csv with columns cust,label").spec
    assert s.n_train_rows == 240 and s.n_test_rows == 60 and not s.joins
    assert s.test_table == "test/part-0.csv + test/part-1.csv"
    ids = pd.DataFrame({"cust": df["cust"][240:].astype(str), "label": "yes"})
    spec = s.model_copy(update={"test_sources": ["test/part-0.csv", "test/part-1.csv"]})
    assert check_raw_ids(spec, ids, tmp_path) is None  # ids from both parts are the raw files' own


def test_a_validation_split_trains_too(tmp_path):
    df = _table()
    df[:200].to_csv(tmp_path / "train.csv", index=False)
    df[200:240].to_csv(tmp_path / "valid.csv", index=False)
    df[240:].drop(columns="label").to_csv(tmp_path / "test.csv", index=False)
    s = explain(tmp_path, "predict label").spec
    assert s.n_train_rows == 240 and s.train_table == "train.csv + valid.csv"


def test_headerless_tables_take_names_from_the_task_text(tmp_path):
    test = _headerless(tmp_path, {})
    s = explain(tmp_path, "The files have no header row; the columns are, in order: cust, x1, x2, cat, label. "
                          "Predict `label` for each test row; write predictions.csv with columns cust,label.").spec
    assert s.target == "label" and s.id_column == "cust" and s.feature_columns == ["x1", "x2", "cat"]
    assert any("column names from the task" in n for n in s.notes)
    assert s.n_test_rows == len(test)

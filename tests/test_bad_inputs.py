"""Inputs that used to lie or crash (issue #10): a task naming a column that does not exist, and names and labels
holding quotes, backslashes and any unicode, which reach the generated scripts as data, never as code."""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from conftest import make_classification_frame, run_cli, split_write, tree_digest
from mlwright.coding.recipe_coder import render_script
from mlwright.errors import DataError
from mlwright.explain import explain
from mlwright.schemas import AttemptPlan, TaskSpec

NASTY = "a'''b\\\" \\ ''' é 日本 \udcff\n\"x"


def test_the_spec_is_data_whatever_the_names_hold():
    spec = TaskSpec(problem_type="binary", target=NASTY, metric="accuracy", higher_is_better=True, train_table="t",
                    test_table="u", id_column="id", prediction_file="p.csv", output_id_column="id",
                    output_columns=["id", NASTY], output_kind="label", class_labels=["x'''", "y\\"],
                    feature_columns=[NASTY + "2"], n_train_rows=1, n_test_rows=1)
    plan = AttemptPlan(attempt_id=1, recipe="lightgbm_baseline", title="t\nimport os; os.system('x')",
                       time_budget_s=10)
    src = render_script(plan, spec)
    compile(src, "solution.py", "exec")  # one string literal, however the names try to close it
    assert src.isascii() or "\udcff" not in src
    assert not any(line.startswith("import os; os.system") for line in src.splitlines())  # the title stays a comment
    block = re.search(r"^CONFIG = json\.loads\(r'''.*?'''\)$", src, re.M | re.S).group(0)
    ns: dict = {}
    exec("import json\n" + block, ns)
    assert ns["CONFIG"]["spec"]["target"] == NASTY
    assert ns["CONFIG"]["spec"]["class_labels"] == ["x'''", "y\\"]


def test_a_task_naming_a_missing_column_is_refused(tmp_path):
    split_write(make_classification_frame(), tmp_path, "label")
    with pytest.raises(DataError, match="asks to predict 'attrition'") as e:
        explain(tmp_path, "Predict `attrition` for each customer; write predictions.csv with columns customer_id,"
                          "attrition")
    assert "customer_id, x1, x2, color, label" in e.value.render()
    # a near name is the user's word for a real column, not an error
    assert explain(tmp_path, "Predict `labels` for each customer").spec.target == "label"


def test_quotes_backslashes_and_unicode_in_names_and_labels_end_to_end(tmp_path):
    df = make_classification_frame(n=200, classes=("it's ''' \"no\"", "yes\\ 日本"))
    df = df.rename(columns={"x1": "x1 '''); import os #", "color": "cölör \\ \"q\"", "label": "lab'''el"})
    data = split_write(df, tmp_path / "data", "lab'''el")
    before = tree_digest(data)
    out = tmp_path / "run"
    r = run_cli("run", str(data), "--task", "predict the label for each customer", "--target", "lab'''el",
                "--output", str(out), "--time-limit", "60", "--no-autogluon", "--llm", "none")
    assert r.returncode == 0, r.stderr[-3000:]
    assert tree_digest(data) == before
    pred = pd.read_csv(out / "predictions.csv", dtype=str, keep_default_na=False)
    assert list(pred.columns) == ["customer_id", "lab'''el"]
    assert set(pred["lab'''el"]) <= {"it's ''' \"no\"", "yes\\ 日本"}
    assert json.loads((out / "run.json").read_text())["status"] == "succeeded"


def test_an_output_column_naming_nothing_in_the_data_is_refused(tmp_path):
    split_write(make_classification_frame(), tmp_path, "label")
    task = "Predict attrition for each customer; write predictions.csv with columns customer_id,attrition"
    with pytest.raises(DataError, match="output column 'attrition'") as e:
        explain(tmp_path, task)
    assert "--target label" in e.value.render()
    # --target is the user's word: the asked output name is kept
    spec = explain(tmp_path, task, target="label").spec
    assert (spec.target, spec.output_columns) == ("label", ["customer_id", "attrition"])
    # a generic output word, a class of the target, a near name, or a bare header (a name chosen for the answer,
    # not a claim about the data) is not an error
    for task, want in (("predict the prediction; columns customer_id,prediction", "prediction"),
                       ("predict yes for each customer; columns customer_id,yes", "yes"),
                       ("predict label_probability; columns customer_id,label_probability", "label_probability"),
                       ("give me probabilities; columns customer_id,attrition", "attrition")):
        spec = explain(tmp_path, task).spec
        assert spec.target == "label" and spec.output_columns[-1] == want


def test_ids_with_a_repeat_or_blanks_are_kept_as_in_the_test_file(tmp_path):
    """An id column with flaws still names the rows: never replaced by row numbers mlwright makes up."""
    df = make_classification_frame(n=200)
    df["customer_id"] = range(1000, 1200)  # whole numbers: a blank must not turn them into 1003.0
    data = tmp_path / "data"
    data.mkdir()
    df.iloc[60:].to_csv(data / "train.csv", index=False)
    test = df.iloc[:60].drop(columns=["label"]).astype({"customer_id": object})
    test.iloc[10, 0] = test.iloc[9, 0]  # two rows share an id
    test.iloc[[3, 40], 0] = None  # two rows have none
    test.to_csv(data / "test.csv", index=False)
    out = tmp_path / "run"
    r = run_cli("run", str(data), "--task", "predict label for each customer", "--output", str(out),
                "--time-limit", "60", "--no-autogluon", "--llm", "none")
    assert r.returncode == 0, r.stderr[-3000:]
    pred = pd.read_csv(out / "predictions.csv", dtype=str, keep_default_na=False)
    want = ["" if v is None else str(v) for v in test["customer_id"]]
    assert list(pred.columns) == ["customer_id", "label"] and list(pred["customer_id"]) == want
    notes = json.loads((out / "run.json").read_text())["task"]["notes"]
    assert any("named like an id, but 1 value(s) repeat and 2 test row(s) have none" in n for n in notes), notes


def test_a_quoted_class_label_is_not_taken_for_a_missing_column(tmp_path):
    split_write(make_classification_frame(), tmp_path, "label")
    assert explain(tmp_path, "Predict `yes` or `no` for each customer in test.csv").spec.target == "label"


def _repeat_x(df: pd.DataFrame) -> pd.DataFrame:
    """A header that names `x` twice (two different columns), as a join or a spreadsheet export leaves it."""
    df = df.copy()
    df.insert(2, "x1_twice", df["x1"] * 2 + 1)
    return df


def _write_repeated(df: pd.DataFrame, path, fmt: str) -> None:
    names = ["x" if c in ("x1", "x1_twice") else c for c in df.columns]
    if fmt in ("csv", "tsv"):
        body = df.to_csv(index=False, header=False, sep="," if fmt == "csv" else "\t")
        path.write_text(("," if fmt == "csv" else "\t").join(names) + "\n" + body)
    elif fmt == "xlsx":
        df.set_axis(names, axis=1).to_excel(path, index=False)
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_arrays([pa.array(df[c]) for c in df.columns], names=names), path)
    elif fmt in ("json", "jsonl"):  # objects that repeat a key ({"x": 1.2, "x": 3.4}): json.loads keeps the last
        rows = ["{" + ", ".join(f"{json.dumps(n)}: {json.dumps(v)}" for n, v in zip(names, r)) + "}"
                for r in df.astype(object).values.tolist()]
        path.write_text("[" + ",\n".join(rows) + "]" if fmt == "json" else "\n".join(rows) + "\n")


@pytest.mark.parametrize("fmt", ["csv", "tsv", "xlsx", "parquet", "json", "jsonl"])
def test_a_repeated_column_name_is_renamed_and_reported_never_read_as_data(tmp_path, fmt):
    df = _repeat_x(make_classification_frame())
    _write_repeated(df.iloc[60:], tmp_path / f"train.{fmt}", fmt)
    _write_repeated(df.iloc[:60].drop(columns=["label"]), tmp_path / f"test.{fmt}", fmt)
    ex = explain(tmp_path, "predict the label for each customer")
    assert ex.spec.target == "label" and ex.spec.class_labels == ["no", "yes"]  # no header row as a third class
    assert (ex.spec.n_train_rows, ex.spec.n_test_rows) == (240, 60)
    assert {"x", "x_1"} <= set(ex.spec.feature_columns)
    assert f"train.{fmt}: the header names 'x' 2 times; the columns are renamed 'x', 'x_1' (left to right)" \
        in ex.spec.notes
    assert any(c["name"] == "x_1" for c in ex.columns)


def test_a_repeated_name_end_to_end_has_one_prediction_per_row_and_says_so(tmp_path):
    df = _repeat_x(make_classification_frame(n=200))
    data = tmp_path / "data"
    data.mkdir()
    _write_repeated(df.iloc[60:], data / "train.csv", "csv")
    _write_repeated(df.iloc[:60].drop(columns=["label"]), data / "test.csv", "csv")
    out = tmp_path / "run"
    r = run_cli("run", str(data), "--task", "predict the label for each customer", "--output", str(out),
                "--time-limit", "60", "--no-autogluon", "--llm", "none")
    assert r.returncode == 0, r.stderr[-3000:]
    pred = pd.read_csv(out / "predictions.csv", dtype=str)
    assert list(pred["customer_id"]) == list(df["customer_id"].iloc[:60])
    assert set(pred["label"]) <= {"no", "yes"}
    notes = json.loads((out / "run.json").read_text())["task"]["notes"]
    assert any("names 'x' 2 times" in n for n in notes)


@pytest.mark.parametrize("how", ["task", "--target"])
def test_a_target_named_twice_is_a_clear_error(tmp_path, how):
    df = make_classification_frame()
    df["label_copy"] = df["label"].map({"no": "yes", "yes": "no"})
    (tmp_path / "train.csv").write_text("customer_id,x1,x2,label,color,label\n" + df.iloc[60:][
        ["customer_id", "x1", "x2", "label_copy", "color", "label"]].to_csv(index=False, header=False))
    df.iloc[:60].drop(columns=["label", "label_copy"]).to_csv(tmp_path / "test.csv", index=False)
    extra = ["--target", "label"] if how == "--target" else []
    r = run_cli("explain", str(tmp_path), "--task", "predict `label` for each customer", *extra)
    out = r.stdout + r.stderr
    assert r.returncode == 2, out[-2000:]
    assert "'label' appears 2 times in the header of train.csv" in " ".join(out.split())
    assert "Traceback" not in out


_ACCENTED = {"red": "rouge é", "green": "grün", "blue": "São ñ"}
_LOCAL = {"cp1250": ({"red": "Łódź", "green": "Kraków ż", "blue": "gęślą jaźń"}, "wielkość"),
          "cp1251": ({"red": "Москва", "green": "Привет мир", "blue": "Київ"}, "размер"),
          "cp1253": ({"red": "Αθήνα", "green": "Καλημέρα κόσμε", "blue": "Θεσσαλονίκη"}, "μέγεθος")}


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-16", "utf-32", "cp1252", "latin-1", "cp1250",
                                      "cp1251", "cp1253"])
@pytest.mark.parametrize("accents", [True, False])
def test_text_tables_in_other_encodings_read_right_and_say_so(tmp_path, encoding, accents):
    """UTF-16/32 with or without a byte order mark (pure ASCII in UTF-16 is also valid UTF-8, NULs and all),
    Windows and Latin code pages: the columns and values come out exactly, and the encoding is a read note."""
    df = make_classification_frame()
    if accents:
        values, name = _LOCAL.get(encoding, (_ACCENTED, "größe"))
        df["color"] = df["color"].map(values)
        df = df.rename(columns={"x1": name})
    split_write(df, tmp_path, "label")
    for name in ("train.csv", "test.csv"):
        p = tmp_path / name
        p.write_bytes(p.read_text(encoding="utf-8").encode(encoding))
    ex = explain(tmp_path, "predict the label for each customer")
    assert (ex.spec.n_train_rows, ex.spec.n_test_rows) == (240, 60)
    assert set(ex.spec.feature_columns) == set(df.columns) - {"customer_id", "label"}
    assert ex.spec.class_labels == ["no", "yes"]
    if encoding.startswith("utf"):
        assert any(n.startswith("train.csv: not UTF-8; read as utf-") for n in ex.spec.notes), ex.spec.notes
    elif accents:  # a code page is only told from text that uses it; Latin-1's letters are cp1252's
        assert f"train.csv: not UTF-8; read as {'cp1252' if encoding == 'latin-1' else encoding}" in ex.spec.notes
    from mlwright.perception.readers import read_delimited

    back = read_delimited(tmp_path / "train.csv")
    assert list(back.columns) == list(df.columns)
    assert list(back["color"]) == list(df["color"].iloc[60:])


def test_text_whose_encoding_cannot_be_told_is_skipped_with_the_reason(tmp_path):
    split_write(make_classification_frame(), tmp_path, "label")
    (tmp_path / "extra.csv").write_bytes(bytes(range(256)) * 40)
    from mlwright.perception.scan import load_folder

    folder = load_folder(tmp_path, tmp_path / "unpacked")
    assert folder.skipped["extra.csv"].startswith("Cannot tell the text encoding of the file")


def _bytes_digest(folder: Path) -> list:
    return sorted((os.fsencode(p), p.read_bytes() if p.is_file() else b"") for p in folder.rglob("*"))


def test_file_names_that_are_not_utf8_are_read_and_shown_printably(tmp_path):
    df = make_classification_frame(n=200)
    data = tmp_path / "data"
    os.makedirs(os.fsencode(data) + b"/sub\xe9")
    with open(os.fsencode(data) + b"/sub\xe9/train\xff.csv", "wb") as f:
        f.write(df.iloc[60:].to_csv(index=False).encode())
    with open(os.fsencode(data) + b"/te\xfest.csv", "wb") as f:
        f.write(df.iloc[:60].drop(columns=["label"]).to_csv(index=False).encode())
    before = _bytes_digest(data)
    r = run_cli("explain", str(data), "--task", "predict the label for each customer")
    assert r.returncode == 0 and "Traceback" not in r.stdout + r.stderr, (r.stdout + r.stderr)[-3000:]
    assert "sub\\xe9/train\\xff.csv: training rows" in r.stdout
    out = tmp_path / "run"
    r = run_cli("run", str(data), "--task", "predict the label for each customer", "--output", str(out),
                "--time-limit", "60", "--no-autogluon", "--llm", "none")
    assert r.returncode == 0 and "Traceback" not in r.stdout + r.stderr, (r.stdout + r.stderr)[-3000:]
    assert _bytes_digest(data) == before
    pred = pd.read_csv(out / "predictions.csv", dtype=str)
    assert list(pred["customer_id"]) == list(df["customer_id"].iloc[:60])
    summary = json.loads((out / "run.json").read_bytes().decode("utf-8"))  # strict UTF-8 JSON
    assert summary["status"] == "succeeded" and summary["task"]["train_table"] == "sub\\xe9/train\\xff.csv"
    assert any(n.startswith("te\\xfest.csv: the file name is not valid UTF-8") for n in summary["task"]["notes"])
    assert (out / "report.html").read_bytes().decode("utf-8")


@pytest.mark.parametrize("which", ["data", "output"])
def test_a_data_or_output_folder_whose_path_is_not_utf8_is_a_clear_error(tmp_path, which):
    data = split_write(make_classification_frame(), tmp_path / "data", "label")
    out = tmp_path / "run"
    if which == "data":
        data = Path(os.fsdecode(os.fsencode(tmp_path) + b"/d\xffta"))
        shutil.copytree(tmp_path / "data", data)
    else:
        out = Path(os.fsdecode(os.fsencode(tmp_path) + b"/r\xffn"))
    r = run_cli("run", str(data), "--task", "predict the label", "--output", str(out), "--time-limit", "30",
                "--no-autogluon", "--llm", "none")
    text = r.stdout + r.stderr
    assert r.returncode == 2 and "Traceback" not in text, text[-3000:]
    assert f"The {which} folder's path is not valid UTF-8" in text and "\\xff" in text
    assert not out.exists()


@pytest.mark.parametrize("same", [True, False])
def test_an_id_named_twice_is_used_only_when_both_copies_agree(tmp_path, same):
    df = make_classification_frame()
    df["other_id"] = df["customer_id"] if same else df["customer_id"].iloc[::-1].to_numpy()
    cols = ["customer_id", "x1", "x2", "color", "other_id"]
    for name, part, extra in (("train.csv", df.iloc[60:], ["label"]), ("test.csv", df.iloc[:60], [])):
        (tmp_path / name).write_text(",".join(["customer_id", "x1", "x2", "color", "customer_id"] + extra) + "\n"
                                     + part[cols + extra].to_csv(index=False, header=False))
    task = "predict the label; write predictions.csv with columns customer_id,label"
    if same:
        ex = explain(tmp_path, task)
        assert ex.spec.id_column == "customer_id" and ex.spec.n_test_rows == 60
        assert "test.csv: the header names 'customer_id' 2 times; the columns are renamed 'customer_id', " \
               "'customer_id_1' (left to right)" in ex.spec.notes
    else:
        with pytest.raises(DataError, match="The id column 'customer_id' appears 2 times in the header of test.csv"):
            explain(tmp_path, task)


def test_numbers_with_odd_entries_and_dates_in_the_users_form_are_read_the_same_for_new_rows(tmp_path):
    """A numeric column with a few 'n/a'/'--' entries is numbers (the odd ones missing), not categories; a date
    column in the user's own form is timestamps. Both decisions are in run.json and `predict` reads new rows the
    same way."""
    df = make_classification_frame(n=300)
    df["x1"] = df["x1"].astype(object)
    for i in range(0, 300, 7):
        df.loc[i, "x1"] = ["abc", "--", "?", "1,5"][i % 4]
    df.insert(1, "signup", pd.date_range("2020-01-01", periods=300).strftime("%d/%m/%Y"))
    data = split_write(df, tmp_path / "data", "label")
    out = tmp_path / "run"
    r = run_cli("run", str(data), "--task", "predict label for each customer", "--output", str(out),
                "--time-limit", "60", "--no-autogluon", "--llm", "none")
    assert r.returncode == 0, r.stderr[-3000:]
    task = json.loads((out / "run.json").read_text())["task"]
    assert task["numeric_columns"] == ["x1"] and task["date_columns"]["signup"]["pattern"] == "%d/%m/%Y"
    assert any(n.startswith("column 'x1': numbers with 4 odd form(s)") for n in task["notes"])
    new = df.iloc[:20].drop(columns=["label"])
    new.to_csv(tmp_path / "new.csv", index=False)
    r = run_cli("predict", str(out), str(tmp_path / "new.csv"), "--output", str(tmp_path / "new_pred.csv"))
    assert r.returncode == 0, r.stderr[-3000:]
    new_pred = pd.read_csv(tmp_path / "new_pred.csv", dtype=str)
    run_pred = pd.read_csv(out / "predictions.csv", dtype=str)
    assert list(new_pred["label"]) == list(run_pred["label"][:20])  # the same rows read the same way


@pytest.mark.timeout(30)  # before: opening the first fifo blocked for ever (the signal ends the test)
def test_fifos_and_other_files_that_are_not_regular_are_skipped_unopened(tmp_path):
    """A named pipe among the files (opening one blocks until something writes to it), under any name the scan
    treats specially (a table, a json document, an archive, a compressed table, a note, an unknown suffix), is
    never opened, read, copied or unpacked: it is skipped with the reason, noted, and the rest is read. A named
    pipe given as the data itself is a clear error."""
    data = split_write(make_classification_frame(), tmp_path / "data", "label")
    fifos = ["extra.csv", "doc.json", "bundle.zip", "more.csv.gz", "README.txt", "rows.data", "db.sqlite",
             "sub/x.parquet", "odd\udcff.csv"]  # the last: a name that is not UTF-8 (read from a copy when regular)
    (data / "sub").mkdir()
    for name in fifos:
        os.mkfifo(data / name)
    ex = explain(data, "predict the label for each customer")
    assert (ex.spec.n_train_rows, ex.spec.n_test_rows) == (240, 60)
    for name in ("extra.csv", "doc.json", "bundle.zip", "sub/x.parquet", "odd\\xff.csv"):
        assert ex.files[name].startswith("skipped: not a regular file (a named pipe)"), ex.files
        assert any(n.startswith(f"{name}: not a regular file (a named pipe)") for n in ex.spec.notes), ex.spec.notes
    with pytest.raises(DataError, match="not a regular file") as e:
        explain(data / "extra.csv", "predict the label for each customer")
    assert e.value.where.endswith("extra.csv")
    from mlwright.perception.readers import read_tables

    with pytest.raises(DataError, match="not a regular file"):  # the readers refuse one too, unopened
        read_tables(data / "extra.csv", data)

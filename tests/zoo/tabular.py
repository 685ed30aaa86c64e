"""Tabular variants: a base table rendered with an id style, a split layout and a file format, plus the task
words; the Variant carries the generator's answer (ids from the generator, never from mlwright's reading)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pandas as pd

from zoo.base import TABLE_BASES
from zoo.render import (archive, csv_bytes, gzip_file, nest, write_json_obj, write_sqlite, write_table,
                        write_text, write_xlsx_sheets)
from zoo.variant import Variant

# A layout writes (train, test, y_test) into a folder. train holds the target, test does not.
Layout = Callable[[pd.DataFrame, pd.DataFrame, np.ndarray, Path], None]

DEFAULT_TASKS = {
    "churn": "Predict `{target}` (yes or no) for every customer in the test file. Write predictions.csv with "
             "columns {id},{target}.",
    "trees": "Predict the tree `{target}` for every row of the test file. Write predictions.csv with columns "
             "{id},{target}.",
    "houses": "Predict the sale `{target}` of every house in the test file. Write predictions.csv with columns "
              "{id},{target}.",
    "reviews": "Classify the `{target}` of each text in the test file. Write predictions.csv with columns "
               "{id},{target}.",
}
NO_ID_TASK = ("Predict `{target}` for every row of the test file. Write predictions.csv with a single column "
              "{target}, one row per test row, in the same order as the test file.")


def template_order(n: int, seed: int = 5) -> list[int]:
    """The (shuffled) row order of a template / sample submission."""
    return [int(i) for i in np.random.default_rng(seed).permutation(n)]


def make_ids(style: str, n_train: int, n_test: int) -> tuple[list, list]:
    rng = np.random.default_rng(99)
    n = n_train + n_test
    if style == "int":  # Kaggle-like: the test ids continue after the training ids
        vals: list = list(range(1, n + 1))
    elif style == "passenger":
        vals = list(range(1, n_train + 1)) + list(range(892, 892 + n_test))
    else:
        nums = rng.choice(np.arange(1000, 100000), size=n, replace=False)
        if style == "noncontig":
            vals = [int(v) for v in nums]
        elif style == "cust":
            vals = [f"C-{v:05d}" for v in nums]
        elif style == "zeros":
            vals = [f"{v:07d}" for v in nums]  # digit strings with leading zeros: not numbers
        elif style == "uuid":
            vals = ["%012x" % int(rng.integers(0, 2**47)) + "ab" for _ in range(n)]
        elif style == "ref":
            vals = [f"R{v}" for v in nums]
        else:
            raise ValueError(style)
    return vals[:n_train], vals[n_train:]


def frames(base: str, id_name: Optional[str], id_style: str = "int", id_pos: str = "first",
           rename: Optional[dict] = None, train_ids: bool = True):
    """(train, test, test ids as strings, y_test, target name) with the id column placed as asked."""
    b = TABLE_BASES[base]()
    tr, te = b.train.copy(), b.test.copy()
    target = b.target
    keys: list[str] = [str(i) for i in range(len(te))]
    if id_name:
        tr_ids, te_ids = make_ids(id_style, len(tr), len(te))
        keys = [str(v) for v in te_ids]
        for df, ids, is_train in ((tr, tr_ids, True), (te, te_ids, False)):
            if is_train and not train_ids:
                continue
            if id_pos == "first":
                df.insert(0, id_name, ids)
            elif id_pos == "last":
                df[id_name] = ids
            elif id_pos == "middle":
                df.insert(2, id_name, ids)
            else:
                raise ValueError(id_pos)
    if rename:
        tr, te = tr.rename(columns=rename), te.rename(columns=rename)
        target = rename.get(target, target)
    return tr, te, keys, b.y_test, target


# -- layouts ----------------------------------------------------------------------------------------------------
def two_files(fmt: str = "csv", train: str = "train", test: str = "test", sub: str = "", **kw) -> Layout:
    def write(tr, te, y, folder: Path):
        write_table(tr, folder / sub / f"{train}.{fmt}" if sub else folder / f"{train}.{fmt}", **kw)
        write_table(te, folder / sub / f"{test}.{fmt}" if sub else folder / f"{test}.{fmt}", **kw)
    return write


def text_files(train: str = "train.csv", test: str = "test.csv", **kw) -> Layout:
    def write(tr, te, y, folder: Path):
        write_text(tr, folder / train, **kw)
        write_text(te, folder / test, **kw)
    return write


def combined(target: str, name: str = "data.csv", split_col: Optional[str] = None, split_values=("train", "test"),
             keep_labels: bool = False, fmt: Optional[str] = None) -> Layout:
    """One table: training rows and rows to predict mixed (deterministic shuffle); the rows to predict have a
    blank target (or keep it, flagged by the split column)."""
    def write(tr, te, y, folder: Path):
        te2 = te.copy()
        te2[target] = y if keep_labels else np.nan
        te2 = te2[tr.columns]
        df = pd.concat([tr, te2], ignore_index=True)
        if split_col:
            df[split_col] = [split_values[0]] * len(tr) + [split_values[1]] * len(te2)
        df = df.iloc[np.random.default_rng(3).permutation(len(df))].reset_index(drop=True)
        write_table(df, folder / name, fmt=fmt)
    return write


def with_sample(inner: Layout, id_name: str, target: str, dummy, name: str = "sample_submission.csv",
                order: Optional[list[int]] = None) -> Layout:
    def write(tr, te, y, folder: Path):
        inner(tr, te, y, folder)
        ids = te[id_name].tolist()
        if order is not None:
            ids = [ids[i] for i in order]
        write_table(pd.DataFrame({id_name: ids, target: dummy}), folder / name)
    return write


def zipped(inner: Layout, name: str = "data.zip", kind: str = "zip") -> Layout:
    def write(tr, te, y, folder: Path):
        archive(folder, name, lambda t: inner(tr, te, y, t), kind)
    return write


def headerless(side: str, target: str) -> Layout:
    """train.csv / test.csv without a header row, and the column names in a side file."""
    def write(tr, te, y, folder: Path):
        write_text(tr, folder / "train.csv", header=False)
        write_text(te, folder / "test.csv", header=False)
        cols = list(tr.columns)
        if side == "columns.txt":
            (folder / "columns.txt").write_text("\n".join(cols) + "\n")
        elif side == "column_names.csv":
            (folder / "column_names.csv").write_text(",".join(cols) + "\n")
        elif side == "readme":
            lines = ["# Customer data", "", "train.csv and test.csv have no header row. Columns, in order:", "",
                     "| column | description |", "|---|---|"]
            desc = {"id": "customer number", "age": "age in years", "tenure": "months as a customer",
                    "monthly_charges": "monthly bill in EUR", "contract": "contract type", "city": "home city",
                    target: "whether the customer left (train.csv only)"}
            lines += [f"| {c} | {desc.get(c, c)} |" for c in cols]
            (folder / "README.md").write_text("\n".join(lines) + "\n")
        elif side == "none":
            pass
        else:
            raise ValueError(side)
    return write


def uci(target: str) -> Layout:
    """UCI style: churn.data / churn.test without headers, the columns described in churn.names."""
    def write(tr, te, y, folder: Path):
        write_text(tr, folder / "churn.data", header=False)
        write_text(te, folder / "churn.test", header=False)
        lines = ["| Customer churn data set", "", f"{target}: yes, no.", ""]
        for c in tr.columns:
            if c == target:
                continue
            kind = "continuous." if pd.api.types.is_numeric_dtype(tr[c]) else ", ".join(sorted(tr[c].unique())) + "."
            lines.append(f"{c}: {kind}")
        (folder / "churn.names").write_text("\n".join(lines) + "\n")
    return write


def labels_apart(id_name: str, target: str, fmt: str = "csv") -> Layout:
    """train_features.csv, train_labels.csv (id, target), test_features.csv (competition style)."""
    def write(tr, te, y, folder: Path):
        write_table(tr.drop(columns=[target]), folder / f"train_features.{fmt}")
        write_table(tr[[id_name, target]], folder / f"train_labels.{fmt}")
        write_table(te, folder / f"test_features.{fmt}")
    return write


def features_labels_template(id_name: str, target: str, order: list[int], n_template: int) -> Layout:
    """customers.csv (every customer's features), labels.csv (the known outcomes) and submission_template.csv
    listing exactly the ids to predict (a subset of the unlabeled customers, in its own order)."""
    def write(tr, te, y, folder: Path):
        feats = pd.concat([tr.drop(columns=[target]), te], ignore_index=True)
        feats = feats.iloc[np.random.default_rng(4).permutation(len(feats))]
        write_table(feats, folder / "customers.csv")
        write_table(tr[[id_name, target]], folder / "labels.csv")
        ids = [te[id_name].iloc[i] for i in order[:n_template]]
        write_table(pd.DataFrame({id_name: ids, target: ""}), folder / "submission_template.csv")
    return write


def nested_json(groups: dict[str, list[str]], lines: bool, wrap: Optional[str] = None) -> Layout:
    def write(tr, te, y, folder: Path):
        for df, stem in ((tr, "train"), (te, "test")):
            recs = nest(df, groups)
            obj = {wrap: recs, "exported": "2024-05-01"} if wrap else recs
            write_json_obj(obj, folder / f"{stem}.{'jsonl' if lines else 'json'}", lines=lines)
    return write


def json_pandas_default() -> Layout:
    """DataFrame.to_json() with its default orient ('columns': {column: {row: value}})."""
    def write(tr, te, y, folder: Path):
        tr.to_json(folder / "train.json", force_ascii=False)
        te.to_json(folder / "test.json", force_ascii=False)
    return write


def sqlite_db(train: str = "train", test: str = "test") -> Layout:
    def write(tr, te, y, folder: Path):
        write_sqlite({train: tr, test: te}, folder / "data.sqlite")
    return write


def xlsx_book(extra_sheet: bool = True) -> Layout:
    def write(tr, te, y, folder: Path):
        sheets = {"train": tr, "test": te}
        if extra_sheet:
            sheets["notes"] = pd.DataFrame({"note": ["Exported from the CRM on 2024-05-01.",
                                                     "The test sheet holds this month's customers."]})
        write_xlsx_sheets(sheets, folder / "customers.xlsx")
    return write


def csv_gz() -> Layout:
    def write(tr, te, y, folder: Path):
        gzip_file(folder / "train.csv.gz", csv_bytes(tr))
        gzip_file(folder / "test.csv.gz", csv_bytes(te))
    return write


def three_files(target: str) -> Layout:
    """train.csv, valid.csv (labelled too) and test.csv."""
    def write(tr, te, y, folder: Path):
        cut = int(len(tr) * 0.75)
        write_table(tr.iloc[:cut], folder / "train.csv")
        write_table(tr.iloc[cut:], folder / "valid.csv")
        write_table(te, folder / "test.csv")
    return write


def with_readme(inner: Layout, text: str) -> Layout:
    def write(tr, te, y, folder: Path):
        inner(tr, te, y, folder)
        (folder / "README.md").write_text(text)
    return write


def xlsx_title_rows() -> Layout:
    """Excel report exports: a title and a date line above the header row."""
    def write(tr, te, y, folder: Path):
        for df, stem in ((tr, "train"), (te, "test")):
            with pd.ExcelWriter(folder / f"{stem}.xlsx", engine="openpyxl") as w:
                df.to_excel(w, index=False, sheet_name="report", startrow=3)
                ws = w.sheets["report"]
                ws["A1"] = f"Customer report ({stem})"
                ws["A2"] = "Exported 2024-05-01 from the CRM"
    return write


def european_numbers(cols_thousands: list[str], cols_decimal: list[str]) -> Layout:
    """`;`-separated, decimal commas and thousands dots (1.234,5), as a German/French Excel writes them."""
    def fmt_num(v, decimals: int) -> str:
        s = f"{v:,.{decimals}f}"
        return s.replace(",", "_").replace(".", ",").replace("_", ".")

    def write(tr, te, y, folder: Path):
        for df, stem in ((tr, "train"), (te, "test")):
            d = df.copy()
            for c in cols_thousands:
                if c in d:
                    d[c] = [fmt_num(v, 0) for v in d[c]]
            for c in cols_decimal:
                if c in d:
                    d[c] = [fmt_num(v, 1) for v in d[c]]
            write_text(d, folder / f"{stem}.csv", sep=";")
    return write


def question_marks(cols: list[str], frac: float = 0.08) -> Layout:
    """UCI style: missing values written as '?'."""
    def write(tr, te, y, folder: Path):
        rng = np.random.default_rng(17)
        for df, stem in ((tr, "train"), (te, "test")):
            d = df.copy().astype({c: object for c in cols})
            for c in cols:
                d.loc[rng.random(len(d)) < frac, c] = "?"
            write_text(d, folder / f"{stem}.csv")
    return write


def noise_files(inner: Layout) -> Layout:
    """Files that are not data: a pdf, a notebook, a pickle, a macOS .DS_Store, a python script."""
    def write(tr, te, y, folder: Path):
        inner(tr, te, y, folder)
        (folder / "slides.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 8)
        (folder / "exploration.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4,
                                                              "nbformat_minor": 5}))
        (folder / "old_model.pkl").write_bytes(b"\x80\x04\x95" + bytes(200))
        (folder / ".DS_Store").write_bytes(bytes(64))
        (folder / "prepare.py").write_text("import pandas as pd\nprint('hello')\n")
    return write


def city_lookup(inner: Layout) -> Layout:
    """A lookup table beside train/test: one row per city (joins on `city`)."""
    def write(tr, te, y, folder: Path):
        inner(tr, te, y, folder)
        write_table(pd.DataFrame({"city": ["Zürich", "Málaga", "Besançon", "Köln", "Lyon"],
                                  "country": ["CH", "ES", "FR", "DE", "FR"],
                                  "population_k": [421, 578, 119, 1084, 522]}), folder / "cities.csv")
    return write


def test_variation(kind: str, target: str) -> Layout:
    """The test file differs from the training file: columns reordered, an extra column, an empty (or null)
    target column, or the training rows split over two files."""
    def write(tr, te, y, folder: Path):
        t2 = te.copy()
        if kind == "reordered":
            t2 = t2[list(reversed(t2.columns))]
        elif kind == "extra_column":
            t2["scored_on"] = "2024-05-01"
        elif kind == "empty_target":
            t2[target] = ""
        if kind == "null_target_jsonl":
            t2[target] = None
            write_table(tr, folder / "train.jsonl")
            write_json_obj([{**r, target: None} for r in t2.drop(columns=[target]).to_dict(orient="records")],
                           folder / "test.jsonl", lines=True)
            return
        if kind == "two_train_files":
            half = len(tr) // 2
            write_table(tr.iloc[:half], folder / "train_2022.csv")
            write_table(tr.iloc[half:], folder / "train_2023.csv")
        elif kind == "mixed_formats":
            write_table(tr, folder / "train.xlsx")
        else:
            write_table(tr, folder / "train.csv")
        write_table(t2, folder / "test.csv")
    return write


def bool_target(target: str) -> Layout:
    """parquet with a boolean target (yes -> True)."""
    def write(tr, te, y, folder: Path):
        d = tr.copy()
        d[target] = d[target] == "yes"
        write_table(d, folder / "train.parquet")
        write_table(te, folder / "test.parquet")
    return write


def quoted_text(name: str = "train.csv") -> Layout:
    """Texts with commas, quotes and line breaks (quoted csv fields) and Windows line endings."""
    def write(tr, te, y, folder: Path):
        for df, stem in ((tr, "train"), (te, "test")):
            d = df.copy()
            d["text"] = [f'{t[:-1]}, really.\nSaid "{t.split()[0].lower()}", twice.' for t in d["text"]]
            body = d.to_csv(index=False, lineterminator="\r\n")
            (folder / f"{stem}.csv").write_bytes(body.encode("utf-8"))
    return write


# -- the variant builder ----------------------------------------------------------------------------------------
def tab(name: str, dims: dict[str, str], *, base: str = "churn", id_name: Optional[str] = "id",
        id_style: str = "int", id_pos: str = "first", rename: Optional[dict] = None,
        layout: Optional[Callable[..., Layout]] = None, task: Optional[str] = None,
        columns: Optional[list[str]] = None, pred_file: str = "predictions.csv", value_col: Optional[str] = None,
        output: Optional[str] = None, positive: Optional[str] = None, order: Optional[list[int]] = None,
        train_ids: bool = True, extra_train: Optional[dict] = None, truth_map: Optional[dict] = None) -> Variant:
    """`layout` is called with (target, id_name) and returns the folder writer; `order` (template rows, a
    permutation or subset of the test rows) makes the expected ids an ordered list."""
    tr, te, keys, y, target = frames(base, id_name, id_style, id_pos, rename, train_ids)
    if extra_train:  # training-only columns (e.g. outcomes known only afterwards)
        for col, fn in extra_train.items():
            tr[col] = fn(tr, target)
    b = TABLE_BASES[base]()
    out_id = id_name if id_name else None
    if id_name and rename:
        out_id = rename.get(id_name, id_name)
    value_col = value_col or target
    columns = columns or ([out_id, value_col] if out_id else [value_col])
    if task is None:
        task = (DEFAULT_TASKS[base] if out_id else NO_ID_TASK).format(id=out_id, target=target)
    writer = (layout or (lambda t, i: two_files()))(target, out_id)
    truth = [truth_map.get(t, t) for t in y] if truth_map else list(y)
    ordered = order is not None or out_id is None
    if order is not None:
        keys, truth = [keys[i] for i in order], [truth[i] for i in order]
    if output is None:
        output = "value" if b.problem_type == "regression" else "label"
    return Variant(
        name=name, dims={"base": base, **dims}, write=lambda folder: writer(tr, te, y, folder), task=task,
        prediction_file=pred_file, columns=columns, id_columns=[out_id] if out_id else [],
        keys=[(k,) for k in keys], truth=truth, problem_type=b.problem_type, ordered=ordered,
        value_column=value_col, output=output, positive=positive)


def tabular_variants() -> list[Variant]:
    V: list[Variant] = []
    ORDER = template_order(60)

    # ---- formats (churn unless said) ----
    fmt = lambda v: {"format": v}  # noqa: E731
    V.append(tab("fmt_csv", fmt("csv")))
    V.append(tab("fmt_tsv", fmt("tsv"), layout=lambda t, i: two_files("tsv")))
    V.append(tab("fmt_semicolon", fmt("semicolon csv"), layout=lambda t, i: two_files("csv", sep=";")))
    V.append(tab("fmt_semicolon_decimal_comma", fmt("semicolon csv, decimal comma"),
                 layout=lambda t, i: two_files("csv", sep=";", decimal=",")))
    V.append(tab("fmt_pipe_txt", fmt("pipe-delimited .txt"), layout=lambda t, i: two_files("txt", sep="|")))
    V.append(tab("fmt_xlsx_two_files", fmt("xlsx (two files)"), layout=lambda t, i: two_files("xlsx")))
    V.append(tab("fmt_xlsx_sheets", fmt("xlsx (train/test/notes sheets)"), layout=lambda t, i: xlsx_book(),
                 task="Predict `churn` (yes or no) for every customer on the test sheet of customers.xlsx. Write "
                      "predictions.csv with columns id,churn."))
    V.append(tab("fmt_parquet", fmt("parquet"), layout=lambda t, i: two_files("parquet")))
    V.append(tab("fmt_json_records", fmt("json records"), layout=lambda t, i: two_files("json")))
    V.append(tab("fmt_json_wrapped", fmt("json {rows: [...]}"),
                 layout=lambda t, i: nested_json({}, lines=False, wrap="rows")))
    V.append(tab("fmt_json_pandas_default", fmt("json (pandas to_json default)"),
                 layout=lambda t, i: json_pandas_default()))
    V.append(tab("fmt_jsonl", fmt("jsonl"), layout=lambda t, i: two_files("jsonl")))
    groups = {"customer": ["age", "city"], "account": ["tenure", "monthly_charges", "contract"]}
    V.append(tab("fmt_jsonl_nested", fmt("jsonl nested"), layout=lambda t, i: nested_json(groups, lines=True)))
    V.append(tab("fmt_json_nested", fmt("json nested"), layout=lambda t, i: nested_json(groups, lines=False)))
    V.append(tab("fmt_sqlite", fmt("sqlite"), layout=lambda t, i: sqlite_db(),
                 task="Predict `churn` (yes or no) for every customer in the test table of data.sqlite. Write "
                      "predictions.csv with columns id,churn."))
    V.append(tab("fmt_zip", fmt("zip"), layout=lambda t, i: zipped(two_files())))
    V.append(tab("fmt_zip_subfolder", fmt("zip with a sub-folder"),
                 layout=lambda t, i: zipped(two_files(sub="export_2024"), name="export.zip")))
    V.append(tab("fmt_tar_gz", fmt("tar.gz"), layout=lambda t, i: zipped(two_files(), "data.tar.gz", "tar.gz")))
    V.append(tab("fmt_csv_gz", fmt("csv.gz"), layout=lambda t, i: csv_gz()))
    V.append(tab("fmt_same_name_in_train_test_folders", fmt("train/customers.csv + test/customers.csv"),
                 layout=lambda t, i: lambda tr, te, y, f: (write_table(tr, f / "train" / "customers.csv"),
                                                           write_table(te, f / "test" / "customers.csv"))))
    V.append(tab("fmt_comment_preamble", fmt("csv with comment lines above the header"),
                 layout=lambda t, i: text_files(preamble="# exported from the CRM\n# 2024-05-01\n")))
    V.append(tab("fmt_houses_xlsx", fmt("xlsx"), base="houses", layout=lambda t, i: two_files("xlsx")))
    V.append(tab("fmt_houses_semicolon_decimal_comma", fmt("semicolon csv, decimal comma"), base="houses",
                 layout=lambda t, i: two_files("csv", sep=";", decimal=",")))
    V.append(tab("fmt_houses_parquet", fmt("parquet"), base="houses", layout=lambda t, i: two_files("parquet")))
    V.append(tab("fmt_trees_sqlite", fmt("sqlite"), base="trees",
                 layout=lambda t, i: sqlite_db("labelled", "unlabelled"),
                 task="data.sqlite holds the labelled trees and the unlabelled ones. Predict `kind` for the "
                      "unlabelled trees. Write predictions.csv with columns id,kind."))
    V.append(tab("fmt_trees_json", fmt("json records"), base="trees", layout=lambda t, i: two_files("json")))
    V.append(tab("fmt_trees_tsv_zip", fmt("tsv in zip"), base="trees",
                 layout=lambda t, i: zipped(two_files("tsv"), "trees.zip")))

    # ---- header or not, side files ----
    hdr = lambda v: {"header": v}  # noqa: E731
    head_task = ("train.csv and test.csv have no header row; {where}. test.csv has the same columns without "
                 "churn. Predict `churn` for every customer in test.csv and write predictions.csv with columns "
                 "id,churn.")
    V.append(tab("headerless_columns_txt", hdr("none + columns.txt"), layout=lambda t, i: headerless("columns.txt", t),
                 task=head_task.format(where="the column names are listed in columns.txt, one per line")))
    V.append(tab("headerless_column_names_csv", hdr("none + column_names.csv"),
                 layout=lambda t, i: headerless("column_names.csv", t),
                 task=head_task.format(where="column_names.csv holds the column names")))
    V.append(tab("headerless_readme_dictionary", hdr("none + README data dictionary"),
                 layout=lambda t, i: headerless("readme", t),
                 task=head_task.format(where="README.md describes the columns in order")))
    V.append(tab("headerless_task_lists_columns", hdr("none, columns in the task"),
                 layout=lambda t, i: headerless("none", t),
                 task=head_task.format(where="the columns are, in order: id, age, tenure, monthly_charges, "
                                             "contract, city, churn")))
    V.append(tab("headerless_uci_names", hdr("none + UCI .names, .data/.test files"), layout=lambda t, i: uci(t),
                 task="churn.data holds the training rows and churn.test the customers to predict (no header rows; "
                      "the attributes are described in churn.names, in order, with churn last in churn.data and "
                      "absent from churn.test; the first attribute is id). Predict `churn` and write "
                      "predictions.csv with columns id,churn."))
    V.append(tab("header_plus_readme", hdr("header + README"),
                 layout=lambda t, i: with_readme(two_files(), "# Churn\n\nColumns: id (customer number), age, "
                                                 "tenure (months), monthly_charges (EUR), contract, city, churn "
                                                 "(yes/no; train.csv only).\n")))

    # ---- encodings ----
    enc = lambda v: {"encoding": v}  # noqa: E731
    V.append(tab("enc_utf8_sig", enc("utf-8-sig"), layout=lambda t, i: text_files(encoding="utf-8-sig")))
    V.append(tab("enc_latin1", enc("latin-1"), layout=lambda t, i: text_files(encoding="latin-1")))
    V.append(tab("enc_cp1252_euro_header", enc("cp1252, € in a column name"),
                 rename={"monthly_charges": "charges (€/month)", "city": "Stadt/Région"},
                 layout=lambda t, i: text_files(encoding="cp1252")))
    V.append(tab("enc_utf16_tab", enc("utf-16 tab-separated (Excel unicode text)"),
                 layout=lambda t, i: text_files("train.txt", "test.txt", sep="\t", encoding="utf-16")))
    V.append(tab("enc_utf16_csv", enc("utf-16 csv"), layout=lambda t, i: text_files(encoding="utf-16")))
    V.append(tab("enc_latin1_semicolon_decimal_comma", enc("latin-1, ';' and decimal comma (European Excel)"),
                 layout=lambda t, i: text_files(encoding="latin-1", sep=";", decimal=",")))

    # ---- split styles ----
    spl = lambda v: {"split": v}  # noqa: E731
    V.append(tab("split_blank_target_one_file", spl("one file, blank targets"),
                 layout=lambda t, i: combined(t),
                 task="data.csv holds all customers; `churn` is empty for the ones to predict. Predict it for them "
                      "and write predictions.csv with columns id,churn."))
    V.append(tab("split_column_blank_target", spl("one file + split column, blank targets"),
                 layout=lambda t, i: combined(t, split_col="split"),
                 task="In data.csv the `split` column says which rows are train and which are test. Predict "
                      "`churn` for the test rows and write predictions.csv with columns id,churn."))
    V.append(tab("split_flag_labels_present", spl("one file + is_test flag, labels present"),
                 layout=lambda t, i: combined(t, split_col="is_test", split_values=(0, 1), keep_labels=True),
                 task="data.csv holds all customers. Train on the rows with is_test = 0 and predict `churn` for "
                      "the rows with is_test = 1 (their churn values are there but must not be used). Write "
                      "predictions.csv with columns id,churn."))
    V.append(tab("split_blank_target_one_file_houses", spl("one file, blank targets"), base="houses",
                 layout=lambda t, i: combined(t, name="houses.xlsx", fmt="xlsx"),
                 task="houses.xlsx lists all houses; the sold ones have a price. Predict the `price` of the others "
                      "and write predictions.csv with columns id,price."))
    V.append(tab("split_sample_submission", spl("two files + sample submission (shuffled order)"),
                 layout=lambda t, i: with_sample(two_files(), i, t, "no", order=ORDER), order=ORDER,
                 task="Predict `churn` for every customer in test.csv; the submission must look like "
                      "sample_submission.csv."))
    V.append(tab("split_sample_submission_custom_name", spl("two files + sample submission, file named in task"),
                 layout=lambda t, i: with_sample(two_files(), i, t, "no", order=ORDER), order=ORDER,
                 pred_file="submission.csv",
                 task="Predict churn for the test customers. Write submission.csv in the format of "
                      "sample_submission.csv."))
    V.append(tab("split_features_labels_template", spl("features + labels + template listing the ids"),
                 layout=lambda t, i: features_labels_template(i, t, ORDER, 40), order=ORDER[:40],
                 task="customers.csv has every customer's data and labels.csv the known churn outcomes. Predict "
                      "`churn` for exactly the customers listed in submission_template.csv and write "
                      "predictions.csv in that template's format (same rows, same order)."))
    V.append(tab("split_labels_in_separate_file", spl("train_features + train_labels + test_features"),
                 layout=lambda t, i: labels_apart(i, t),
                 task="Predict `churn` for the customers in test_features.csv (training features and labels are in "
                      "train_features.csv and train_labels.csv, joined by id). Write predictions.csv with columns "
                      "id,churn."))
    V.append(tab("split_other_file_names", spl("historic.csv + new_customers.csv"),
                 layout=lambda t, i: two_files(train="historic", test="new_customers"),
                 task="historic.csv has past customers with the known `churn`. Predict churn for "
                      "new_customers.csv and write predictions.csv with columns id,churn."))
    V.append(tab("split_train_valid_test", spl("train + valid + test"), layout=lambda t, i: three_files(t)))
    V.append(tab("split_train_only_extra_column", spl("two files, a second train-only column"),
                 extra_train={"complaints_after": lambda d, t: (d[t] == "yes").astype(int) * 2 + d["tenure"] % 3},
                 task="Predict `churn` for every customer in test.csv (complaints_after is only known afterwards "
                      "and is not in the test file). Write predictions.csv with columns id,churn."))

    # ---- ids: placement, names, styles ----
    idd = lambda v: {"id": v}  # noqa: E731
    V.append(tab("id_last_column", idd("`id` last column"), id_pos="last"))
    V.append(tab("id_middle_column", idd("`id` middle column"), id_pos="middle"))
    V.append(tab("id_upper_ID", idd("`ID`"), id_name="ID"))
    V.append(tab("id_customer_id_strings", idd("`customer_id`, strings C-12345"), id_name="customer_id",
                 id_style="cust"))
    V.append(tab("id_passenger_like", idd("`PassengerId`, test ids 892.."), id_name="PassengerId",
                 id_style="passenger"))
    V.append(tab("id_leading_zeros", idd("`account_no`, digit strings with leading zeros"), id_name="account_no",
                 id_style="zeros"))
    V.append(tab("id_noncontiguous_ints", idd("`id`, random non-contiguous ints"), id_style="noncontig"))
    V.append(tab("id_hex_strings", idd("`uid`, hex strings"), id_name="uid", id_style="uuid", id_pos="last"))
    V.append(tab("id_named_ref", idd("`ref` (not id-like name), strings R12345"), id_name="ref", id_style="ref"))
    V.append(tab("id_test_only", idd("`id` only in test.csv"), train_ids=False))
    V.append(tab("id_none", idd("no id: rows in test order"), id_name=None))
    V.append(tab("id_none_trees", idd("no id: rows in test order"), base="trees", id_name=None))
    V.append(tab("id_houses_last_noncontig", idd("`house_id` last, non-contiguous"), base="houses",
                 id_name="house_id", id_pos="last", id_style="noncontig"))

    # ---- task phrasings ----
    ph = lambda v: {"phrasing": v}  # noqa: E731
    V.append(tab("task_vague", ph("vague"), task="Which of the customers in the test file are going to leave us?"))
    V.append(tab("task_output_columns_only", ph("output columns only"),
                 task="write predictions.csv with columns id,label", value_col="label"))
    V.append(tab("task_multi_sentence", ph("multi-sentence, file named late"), pred_file="answers.csv",
                 task="We are a small telecom company. Attached are our customers from last year; the ones that "
                      "cancelled are marked in the churn column. The test file has this month's customers. Please "
                      "tell us which of them will churn. Save the answer as answers.csv, with two columns: id and "
                      "churn."))
    V.append(tab("task_backticked", ph("back-ticked names"), pred_file="submission.csv",
                 task="Using `train.csv`, predict `churn` for the rows of `test.csv` and write `submission.csv` "
                      "with columns `id`, `churn`."))
    V.append(tab("task_quoted", ph("quoted names"), pred_file="out.csv",
                 task='Predict "churn" for each row in "test.csv". Save to "out.csv" with the columns "id" and '
                      '"churn".'))
    V.append(tab("task_markdown_brief", ph("markdown brief with a submission example"), pred_file="submission.csv",
                 task="## Goal\nPredict which customers will churn.\n\n## Data\n- train.csv: past customers with "
                      "the outcome\n- test.csv: customers to score\n\n## Evaluation\nAccuracy.\n\n## Submission\n"
                      "Upload submission.csv:\n\n```\nid,churn\n241,no\n242,yes\n...\n```\n"))
    V.append(tab("task_case_differs", ph("names differ in case"),
                 rename={"id": "CustomerId", "churn": "Churn", "age": "Age", "tenure": "Tenure",
                         "monthly_charges": "MonthlyCharges", "contract": "Contract", "city": "City"},
                 task="predict churn for each customerid in the test data."))
    V.append(tab("task_spaces_in_names", ph("column names with spaces, back-ticked"),
                 rename={"id": "Customer ID", "churn": "Churn Status", "monthly_charges": "Monthly Charges"},
                 task="Predict the `Churn Status` for each customer in test.csv. Write predictions.csv with columns "
                      "`Customer ID`, `Churn Status`."))
    V.append(tab("task_space_vs_underscore", ph("'churn status' for churn_status, two train-only columns"),
                 rename={"churn": "churn_status"},
                 extra_train={"complaints_after": lambda d, t: (d[t] == "yes").astype(int) * 2 + d["tenure"] % 3},
                 task="Predict the churn status of every customer in the test file. Write predictions.csv with "
                      "columns id,churn_status."))
    V.append(tab("task_probability_named_column", ph("probability, output column named in task"),
                 value_col="churn_probability", output="probability", positive="yes",
                 task="Estimate the probability that each customer in test.csv churns (churn = yes). Write "
                      "predictions.csv with columns id,churn_probability."))
    V.append(tab("task_french", ph("French"), pred_file="resultats.csv",
                 task="Prédisez la colonne `churn` (yes ou no) pour chaque client du fichier de test. Écrivez le "
                      "fichier resultats.csv avec les colonnes id,churn."))
    V.append(tab("task_german", ph("German"), pred_file="vorhersagen.csv",
                 task="Sagen Sie für jeden Kunden in der Testdatei voraus, ob er kündigt (Spalte `churn`). "
                      "Speichern Sie die Vorhersagen als vorhersagen.csv mit den Spalten id und churn."))
    V.append(tab("task_spanish", ph("Spanish"), pred_file="predicciones.csv",
                 task="Predice si cada cliente del archivo de prueba abandonará (columna `churn`). Guarda las "
                      "predicciones en predicciones.csv con las columnas id,churn."))
    V.append(tab("task_french_two_candidates", ph("French, target among two train-only columns"),
                 extra_train={"reclamations": lambda d, t: (d[t] == "yes").astype(int) * 2 + d["tenure"] % 3},
                 task="Le fichier d'entraînement contient aussi `reclamations`, connu seulement après coup. "
                      "Prédisez `churn` pour chaque client de test.csv et écrivez predictions.csv avec les colonnes "
                      "id,churn."))
    V.append(tab("task_german_trees", ph("German"), base="trees", pred_file="vorhersagen.csv",
                 task="Bestimme die Baumart (Spalte `kind`) für jede Zeile der Testdatei und schreibe "
                      "vorhersagen.csv mit den Spalten id,kind."))
    V.append(tab("task_houses_vague", ph("vague"), base="houses",
                 task="How much will each house in the test file sell for?"))
    V.append(tab("task_houses_spanish_metric", ph("Spanish, metric named"), base="houses", pred_file="precios.csv",
                 task="Predice el precio (`price`) de cada casa del archivo de prueba; la métrica es MAE. Escribe "
                      "precios.csv con las columnas id,price."))
    V.append(tab("task_reviews_text_column", ph("precise"), base="reviews"))
    V.append(tab("task_reviews_jsonl_nested", {"format": "jsonl nested text"}, base="reviews",
                 layout=lambda t, i: nested_json({"doc": ["text"]}, lines=True),
                 task="Classify the `topic` (sports, weather or cooking) of each document in test.jsonl. Write "
                      "predictions.csv with columns id,topic."))
    V.append(tab("task_reviews_blank_one_file", {"split": "one file, blank targets"}, base="reviews",
                 layout=lambda t, i: combined(t, name="texts.csv"), id_style="noncontig",
                 task="texts.csv holds short texts; fill in the missing `topic` values. Write predictions.csv with "
                      "columns id,topic."))

    # ---- harder but ordinary layouts ----
    V.append(tab("fmt_xlsx_title_rows", fmt("xlsx with title rows above the header"),
                 layout=lambda t, i: xlsx_title_rows()))
    V.append(tab("fmt_houses_thousands_separators", fmt("';', decimal comma and thousands dots (1.234,5)"),
                 base="houses", layout=lambda t, i: european_numbers(["price"], ["area"])))
    V.append(tab("fmt_question_mark_missing", fmt("csv, missing values as '?'"),
                 layout=lambda t, i: question_marks(["age", "monthly_charges", "city"]),
                 task="Predict `churn` (yes or no) for every customer in test.csv; missing values are written as ?. "
                      "Write predictions.csv with columns id,churn."))
    V.append(tab("fmt_bool_target_parquet", fmt("parquet, boolean target"),
                 layout=lambda t, i: bool_target(t), truth_map={"yes": "True", "no": "False"},
                 task="Predict `churn` (true or false) for every customer in the test file. Write predictions.csv "
                      "with columns id,churn."))
    V.append(tab("fmt_mixed_xlsx_train_csv_test", fmt("train.xlsx + test.csv"),
                 layout=lambda t, i: test_variation("mixed_formats", t)))
    V.append(tab("fmt_noise_files", fmt("csv + pdf, notebook, pickle, .DS_Store, script"),
                 layout=lambda t, i: noise_files(two_files())))
    V.append(tab("fmt_reviews_quoted_multiline_crlf", fmt("csv, quoted texts with commas/newlines, CRLF"),
                 base="reviews", layout=lambda t, i: quoted_text()))
    V.append(tab("split_lookup_table_beside", spl("train + test + a lookup table (cities.csv)"),
                 layout=lambda t, i: city_lookup(two_files())))
    V.append(tab("split_test_columns_reordered", spl("test columns in another order"),
                 layout=lambda t, i: test_variation("reordered", t)))
    V.append(tab("split_test_extra_column", spl("test has an extra column"),
                 layout=lambda t, i: test_variation("extra_column", t)))
    V.append(tab("split_test_empty_target_column", spl("test has the target column, empty"),
                 layout=lambda t, i: test_variation("empty_target", t)))
    V.append(tab("split_test_null_target_jsonl", spl("jsonl, test rows with churn: null"),
                 layout=lambda t, i: test_variation("null_target_jsonl", t)))
    V.append(tab("split_train_in_two_files", spl("train_2022.csv + train_2023.csv + test.csv"),
                 layout=lambda t, i: test_variation("two_train_files", t),
                 task="train_2022.csv and train_2023.csv hold past customers with the known `churn`. Predict churn "
                      "for test.csv and write predictions.csv with columns id,churn."))
    V.append(tab("split_path_prefixed_subfolder", spl("files under data/, task gives the paths"),
                 layout=lambda t, i: two_files(sub="data"),
                 task="Train on data/train.csv and predict `churn` for data/test.csv. Write predictions.csv with "
                      "columns id,churn."))
    V.append(tab("enc_latin1_umlaut_columns", enc("latin-1, ';', German column names with umlauts"),
                 rename={"age": "Alter", "tenure": "Vertragsdauer (Monate)", "monthly_charges": "Monatsgebühr",
                         "contract": "Vertrag", "city": "Stadt", "churn": "Kündigung"},
                 layout=lambda t, i: text_files(encoding="latin-1", sep=";", decimal=","),
                 task="Sage für jeden Kunden in test.csv die Spalte `Kündigung` (yes/no) voraus. Schreibe "
                      "predictions.csv mit den Spalten id,Kündigung."))
    V.append(tab("task_bullet_list_columns", ph("markdown bullet list of output columns"),
                 task="Predict churn for the customers in test.csv.\n\nOutput file: predictions.csv\nColumns:\n"
                      "- id\n- churn\n"))
    V.append(tab("task_only_file_name", ph("only the output file named"), pred_file="my_preds.csv",
                 task="Save your churn predictions for the test customers to my_preds.csv."))
    V.append(tab("task_italian", ph("Italian"), pred_file="previsioni.csv",
                 task="Prevedi la colonna `churn` (yes o no) per ogni cliente del file di test. Scrivi "
                      "previsioni.csv con le colonne id,churn."))
    V.append(tab("task_portuguese", ph("Portuguese"), pred_file="previsoes.csv",
                 task="Preveja a coluna `churn` para cada cliente do arquivo de teste e salve previsoes.csv com as "
                      "colunas id,churn."))
    return V

"""Renderers: write a DataFrame (or several) into the file formats, encodings and header styles users hand over."""
from __future__ import annotations

import io
import json
import sqlite3
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd


def _records(df: pd.DataFrame) -> list[dict]:
    """Plain-Python records (numpy scalars converted, NaN as None)."""
    out = []
    for row in df.to_dict(orient="records"):
        rec = {}
        for k, v in row.items():
            if isinstance(v, (np.integer,)):
                v = int(v)
            elif isinstance(v, (np.floating,)):
                v = None if np.isnan(v) else float(v)
            elif isinstance(v, float) and np.isnan(v):
                v = None
            rec[k] = v
        out.append(rec)
    return out


def write_text(df: pd.DataFrame, path: Path, sep: str = ",", encoding: str = "utf-8", header: bool = True,
               decimal: str = ".", preamble: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = df.to_csv(sep=sep, index=False, header=header, decimal=decimal, lineterminator="\n")
    path.write_bytes((preamble + body).encode(encoding))


def write_table(df: pd.DataFrame, path: Path, fmt: str | None = None, **kw) -> None:
    """Write one table in the format its suffix says (or `fmt`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = fmt or path.suffix.lstrip(".").lower()
    if fmt in ("csv", "txt"):
        write_text(df, path, **kw)
    elif fmt == "tsv":
        write_text(df, path, sep="\t", **kw)
    elif fmt == "xlsx":
        with pd.ExcelWriter(path, engine="openpyxl") as w:
            df.to_excel(w, index=False, sheet_name=kw.get("sheet", "Sheet1"))
    elif fmt == "parquet":
        df.to_parquet(path, index=False)
    elif fmt == "json":
        path.write_text(json.dumps(_records(df), ensure_ascii=False, indent=1), encoding="utf-8")
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _records(df)), encoding="utf-8")
    else:
        raise ValueError(fmt)


def write_xlsx_sheets(sheets: dict[str, pd.DataFrame], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with pd.ExcelWriter(path, engine="openpyxl") as w:
        for name, df in sheets.items():
            df.to_excel(w, index=False, sheet_name=name)


def write_sqlite(tables: dict[str, pd.DataFrame], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as con:
        for name, df in tables.items():
            df.to_sql(name, con, index=False)
    con.close()


def nest(df: pd.DataFrame, groups: dict[str, list[str]]) -> list[dict]:
    """Records with some columns grouped into sub-objects: {"customer": {"age": .., ..}, ..}."""
    out = []
    grouped = {c for cols in groups.values() for c in cols}
    for rec in _records(df):
        new: dict = {}
        for k, v in rec.items():
            if k not in grouped:
                new[k] = v
        for g, cols in groups.items():
            sub = {c: rec[c] for c in cols if c in rec}
            if sub:
                new[g] = sub
        out.append(new)
    return out


def write_json_obj(obj, path: Path, lines: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if lines:
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in obj), encoding="utf-8")
    else:
        path.write_text(json.dumps(obj, ensure_ascii=False, indent=1), encoding="utf-8")


def archive(folder: Path, name: str, inner: Callable[[Path], None], kind: str = "zip") -> None:
    """Write the files `inner` writes into one archive at folder/name (zip, tar, tar.gz)."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        inner(t)
        files = sorted(p for p in t.rglob("*") if p.is_file())
        if kind == "zip":
            with zipfile.ZipFile(folder / name, "w", zipfile.ZIP_DEFLATED) as z:
                for p in files:
                    z.write(p, p.relative_to(t).as_posix())
        else:
            mode = "w:gz" if kind == "tar.gz" else "w"
            with tarfile.open(folder / name, mode) as tf:
                for p in files:
                    tf.add(p, p.relative_to(t).as_posix())


def gzip_file(path: Path, data: bytes) -> None:
    import gzip

    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        f.write(data)


def csv_bytes(df: pd.DataFrame, **kw) -> bytes:
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n", **kw)
    return buf.getvalue().encode("utf-8")

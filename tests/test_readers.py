"""Readers and archives on real files of every supported format."""
from __future__ import annotations

import io
import sqlite3
import tarfile
import zipfile

import pandas as pd
import pytest

from mlwright.errors import DataError
from mlwright.perception.archives import unpack_archive
from mlwright.perception.readers import read_tables
from mlwright.perception.scan import load_folder

FRAME = pd.DataFrame({"id": [1, 2, 3, 4], "name": ["Zoë", "Jürgen", "Åsa", "Ole"], "value": [1.5, 2.0, 3.25, 4.0]})


def _read_one(path, root):
    tables = read_tables(path, root)
    assert len(tables) == 1
    return next(iter(tables.values()))


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_delimiters(tmp_path, sep):
    p = tmp_path / "data.csv"
    FRAME.to_csv(p, sep=sep, index=False)
    df = _read_one(p, tmp_path)
    assert list(df.columns) == ["id", "name", "value"]
    assert df["name"].tolist() == FRAME["name"].tolist()


def test_latin1_and_utf16_encodings(tmp_path):
    p = tmp_path / "latin.csv"
    p.write_bytes(FRAME.to_csv(index=False, sep=";").encode("latin-1", errors="replace").replace(b"\xeb", b"\xeb"))
    df = _read_one(p, tmp_path)
    assert df["name"].iloc[1] == "Jürgen"
    p2 = tmp_path / "utf16.tsv"
    p2.write_bytes(FRAME.to_csv(index=False, sep="\t").encode("utf-16"))
    assert _read_one(p2, tmp_path)["name"].iloc[0] == "Zoë"


def test_no_header_gets_generated_names(tmp_path):
    p = tmp_path / "raw.csv"
    p.write_text("1,alpha,0.5\n2,beta,0.7\n3,gamma,0.9\n")
    df = _read_one(p, tmp_path)
    assert list(df.columns) == ["col_0", "col_1", "col_2"] and len(df) == 3


def test_xlsx_parquet_json_jsonl_sqlite(tmp_path):
    FRAME.to_excel(tmp_path / "a.xlsx", index=False)
    FRAME.to_parquet(tmp_path / "b.parquet")
    FRAME.to_json(tmp_path / "c.json", orient="records")
    FRAME.to_json(tmp_path / "d.jsonl", orient="records", lines=True)
    with sqlite3.connect(tmp_path / "e.sqlite") as con:
        FRAME.to_sql("people", con, index=False)
        FRAME.head(2).to_sql("other", con, index=False)
    for name in ["a.xlsx", "b.parquet", "c.json", "d.jsonl"]:
        df = _read_one(tmp_path / name, tmp_path)
        assert df.shape == (4, 3), name
        assert df["name"].tolist() == FRAME["name"].tolist()
    db = read_tables(tmp_path / "e.sqlite", tmp_path)
    assert set(db) == {"e.sqlite#people", "e.sqlite#other"} and db["e.sqlite#people"].shape == (4, 3)


def test_corrupt_files_give_specific_errors(tmp_path):
    (tmp_path / "broken.xlsx").write_bytes(b"PK\x03\x04 this is not really a workbook")
    with pytest.raises(DataError) as e:
        read_tables(tmp_path / "broken.xlsx", tmp_path)
    assert "broken.xlsx" in str(e.value) and "excel" in str(e.value)
    (tmp_path / "broken.parquet").write_bytes(b"PAR1garbage")
    with pytest.raises(DataError, match="parquet"):
        read_tables(tmp_path / "broken.parquet", tmp_path)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        read_tables(tmp_path / "empty.csv", tmp_path)


def test_too_large_for_memory(tmp_path):
    p = tmp_path / "big.csv"
    FRAME.to_csv(p, index=False)
    with pytest.raises(DataError, match="too large"):
        read_tables(p, tmp_path, max_memory_mb=1e-5)


def test_folder_scan_recurses_and_unpacks_archives(tmp_path):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    FRAME.to_csv(data / "sub" / "inner.csv", index=False)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("packed/table.csv", FRAME.to_csv(index=False))
    (data / "bundle.zip").write_bytes(buf.getvalue())
    loaded = load_folder(data, tmp_path / "unpacked")
    assert "sub/inner.csv" in loaded.tables
    assert any(k.endswith("packed/table.csv") for k in loaded.tables)
    assert not list(data.glob("packed*"))  # unpacked into the run folder, not the data folder


def test_zip_slip_is_refused(tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../escaped.txt", "owned")
    with pytest.raises(DataError, match="outside"):
        unpack_archive(evil, tmp_path / "dest")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path.parent / "escaped.txt").exists()


def test_tar_with_symlink_is_refused(tmp_path):
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tf:
        info = tarfile.TarInfo("link")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(info)
    with pytest.raises(DataError, match="link"):
        unpack_archive(evil, tmp_path / "dest")


def test_zip_bomb_is_refused(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.csv", b"0" * (60 * 1024**2))
    with pytest.raises(DataError, match="bomb|size limit"):
        unpack_archive(bomb, tmp_path / "dest")
    with pytest.raises(DataError, match="inflate"):
        unpack_archive(bomb, tmp_path / "dest2", max_bytes=1024**2)
    assert not (tmp_path / "dest2" / "zeros.csv").exists()


def test_thousands_dots_with_decimal_commas(tmp_path):
    """'343.649' in a ';' file that writes decimals with commas is 343649; '0.5'-like decimals stay decimals."""
    from mlwright.perception.readers import read_delimited

    p = tmp_path / "houses.csv"
    p.write_text("id;price;area;rate\n1;343.649;120,5;0.5\n2;1.234.567;98;0.25\n3;95.000;75,25;0.125\n")
    df = read_delimited(p)
    assert df["price"].tolist() == [343649, 1234567, 95000]
    assert df["area"].tolist() == [120.5, 98.0, 75.25]
    assert df["rate"].tolist() == [0.5, 0.25, 0.125]


def test_dots_without_other_evidence_stay_decimals(tmp_path):
    from mlwright.perception.readers import read_delimited

    p = tmp_path / "m.csv"
    p.write_text("id;x\n1;1.234\n2;2.500\n3;3.141\n")
    assert read_delimited(p)["x"].tolist() == [1.234, 2.5, 3.141]


def test_a_header_line_alone_names_headerless_tables(tmp_path):
    from mlwright.perception.scan import load_folder

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "column_names.csv").write_text("cust,x1,label\n")
    (tmp_path / "d" / "train.csv").write_text("".join(f"{1000 + i},{i * 0.5},{'yes' if i % 2 else 'no'}\n"
                                                      for i in range(30)))
    folder = load_folder(tmp_path / "d", tmp_path / "u")
    assert "column_names.csv" not in folder.tables and "column_names.csv" not in folder.skipped
    assert list(folder.tables["train.csv"].columns) == ["cust", "x1", "label"]


@pytest.mark.parametrize("orient", ["columns", "index", "split", "records", "values"])
def test_every_layout_pandas_writes_json_in(tmp_path, orient):
    FRAME.to_json(tmp_path / "t.json", orient=orient)
    df = _read_one(tmp_path / "t.json", tmp_path)
    assert df.shape == FRAME.shape and df.iloc[:, 1].tolist() == FRAME["name"].tolist()
    if orient != "values":
        assert list(df.columns) == list(FRAME.columns)


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.bz2", ".tsv.xz"])
def test_compressed_text_tables(tmp_path, suffix):
    sep = "\t" if ".tsv" in suffix else ","
    FRAME.to_csv(tmp_path / f"t{suffix}", index=False, sep=sep)  # pandas compresses by the suffix
    df = _read_one(tmp_path / f"t{suffix}", tmp_path)
    assert df["name"].tolist() == FRAME["name"].tolist() and df["value"].tolist() == FRAME["value"].tolist()


def test_uci_data_test_and_names_files(tmp_path):
    """churn.data (class last) + churn.test (no class) + churn.names (attributes in order, the class apart)."""
    rows = [(i, 20 + i % 40, ["no", "yes"][i % 2]) for i in range(1, 41)]
    (tmp_path / "churn.data").write_text("".join(f"{i},{a},{c}\n" for i, a, c in rows[:30]))
    (tmp_path / "churn.test").write_text("".join(f"{i},{a}\n" for i, a, _ in rows[30:]))
    (tmp_path / "churn.names").write_text("| churn data\n\nchurn: yes, no.\n\nid: continuous.\nage: continuous.\n")
    folder = load_folder(tmp_path, tmp_path / "u")
    assert list(folder.tables["churn.data"].columns) == ["id", "age", "churn"]
    assert list(folder.tables["churn.test"].columns) == ["id", "age"]


def test_xlsx_title_rows_above_the_header(tmp_path):
    with pd.ExcelWriter(tmp_path / "r.xlsx", engine="openpyxl") as w:
        FRAME.to_excel(w, index=False, sheet_name="report", startrow=3)
        w.sheets["report"]["A1"] = "Monthly report"
        w.sheets["report"]["A2"] = "Exported 2024-05-01"
    df = _read_one(tmp_path / "r.xlsx", tmp_path)
    assert list(df.columns) == list(FRAME.columns) and df["value"].tolist() == FRAME["value"].tolist()

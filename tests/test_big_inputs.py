"""Big data (issue #10, item 5): every table file is sized from a sample before it is read, the files of a folder
add up against one budget, and a folder that would not fit is a clear error (what, where, what to do) instead of a
process that grows until the machine kills it. Small generated files and a lowered budget (--memory-limit /
max_memory_mb) stand in for big files on a small machine."""
from __future__ import annotations

import gzip
import json
import sqlite3

import numpy as np
import pandas as pd
import pytest

from conftest import make_classification_frame, run_cli, split_write
from mlwright.errors import DataError
from mlwright.perception import readers
from mlwright.perception.scan import load_folder
from mlwright.perception.sizing import PEAK_FACTOR, MemoryBudget, estimate

MB = 1024**2


def _mixed(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"id": np.arange(n), "a": rng.normal(size=n).round(5), "b": rng.integers(0, 1000, n),
                         "city": rng.choice(["north", "south", "east", "west"], n),
                         "code": [f"K{v:07d}" for v in rng.integers(0, 10**7, n)],
                         "label": rng.choice(["p", "q"], n)})


def test_the_estimate_comes_from_a_sample_and_is_close_for_a_file_larger_than_the_sample(tmp_path):
    df = _mixed(120_000)  # ~4 MB of csv: twice the 2 MB sample
    p = tmp_path / "train.csv"
    df.to_csv(p, index=False)
    assert p.stat().st_size > 3 * MB
    real = readers.read_delimited(p).memory_usage(deep=True).sum()
    est = estimate(p, "text")
    assert 0.85 * real < est.frame_bytes < 1.25 * real, (est, real)
    assert "measured on its first rows" in est.how
    gz = tmp_path / "train.csv.gz"
    gz.write_bytes(gzip.compress(p.read_bytes()))
    assert 0.85 * real < estimate(gz, "text").frame_bytes < 1.25 * real  # sized unpacked, not by its packed size
    df.to_parquet(tmp_path / "t.parquet")
    pq = estimate(tmp_path / "t.parquet", "parquet")
    assert "120,000 rows (from its metadata)" in pq.how
    assert 0.9 * real < pq.frame_bytes < 1.1 * real


def test_a_file_that_would_not_fit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    split_write(_mixed(20_000), tmp_path, "label", n_test=2000)
    need = estimate(tmp_path / "train.csv", "text").need_bytes

    def whole_file_read(path):
        raise AssertionError(f"{path} was read whole although it cannot fit")

    monkeypatch.setattr(readers, "_decode_with", whole_file_read)
    with pytest.raises(DataError) as e:
        load_folder(tmp_path, tmp_path / "unpacked", max_memory_mb=0.5 * need / MB)
    err = e.value
    assert err.what.startswith("File is too large to load into memory") and "(--memory-limit)" in err.what
    assert err.where.endswith("train.csv")
    assert "Sample the file down" in err.hint and "parquet" in err.hint and "--memory-limit" in err.hint


def test_a_file_that_fits_is_still_read(tmp_path):
    split_write(_mixed(20_000), tmp_path, "label", n_test=2000)
    need = sum(estimate(tmp_path / f, "text").need_bytes for f in ("train.csv", "test.csv"))
    folder = load_folder(tmp_path, tmp_path / "unpacked", max_memory_mb=1.2 * need / MB)
    assert len(folder.tables["train.csv"]) == 18_000 and len(folder.tables["test.csv"]) == 2000


def test_the_files_of_a_folder_add_up(tmp_path):
    for i in range(3):
        _mixed(10_000, seed=i).to_csv(tmp_path / f"part_{i}.csv", index=False)
    one = estimate(tmp_path / "part_0.csv", "text").need_bytes
    budget = 2.5 * one / MB  # any one file fits, two do, the third does not
    for i in range(3):
        assert len(readers.read_tables(tmp_path / f"part_{i}.csv", tmp_path, max_memory_mb=budget)) == 1
    with pytest.raises(DataError, match="the folder's other tables already take about") as e:
        load_folder(tmp_path, tmp_path / "unpacked", max_memory_mb=budget)
    assert e.value.where.endswith("part_2.csv")


def test_a_compressed_file_is_sized_by_what_it_unpacks_to(tmp_path):
    text = "a,b,c\n" + "1,2,3\n" * 3_000_000  # 18 MB of text, a few tens of KB packed
    (tmp_path / "train.csv.gz").write_bytes(gzip.compress(text.encode()))
    assert (tmp_path / "train.csv.gz").stat().st_size < 200_000
    with pytest.raises(DataError, match=r"File is too large.*unpacks to more than") as e:
        readers.read_tables(tmp_path / "train.csv.gz", tmp_path, max_memory_mb=20)
    assert "train.csv.gz" in e.value.where


def _write(df: pd.DataFrame, path, fmt: str) -> None:
    if fmt == "xlsx":
        df.to_excel(path, index=False)
    elif fmt == "parquet":
        df.to_parquet(path, index=False)
    elif fmt == "json":
        path.write_text(df.to_json(orient="records"))
    elif fmt == "jsonl":
        df.to_json(path, orient="records", lines=True)
    elif fmt == "sqlite":
        with sqlite3.connect(path) as con:
            df.to_sql("t", con, index=False)
    elif fmt == "feather":
        df.to_feather(path)


@pytest.mark.parametrize("fmt", ["xlsx", "parquet", "json", "jsonl", "sqlite", "feather"])
def test_every_format_is_sized_and_refused_or_read(tmp_path, fmt):
    df = _mixed(3000)
    p = tmp_path / f"t.{fmt}"
    _write(df, p, fmt)
    kind = readers.sniff_kind(p)
    est = estimate(p, kind)
    real = df.memory_usage(deep=True).sum()
    assert 0.3 * real < est.frame_bytes < 3 * real, (fmt, est, real)  # a sample of the format, not a blind guess
    assert est.need_bytes >= PEAK_FACTOR * est.frame_bytes
    with pytest.raises(DataError, match="File is too large to load into memory"):
        readers.read_tables(p, tmp_path, max_memory_mb=0.5 * est.need_bytes / MB)
    tables = readers.read_tables(p, tmp_path, max_memory_mb=2 * est.need_bytes / MB)
    assert sum(len(t) for t in tables.values()) == 3000


def test_the_cli_says_what_to_do_and_exits_non_zero_without_a_traceback(tmp_path):
    data = split_write(make_classification_frame(n=3000), tmp_path / "data", "label", n_test=300)
    out = tmp_path / "run"
    r = run_cli("run", str(data), "--task", "predict the label", "--output", str(out), "--memory-limit", "0.2",
                "--time-limit", "30", "--no-autogluon", "--llm", "none", timeout=120)
    text = r.stdout + r.stderr
    assert r.returncode == 2, text[-3000:]
    assert "Traceback" not in text
    flat = " ".join(text.split())
    assert "File is too large to load into memory" in flat and "Sample the file down" in flat
    summary = json.loads((out / "run.json").read_text())
    assert summary["status"] == "failed" and "too large" in summary["error"]
    assert MemoryBudget.for_reading(0.2).limit_bytes == 0.2 * MB


def _fast(seconds: float):
    """Times a block: it must end (by returning or raising) within `seconds`."""
    import time
    from contextlib import contextmanager

    @contextmanager
    def block():
        t0 = time.monotonic()
        yield
        assert time.monotonic() - t0 < seconds, f"took {time.monotonic() - t0:.1f} s"

    return block()


def test_a_header_wider_than_the_column_cap_is_a_clear_error_at_once(tmp_path):
    """A first line of 400,000 fields with no newline (3 MB, longer than the sizing sample): a clear error that
    names the file, the count and the cap, before any per-column work (it ran for minutes); the run stops."""
    with open(tmp_path / "train.csv", "w") as f:
        f.write("customer_id,x1,label" + "".join(f",v{i}" for i in range(400_000)))
    (tmp_path / "test.csv").write_text("customer_id,x1\nC1,0.5\n")
    with _fast(3), pytest.raises(DataError) as e:
        load_folder(tmp_path, tmp_path / "unpacked")
    err = e.value
    assert err.where.endswith("train.csv")
    assert f"more than the {readers.MAX_COLUMNS:,} columns mlwright reads" in err.what, err.what
    assert "its first line holds at least" in err.what  # counted on the sizing sample: no more is read
    assert "Drop or aggregate columns" in err.hint


def test_the_column_cap_counts_fields_as_the_reader_does(tmp_path, monkeypatch):
    """Just within the cap reads (quoted delimiters are not fields); one more is refused, sized or read."""
    monkeypatch.setattr(readers, "MAX_COLUMNS", 50)
    names = [f'"c,{i}"' for i in range(50)]
    (tmp_path / "ok.csv").write_text(",".join(names) + "\n" + ",".join(["1"] * 50) + "\n")
    assert readers.read_tables(tmp_path / "ok.csv", tmp_path)["ok.csv"].shape == (1, 50)
    (tmp_path / "wide.csv").write_text(",".join(names + ["x"]) + "\n" + ",".join(["1"] * 51) + "\n")
    with pytest.raises(DataError, match="more than the 50 columns"):
        readers.read_tables(tmp_path / "wide.csv", tmp_path)
    with pytest.raises(DataError, match="more than the 50 columns"):
        readers.read_delimited(tmp_path / "wide.csv")


def test_a_wide_header_and_many_repeated_names_take_linear_time(tmp_path):
    """A header-only file of 20,000 names (a column list) and a table whose 20,000 names all repeat: read in well
    under a second each (pandas' header-only parse and the renaming of repeats were quadratic: 20 s)."""
    names = [f"v{i}" for i in range(20_000)]
    (tmp_path / "names.csv").write_text(",".join(names) + "\n")
    with _fast(3):
        df = readers.read_delimited(tmp_path / "names.csv")
    assert df.shape == (0, 20_000) and list(df.columns) == names
    (tmp_path / "dup.csv").write_text(",".join(["x"] * 20_000) + "\n" + ",".join(["1"] * 20_000) + "\n")
    with _fast(3):
        df = readers.read_delimited(tmp_path / "dup.csv")
    assert list(df.columns[:3]) == ["x", "x_1", "x_2"] and df.columns[-1] == "x_19999"
    assert df.attrs["duplicate_columns"]["x"][-1] == "x_19999"


def test_a_compressed_bomb_is_refused_while_streaming(tmp_path):
    """A .csv.gz that inflates more than an archive member may (200x, past 50 MB) is refused as a bomb after
    unpacking no more than that (the whole 1.1 GB was read and parsed before), whatever the memory allows;
    the run stops with what to do."""
    split_write(make_classification_frame(), tmp_path, "label")
    rows = b"C99999,0.1,0.2,red,yes\n" * 100_000
    with gzip.open(tmp_path / "train.csv.gz", "wb", compresslevel=6) as f:
        f.write((tmp_path / "train.csv").read_bytes())
        for _ in range(40):  # 92 MB of rows in about 0.2 MB
            f.write(rows)
    (tmp_path / "train.csv").unlink()
    with _fast(4), pytest.raises(DataError, match="a compression bomb") as e:
        load_folder(tmp_path, tmp_path / "unpacked")
    assert e.value.where.endswith("train.csv.gz")
    assert "Unpack it yourself" in e.value.hint
    with _fast(4), pytest.raises(DataError, match="a compression bomb"):  # the reader, without the sizing
        readers._raw_bytes(tmp_path / "train.csv.gz")

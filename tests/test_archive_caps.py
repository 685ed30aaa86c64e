"""Archive bombs (issue #10): many small members, a tar.gz of zeros, nested archives and declared sizes that lie
are stopped at a cap on the bytes actually written, shared by every archive of a folder, with a clear error."""
from __future__ import annotations

import io
import tarfile
import zipfile

import pytest

from mlwright.errors import DataError
from mlwright.perception import archives
from mlwright.perception.archives import UnpackBudget, unpack_archive
from mlwright.perception.scan import load_folder

MB = 1024**2


@pytest.fixture
def small_caps(monkeypatch):
    """Caps scaled down so the bombs stay a few MB: 4 MB floor, 20x ratio, 12 MB per folder."""
    monkeypatch.setattr(archives, "RATIO_FLOOR", 4 * MB)
    monkeypatch.setattr(archives, "TOTAL_RATIO", 20)
    monkeypatch.setattr(archives, "MAX_UNPACKED_BYTES", 12 * MB)


def _zip_of_many(path, n=12, size=MB):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:  # each member far below the per-member check
        for i in range(n):
            z.writestr(f"part{i:02d}.csv", "0" * size)


def _tgz_of_zeros(path, size):
    data = b"0" * size
    with tarfile.open(path, "w:gz") as t:
        info = tarfile.TarInfo("zeros.csv")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))


def test_many_small_members_inflating_past_the_ratio_are_refused(tmp_path, small_caps):
    _zip_of_many(tmp_path / "bomb.zip")
    with pytest.raises(DataError, match="inflate"):
        unpack_archive(tmp_path / "bomb.zip", tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written is left


def test_a_tar_gz_of_zeros_is_stopped_while_writing(tmp_path, small_caps):
    _tgz_of_zeros(tmp_path / "bomb.tar.gz", 8 * MB)
    with pytest.raises(DataError, match="bomb|inflate"):
        unpack_archive(tmp_path / "bomb.tar.gz", tmp_path / "out")


def test_an_ordinary_archive_unpacks(tmp_path, small_caps):
    _tgz_of_zeros(tmp_path / "ok.tar.gz", 2 * MB)
    out = unpack_archive(tmp_path / "ok.tar.gz", tmp_path / "out")
    assert (out / "zeros.csv").stat().st_size == 2 * MB


def test_the_cap_is_shared_by_all_archives_of_a_folder(tmp_path, small_caps):
    budget = UnpackBudget(bytes_left=5 * MB)
    for i in range(2):
        _tgz_of_zeros(tmp_path / f"a{i}.tar.gz", 3 * MB)
    unpack_archive(tmp_path / "a0.tar.gz", tmp_path / "o0", budget=budget)
    with pytest.raises(DataError):
        unpack_archive(tmp_path / "a1.tar.gz", tmp_path / "o1", budget=budget)


def test_nested_archives_in_a_data_folder_share_the_cap(tmp_path, small_caps):
    data = tmp_path / "data"
    data.mkdir()
    inner = tmp_path / "inner.tar.gz"
    _tgz_of_zeros(inner, 3 * MB)
    with zipfile.ZipFile(data / "outer.zip", "w", zipfile.ZIP_STORED) as z:
        for i in range(5):  # five copies of a 3 MB payload: 15 MB > the folder's 12 MB
            z.write(inner, f"copy{i}.tar.gz")
    with pytest.raises(DataError, match="inflate|limit"):
        load_folder(data, tmp_path / "unpacked")


def test_member_count_is_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(archives, "MAX_MEMBERS", 50)
    with zipfile.ZipFile(tmp_path / "many.zip", "w") as z:
        for i in range(60):
            z.writestr(f"f{i}.txt", "x")
    with pytest.raises(DataError, match="60 members"):
        unpack_archive(tmp_path / "many.zip", tmp_path / "out", budget=UnpackBudget(members_left=50))


def test_the_archives_of_one_upload_share_the_cap(tmp_path, small_caps):
    """Five archives of 3 MB each are each under the caps; together (15 MB) they pass the upload's 12 MB."""
    from mlwright.uploads import UploadRefused, store_files

    _tgz_of_zeros(tmp_path / "part.tar.gz", 3 * MB)
    payload = (tmp_path / "part.tar.gz").read_bytes()
    root = tmp_path / "uploads"
    ok = store_files([(f"p{i}.tar.gz", io.BytesIO(payload)) for i in range(3)], root)
    assert len(ok["files"]) == 3
    with pytest.raises(UploadRefused, match="inflate|limit"):
        store_files([(f"p{i}.tar.gz", io.BytesIO(payload)) for i in range(5)], root)
    assert [p.name for p in root.iterdir() if not p.name.startswith(".")] == [ok["upload_id"]]  # nothing half-kept

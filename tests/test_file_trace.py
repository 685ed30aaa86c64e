"""The file trace of an attempt (execution/file_trace.py), in real subprocesses: files opened by the script and by
a Python worker process it starts are listed, `sys.audit("mlwright.read", ...)` counts as a read, an existing
sitecustomize still runs, and the note names exactly the groups of inputs never opened."""
from __future__ import annotations

import os
import subprocess
import sys

from mlwright.execution.file_trace import files_read, trace_env, unread_note

SCRIPT = '''
import multiprocessing as mp, sys

def child(path):
    open(path).read()

if __name__ == "__main__":
    open(sys.argv[1]).read()
    sys.audit("mlwright.read", sys.argv[3])
    p = mp.get_context("spawn").Process(target=child, args=(sys.argv[2],))
    p.start(); p.join()
'''


def test_reads_of_the_script_and_its_workers_are_traced(tmp_path):
    work, other = tmp_path / "attempt", tmp_path / "other"
    work.mkdir(), other.mkdir()
    (other / "sitecustomize.py").write_text("open(__file__ + '.ran', 'w').close()\n")
    files = [tmp_path / n for n in ("a.csv", "b.png", "c.parquet", "never.png")]
    for f in files:
        f.write_text("x")
    (work / "s.py").write_text(SCRIPT)
    env = {**os.environ, **trace_env(work)}
    env["PYTHONPATH"] += os.pathsep + str(other)
    r = subprocess.run([sys.executable, "s.py", *map(str, files[:3])], cwd=work, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    read = files_read(work)
    assert {str(f) for f in files[:3]} <= read and str(files[3]) not in read
    assert (other / "sitecustomize.py.ran").is_file()  # the shadowed sitecustomize ran too
    assert unread_note(read, {"training table": [str(files[0])], "images": [str(files[1]), str(files[3])]}) is None
    assert unread_note(read, {"test images": [str(files[3])], "empty": []}) == "never opened the test images"

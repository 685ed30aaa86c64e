"""The web API against the real app on a real socket: the token is required, uploads are checked (size,
`../` paths, zip bombs) and a run started through the API finishes with its results served."""
from __future__ import annotations

import io
import zipfile

import httpx
import pytest

from conftest import make_classification_frame, split_write, tree_digest
from live_server import live_app, wait_for_run

TOKEN = "test-token-123"


@pytest.fixture
def server(tmp_path):
    data_root = tmp_path / "data"
    data_root.mkdir()
    with live_app(tmp_path / "runs", [data_root], TOKEN, max_upload_mb=5) as base:
        yield base, tmp_path, data_root


def client(base: str, token: str | None = TOKEN) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=base, headers=headers, timeout=30)


def test_api_requires_the_token(server):
    base, _, _ = server
    with client(base, None) as c:
        r = c.get("/api/runs")
        assert r.status_code == 401 and "token" in r.json()["detail"]
        assert c.post("/api/runs", json={"data_path": "/", "task": "x"}).status_code == 401
        assert c.get("/api/runs/x/report").status_code == 401
        assert c.get("/api/runs", params={"token": TOKEN}).status_code == 200  # the way links carry it
        assert c.get("/").status_code == 200  # the page itself holds no secret
    with client(base, "wrong") as c:
        assert c.get("/api/runs").status_code == 401
    with client(base) as c:
        assert c.get("/api/runs").json()["runs"] == []


def test_upload_with_parent_path_member_is_rejected(server):
    base, tmp_path, _ = server
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("train.csv", "a,b\n1,2\n")
        zf.writestr("../evil.csv", "owned\n")
        zf.writestr("../../evil2.csv", "owned\n")
    before = {p for p in tmp_path.rglob("*")}
    with client(base) as c:
        r = c.post("/api/uploads", files={"files": ("data.zip", buf.getvalue(), "application/zip")})
    assert r.status_code == 400, r.text
    assert "outside" in r.json()["detail"]
    assert not list(tmp_path.rglob("evil*.csv")) and not (tmp_path.parent / "evil2.csv").exists()
    uploads = tmp_path / "runs" / "_uploads"
    assert not [p for p in uploads.rglob("*") if p.is_file()]  # nothing kept from the refused upload
    assert {p for p in tmp_path.rglob("*")} - before <= {uploads}


def test_upload_of_a_zip_bomb_is_rejected(server):
    base, tmp_path, _ = server
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("train.csv", b"\0" * (60 * 1024**2))
    assert len(buf.getvalue()) < 1024**2  # small on the wire, under the 5 MB upload limit
    with client(base) as c:
        r = c.post("/api/uploads", files={"files": ("bomb.zip", buf.getvalue(), "application/zip")})
    assert r.status_code == 400, r.text
    assert "zip bomb" in r.json()["detail"]
    assert not [p for p in (tmp_path / "runs" / "_uploads").rglob("*") if p.is_file()]


def test_upload_over_the_size_limit_is_refused(server):
    base, _, _ = server
    with client(base) as c:
        r = c.post("/api/uploads", files={"files": ("big.csv", b"1,2\n" * (2 * 1024**2), "text/csv")})
    assert r.status_code == 413 and "limit" in r.json()["detail"]


def test_upload_then_run_on_it(server):
    base, _, _ = server
    folder = split_write(make_classification_frame(n=200), server[1] / "src", "label")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in ("train.csv", "test.csv"):
            zf.write(folder / name, f"churn/{name}")
    with client(base) as c:
        r = c.post("/api/uploads", files={"files": ("churn.zip", buf.getvalue(), "application/zip")})
        assert r.status_code == 201, r.text
        up = r.json()
        assert up["files"] == ["churn/test.csv", "churn/train.csv"]
        r = c.post("/api/runs", json={"upload_id": up["upload_id"], "task": "predict label", "time_limit": 30})
        assert r.status_code == 201, r.text
        info = wait_for_run(c, r.json()["id"])
        assert info["status"] == "succeeded", info


def test_run_via_api_on_a_local_path(server):
    base, tmp_path, data_root = server
    data = split_write(make_classification_frame(), data_root / "churn", "label")
    before = tree_digest(data)
    with client(base) as c:
        r = c.post("/api/runs", json={"data_path": str(tmp_path / "elsewhere"), "task": "predict label"})
        assert r.status_code == 400 and "does not exist" in r.json()["detail"]
        (tmp_path / "elsewhere").mkdir()
        r = c.post("/api/runs", json={"data_path": str(tmp_path / "elsewhere"), "task": "predict label"})
        assert r.status_code == 403 and "outside the allowed folders" in r.json()["detail"]
        r = c.post("/api/runs", json={"data_path": str(data), "task": "predict label", "time_limit": 5})
        assert r.status_code == 422  # below the 10 s minimum
        r = c.post("/api/runs", json={"data_path": str(data), "task": "predict label as the probability of yes; "
                                      "write churn.csv with customer_id,label", "time_limit": 30})
        assert r.status_code == 201, r.text
        run_id = r.json()["id"]
        assert r.json()["status"] in ("queued", "running")
        # a second run waits in the queue (one at a time by default)
        r2 = c.post("/api/runs", json={"data_path": str(data), "task": "predict label", "time_limit": 30})
        assert r2.json()["status"] == "queued" and r2.json()["queue_position"] == 1
        assert c.post(f"/api/runs/{r2.json()['id']}/cancel").json()["status"] == "cancelled"
        assert c.get(f"/api/runs/{run_id}/predictions").status_code in (409, 200)

        info = wait_for_run(c, run_id)
        assert info["status"] == "succeeded", info
        assert info["summary"]["best"]["validation_score"] > 0.8
        assert info["attempts"] and info["attempts"][0]["status"] == "succeeded"
        events = c.get(f"/api/runs/{run_id}/events", params={"after": 0}).json()
        assert events["events"] and events["events"][-1]["stage"] == "done"
        later = c.get(f"/api/runs/{run_id}/events", params={"after": events["last_id"]}).json()
        assert later["events"] == []
        logs = c.get(f"/api/runs/{run_id}/logs").json()
        latest = max(info["attempts"], key=lambda a: a["attempt_id"])  # the logs of the latest attempt
        assert logs["attempt"].startswith(f"{latest['attempt_id']:03d}-") and "console" in logs

        prev = c.get(f"/api/runs/{run_id}/predictions", params={"limit": 5}).json()
        assert prev["columns"] == ["customer_id", "label"] and len(prev["rows"]) == 5
        assert prev["total_rows"] == 60 and prev["file"] == "churn.csv"
        dl = c.get(f"/api/runs/{run_id}/download")
        assert dl.status_code == 200 and dl.text.startswith("customer_id,label")
        rep = c.get(f"/api/runs/{run_id}/report")
        assert rep.status_code == 200 and "data:image/png;base64" in rep.text
        assert "script-src" not in rep.headers["content-security-policy"]  # no scripts in the report
        assert "def " in c.get(f"/api/runs/{run_id}/code").text
        assert c.get(f"/api/runs/{run_id}/transcript").json() == {"calls": []}  # no LLM, no transcript
        run_dir = tmp_path / "runs" / run_id
        (run_dir / "llm").mkdir()
        (run_dir / "llm" / "transcript.jsonl").write_text(
            '{"role": "planner", "messages": [{"role": "user", "content": "next?"}], "answer": "draft"}\n{"cut')
        calls = c.get(f"/api/runs/{run_id}/transcript").json()["calls"]
        assert [x["role"] for x in calls] == ["planner"] and calls[0]["answer"] == "draft"  # a torn line skipped

        r = c.post(f"/api/runs/{run_id}/guidance", json={"text": "try harder"})
        assert r.status_code == 409 and "ended" in r.json()["detail"]
        assert c.post(f"/api/runs/{run_id}/cancel").status_code == 409
        assert c.get("/api/runs/nope/predictions").status_code == 404
        assert c.get("/api/runs/..%2F..%2Fetc/report").status_code == 404
        listed = {r["id"]: r for r in c.get("/api/runs").json()["runs"]}
        assert listed[run_id]["status"] == "succeeded" and listed[run_id]["score"] > 0.8
    assert tree_digest(data) == before  # the data folder is never touched


def _read_stream(c: httpx.Client, run_id: str, headers: dict | None = None, timeout: float = 120) -> list[tuple]:
    """(event, data, id) of one server-sent-event stream, read to its end."""
    import json

    out, event, data, eid = [], None, [], None
    with c.stream("GET", f"/api/runs/{run_id}/stream", headers=headers or {}, timeout=timeout) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line.startswith("id: "):
                eid = int(line[4:])
            elif line == "" and event:
                out.append((event, json.loads("".join(data)), eid))
                event, data, eid = None, [], None
    return out


def test_preview_llm_choices_stream_and_folded_logs(server, monkeypatch):
    """The page's data preview (explain), the LLM choices from the server's environment (never the key), and a
    run watched through its server-sent-event stream: status changes, each journal event once, the end."""
    base, tmp_path, data_root = server
    data = split_write(make_classification_frame(), data_root / "churn", "label")
    for var in ("MLWRIGHT_LLM_API_KEY", "OPENAI_API_KEY", "MLWRIGHT_LLM_PROVIDER", "MLWRIGHT_LLM_MODEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret-value-42")
    with client(base) as c:
        config = c.get("/api/config")
        assert "sk-ant-secret" not in config.text
        providers = {p["provider"]: p for p in config.json()["llm"]["providers"]}
        assert providers["anthropic"]["ready"] and not providers["openai"]["ready"]
        assert "no API key" in providers["openai"]["why_not"]

        ex = c.post("/api/explain", json={"data_path": str(data), "task": "predict label"}).json()
        assert ex["ok"], ex
        assert ex["spec"]["target"] == "label" and ex["files"] == {"test.csv": "rows to predict",
                                                                  "train.csv": "training rows"}
        assert {col["name"] for col in ex["columns"]} >= {"x1", "x2", "label"}
        vague = c.post("/api/explain", json={"data_path": str(data), "task": ""}).json()
        assert vague["ok"] and vague["spec"]["target"] == "label"  # the folder alone: the column test.csv lacks
        wrong = c.post("/api/explain", json={"data_path": str(data), "task": "predict the colour of the sky",
                                             "target": "no_such_column"}).json()
        assert not wrong["ok"] and "no_such_column" in wrong["error"]
        assert c.post("/api/explain", json={"data_path": str(tmp_path), "task": "x"}).status_code == 403
        assert c.post("/api/explain", json={"task": "x"}).status_code == 422

        r = c.post("/api/runs", json={"data_path": str(data), "task": "predict label", "time_limit": 30})
        run_id = r.json()["id"]
        feed = _read_stream(c, run_id)
        kinds = [k for k, _, _ in feed]
        assert kinds[-1] == "end" and feed[-1][1]["status"] == "succeeded"
        statuses = [d["status"] for k, d, _ in feed if k == "run"]
        assert statuses[-1] == "succeeded" and "running" in statuses
        events = [e for k, d, _ in feed if k == "events" for e in d]
        ids = [e["id"] for e in events]
        assert ids == sorted(set(ids)) and events[-1]["stage"] == "done"  # each event once, in order
        logs = [d for k, d, _ in feed if k == "logs"][-1]
        assert logs["attempt"] and logs["folded"]
        # a reconnect (the browser sends the last event id it saw) resumes after it
        half = ids[len(ids) // 2]
        again = _read_stream(c, run_id, headers={"Last-Event-ID": str(half)})
        assert [e["id"] for k, d, _ in again if k == "events" for e in d] == [i for i in ids if i > half]
        assert c.get("/api/runs/nope/stream").status_code == 404


def test_library_noise_is_folded_and_errors_stay():
    from mlwright.log_folding import fold_log

    ag = "\n".join(["Verbosity: 2 (Standard Logging)", "AutoGluon Version:  1.6.3",
                    "Fitting model: LightGBM_BAG_L1 ...",
                    "\t0.9375\t = Validation score   (accuracy)", "\t\tImport fastai failed. A quick tip is to install",
                    "/x/xgboost_model.py:100: SettingWithCopyWarning: ", "  X[col] = pd.Categorical(codes)",
                    "Traceback (most recent call last):", '  File "solution.py", line 3, in <module>', "    fit()",
                    "ValueError: could not convert string to float: 'abc'", "Fitting model: CatBoost_BAG_L1 ..."])
    segs = fold_log(ag, "stderr")
    assert [s["kind"] for s in segs] == ["folded", "text"]  # a lone trailing line is not worth a fold
    assert segs[0]["lines"] == 7 and "AutoGluon" in segs[0]["summary"] and "warnings" in segs[0]["summary"]
    assert segs[1]["text"].startswith("Traceback") and "ValueError" in segs[1]["text"]
    assert "\n".join(s["text"] for s in segs) == ag  # nothing dropped
    out = "[    1.1s] fit: 240 rows\n/a.py:1: FutureWarning: x\n  y()\nmore\n[   36.8s] fit done"
    assert [s["kind"] for s in fold_log(out, "stdout")] == ["text"]  # two warning lines: not worth a fold

"""A scripted fake LLM service on 127.0.0.1, for tests: the real openai / anthropic / boto3 clients talk to it.

One server speaks three protocols, chosen by the request path:
  POST .../chat/completions      OpenAI-compatible chat completions      (base_url = srv.base_url, ends in /v1)
  POST .../messages              Anthropic Messages                      (base_url = srv.url)
  POST /model/<model id>/converse  AWS Bedrock Converse                  (endpoint_url = srv.url)
  GET  .../models                OpenAI-style model list (does not consume the script)

Each POST takes the next answer from the script (first in, first out), else `default`; an answer is:
  "text"                     a normal reply with that text
  Reply(text, ...)           a reply with chosen token counts, extra headers or a delay
  Status(code, message)      an HTTP error in the protocol's error format (429 gets Retry-After: 0)
  Garbage(body)              a 200 (or other status) whose body is not the protocol's JSON
  Drop()                     close the connection without answering (a connection reset)
  dict                       that JSON body as-is, status 200
  callable(request) -> any of the above, for content-dependent replies

    with FakeLLMServer(script=["hello", Status(429), "again"]) as srv:
        llm = LLM(LLMSettings(provider="openai-compatible", base_url=srv.base_url, model="m"))
        ...
        assert srv.requests[0].model == "m" and "hello" in srv.requests[0].prompt_text

With the script used up and no default, the server answers 400 "script exhausted" so a test fails loudly.
"""
from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import unquote


@dataclass
class Reply:
    text: str
    input_tokens: int | None = None   # default: a rough count from the prompt
    output_tokens: int | None = None  # default: a rough count from the text
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    finish_reason: str = "stop"


@dataclass
class Status:
    code: int
    message: str = ""
    headers: dict[str, str] | None = None  # None: Retry-After: 0 for 429/503, nothing otherwise
    error_code: str | None = None          # OpenAI "code" (e.g. model_not_found) / Bedrock error type


@dataclass
class Garbage:
    body: bytes | str = b"<html><body>this is not an API</body></html>"
    status: int = 200
    content_type: str = "text/html"


@dataclass
class Drop:
    delay_s: float = 0.0


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    json: Any
    protocol: str            # "openai" | "anthropic" | "bedrock" | "models" | "unknown"

    @property
    def model(self) -> str | None:
        if self.protocol == "bedrock":
            return unquote(self.path.split("/model/", 1)[1].rsplit("/converse", 1)[0])
        return self.json.get("model") if isinstance(self.json, dict) else None

    @property
    def messages(self) -> list[dict]:
        """The conversation as [{"role", "content": str}], system prompt first, whatever the protocol."""
        if not isinstance(self.json, dict):
            return []
        out: list[dict] = []
        system = self.json.get("system")
        if system:
            out.append({"role": "system", "content": _flatten(system)})
        for m in self.json.get("messages", []):
            out.append({"role": m.get("role"), "content": _flatten(m.get("content"))})
        return out

    @property
    def prompt_text(self) -> str:
        return "\n".join(m["content"] for m in self.messages)


def _flatten(content: Any) -> str:
    """Text of an OpenAI/Anthropic/Bedrock content field (a string or a list of blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return "" if content is None else str(content)


def _rough_tokens(text: str) -> int:
    return max(1, len(text) // 4)


_ANTHROPIC_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                          404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                          500: "api_error", 529: "overloaded_error"}
_BEDROCK_ERROR_TYPES = {400: "ValidationException", 401: "UnrecognizedClientException",
                        403: "AccessDeniedException", 404: "ResourceNotFoundException",
                        429: "ThrottlingException", 500: "InternalServerException",
                        503: "ServiceUnavailableException"}


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a handler still sleeping (timeout tests) must not block close

    def handle_error(self, request, client_address) -> None:
        # A client that gave up (timeout tests) leaves a broken pipe behind: expected, not worth a traceback.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class FakeLLMServer:
    def __init__(self, script: list | None = None, default: Any = None, *, models: tuple[str, ...] = ("fake-model",)):
        self._script: deque = deque(script or [])
        self.default = default
        self.models = list(models)
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> "FakeLLMServer":
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = _QuietServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "FakeLLMServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Root URL: the base_url for Anthropic, the endpoint_url for Bedrock."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI-compatible base_url (with /v1), as for Ollama, vLLM, LM Studio ..."""
        return self.url + "/v1"

    # -- script ----------------------------------------------------------------------------------
    def add(self, *answers: Any) -> None:
        with self._lock:
            self._script.extend(answers)

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._script)

    def requests_for(self, protocol: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.protocol == protocol]

    def _next_answer(self, req: RecordedRequest) -> Any:
        with self._lock:
            self.requests.append(req)
            answer = self._script.popleft() if self._script else self.default
        if callable(answer) and not isinstance(answer, (Reply, Status, Garbage, Drop)):
            answer = answer(req)
        if answer is None:
            return Status(400, "FakeLLMServer: script exhausted (no answer left for this request)")
        return answer


class _Handler(BaseHTTPRequestHandler):
    fake: FakeLLMServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _record(self, protocol: str) -> RecordedRequest:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        return RecordedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                               body, parsed, protocol)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path.endswith("/models"):
            req = self._record("models")
            with self.fake._lock:
                self.fake.requests.append(req)
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.fake.models]
            self._send(200, {"object": "list", "data": data})
        else:
            self._send(404, {"error": {"message": f"no route GET {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if path.endswith("/chat/completions"):
            protocol = "openai"
        elif path.endswith("/messages"):
            protocol = "anthropic"
        elif "/model/" in path and path.endswith("/converse"):
            protocol = "bedrock"
        else:
            protocol = "unknown"
        req = self._record(protocol)
        if protocol == "unknown":
            with self.fake._lock:
                self.fake.requests.append(req)
            return self._send(404, {"error": {"message": f"no route POST {self.path}", "type": "not_found"}})
        answer = self.fake._next_answer(req)
        if isinstance(answer, str):
            answer = Reply(answer)
        if isinstance(answer, Drop):
            time.sleep(answer.delay_s)
            self.close_connection = True
            return
        if isinstance(answer, Garbage):
            body = answer.body.encode() if isinstance(answer.body, str) else answer.body
            return self._send_raw(answer.status, body, answer.content_type, {})
        if isinstance(answer, Status):
            return self._send_error(protocol, answer)
        if isinstance(answer, dict):
            return self._send(200, answer)
        if isinstance(answer, Reply):
            time.sleep(answer.delay_s)
            return self._send(200, _success_body(protocol, req, answer), answer.headers)
        raise TypeError(f"FakeLLMServer: unsupported answer {answer!r}")

    def _send_error(self, protocol: str, st: Status) -> None:
        headers = dict(st.headers) if st.headers is not None else (
            {"Retry-After": "0"} if st.code in (429, 503) else {})
        message = st.message or f"fake error {st.code}"
        if protocol == "anthropic":
            body = {"type": "error", "error": {"type": _ANTHROPIC_ERROR_TYPES.get(st.code, "api_error"),
                                               "message": message}}
        elif protocol == "bedrock":
            headers.setdefault("x-amzn-ErrorType", st.error_code or _BEDROCK_ERROR_TYPES.get(st.code, "UnknownError"))
            body = {"message": message}
        else:
            body = {"error": {"message": message, "type": "fake_error", "param": None,
                              "code": st.error_code or ("model_not_found" if st.code == 404 else None)}}
        self._send(st.code, body, headers)

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._send_raw(status, json.dumps(body).encode(), "application/json", headers or {})

    def _send_raw(self, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


def _success_body(protocol: str, req: RecordedRequest, r: Reply) -> dict:
    tin = r.input_tokens if r.input_tokens is not None else _rough_tokens(req.prompt_text)
    tout = r.output_tokens if r.output_tokens is not None else _rough_tokens(r.text)
    model = req.model or "fake-model"
    if protocol == "anthropic":
        stop = {"stop": "end_turn", "length": "max_tokens"}.get(r.finish_reason, r.finish_reason)
        return {"id": "msg_" + uuid.uuid4().hex[:12], "type": "message", "role": "assistant",
                "content": [{"type": "text", "text": r.text}], "model": model, "stop_reason": stop,
                "stop_sequence": None, "usage": {"input_tokens": tin, "output_tokens": tout}}
    if protocol == "bedrock":
        stop = {"stop": "end_turn", "length": "max_tokens"}.get(r.finish_reason, r.finish_reason)
        return {"output": {"message": {"role": "assistant", "content": [{"text": r.text}]}},
                "stopReason": stop, "usage": {"inputTokens": tin, "outputTokens": tout, "totalTokens": tin + tout},
                "metrics": {"latencyMs": 1}}
    return {"id": "chatcmpl-" + uuid.uuid4().hex[:12], "object": "chat.completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": r.text},
                         "finish_reason": r.finish_reason}],
            "usage": {"prompt_tokens": tin, "completion_tokens": tout, "total_tokens": tin + tout}}


AnswerFn = Callable[[RecordedRequest], Any]

"""The run's LLM transcript (`llm/transcript.jsonl` in the run folder): every prompt and answer, one JSON object
per call, in the order they were made, with the keys masked (errors.redact) before anything is written."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Optional

from .errors import redact
from .settings import LLMSettings

from mlwright.catalog import TRANSCRIPT  # noqa: F401 - relative to the run folder; re-exported


class Transcript:
    def __init__(self, path: Path, settings: Optional[LLMSettings] = None):
        self.path, self.settings = Path(path), settings
        self._lock = threading.Lock()

    def add(self, role: str, messages: list[dict], answer: Optional[str], **info: Any) -> None:
        record = {"t": round(time.time(), 3), "role": role,
                  "messages": [{"role": m["role"], "content": redact(m["content"], self.settings)} for m in messages],
                  "answer": redact(answer, self.settings) if answer is not None else None}
        record |= {k: (redact(v, self.settings) if isinstance(v, str) else v) for k, v in info.items()
                   if v is not None}
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line)


def read_transcript(run_dir: Path) -> list[dict]:
    from mlwright.catalog import RunFolder

    return RunFolder(run_dir).transcript()

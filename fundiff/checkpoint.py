"""Checkpoints as safetensors (never pickle), written atomically.

A training state (model weights, optimizer, LR scheduler, RNG, epoch, losses) is a nested structure
of dicts, lists, numbers and tensors.  :func:`flatten_state` splits it into a flat {key: tensor}
dict and a JSON skeleton that points at those keys; both go into one ``.safetensors`` file (the
skeleton in its metadata).  :func:`save_atomic` writes to a temporary file in the same folder, syncs
it and renames it over the target, so a kill at any moment leaves either the old or the new file.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

SKELETON_KEY = "fundiff.state"


def flatten_state(obj, tensors: dict | None = None, prefix: str = "s"):
    """(JSON-able skeleton, {key: tensor}) for a nested dict / list / tuple / number / str / tensor.
    Dicts become {"__dict__": [[key, value], …]} so int keys (optimizer states) survive JSON."""
    tensors = {} if tensors is None else tensors
    if isinstance(obj, torch.Tensor):
        key = f"{prefix}"
        tensors[key] = obj.detach().cpu().contiguous()
        return {"__tensor__": key}, tensors
    if isinstance(obj, dict):
        items = [[k, flatten_state(v, tensors, f"{prefix}.{i}")[0]] for i, (k, v) in enumerate(obj.items())]
        return {"__dict__": items}, tensors
    if isinstance(obj, (list, tuple)):
        return {"__list__": [flatten_state(v, tensors, f"{prefix}.{i}")[0] for i, v in enumerate(obj)],
                "tuple": isinstance(obj, tuple)}, tensors
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj, tensors
    raise TypeError(f"cannot store {type(obj).__name__} in a checkpoint (at {prefix})")


def unflatten_state(skeleton, tensors: dict):
    """Inverse of :func:`flatten_state`."""
    if isinstance(skeleton, dict):
        if "__tensor__" in skeleton:
            return tensors[skeleton["__tensor__"]]
        if "__dict__" in skeleton:
            return {k: unflatten_state(v, tensors) for k, v in skeleton["__dict__"]}
        if "__list__" in skeleton:
            items = [unflatten_state(v, tensors) for v in skeleton["__list__"]]
            return tuple(items) if skeleton.get("tuple") else items
    return skeleton


def save_atomic(tensors: dict, path: str | Path, metadata: dict | None = None) -> Path:
    """Write {name: tensor} (+ str metadata) to ``path`` as safetensors, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp, metadata=metadata)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def remove_torn_files(folder: str | Path) -> list[Path]:
    """Delete the temporary files a kill in the middle of a write leaves in ``folder`` (those of
    :func:`save_atomic`, ``.NAME.XXXXXXXX.tmp``, and other ``NAME.tmp`` files of an atomic write);
    the finished files are never touched.  Returns the paths removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for p in sorted(folder.glob("*.tmp")) + sorted(folder.glob(".*.tmp")):
        if p.is_file() and p not in removed:
            p.unlink()
            removed.append(p)
    return removed


def load_checked(path: str | Path) -> tuple[dict, dict]:
    """(tensors, metadata) of a safetensors file, or a clear error saying what was expected."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist: expected a .safetensors file")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        return load_file(str(path)), metadata
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable safetensors checkpoint ({err})") from err


def save_state(state: dict, path: str | Path) -> Path:
    """Save a nested training state (see module doc) atomically."""
    skeleton, tensors = flatten_state(state)
    return save_atomic(tensors, path, {SKELETON_KEY: json.dumps(skeleton)})


def load_state(path: str | Path) -> dict:
    """Load a state written by :func:`save_state`."""
    tensors, metadata = load_checked(path)
    if SKELETON_KEY not in metadata:
        raise ValueError(f"{path} holds weights only, not a training state written by fundiff.train")
    return unflatten_state(json.loads(metadata[SKELETON_KEY]), tensors)

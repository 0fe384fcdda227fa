"""The messages between the grader (the parent) and the process that runs the submission (the
child): a JSON header and the tensors as safetensors bytes, framed by their lengths.

Nothing the child sends is unpickled or executed: the parent decodes JSON and safetensors only,
within size limits (:data:`MAX_JSON`, :data:`MAX_BLOB`), so a message a submission forged or
flooded is at worst an error.  Values are encoded as:

    None, bool, int, float, str          as they are
    torch.Tensor                         {"T": key}      (its bytes in the safetensors blob)
    numpy array / scalar                 {"NP": key} / the Python scalar
    list, tuple, dict                    {"L": [...]}, {"U": [...]}, {"D": [[key, value], ...]}
    torch.Generator                      {"G": key, "id": n}  (its state; the receiver syncs it back)
    anything else                        a handle, made by the sender's ``handle`` callback
"""
from __future__ import annotations

import json
import os
import struct

import torch

MAX_JSON = 64 << 20
MAX_BLOB = 512 << 20
_HEAD = struct.Struct(">QQ")


class WireError(RuntimeError):
    """A message could not be read: the other side died, sent garbage or too much."""


def _read_exact(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        b = os.read(fd, min(left, 1 << 20))
        if not b:
            raise EOFError("the other side closed the channel")
        chunks.append(b)
        left -= len(b)
    return b"".join(chunks)


def send(fd: int, header: dict, tensors: dict[str, torch.Tensor] | None = None) -> None:
    from safetensors.torch import save

    body = json.dumps(header).encode()
    blob = save(tensors) if tensors else b""
    data = _HEAD.pack(len(body), len(blob)) + body + blob
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def recv(fd: int) -> tuple[dict, dict[str, torch.Tensor]]:
    from safetensors.torch import load

    n_json, n_blob = _HEAD.unpack(_read_exact(fd, _HEAD.size))
    if n_json > MAX_JSON or n_blob > MAX_BLOB:
        raise WireError(f"a message of {n_json + n_blob} bytes: more than the grader accepts")
    try:
        header = json.loads(_read_exact(fd, n_json))
        tensors = load(_read_exact(fd, n_blob)) if n_blob else {}
    except (ValueError, UnicodeDecodeError, RuntimeError) as err:  # safetensors raises its own errors too
        raise WireError(f"an unreadable message ({type(err).__name__})") from None
    except Exception as err:  # noqa: BLE001 - safetensors' SafetensorError
        raise WireError(f"an unreadable message ({type(err).__name__})") from None
    if not isinstance(header, dict):
        raise WireError("an unreadable message (not an object)")
    return header, tensors


class Encoder:
    """Encodes one message's values; ``handle(obj)`` encodes what is not plain data."""

    def __init__(self, handle):
        self.handle = handle
        self.tensors: dict[str, torch.Tensor] = {}
        self.generators: dict[int, torch.Generator] = {}

    def _tensor(self, t: torch.Tensor) -> str:
        key = str(len(self.tensors))
        self.tensors[key] = t.detach().to("cpu").contiguous().clone()
        return key

    def encode(self, v, depth: int = 0):
        if depth > 50:
            raise ValueError("a value nested more than 50 levels deep")
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, int):
            return v if abs(v) < 2 ** 62 else float(v)
        if isinstance(v, float):
            return {"F": repr(v)} if v != v or v in (float("inf"), float("-inf")) else v
        if isinstance(v, torch.Tensor):
            if v.is_sparse or v.dtype not in _DTYPES:
                raise ValueError(f"a tensor of layout/dtype {v.layout}/{v.dtype} cannot be sent")
            return {"T": self._tensor(v)}
        if isinstance(v, torch.Generator):
            self.generators[id(v)] = v
            return {"G": self._tensor(v.get_state()), "id": id(v)}
        if isinstance(v, list):
            return {"L": [self.encode(x, depth + 1) for x in v]}
        if isinstance(v, tuple):
            return {"U": [self.encode(x, depth + 1) for x in v]}
        if isinstance(v, dict):
            return {"D": [[self.encode(k, depth + 1), self.encode(x, depth + 1)] for k, x in v.items()]}
        np = _numpy()
        if np is not None:
            if isinstance(v, np.generic):
                return self.encode(v.item(), depth)
            if isinstance(v, np.ndarray) and v.dtype != object:
                return {"NP": self._tensor(torch.from_numpy(np.ascontiguousarray(v)))}
        return self.handle(v)


class Decoder:
    """Decodes one message's values; ``handle(spec)`` decodes a handle."""

    def __init__(self, tensors: dict, handle):
        self.tensors = tensors
        self.handle = handle
        self.generators: dict[int, torch.Generator] = {}

    def _tensor(self, key):
        if not isinstance(key, str) or key not in self.tensors:
            raise WireError("a message refers to a tensor it does not hold")
        return self.tensors[key]

    def decode(self, v, depth: int = 0):
        if depth > 60:
            raise WireError("a value nested too deep")
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, dict) and len(v) >= 1:
            if "T" in v:
                return self._tensor(v["T"])
            if "F" in v:
                return float(v["F"])
            if "L" in v:
                return [self.decode(x, depth + 1) for x in _list(v["L"])]
            if "U" in v:
                return tuple(self.decode(x, depth + 1) for x in _list(v["U"]))
            if "D" in v:
                out = {}
                for pair in _list(v["D"]):
                    if not isinstance(pair, list) or len(pair) != 2:
                        raise WireError("a malformed dict")
                    k = self.decode(pair[0], depth + 1)
                    try:
                        hash(k)
                    except TypeError:
                        raise WireError("a dict key that is not hashable") from None
                    out[k] = self.decode(pair[1], depth + 1)
                return out
            if "G" in v:
                g = torch.Generator()
                try:
                    g.set_state(self._tensor(v["G"]))
                except (RuntimeError, TypeError):
                    raise WireError("a malformed generator state") from None
                self.generators[v.get("id")] = g
                return g
            if "NP" in v:
                return self._tensor(v["NP"]).numpy()
        return self.handle(v)


def _list(v):
    if not isinstance(v, list):
        raise WireError("a malformed list")
    return v


_DTYPES = {torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32,
           torch.int16, torch.int8, torch.uint8, torch.bool}


def _numpy():
    try:
        import numpy
    except ImportError:  # pragma: no cover
        return None
    return numpy

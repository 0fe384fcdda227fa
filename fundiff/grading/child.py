"""The process that runs a submission: started by :class:`fundiff.grading.remote.RemoteImpl`, it
imports the submission's modules (and the trusted fundiff code that drives them), runs what the
grader asks for and sends back the outputs.  It judges nothing: every comparison, score and
results file is the parent's, which never imports student code.

Requests (parent → child): ``call`` a student function by 'module.name'; ``invoke`` an object the
child handed out earlier (an estimator a student function returned, a UNet); ``method`` (eval/train
of such a module); ``probe`` a trusted function ``fundiff.grading...:name(impl, ...)`` run here
against the submission (the reference cases, the UNet checks).  Arguments the parent cannot send as
data (its estimators, callbacks) stay in the parent: calling them here is a ``callback`` request to
the parent.  Modules the parent sends (the tiny test models) are pickled one way, parent → child,
and their state, gradients, modes and recorded calls are sent back as data after the call.
"""
from __future__ import annotations

import base64
import os
import pickle
import sys
import traceback


class _Stub:
    """A callable of the parent (an estimator, a callback): calling it asks the parent."""

    def __init__(self, server, cid: int, kind: str):
        self._server, self._cid, self._kind = server, cid, kind

    def __call__(self, *args, **kwargs):
        return self._server.callback(self._cid, args, kwargs)

    def __repr__(self):
        return f"<grader's {self._kind}>"


class ParentError(Exception):
    """A callable of the parent raised (its message is the parent's)."""


class Server:
    def __init__(self, impl, rfd: int, wfd: int):
        import threading

        self.impl, self.rfd, self.wfd = impl, rfd, wfd
        self.lock = threading.Lock()  # the watchdog's notes and the replies share the channel
        self.banned: set[str] = set()
        self.slow: dict[str, float] = {}
        self.objects: dict[int, object] = {}
        self.origins: dict[int, str] = {}
        self.next_id = 1

    # -- encoding ------------------------------------------------------------------------------
    def _encode_handle(self, obj):
        from torch import nn

        oid = self.next_id
        self.next_id += 1
        self.objects[oid] = obj
        self.origins[oid] = self._origin
        return {"R": oid, "type": type(obj).__name__, "module": isinstance(obj, nn.Module),
                "callable": callable(obj)}

    def _decode_handle(self, spec, shipped):
        if "R" in spec:
            if spec["R"] not in self.objects:
                raise ValueError("an object this process did not hand out")
            return self.objects[spec["R"]]
        if "C" in spec:
            return _Stub(self, spec["C"], spec.get("kind", "function"))
        if "M" in spec:
            module = pickle.loads(base64.b64decode(spec["M"]))  # from the trusted parent only
            shipped.append((spec["sync"], module))
            return module
        raise ValueError(f"an unknown value {sorted(spec)!r}")

    def _reply(self, header, value=None, shipped=(), generators=None):
        from . import wire

        enc = wire.Encoder(self._encode_handle)
        try:
            header = dict(header)
            header["value"] = enc.encode(value)
            header["mods"] = [[sid, enc.encode(_module_sync(m))] for sid, m in shipped]
            header["gens"] = [[gid, enc.encode(g.get_state())] for gid, g in (generators or {}).items()]
        except Exception as err:  # noqa: BLE001 - a student value we cannot send
            header = {"re": "err", "msg": f"{self._where} returned a value the grader cannot read: {err}"}
            enc = wire.Encoder(self._encode_handle)
        self.send(header, enc.tensors)

    def send(self, header, tensors=None) -> None:
        from . import wire

        with self.lock:
            wire.send(self.wfd, header, tensors)

    def note(self, what: str, **extra) -> None:
        self.send({"note": what, **extra})

    # -- the loop ------------------------------------------------------------------------------
    def serve(self) -> None:
        from . import wire

        self.note("ready")
        while True:
            try:
                header, tensors = wire.recv(self.rfd)
            except EOFError:
                return
            if header.get("op") == "exit":
                return
            self.dispatch(header, tensors)

    def wait_reply(self):
        """Wait for the parent's answer to a callback, serving the parent's nested requests."""
        from . import wire

        while True:
            header, tensors = wire.recv(self.rfd)
            if "re" in header:
                return header, tensors
            if header.get("op") == "exit":
                os._exit(0)
            self.dispatch(header, tensors)

    def callback(self, cid: int, args, kwargs):
        from . import wire

        enc = wire.Encoder(self._encode_handle)
        self.send({"op": "callback", "id": cid, "args": enc.encode(list(args)), "kwargs": enc.encode(kwargs)},
                  enc.tensors)
        header, tensors = self.wait_reply()
        if header["re"] == "err":
            from . import GradingError

            raise GradingError(header.get("msg", "the grader's function failed"))
        shipped: list = []
        dec = wire.Decoder(tensors, lambda s: self._decode_handle(s, shipped))
        return dec.decode(header.get("value"))

    def dispatch(self, header: dict, tensors: dict) -> None:
        op = header.get("op")
        shipped: list = []
        saved = getattr(self, "_origin", ""), getattr(self, "_where", "")
        self._origin = self._where = str(header.get("fn") or header.get("name") or op)
        try:
            self._dispatch(op, header, tensors, shipped)
        finally:
            self._origin, self._where = saved

    def _dispatch(self, op, header, tensors, shipped) -> None:
        from . import GradingError, wire
        from ..impl import ImplError

        if isinstance(header.get("banned"), list):
            self.banned = set(map(str, header["banned"]))
        if isinstance(header.get("slow"), dict):
            self.slow = {str(k): float(v) for k, v in header["slow"].items()}
        try:
            dec = wire.Decoder(tensors, lambda s: self._decode_handle(s, shipped))
            args = dec.decode(header.get("args", {"L": []}))
            kwargs = dec.decode(header.get("kwargs", {"D": []}))
            if op == "call":
                value = self.run_call(header["fn"], args, kwargs)
            elif op == "invoke":
                value = self.run_invoke(header["obj"], args, kwargs)
            elif op == "method":
                obj = self.objects[header["obj"]]
                if header["name"] not in ("eval", "train"):
                    raise ValueError(f"method {header['name']!r} is not offered")
                getattr(obj, header["name"])(*args)
                value = None
            elif op == "probe":
                value = self.run_probe(header["fn"], args, kwargs)
            elif op == "reset":
                self.objects.clear()
                self.origins.clear()
                value = None
            else:
                raise ValueError(f"unknown request {op!r}")
        except (GradingError, ImplError, TimeLimit) as err:
            self._reply({"re": "err", "msg": str(err)})
            return
        except BaseException as err:  # noqa: BLE001 - SystemExit, KeyboardInterrupt from student code too
            self._reply({"re": "err", "msg": f"{self._where} raised {type(err).__name__}: {_short(err)}"
                                             f"{_frames(err, self.impl)}"})
            return
        self._reply({"re": "ok"}, value, shipped, dec.generators)

    def run_call(self, qualname: str, args, kwargs):
        from . import call

        module, _, fname = qualname.partition(".")
        self._origin = self._where = f"{module}.py:{fname}"
        return call(self.impl, qualname, *args, **kwargs)

    def run_invoke(self, oid: int, args, kwargs):
        from torch import nn

        from . import GradingError

        obj = self.objects.get(oid)
        if obj is None:
            raise ValueError("an object this process did not hand out")
        if isinstance(obj, nn.Module):
            from .cases.part_b.weights import run_module

            self._where = f"{type(obj).__name__}.forward"
            return run_module(self.impl, obj, *args, **kwargs)
        self._where = f"the {type(obj).__name__} returned by {self.origins.get(oid)}"
        try:
            return obj(*args, **kwargs)
        except GradingError:
            raise
        except NotImplementedError as err:
            raise GradingError(f"not implemented yet: {self._where} ({err})") from None
        except Exception as err:  # noqa: BLE001
            raise GradingError(f"{self._where} raised {type(err).__name__}: {_short(err)}"
                               f"{_frames(err, self.impl)}") from None

    def run_probe(self, ref: str, args, kwargs):
        import importlib

        modname, _, qual = ref.partition(":")
        if not modname.startswith("fundiff.grading."):
            raise ValueError(f"{ref} is not a grading function")
        fn = importlib.import_module(modname)
        for part in qual.split("."):
            fn = getattr(fn, part)
        return fn(self.impl, *args, **kwargs)


def _module_sync(module) -> dict:
    """What the parent needs to mirror a module it sent: state, gradients, modes, recorded calls."""
    return {"state": dict(module.state_dict()),
            "grads": {n: p.grad for n, p in module.named_parameters() if p.grad is not None},
            "training": [m.training for m in module.modules()],
            "calls": [_plain(c) for c in getattr(module, "calls", [])] if isinstance(
                getattr(module, "calls", None), list) else None}


def _plain(v):
    import torch

    if isinstance(v, torch.Tensor):
        return v.detach().clone()
    if isinstance(v, (tuple, list)):
        return type(v)(_plain(x) for x in v)
    return v


def _short(err: BaseException) -> str:
    text = str(err).replace("\n", " ")
    return text if len(text) <= 300 else text[:300] + "…"


def _frames(err: BaseException, impl) -> str:
    from . import _student_frames

    try:
        return _student_frames(err, impl)
    except Exception:  # noqa: BLE001
        return ""


class _ImportGuard:
    """Watches the submission's imports (each one is announced to the parent, so a process that
    ends while importing names the module) and refuses modules that ended an earlier process."""

    def __init__(self, impl, server, blocked: dict):
        self.impl, self.server, self.blocked = impl, server, blocked

    def find_spec(self, fullname, path=None, target=None):
        import importlib.machinery

        prefix = self.impl.package + "."
        if not fullname.startswith(prefix):
            return None
        name = fullname[len(prefix):]
        if name.partition(".")[0] in self.blocked:
            raise ImportError(self.blocked[name.partition(".")[0]])
        search = path if path is not None else [str(self.impl.path)]
        spec = importlib.machinery.PathFinder.find_spec(fullname, search)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _AnnouncingLoader(spec.loader, name, self.server)
        return spec


class _AnnouncingLoader:
    def __init__(self, real, name, server):
        self.real, self.name, self.server = real, name, server

    def __getattr__(self, name):  # get_source, get_filename, … of the real loader
        return getattr(self.real, name)

    def create_module(self, spec):
        return self.real.create_module(spec)

    def exec_module(self, module):
        self.server.note("importing", module=self.name)
        try:
            self.real.exec_module(module)
        finally:
            self.server.note("imported", module=self.name)


from . import GradingError as _GradingError  # noqa: E402 - (the grader's own code, imported before any submission)


class TimeLimit(_GradingError):
    """Raised in the main thread by the watchdog: a function that hung before is running too long."""

    message = "time limit"

    def __str__(self):
        return TimeLimit.message


def watchdog(server, main_id: int, lifeline: int) -> None:
    """Every 50 ms: which of the submission's functions are running (the innermost one is reported
    to the parent, so a time limit names the function that hung); a function that hung before and
    runs past its short limit, or that hung twice, is interrupted here (an exception in the main
    thread), and if that does not stop it the parent is told to kill the process.  When the parent
    is gone (the lifeline pipe closes), the process ends."""
    import ctypes
    import select
    import time

    root = str(server.impl.path) + os.sep
    since: dict[str, float] = {}
    last_where, last_sent, interrupted_at = None, 0.0, None
    while True:
        if select.select([lifeline], [], [], 0.05)[0]:
            os._exit(0)  # the grader is gone
        frame = sys._current_frames().get(main_id)
        stack = []
        while frame is not None:
            name = frame.f_code.co_filename
            if name.startswith(root):
                stack.append(f"{os.path.splitext(os.path.basename(name))[0]}.{frame.f_code.co_name}")
            frame = frame.f_back
        now = time.monotonic()
        since = {fn: since.get(fn, now) for fn in stack}
        where = stack[0] if stack else None
        try:
            if where != last_where or (where and now - last_sent > 1.0):
                server.note("where", fn=where)
                last_where, last_sent = where, now
            hit = next((fn for fn in stack if fn in server.banned), None) or next(
                (fn for fn in stack if fn in server.slow and now - since[fn] > server.slow[fn]), None)
            if hit is None:
                interrupted_at = None
            elif interrupted_at is None:
                again = hit in server.banned
                TimeLimit.message = (f"{hit} ran past its time limit twice before in this run: stopped at once"
                                     if again else f"time limit ({server.slow.get(hit, 0):g} s) exceeded in {hit}, "
                                     "which ran past a limit before")
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(main_id), ctypes.py_object(TimeLimit))
                server.note("interrupt", fn=hit)
                interrupted_at = now
            elif now - interrupted_at > 1.0:
                server.note("stuck", fn=hit)  # it caught the exception: the parent kills the process
                interrupted_at = now + 3600
        except OSError:
            os._exit(0)


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    path, rfd, wfd, lifeline = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    fatal = dict(zip(argv[4::2], argv[5::2]))  # modules that ended an earlier process at import
    from ..impl import Impl
    from . import _ON_CALL, GradingError

    import torch  # noqa: F401,E401 - the grader's own imports, before the submission's and before "ready"

    from .cases import all_cases

    all_cases()
    impl = Impl(path)
    server = Server(impl, rfd, wfd)
    impl._errors.update(fatal)
    sys.meta_path.insert(0, _ImportGuard(impl, server, fatal))

    def on_call(qualname: str) -> None:
        if qualname in server.banned:
            from .remote import _banned_message

            raise GradingError(_banned_message(qualname))
        server.note("enter", fn=qualname)

    _ON_CALL.append(on_call)
    import threading

    threading.Thread(target=watchdog, args=(server, threading.main_thread().ident, lifeline), daemon=True).start()
    try:
        server.serve()
    except BaseException:  # noqa: BLE001 - the channel broke: nothing left to tell the parent
        traceback.print_exc()
    os._exit(0)


if __name__ == "__main__":
    main()

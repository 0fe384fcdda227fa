"""The submission under test, run in a process of its own: :class:`RemoteImpl`.

The grader (this process) never imports student code.  It builds each check's inputs, asks the
submission's process (:mod:`fundiff.grading.child`, a fresh interpreter) to run the student's
functions on them, reads back the outputs as data (JSON and safetensors, :mod:`.wire`), and compares
and scores here.  What can go wrong in the submission's process costs the checks it touched only:

- a time limit (the test's, ``--graded-timeout``) SIGKILLs the process and its descendants; a
  function that hit a limit once gets :data:`SLOW_LIMIT_S` seconds from then on, and once the run's
  whole budget (``--graded-budget``) is spent every test gets that short limit, so a whole graded
  run ends in bounded time whatever the submission does;
- a crash, ``os._exit``, ``sys.exit``, a flood of output or garbage on the channel becomes a
  one-line message; a module that ended the process while being imported is not imported again;
- where this machine allows it (root, or unprivileged user namespaces), the process runs in a
  sandbox (:func:`sandbox_prefix`): its own mount and PID namespaces, the checkout read-only,
  ``solutions/``, the reference outputs and the results folder hidden, no capabilities; its
  descendants die with it.  Elsewhere it runs as this user, without that file isolation.
"""
from __future__ import annotations

import base64
import os
import pickle
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import GradingError
from . import wire

SLOW_LIMIT_S = 3.0  # what a function that timed out once gets from then on
STARTUP_LIMIT_S = 180.0  # starting the interpreter and importing torch (a loaded 2-core machine)
OUTPUT_TAIL = 2000
PACKAGE_DIR = Path(__file__).resolve().parents[1]

_BOOT = (
    "import importlib.util, sys\n"
    "pkg = sys.argv.pop(1)\n"
    "spec = importlib.util.spec_from_file_location('fundiff', pkg + '/__init__.py', submodule_search_locations=[pkg])\n"
    "mod = importlib.util.module_from_spec(spec); sys.modules['fundiff'] = mod; spec.loader.exec_module(mod)\n"
    "from fundiff.grading.child import main\n"
    "main()\n"
)


class RemoteObject:
    """An object living in the submission's process (an estimator a student function returned, a
    UNet): calling it runs it there."""

    def __init__(self, owner: "RemoteImpl", spec: dict):
        self._owner, self._id, self._generation = owner, spec["R"], owner.generation
        self._type = str(spec.get("type", "object"))
        self.is_module = bool(spec.get("module"))

    def __repr__(self):
        return f"<{self._type} in the submission's process>"

    def __call__(self, *args, **kwargs):
        from . import tag

        out = self._owner.request({"op": "invoke", "obj": self._ref()}, args, kwargs, what=self._type)
        made_by = getattr(self, "_fundiff_fn", None)
        return tag(out, made_by) if made_by else out

    def eval(self):
        self._owner.request({"op": "method", "obj": self._ref(), "name": "eval"}, (), {}, what=self._type)
        return self

    def train(self, mode: bool = True):
        self._owner.request({"op": "method", "obj": self._ref(), "name": "train"}, (bool(mode),), {},
                            what=self._type)
        return self

    def _ref(self) -> int:
        if self._generation != self._owner.generation:
            raise GradingError(f"this {self._type} came from an earlier run of the submission's process, "
                               "which was stopped")
        return self._id


def sandbox_available() -> bool:
    """Whether the submission's process can run in namespaces of its own here."""
    if os.environ.get("FUNDIFF_SANDBOX", "1") == "0" or sys.platform != "linux":
        return False
    if not (shutil.which("unshare") and shutil.which("setpriv")):
        return False
    try:
        return subprocess.run(["unshare", "--mount", "--pid", "--fork", "--map-root-user" if os.geteuid() else
                               "--propagation=private", "true"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def sandbox_prefix(read_only: list[Path], hidden: list[Path]) -> list[str]:
    """The command that runs what follows in its own mount and PID namespaces, ``read_only`` folders
    remounted read-only, ``hidden`` folders covered by an empty read-only tmpfs, all capabilities
    dropped (so nothing can be unmounted) and no new privileges."""
    lines = ["set -e"]
    for p in read_only:
        lines.append(f"mount --bind {_q(p)} {_q(p)}; mount -o remount,bind,ro {_q(p)}")
    for p in hidden:
        lines.append(f"mount -t tmpfs -o ro,size=4k,mode=000 fundiff-hidden {_q(p)}")
    lines.append('exec setpriv --no-new-privs --bounding-set=-all --inh-caps=-all -- "$@"')
    user = ["--map-root-user"] if os.geteuid() else []
    return ["unshare", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "--propagation", "private", *user,
            "--", "sh", "-c", "\n".join(lines), "fundiff-sandbox"]


def _die_with_parent() -> None:
    """(In the forked child, before exec) SIGKILL when the grader dies."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: the lifeline pipe still ends it
        pass


def _q(p) -> str:
    return "'" + str(p).replace("'", "'\\''") + "'"


class RemoteImpl:
    """The implementation in ``path``, run in a process of its own (started on first use, started
    again after it was stopped).  ``hidden``: folders the process must not see (solutions/, the
    references, where results go); ``read_only``: folders it may read but not change."""

    is_remote = True

    def __init__(self, path, hidden=(), read_only=(), default_limit: float = 60.0, budget: float = 1200.0,
                 sandbox: bool | None = None):
        from ..impl import resolve_impl_path

        self.path = resolve_impl_path(path)
        self.hidden = [Path(p).resolve() for p in hidden if Path(p).is_dir()]
        self.read_only = [Path(p).resolve() for p in read_only if Path(p).is_dir()]
        self.sandbox = sandbox_available() if sandbox is None else sandbox
        # without namespaces, as root: run the submission as an unprivileged user instead (the
        # autograder sets FUNDIFF_CHILD_USER and makes solutions/ and the references root-only)
        self.run_as = None
        user = os.environ.get("FUNDIFF_CHILD_USER")
        if user and not self.sandbox and os.geteuid() == 0:
            import pwd

            try:
                entry = pwd.getpwnam(user)
                self.run_as = (entry.pw_uid, entry.pw_gid)
            except KeyError:
                pass
        self.default_limit, self.budget = default_limit, budget
        self.started_at = time.monotonic()
        self.proc: subprocess.Popen | None = None
        self.generation = 0
        self.fatal: dict[str, str] = {}  # module → why importing it ends the process
        self.slow: set[str] = set()  # functions that hit a time limit: SLOW_LIMIT_S from then on
        self.banned: set[str] = set()  # functions that hit it twice: not called again
        self.deadline: float | None = None
        self.limit = default_limit
        self.current = ""  # the student function the process last entered through the grader
        self.where = None  # the innermost student function running (the watchdog's last report)
        self.importing: list[str] = []  # the submission's modules being imported now, outermost first
        self._callbacks: dict[int, object] = {}
        self._out_tail = b""
        self.starts = 0

    def __repr__(self):
        return f"RemoteImpl({str(self.path)!r})"

    # -- the plugin's side ------------------------------------------------------------------------
    def begin(self, limit: float | None) -> None:
        """A graded test starts: its time limit (shorter once the run's budget is spent)."""
        limit = self.default_limit if limit is None else limit
        if time.monotonic() - self.started_at > self.budget:
            limit = min(limit, SLOW_LIMIT_S)
        self.limit = limit
        self.deadline = time.monotonic() + limit
        self._out_tail = b""

    def end(self) -> None:
        self.deadline = None
        self._callbacks.clear()
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.request({"op": "reset"}, (), {}, what="reset")
            except GradingError:
                pass

    def close(self) -> None:
        """Stop the process (and everything it started)."""
        self._kill()

    # -- what the graded code calls ---------------------------------------------------------------
    def call(self, qualname: str, args, kwargs):
        module = qualname.partition(".")[0]
        if module in self.fatal:
            raise GradingError(f"{module}.py could not be used: {self.fatal[module]}")
        if qualname in self.banned:
            raise GradingError(_banned_message(qualname))
        return self.request({"op": "call", "fn": qualname}, args, kwargs, what=qualname)

    def probe(self, ref: str, *args, **kwargs):
        return self.request({"op": "probe", "fn": ref}, args, kwargs, what=ref.rpartition(":")[2])

    # -- the process ------------------------------------------------------------------------------
    def prestart(self) -> None:
        """Start the process now, without waiting for it (it imports torch and the grader's code,
        no student code, while the grader collects its tests)."""
        if self.proc is None:
            self._spawn()

    def _start(self) -> None:
        if self.proc is None or not getattr(self, "_booting", False):
            self._spawn()
        self._booting = False
        t0 = time.monotonic()
        header = self._read(t0 + STARTUP_LIMIT_S, "starting")
        if header[0].get("note") != "ready":
            self._kill()
            raise GradingError("the submission's process did not start: " + self._output_line())
        if self.deadline is not None:  # starting is not the submission's time
            self.deadline += time.monotonic() - t0

    def _spawn(self) -> None:
        self.generation += 1
        self.starts += 1
        p2c_r, p2c_w = os.pipe()
        c2p_r, c2p_w = os.pipe()
        out_r, out_w = os.pipe()
        life_r, life_w = os.pipe()  # closes when this process dies: the submission's then ends
        self._cwd = tempfile.mkdtemp(prefix="fundiff-submission-")
        os.chmod(self._cwd, 0o777)
        cmd = [sys.executable, "-I", "-B", "-c", _BOOT, str(PACKAGE_DIR), str(self.path), str(p2c_r), str(c2p_w), str(life_r)]
        for module, why in self.fatal.items():
            cmd += [module, why]
        self.importing = []
        if self.sandbox:
            cmd = sandbox_prefix(self.read_only, self.hidden) + cmd
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "FUNDIFF_SANDBOX"))}
        env["HOME"] = self._cwd
        who = {} if self.run_as is None else {"user": self.run_as[0], "group": self.run_as[1], "extra_groups": []}
        try:
            self.proc = subprocess.Popen(cmd, pass_fds=(p2c_r, c2p_w, life_r), stdin=subprocess.DEVNULL,
                                         stdout=out_w, stderr=out_w, cwd=self._cwd, env=env,
                                         start_new_session=True, preexec_fn=_die_with_parent, **who)
        finally:
            os.close(p2c_r)
            os.close(c2p_w)
            os.close(out_w)
            os.close(life_r)
        self._w, self._r, self._life = p2c_w, c2p_r, life_w
        self._out_tail = b""
        self._booting = True
        threading.Thread(target=self._drain, args=(out_r,), daemon=True).start()

    def _drain(self, fd: int) -> None:
        """Keep the last few KB of what the process prints (a flood costs nothing)."""
        try:
            while True:
                b = os.read(fd, 1 << 16)
                if not b:
                    break
                self._out_tail = (self._out_tail + b)[-OUTPUT_TAIL:]
        except OSError:
            pass
        finally:
            os.close(fd)

    def _output_line(self) -> str:
        text = self._out_tail.decode("utf-8", "replace").strip()
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        last = " | ".join(lines[-3:])
        return f"its last output: {last[-120:]!r}" if last else "it printed nothing"

    def _kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for fd in (self._w, self._r, self._life):
            try:
                os.close(fd)
            except OSError:
                pass
        self._exit_code = proc.returncode
        self._booting = False
        self.generation += 1

    def _read(self, deadline: float | None, what: str):
        """The next message from the process, or a GradingError when it dies, sends garbage or
        runs past ``deadline`` (then it is killed)."""
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                self._timed_out(what)
            ready, _, _ = select.select([self._r], [], [], left)
            if not ready:
                continue
            try:
                return wire.recv(self._r)
            except (EOFError, OSError, wire.WireError, ValueError) as err:
                self._died(what, err)

    def _timed_out(self, what: str, culprit: str | None = None) -> None:
        culprit = culprit or self.where or self.current or what
        again = culprit in self.slow
        (self.banned if again else self.slow).add(culprit)
        limit = min(self.limit, SLOW_LIMIT_S) if again else self.limit
        self._kill()
        later = "is stopped at once from now on" if again else f"gets {SLOW_LIMIT_S:g} s from now on"
        raise GradingError(f"time limit ({limit:g} s) exceeded in {culprit}: the submission's process "
                           f"was stopped; {culprit} {later}")

    def _died(self, what: str, err) -> None:
        importing = self.importing[-1] if self.importing else None
        self.importing = []
        time.sleep(0.05)  # let the output thread catch the last words
        garbage = isinstance(err, (wire.WireError, ValueError))
        self._kill()
        code = self._exit_code
        how = (f"sent the grader something unreadable ({err})" if garbage else
               f"ended (exit code {code})" if code is not None and code >= 0 else f"was killed (signal {-code})"
               if code is not None else "ended")
        how_short = how.replace("ended (", "").rstrip(")") if how.startswith("ended (") else how
        where = f"while importing {importing}.py" if importing else f"in {self.current or what}"
        msg = (f"the submission's process {how} {where} (os._exit, sys.exit outside a function, or a crash); "
               f"{self._output_line()}")
        if importing:
            self.fatal[importing] = f"importing {importing}.py ended the submission's process ({how_short})"
        raise GradingError(msg)

    # -- one request --------------------------------------------------------------------------------
    def request(self, header: dict, args, kwargs, what: str):
        if self.proc is not None and self.proc.poll() is not None and not getattr(self, "_booting", False):
            self._kill()
        if self.proc is None or getattr(self, "_booting", False):
            self._start()
        if header.get("op") in ("call", "probe"):
            self.current = what
            self.where = None
        deadline = self.deadline if self.deadline is not None else time.monotonic() + self.default_limit
        if what in self.slow:
            deadline = min(deadline, time.monotonic() + SLOW_LIMIT_S)
        enc = wire.Encoder(self._encode_handle)
        shipped: dict[int, object] = {}
        self._shipping = shipped
        try:
            header = {**header, "args": enc.encode(list(args)), "kwargs": enc.encode(dict(kwargs)),
                      "banned": sorted(self.banned), "slow": {fn: SLOW_LIMIT_S for fn in self.slow}}
        except TypeError as err:
            raise GradingError(f"the grader cannot send an argument of {what}: {err}") from None
        try:
            wire.send(self._w, header, enc.tensors)
            return self._serve_until_reply(deadline, what, enc, shipped)
        except GradingError:
            raise
        except BaseException:
            self._kill()  # the channel is in an unknown state (a signal, an error of the grader)
            raise

    def _serve_until_reply(self, deadline, what, enc, shipped):
        first_error: list[GradingError] = []
        while True:
            header, tensors = self._read(deadline, what)
            if "note" in header:
                note = header["note"]
                if note == "enter":
                    self.current = str(header.get("fn", ""))
                    if self.current in self.slow:
                        deadline = min(deadline, time.monotonic() + SLOW_LIMIT_S)
                elif note == "where":
                    self.where = header.get("fn") if isinstance(header.get("fn"), str) else None
                elif note == "interrupt":
                    fn = str(header.get("fn", ""))
                    (self.banned if fn in self.slow else self.slow).add(fn)
                elif note == "stuck":
                    self._timed_out(what, culprit=str(header.get("fn", "")) or None)
                elif note == "importing":
                    self.importing.append(str(header.get("module", "")))
                elif note == "imported" and self.importing:
                    self.importing.pop()
                continue
            if header.get("op") == "callback":
                self._run_callback(header, tensors, first_error)
                continue
            if "re" not in header:
                self._died(what, wire.WireError("a message that is no reply"))
            dec = wire.Decoder(tensors, lambda s: self._decode_handle(s))
            try:
                if header["re"] != "ok":
                    msg = str(header.get("msg", "failed"))
                    raise first_error[0] if first_error and first_error[0].args[0] in msg else GradingError(msg)
                value = dec.decode(header.get("value"))
                self._sync_back(header, dec, enc, shipped)
            except wire.WireError as err:
                raise GradingError(f"{what} returned something the grader cannot read: {err}") from None
            return value

    def _run_callback(self, header, tensors, first_error) -> None:
        fn = self._callbacks.get(header.get("id"))
        try:
            dec = wire.Decoder(tensors, lambda s: self._decode_handle(s))
            args = dec.decode(header.get("args"))
            kwargs = dec.decode(header.get("kwargs"))
            if fn is None or not isinstance(args, list) or not isinstance(kwargs, dict) or \
                    not all(isinstance(k, str) for k in kwargs):
                raise GradingError("the submission's process called the grader with malformed arguments")
            value = fn(*args, **kwargs)
            reply = {"re": "ok"}
        except GradingError as err:
            first_error.append(err)
            reply, value = {"re": "err", "msg": str(err)}, None
        except wire.WireError as err:
            reply, value = {"re": "err", "msg": f"unreadable arguments: {err}"}, None
        except Exception as err:  # noqa: BLE001 - the student's values broke a function of the grader
            reply, value = {"re": "err", "msg": f"{getattr(fn, '__name__', 'a function of the grader')} "
                                                f"raised {type(err).__name__}: {err}"}, None
        enc = wire.Encoder(self._encode_handle)
        try:
            reply["value"] = enc.encode(value)
        except TypeError as err:
            enc = wire.Encoder(self._encode_handle)
            reply = {"re": "err", "msg": f"the grader cannot send {type(value).__name__}: {err}"}
        wire.send(self._w, reply, enc.tensors)

    # -- what is not plain data ---------------------------------------------------------------------
    def _encode_handle(self, obj):
        from torch import nn

        if isinstance(obj, RemoteObject):
            return {"R": obj._ref()}
        if isinstance(obj, nn.Module):
            try:
                data = pickle.dumps(obj)
            except Exception:  # noqa: BLE001 - a module defined in a test: called back here instead
                data = None
            if data is not None:
                sid = len(self._shipping) + 1
                self._shipping[sid] = obj
                return {"M": base64.b64encode(data).decode(), "sync": sid}
        if callable(obj):
            cid = len(self._callbacks) + 1
            self._callbacks[cid] = obj
            return {"C": cid, "kind": "model" if isinstance(obj, nn.Module) else "function"}
        raise TypeError(f"{type(obj).__name__} is neither data nor callable")

    def _decode_handle(self, spec):
        if isinstance(spec, dict) and "R" in spec and isinstance(spec["R"], int):
            return RemoteObject(self, spec)
        raise wire.WireError(f"an unknown value {str(spec)[:80]}")

    def _sync_back(self, header, dec, enc, shipped) -> None:
        """Mirror what the call did to the generators and modules the grader sent."""
        import torch

        for gid, state in header.get("gens") or []:
            g = enc.generators.get(gid)
            state = dec.decode(state)
            if g is not None and isinstance(state, torch.Tensor) and state.dtype == torch.uint8:
                try:
                    g.set_state(state)
                except RuntimeError:
                    pass
        for sid, sync in header.get("mods") or []:
            module = shipped.get(sid)
            sync = dec.decode(sync)
            if module is None or not isinstance(sync, dict):
                continue
            _apply_sync(module, sync)


def _banned_message(qualname: str) -> str:
    return (f"{qualname} ran past its time limit twice before in this run: not called again "
            "(look for an infinite loop)")


def _apply_sync(module, sync: dict) -> None:
    import torch

    state = sync.get("state")
    if isinstance(state, dict):
        mine = module.state_dict()
        with torch.no_grad():
            for k, v in state.items():
                if k in mine and isinstance(v, torch.Tensor) and v.shape == mine[k].shape:
                    mine[k].copy_(v.to(mine[k].dtype))
    grads = sync.get("grads") if isinstance(sync.get("grads"), dict) else {}
    for name, p in module.named_parameters():
        g = grads.get(name)
        p.grad = g.to(p.dtype) if isinstance(g, torch.Tensor) and g.shape == p.shape else None
    training = sync.get("training")
    mods = list(module.modules())
    if isinstance(training, list) and len(training) == len(mods):
        for m, flag in zip(mods, training):
            m.training = bool(flag)
    if isinstance(sync.get("calls"), list) and isinstance(getattr(module, "calls", None), list):
        module.calls[:] = sync["calls"]

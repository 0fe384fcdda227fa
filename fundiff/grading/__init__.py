"""Grading: graded tests, guarded calls into student code, and comparisons a student can act on.

A graded test is an ordinary pytest test marked with its course section and points::

    @graded("A1.1", points=2, hint="ᾱ is indexed 0-based: alphas_cumprod[t]")
    def test_forward_process(impl):
        got = call(impl, "forward.forward_process", x0, eps, 250, abar)
        compare("x_t", got, want)

``impl`` is the fixture of the implementation under test (``pytest --impl exercises|PATH``).
:func:`call` runs one student function and turns what can go wrong into a :class:`GradingError`
naming the file and the function: not implemented yet, an exception (with the student's own
line), an input modified in place.  :func:`compare` reports shape and dtype first, then the
largest error and where it is, then the section's hint.
"""
from __future__ import annotations

import contextlib
import traceback
import types
from pathlib import Path

import torch

from ..impl import ImplError
from .sections import section_title

__all__ = ["GradingError", "graded", "call", "compare", "get_function", "current_hint"]

DEFAULT_TIMEOUT_S = 60


class GradingError(AssertionError):
    """A graded check failed; the message is written for the student.

    ``function``: the student function ('module.name') whose output or behaviour failed the check,
    where known; ``uses``: the student functions whose outputs fed it (a case's other functions).
    :mod:`fundiff.grading.blame` reads both to name the guilty function first."""

    def __init__(self, message="", function: str | None = None, uses=()):
        super().__init__(message)
        self.function = function
        self.uses = tuple(uses)


def graded(section: str, points: float = 1.0, hint: str | None = None, timeout: float | None = None,
           visibility: str | None = None, uses=()):
    """Mark a test as graded: its course section, its points, a hint shown when it fails, a
    per-test time limit in seconds (default: ``--graded-timeout``, 60 s), so an infinite loop in
    student code costs that one test only, and its Gradescope visibility (default visible;
    ``--visibility`` overrides).  ``uses``: the student functions ('module.name') the test grades,
    the first the one it is about (default: those it calls, the last called first).

    A failing test's message names the guilty function first (:func:`fundiff.grading.blame.explain`):
    the function whose output differs, or, when a function it depends on fails its own unit check,
    that one ("fails because … fails its own check — fix A1.4 first") with that function's hint."""
    import functools

    import pytest

    section_title(section)  # fails early on a typo
    mark = pytest.mark.graded(section=section, points=points, hint=hint, timeout=timeout, visibility=visibility,
                              uses=tuple(uses))

    def decorate(fn):
        @functools.wraps(fn)
        def test(*args, **kwargs):
            calls: list[str] = []
            _CALLS.append(calls)
            try:
                return fn(*args, **kwargs)
            except GradingError as err:
                impl = kwargs.get("impl")
                if impl is None:
                    raise
                from .blame import explain

                raise explain(impl, err, tuple(uses) + tuple(reversed(calls))) from None
            finally:
                _CALLS[:] = [c for c in _CALLS if c is not calls]

        return mark(test)

    return decorate


_HINT: list[str | None] = [None]

#: The student functions each running graded test called through :func:`call` (innermost last).
_CALLS: list[list[str]] = []


#: Called with 'module.function' before every guarded call (the submission's process reports
#: with it which student function it is in, so a time limit names the function that hung).
_ON_CALL: list = []


def is_remote(impl) -> bool:
    """Whether ``impl`` runs in a process of its own (:class:`fundiff.grading.remote.RemoteImpl`)."""
    return getattr(impl, "is_remote", False) is True


def run_trusted(impl, fn, *args, **kwargs):
    """``fn(impl, *args, **kwargs)``: a function of the grader that drives student code (a case,
    a UNet check), run where the student code is: here, or in the submission's process."""
    if is_remote(impl):
        return impl.probe(f"{fn.__module__}:{fn.__qualname__}", *args, **kwargs)
    return fn(impl, *args, **kwargs)


def current_hint() -> str | None:
    """The hint of the graded test now running (set by the plugin)."""
    return _HINT[0]


def get_function(impl, qualname: str):
    """``impl``'s function 'module.name' (e.g. 'forward.forward_process'), or a GradingError."""
    module_name, _, attr = qualname.partition(".")
    try:
        module = impl.module(module_name)
    except ImplError as err:
        raise GradingError(f"{module_name}.py could not be used: {err}") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise GradingError(
                f"{module_name}.py has no {attr!r}: keep the names and signatures of the exercise "
                f"stubs (expected {qualname} in {Path(module.__file__).name})"
            )
        obj = getattr(obj, part)
    return obj


def _clone_tensors(values):
    return [v.detach().clone() if isinstance(v, torch.Tensor) else None for v in values]


def _student_frames(err: BaseException, impl) -> str:
    root = str(getattr(impl, "path", ""))
    frames = [f for f in traceback.extract_tb(err.__traceback__) if root and f.filename.startswith(root)]
    return "".join(f"\n    {Path(f.filename).name}:{f.lineno} in {f.name}: {f.line}" for f in frames[-3:])


def call(impl, qualname: str, *args, **kwargs):
    """Call the student's ``qualname`` ('module.function') with the given arguments.

    Raises :class:`GradingError` when the function is missing, not implemented yet, raises, or
    modifies one of its tensor arguments in place.  Returns what the function returns.
    """
    for calls in _CALLS[-1:]:
        calls.append(qualname)
    if is_remote(impl):
        try:
            return tag(impl.call(qualname, args, kwargs), qualname)
        except GradingError as err:
            if getattr(err, "function", None) is None:
                err.function = qualname
            raise
    for hook in _ON_CALL:
        hook(qualname)
    fn = get_function(impl, qualname)
    module_name, _, fname = qualname.partition(".")
    where = f"{module_name}.py:{fname}"
    names = [f"argument {i + 1}" for i in range(len(args))] + [f"argument {k!r}" for k in kwargs]
    values = list(args) + list(kwargs.values())
    before = _clone_tensors(values)
    try:
        out = fn(*args, **kwargs)
    except NotImplementedError as err:
        raise GradingError(f"not implemented yet: {where} ({err})", function=qualname) from None
    except GradingError:
        raise
    except Exception as err:  # noqa: BLE001 - student code may raise anything
        raise GradingError(
            f"{where} raised {type(err).__name__}: {err}{_student_frames(err, impl)}", function=qualname
        ) from err
    for name, value, old in zip(names, values, before):
        if old is not None and (value.shape != old.shape or not torch.equal(value.detach(), old)):
            raise GradingError(
                f"{where} modified its {name} in place: compute a new tensor instead "
                "(e.g. x = x * 2, not x *= 2 or x.mul_(2))", function=qualname
            )
    return tag(out, qualname)


def tag(value, qualname: str):
    """Mark what the student function ``qualname`` returned (tensors, tuples of them, estimators
    living in the submission's process) with its name, so that a failing :func:`compare` can say
    whose output differs.  Returns ``value``."""
    if isinstance(value, types.FunctionType):  # an estimator made here (an implementation run in-process)
        return _Produced(value, qualname)
    items = value if isinstance(value, (tuple, list)) else (value,)
    for v in items:
        if isinstance(v, torch.Tensor) or getattr(v, "is_module", None) is not None:
            try:
                v._fundiff_fn = qualname
            except (AttributeError, TypeError):
                pass
    return value


@contextlib.contextmanager
def about(qualname: str):
    """A GradingError raised inside the block that names no function is about ``qualname``."""
    try:
        yield
    except GradingError as err:
        if getattr(err, "function", None) is None:
            err.function = qualname
        raise


class _Produced:
    """A function a student function returned (an estimator, a projection), whose outputs are
    tagged with the name of the student function that made it."""

    def __init__(self, fn, qualname: str):
        self._fn, self._fundiff_fn = fn, qualname

    def __call__(self, *args, **kwargs):
        return tag(self._fn(*args, **kwargs), self._fundiff_fn)


def producer(value) -> str | None:
    """The student function that returned ``value`` (see :func:`tag`), or None."""
    return getattr(value, "_fundiff_fn", None) if isinstance(value, torch.Tensor) else None


def _where(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]"


def compare(what: str, got, want: torch.Tensor, atol: float = 1e-5, rtol: float = 1e-4,
            hint: str | None = None, check_dtype: bool = True, fn: str | None = None) -> None:
    """Assert ``got`` ≈ ``want`` (|got − want| ≤ atol + rtol·|want| everywhere).

    The message gives, in order: a type, shape or dtype mismatch; else the largest absolute
    error, where it is and the two values there, and how many elements are off; then the hint
    (``hint`` or the running graded test's).  The error names ``fn``, the student function whose
    output ``got`` is (default: the one that returned it, see :func:`tag`).
    """
    try:
        _compare(what, got, want, atol, rtol, hint, check_dtype)
    except GradingError as err:
        err.function = fn or producer(got)
        raise


def _compare(what, got, want, atol, rtol, hint, check_dtype) -> None:
    hint = hint if hint is not None else current_hint()
    tail = f"\n  hint: {hint}" if hint else ""
    if not isinstance(got, torch.Tensor):
        raise GradingError(f"{what}: expected a torch.Tensor of shape {tuple(want.shape)}, got "
                           f"{type(got).__name__}{tail}")
    if tuple(got.shape) != tuple(want.shape):
        raise GradingError(f"{what}: expected shape {tuple(want.shape)}, got {tuple(got.shape)}{tail}")
    if check_dtype and got.dtype != want.dtype:
        raise GradingError(f"{what}: expected dtype {want.dtype}, got {got.dtype}{tail}")
    g = got.detach().to("cpu", torch.float64)
    w = want.detach().to("cpu", torch.float64)
    if not torch.isfinite(g).all() and torch.isfinite(w).all():
        bad = tuple(int(i) for i in torch.nonzero(~torch.isfinite(g))[0])
        raise GradingError(f"{what}: {g[bad].item()} at {_where(bad)} (expected finite values){tail}")
    err = (g - w).abs()
    off = err > atol + rtol * w.abs()
    if off.any():
        flat = int(torch.argmax(err.masked_fill(~off, -1.0)))
        idx = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), err.shape)) if err.ndim else ()
        raise GradingError(
            f"{what}: max abs error {err.max().item():.3g} (tolerance {atol:g} + {rtol:g}·|expected|); "
            f"at {_where(idx)} got {g[idx].item():.6g}, expected {w[idx].item():.6g}; "
            f"{int(off.sum())} of {off.numel()} elements off{tail}"
        )

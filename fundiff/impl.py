"""Load an implementation of the five course modules from a folder, by name or path.

``load_impl("solutions")``, ``load_impl("exercises")`` or ``load_impl("path/to/folder")`` gives an
:class:`Impl` whose attributes ``forward``, ``denoise``, ``guidance``, ``unet`` and ``train`` are the
folder's modules.  The folder is imported as a package of its own (so ``from .forward import …``
inside it works) under a name that cannot clash with anything installed.  A module that fails to
import does not stop the others: touching it raises :class:`ImplError` naming the file and the
error, so only the code that needs it fails.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import traceback
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = ("forward", "denoise", "guidance", "unet", "train")


class ImplError(ImportError):
    """A module of the implementation under test could not be imported."""


def resolve_impl_path(name_or_path: str | Path) -> Path:
    """'solutions' / 'exercises' (always the checkout's folders, whatever the working directory
    holds: a folder of that name there is './solutions') or any folder holding the five modules.

    (The grader's fresh references come from load_impl("solutions"): a cwd-relative lookup let a
    'solutions' folder in the grading directory stand in for the instructor's code.)"""
    path = Path(name_or_path)
    if str(name_or_path) in ("solutions", "exercises"):
        path = ROOT / str(name_or_path)
    if not path.is_dir():
        raise ImplError(
            f"implementation folder {name_or_path!r} not found: expected 'solutions', 'exercises' or "
            f"a folder holding {', '.join(m + '.py' for m in MODULES)}"
        )
    missing = [m + ".py" for m in MODULES if not (path / f"{m}.py").is_file()]
    if len(missing) == len(MODULES):
        raise ImplError(f"{path} holds none of the course modules ({', '.join(missing)})")
    return path.resolve()


def _package_for(path: Path) -> str:
    """Import ``path`` as a fresh namespace package; returns its module name."""
    name = "fundiff_impl_" + hashlib.sha1(str(path).encode()).hexdigest()[:10]
    if name not in sys.modules:
        pkg = types.ModuleType(name)
        pkg.__path__ = [str(path)]
        pkg.__file__ = str(path / "__init__.py")
        pkg.__package__ = name
        sys.modules[name] = pkg
    return name


class Impl:
    """The five modules of one implementation folder, imported lazily, one at a time."""

    def __init__(self, name_or_path: str | Path = "solutions"):
        self.path = resolve_impl_path(name_or_path)
        self.package = _package_for(self.path)
        self._errors: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Impl({str(self.path)!r})"

    def module(self, name: str) -> types.ModuleType:
        """The module ``name`` (one of MODULES), or ImplError naming its file and what went wrong."""
        if name not in MODULES:
            raise AttributeError(f"no course module {name!r}: expected one of {MODULES}")
        if name in self._errors:
            raise ImplError(self._errors[name])
        file = self.path / f"{name}.py"
        if not file.is_file():
            self._errors[name] = f"{file} does not exist: the implementation has no {name}.py"
            raise ImplError(self._errors[name])
        full = f"{self.package}.{name}"
        if full in sys.modules:
            return sys.modules[full]
        try:
            return importlib.import_module(full)
        except (Exception, SystemExit) as err:  # noqa: BLE001 - any failure of student code (sys.exit too) is reported
            tb = traceback.extract_tb(err.__traceback__)
            where = next((f"{Path(f.filename).name}:{f.lineno}" for f in reversed(tb)
                          if str(self.path) in f.filename), f"{name}.py")
            self._errors[name] = f"importing {file} failed at {where}: {type(err).__name__}: {err}"
            for key in [k for k in sys.modules if k == f"{self.package}.{name}"]:
                del sys.modules[key]
            raise ImplError(self._errors[name]) from err

    def __getattr__(self, name: str) -> types.ModuleType:
        if name in MODULES:
            return self.module(name)
        raise AttributeError(name)


_CACHE: dict[Path, Impl] = {}


def load_impl(name_or_path: str | Path = "solutions") -> Impl:
    """The :class:`Impl` for a folder (cached per folder)."""
    path = resolve_impl_path(name_or_path)
    if path not in _CACHE:
        _CACHE[path] = Impl(path)
    return _CACHE[path]


def as_impl(impl=None):
    """``impl`` as an implementation: None → ``load_impl("solutions")``, a name or path →
    :func:`load_impl`, anything else (an :class:`Impl`, or an object with the modules) as it is."""
    if impl is None:
        return load_impl("solutions")
    return load_impl(impl) if isinstance(impl, (str, Path)) else impl

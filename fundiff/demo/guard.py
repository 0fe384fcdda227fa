"""The guard around the student's code: a section that fails shows why, and the others still run.

:func:`guarded` runs one section (or one part of it, ``Ctx.part``) and turns what goes wrong into an
item of the page: a function that is missing or raises ``NotImplementedError`` reads "not implemented
yet: <module.function>" (kind ``missing``), any other exception shows its message and a short
traceback (kind ``error``).  Nothing propagates.
"""
from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Callable

from ..impl import ImplError

__all__ = ["NotImplementedYet", "guarded"]


class NotImplementedYet(Exception):
    """A student function the demo needs is missing or raises NotImplementedError."""

    def __init__(self, where: str, detail: str = ""):
        super().__init__(where)
        self.where, self.detail = where, detail

    def message(self) -> str:
        return f"not implemented yet: {self.where}" + (f" ({self.detail})" if self.detail else "")


def _innermost_impl_frame(err: BaseException, root: Path) -> str | None:
    """'module.function' of the innermost traceback frame inside the implementation folder."""
    tb, found = err.__traceback__, None
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename.startswith(str(root)):
            found = f"{Path(code.co_filename).stem}.{getattr(code, 'co_qualname', code.co_name)}"
        tb = tb.tb_next
    return found


def _short_traceback(err: BaseException, limit: int = 4) -> str:
    lines = traceback.format_exception(type(err), err, err.__traceback__, limit=-limit)
    return "".join(lines).strip()


def guarded(ctx, fn: Callable, *args, **kwargs) -> str | None:
    """Run fn; on failure add a 'missing' or 'error' item to ``ctx`` (a :class:`~fundiff.demo.context.Ctx`:
    its ``items``, ``problems`` and ``impl.path``), print it, and return its kind."""
    try:
        fn(*args, **kwargs)
        return None
    except NotImplementedYet as err:
        msg, kind, detail = err.message(), "missing", ""
    except NotImplementedError as err:
        where = _innermost_impl_frame(err, ctx.impl.path) or "a function of the implementation"
        msg, kind, detail = NotImplementedYet(where, str(err)).message(), "missing", ""
    except ImplError as err:
        msg, kind, detail = f"the implementation could not be imported: {err}", "error", ""
    except FileNotFoundError as err:  # a shipped file is absent: the message says which
        msg, kind, detail = f"{type(err).__name__}: {err}", "error", ""
    except Exception as err:  # noqa: BLE001 - a section's failure must not stop the demo
        msg, kind, detail = f"{type(err).__name__}: {err}", "error", _short_traceback(err)
    ctx.items.append({"kind": kind, "text": msg, "detail": detail})
    ctx.problems.append(kind)
    print(f"    {'not implemented yet' if kind == 'missing' else 'error'}: {msg.removeprefix('not implemented yet: ')}",
          file=sys.stderr, flush=True)
    return kind

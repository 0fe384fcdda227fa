"""``python -m fundiff.demo`` (see :mod:`fundiff.demo`)."""
import sys

from . import _PROCESS_T0, main

sys.exit(main(started=_PROCESS_T0))

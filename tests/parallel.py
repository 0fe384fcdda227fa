"""A helper of the framework tests that start processes (not a test module): run independent
commands at once, so the suite's wall clock is not the sum of their start-up times."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor


def concurrently(*calls):
    """Call each no-argument function in a thread of its own (each starts its own process, so they
    overlap) and return their results in order; the first exception is raised."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(c) for c in calls]
        return [f.result() for f in futures]

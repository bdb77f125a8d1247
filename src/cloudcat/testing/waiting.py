"""Waiting, bounded, for something a server or a thread does in its own time."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["wait_until"]


def wait_until(condition: Callable[[], object], seconds: float, *, every: float = 0.02) -> bool:
    """Whether ``condition()`` holds within ``seconds``, polled every ``every`` seconds (always
    bounded: a test waiting for a connection to close or a thread to end never hangs)."""
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(every)
    return True

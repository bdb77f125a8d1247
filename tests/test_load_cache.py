"""LoadCache, the driver layer's shared cache: one load per key at a time, reused while fresh."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from cloudcat.driver import LoadCache


def test_calls_side_by_side_share_one_load_and_a_stale_value_is_loaded_again() -> None:
    cache = LoadCache()
    loads: list[int] = []
    gate = threading.Event()

    def load() -> int:
        gate.wait(5)  # every caller arrives while the first load is still running
        loads.append(1)
        return len(loads)

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(cache.get, "regions", load, 60) for _ in range(8)]
        gate.set()
        assert {f.result() for f in futures} == {1}
    assert len(loads) == 1
    assert cache.get("other", load, 60) == 2  # keys are apart
    assert cache.get("regions", load, 0) == 3  # no longer fresh: loaded again

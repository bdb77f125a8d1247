"""A vSphere backend's deadline reaches into pyvmomi's calls: a slow answer is cut there.

The refresh runs every task of a backend under the backend's deadline (``deadline`` on the
backend). The vsphere driver caps each socket wait of pyvmomi's connections (and of its own
content library and version requests) at the time left, and reads answers piece by piece, so a
vCenter that holds its answers, or sends them a byte at a time, keeps no thread past the deadline
however long the ``timeout`` option is.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import cloudcat
from cloudcat.testing import mock, wait_until


def _ours(before: set[threading.Thread]) -> list[str]:
    return [t.name for t in threading.enumerate() if t not in before and t.name.startswith("cloudcat-")]


@pytest.mark.parametrize("fault", ["held", "hung", "trickled"])
def test_a_slow_vcenter_is_cut_at_the_backend_deadline(tmp_path: Path, fault: str) -> None:
    with mock("vsphere") as m:
        config = {"backends": {"vc": {**m.backend, "deadline": 3,
                                      "options": {**m.backend["options"], "timeout": 60, "retries": 0}}},
                  "brands": {"vc": {"backend": "vc"}}, "store": str(tmp_path / "c.db")}
        if fault == "held":
            m.server.set_faults(latency_ms=60_000)  # every answer held a minute
        elif fault == "hung":
            m.faults.plan(method="POST", path="re:^/sdk$", action="hang", hang_s=60, times=100)  # never answered
        else:
            m.faults.plan(method="POST", path="re:^/sdk$", action="trickle", times=100)  # a byte at a time
        before = set(threading.enumerate())
        started = time.monotonic()
        with cloudcat.open_catalog(config) as catalog:
            result = catalog.refresh()
            ended = time.monotonic()
            assert ended - started < 10, ended - started
            [failed] = result.failed
            assert failed.backend == "vc" and "deadline" in (failed.error or ""), failed.error
            # no task, side or closing thread stays in a call: each socket wait ended at the deadline
            assert wait_until(lambda: not _ours(before), 3), _ours(before)
            assert time.monotonic() - ended < 4
        if fault != "held":  # the mock lets go of a request once its client closed the connection
            injected = {"hung": "hang", "trickled": "trickle"}[fault]
            assert wait_until(lambda: any(r.fault == injected for r in m.server.requests()), 2), m.server.requests()

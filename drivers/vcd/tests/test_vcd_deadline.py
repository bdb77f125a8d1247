"""A Cloud Director backend's deadline reaches into its HTTP calls: a held answer is cut there.

The refresh runs every task of a backend under the backend's deadline (``deadline`` on the
backend); the vcd driver caps each socket wait at the time left and reads bodies piece by piece,
including from its side threads (VDC reads and pages side by side), so a request the server holds
ends with the refresh rather than when the server lets go.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cloudcat
from cloudcat.testing import mock, wait_until


def _vcd_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t not in before and t.name.startswith(("cloudcat-", "vcd-"))]


def test_a_held_cloud_director_answer_is_cut_at_the_backend_deadline(tmp_path: Path) -> None:
    with mock("vcd", "cloud-avenue") as m:
        m.faults.plan("GET /api/query hang x1 hang-s=60")  # one typed query never answered
        config = {"backends": {"cav": {**m.backend, "deadline": 4}}, "brands": {"cav": {"backend": "cav"}},
                  "store": str(tmp_path / "c.db")}
        before = set(threading.enumerate())
        started = time.monotonic()
        with cloudcat.open_catalog(config) as catalog:
            result = catalog.refresh()
            ended = time.monotonic()
            assert ended - started < 15, ended - started
            [failed] = result.failed
            assert failed.backend == "cav" and "deadline" in (failed.error or ""), failed.error

            def held() -> list[object]:
                return [r for r in m.server.requests() if r.fault == "hang"]

            # the held request ends as the driver lets go of it, within a second or so of the
            # refresh's end, not after the 60 s hang; no worker or side thread stays in a call
            assert wait_until(held, 1.5), m.server.requests()
            assert time.monotonic() - ended < 2.0
            assert wait_until(lambda: not _vcd_threads(before), 3), _vcd_threads(before)

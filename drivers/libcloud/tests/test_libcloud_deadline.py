"""A libcloud backend's deadline reaches into libcloud's HTTP calls: a held answer is cut there.

libcloud sends its requests through a ``requests`` session per connection; the driver's connection
class fits that session (:func:`cloudcat.http.fit_session`), so each socket wait is capped at the
time left before the backend's deadline and bodies are read piece by piece.
"""

from __future__ import annotations

import time
from pathlib import Path

import cloudcat
from cloudcat.testing import mock, wait_until


def test_a_held_azure_answer_is_cut_at_the_backend_deadline(tmp_path: Path) -> None:
    with mock("azure") as m:
        m.faults.plan("GET vmSizes hang x1 hang-s=60")  # one region's sizes never answered
        config = {"backends": {"bleu": {**m.backend, "deadline": 4}}, "brands": {"bleu": {"backend": "bleu"}},
                  "store": str(tmp_path / "c.db")}
        with cloudcat.open_catalog(config) as catalog:
            result = catalog.refresh()
            ended = time.monotonic()
            [failed] = result.failed
            assert failed.backend == "bleu" and "deadline" in (failed.error or ""), failed.error

            # the held request ends as the client lets go of it, about when the refresh ends,
            # not after the 60 s hang
            assert wait_until(lambda: [r for r in m.server.requests() if r.fault == "hang"], 2.0), \
                m.server.requests()
            assert time.monotonic() - ended < 2.5

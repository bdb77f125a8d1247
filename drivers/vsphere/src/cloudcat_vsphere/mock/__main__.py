"""``python -m cloudcat_vsphere.mock --vms N --templates M``: serve a large mocked vCenter for scale tests.

The same server as ``cloudcat mock serve vsphere`` (first stdout line: one JSON object with ``url``
and a ready ``backend``), with ``--vms`` virtual machines and ``--templates`` templates generated
across the fixture's datacenters. A fixture file can ask for the same with ``generate: {vms: N,
templates: M}``, which ``cloudcat mock serve vsphere --fixture FILE`` honours.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from cloudcat.testing.mockserver import load_fixture_file, start_mock

from . import VsphereMock, generated_fixture


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m cloudcat_vsphere.mock", description=__doc__.split("\n\n")[0])
    parser.add_argument("--fixture", default="vcenter", help="bundled fixture name or fixture file")
    parser.add_argument("--vms", type=int, default=0)
    parser.add_argument("--templates", type=int, default=0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--page-limit", type=int, default=None)
    parser.add_argument("--token-ttl", type=float, default=None)
    parser.add_argument("--error-rate", type=float, default=0.0)
    args = parser.parse_args(argv)
    path = VsphereMock.fixtures.get(args.fixture, args.fixture)
    fixture = generated_fixture(load_fixture_file(path), vms=args.vms, templates=args.templates)
    handle = start_mock(VsphereMock, fixture, port=args.port, latency_ms=args.latency_ms,
                        page_limit=args.page_limit, token_ttl=args.token_ttl, error_rate=args.error_rate)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        print(json.dumps(handle.first_line()), flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        handle.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()

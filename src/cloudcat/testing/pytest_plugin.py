"""cloudcat's pytest plugin: the ``cloudcat_mock`` fixture.

::

    def test_my_app(cloudcat_mock):
        m = cloudcat_mock("openstack", fixture="tests/my-cloud.yaml", error_rate=0.1)
        run_my_app(m.url, m.backend)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .mockserver import MockHandle, mock


@pytest.fixture
def cloudcat_mock() -> Iterator[Callable[..., MockHandle]]:
    """Factory: ``cloudcat_mock(name, fixture=None, **faults)`` starts a mock, stopped after the test."""
    with contextlib.ExitStack() as stack:

        def start(name: str, fixture: Any = None, **options: Any) -> MockHandle:
            return stack.enter_context(mock(name, fixture, **options))

        yield start

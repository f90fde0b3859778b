"""Fixtures shared by the unit tests.

``daemon``  a started :class:`test_client_fakedaemon.FakeDaemon` per test, stopped after it
            (a module may override it, e.g. to add routes before the test runs).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_client_fakedaemon import FakeDaemon


@pytest.fixture
def daemon() -> Iterator[FakeDaemon]:
    d = FakeDaemon().start()
    yield d
    d.stop()

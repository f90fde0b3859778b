"""Table-driven checks shared by the unit tests."""

from __future__ import annotations

import pytest


def each(rows, check):
    """Run ``check(*row)`` for every row of a table and report every failing row at once.

    The tables are data (hundreds of rows); one test per table keeps the suite fast.
    """
    failures = []
    for row in rows:
        try:
            check(*row)
        except (Exception, pytest.fail.Exception) as e:
            failures.append(f"{row!r:.160}: {type(e).__name__}: {e}")
    assert not failures, f"{len(failures)} of {len(rows)} rows failed:\n" + "\n".join(failures)

"""The storm reports its own peak RSS, not the peak of what ran before it in the same process
(``make bench`` runs the 1,000-model alarm sync first, which peaks higher than the storm)."""

import pytest

from opspilot_dev.bench_storm import _peak_rss_mb, _reset_peak_rss

MB = 2**20


def test_the_peak_starts_again_when_the_storm_starts() -> None:
    block = bytearray(96 * MB)
    block[::4096] = b"\x01" * len(range(0, len(block), 4096))  # touch every page: it is resident
    grown = _peak_rss_mb()
    del block
    if not _reset_peak_rss():
        pytest.skip("no /proc/self/clear_refs here: the process's peak is reported")
    assert _peak_rss_mb() < grown - 64  # what ran before no longer counts

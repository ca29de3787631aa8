"""How benchmarks read a process's peak memory."""

from __future__ import annotations

from bench.measure import peak_rss_mb, reset_peak_rss


def test_the_peak_restarts_from_what_the_process_holds_now() -> None:
    held = b"x" * (200 * 2**20)  # written, so resident
    del held
    before = peak_rss_mb()
    floor = reset_peak_rss()
    assert floor < before - 150  # the freed 200 MB no longer count
    kept = b"y" * (100 * 2**20)
    assert 90 < peak_rss_mb() - floor < 150
    del kept

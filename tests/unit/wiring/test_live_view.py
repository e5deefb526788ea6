"""The live demo's latency line: quantiles read from histogram buckets as PromQL reads them."""

from __future__ import annotations

import pytest

from fraudstream.wiring.live_view import latency_line, quantile

INF = float("inf")


def test_a_quantile_is_interpolated_within_its_bucket() -> None:
    cumulative = {0.1: 50.0, 0.5: 90.0, 1.0: 100.0, INF: 100.0}
    assert quantile(0.5, cumulative) == pytest.approx(0.1)
    assert quantile(0.99, cumulative) == pytest.approx(0.95)
    assert quantile(0.25, cumulative) == pytest.approx(0.05)


def test_past_the_last_bound_the_quantile_is_where_that_bucket_starts() -> None:
    assert quantile(0.99, {1.0: 10.0, INF: 100.0}) == 1.0


def test_an_empty_histogram_has_no_quantile() -> None:
    assert quantile(0.5, {0.1: 0.0, INF: 0.0}) is None
    assert quantile(0.5, {}) is None


def test_the_line_shows_only_what_came_since_the_last_scrape() -> None:
    before = {"email/fraud_confirmation": {0.1: 0.0, 1.0: 100.0, INF: 100.0}}
    now = {
        "email/fraud_confirmation": {0.1: 100.0, 1.0: 200.0, INF: 200.0},
        "commit": {0.1: 10.0, 1.0: 10.0, INF: 10.0},
    }
    line = latency_line(before, now)
    assert line == (
        "latency: commit p50 0.05 s p99 0.10 s | email/fraud_confirmation p50 0.05 s p99 0.10 s"
    )
    assert latency_line(now, now) == "latency: no live payment yet"

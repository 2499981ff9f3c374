"""Forecast rules with fixed clocks and fixed data (workbench.forecast is pure)."""

from __future__ import annotations

import datetime as dt

from workbench.forecast import Status, daily_series, forecast_finish

TODAY = dt.date(2026, 11, 22)


def test_forecast_finish_on_track_when_even_the_slow_end_is_before_the_deadline():
    forecast = forecast_finish(remaining=1000, daily=[100] * 14, today=TODAY, deadline=TODAY + dt.timedelta(days=20))
    assert forecast.rate == 100
    assert forecast.spread == 0
    assert forecast.finish == TODAY + dt.timedelta(days=10)
    assert forecast.earliest == forecast.latest == forecast.finish
    assert forecast.status == Status.ON_TRACK
    assert forecast.slack_days == 10


def test_forecast_finish_range_comes_from_the_spread_of_daily_throughput():
    daily = [50, 150] * 7  # mean 100, sample std ~51.9, standard error ~13.9
    forecast = forecast_finish(remaining=1000, daily=daily, today=TODAY, deadline=TODAY + dt.timedelta(days=11))
    assert round(forecast.spread, 1) == 13.9
    assert forecast.finish == TODAY + dt.timedelta(days=10)
    assert forecast.earliest == TODAY + dt.timedelta(days=9)  # 1000 / 113.9 = 8.8 → 9
    assert forecast.latest == TODAY + dt.timedelta(days=12)  # 1000 / 86.1 = 11.6 → 12
    # The forecast is on time but the slow end is not: at risk.
    assert forecast.status == Status.AT_RISK


def test_forecast_finish_late_when_the_forecast_passes_the_deadline():
    forecast = forecast_finish(remaining=1000, daily=[50] * 14, today=TODAY, deadline=TODAY + dt.timedelta(days=10))
    assert forecast.finish == TODAY + dt.timedelta(days=20)
    assert forecast.status == Status.LATE
    assert forecast.slack_days == -10


def test_forecast_finish_without_throughput_or_deadline_is_unknown_and_done_when_nothing_remains():
    stalled = forecast_finish(remaining=10, daily=[0] * 14, today=TODAY, deadline=TODAY)
    assert stalled.finish is None and stalled.status == Status.UNKNOWN
    no_deadline = forecast_finish(remaining=10, daily=[5] * 14, today=TODAY, deadline=None)
    assert no_deadline.status == Status.UNKNOWN and no_deadline.finish == TODAY + dt.timedelta(days=2)
    done = forecast_finish(remaining=0, daily=[5] * 14, today=TODAY, deadline=TODAY)
    assert done.status == Status.DONE


def test_forecast_finish_open_ended_range_when_the_slow_rate_is_not_positive():
    forecast = forecast_finish(remaining=100, daily=[0, 0, 0, 30], today=TODAY, deadline=TODAY + dt.timedelta(days=30))
    assert forecast.latest is None
    assert forecast.status == Status.AT_RISK  # finish in 14 days, but no late bound


def test_daily_series_fills_missing_days_with_zero_oldest_first():
    counts = {TODAY: 5, TODAY - dt.timedelta(days=2): 3}
    assert daily_series(counts, end=TODAY, days=4) == [0, 3, 0, 5]

"""Finish-date forecasts from trailing throughput. Pure functions: no database, no clock.

The rate is the mean of the daily regular annotations over the last `window` complete days
(today, still partial, is left out); its spread is the standard error of that mean
(std / sqrt(days)). The forecast finish is today + remaining / mean; the range runs from
remaining / (mean + spread) to remaining / (mean - spread), open-ended when the pessimistic rate
is not positive. Status against the deadline:

- on_track: even the late end of the range is on or before the deadline;
- at_risk: the forecast finish is on time but the late end of the range is not;
- late: the forecast finish is after the deadline;
- done: nothing remains; unknown: no deadline, or no throughput in the window to forecast from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta


class Status:
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    LATE = "late"
    DONE = "done"
    UNKNOWN = "unknown"

    LABELS = {
        ON_TRACK: "On track",
        AT_RISK: "At risk",
        LATE: "Late",
        DONE: "Done",
        UNKNOWN: "Unknown",
    }
    # Worst first, for sorting a portfolio by status.
    ORDER = {LATE: 0, AT_RISK: 1, UNKNOWN: 2, ON_TRACK: 3, DONE: 4}


@dataclass(frozen=True)
class Forecast:
    remaining: int
    rate: float  # annotations per day
    spread: float  # standard error of the rate
    days: int  # days of data in the window
    finish: date | None
    earliest: date | None
    latest: date | None  # None: the pessimistic rate is not positive, so no late bound
    deadline: date | None
    status: str

    @property
    def status_label(self) -> str:
        return Status.LABELS[self.status]

    @property
    def slack_days(self) -> int | None:
        """Days between the forecast finish and the deadline (negative: late)."""
        if self.finish is None or self.deadline is None:
            return None
        return (self.deadline - self.finish).days


def _finish(today: date, remaining: int, rate: float) -> date | None:
    if rate <= 0:
        return None
    return today + timedelta(days=math.ceil(remaining / rate))


def forecast_finish(*, remaining: int, daily: list[int], today: date, deadline: date | None) -> Forecast:
    """Forecast from `daily` (annotations per complete day, oldest first, zeros included)."""
    days = len(daily)
    rate = sum(daily) / days if days else 0.0
    if days > 1:
        variance = sum((value - rate) ** 2 for value in daily) / (days - 1)
        spread = math.sqrt(variance) / math.sqrt(days)
    else:
        spread = 0.0
    if remaining <= 0:
        return Forecast(0, rate, spread, days, today, today, today, deadline, Status.DONE)
    finish = _finish(today, remaining, rate)
    earliest = _finish(today, remaining, rate + spread)
    latest = _finish(today, remaining, rate - spread)
    if finish is None or deadline is None:
        status = Status.UNKNOWN
    elif latest is not None and latest <= deadline:
        status = Status.ON_TRACK
    elif finish <= deadline:
        status = Status.AT_RISK
    else:
        status = Status.LATE
    return Forecast(remaining, rate, spread, days, finish, earliest, latest, deadline, status)


def daily_series(counts: dict[date, int], *, end: date, days: int) -> list[int]:
    """`days` values ending with `end` (inclusive), oldest first, zero where a day has no row."""
    return [counts.get(end - timedelta(days=offset), 0) for offset in range(days - 1, -1, -1)]

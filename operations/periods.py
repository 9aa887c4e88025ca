"""The windows dashboards show: today, the last 7 or 30 days, or a chosen range of days.

Days are local days (Asia/Ho_Chi_Minh); a window is every instant from the first day's midnight
to the midnight after the last day. A chosen range spans at most 366 days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from choso.db import utcnow
from choso.errors import InvalidInput
from choso.i18n import LOCALE_TIMEZONE, N_

RANGES = ("today", "7d", "30d", "custom")
MAX_DAYS = 366
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)  # days any window may cover


@dataclass(frozen=True)
class Window:
    range: str
    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(0), tzinfo=LOCALE_TIMEZONE)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=LOCALE_TIMEZONE)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def query(self) -> str:
        """The query string that selects this window again (drill-down links)."""
        if self.range == "custom":
            return f"range=custom&from={self.first.isoformat()}&to={self.last.isoformat()}"
        return f"range={self.range}"


def local_today() -> date:
    return utcnow().astimezone(LOCALE_TIMEZONE).date()


def window(range_: str = "7d", first: date | None = None, last: date | None = None) -> Window:
    """The window asked for; InvalidInput for a chosen range that is missing, reversed or too long."""
    today = local_today()
    if range_ == "today":
        return Window("today", today, today)
    if range_ in ("7d", "30d"):
        days = 7 if range_ == "7d" else 30
        return Window(range_, today - timedelta(days=days - 1), today)
    if range_ != "custom":
        raise InvalidInput(N_("Choose today, 7 days, 30 days or a range of days."), field="range")
    if first is None or last is None:
        raise InvalidInput(N_("A chosen range needs its first and last day."), field="from")
    check_days(first, last)
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidInput(N_("A range may span at most 366 days."), field="to")
    return Window("custom", first, last)


def check_days(first: date | None, last: date | None, fields: tuple[str, str] = ("from", "to")) -> None:
    """InvalidInput for days outside 2000–2100, or a last day before the first; the error names
    the caller's field (`fields`: the first day's, the last day's)."""
    for day, field in ((first, fields[0]), (last, fields[1])):
        if day is not None and not EARLIEST <= day <= LATEST:
            raise InvalidInput(N_("Choose days between 2000 and 2100."), field=field)
    if first is not None and last is not None and last < first:
        raise InvalidInput(N_("The last day comes before the first."), field=fields[1])


def by_day(window_: Window, rows: list[tuple[datetime, int]]) -> list[tuple[date, int]]:
    """Amounts summed per local day of the window, every day present (pure)."""
    totals = dict.fromkeys(window_.days(), 0)
    for at, amount in rows:
        day = at.astimezone(LOCALE_TIMEZONE).date()
        if day in totals:
            totals[day] += amount
    return sorted(totals.items())

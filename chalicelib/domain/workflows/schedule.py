"""Schedule triggers: a five-field cron expression read in an IANA time zone.

Pure (no I/O). cronsim evaluates the expressions: it follows Debian cron, whose handling of
daylight-saving transitions is what a "09:00 every day" user expects. A job at a fixed time (its
minute and hour fields do not start with `*`) runs once on every day: on the spring-forward
day a 02:30 that does not exist runs when the clock jumps (03:00 local), on the fall-back day a
02:30 that happens twice runs at the first one. Jobs that run more often than hourly follow the
wall clock as it is (a skipped hour has no ticks).

EventBridge Scheduler takes the same schedule in its own cron dialect (`eventbridge_expression`):
six fields, days of the week numbered from 1 (Sunday), and one of day-of-month and day-of-week
must be `?`, which is why a Tether cron may restrict one of them, not both. EventBridge skips a
tick whose local time does not exist; `is_catch_up` names the ticks Tether must then fire itself.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

CRON_CHARS = re.compile(r"[0-9A-Za-z*/,#-]{1,60}")
DOW_NUMBER = re.compile(r"[0-7]")
# Ticks are minutes: seconds in a tick time are dropped, so a re-delivered tick is the same tick.
TICK_FORMAT = "%Y-%m-%dT%H:%M:00Z"


class ScheduleError(ValueError):
    """A cron expression or tick time that cannot be used."""


def cron_problem(cron: str) -> str | None:
    """Why `cron` cannot be a schedule trigger's expression, or None when it can."""
    fields = cron.split()
    if len(fields) != 5 or not all(CRON_CHARS.fullmatch(part) for part in fields):
        return "'cron' must have five fields: minute hour day-of-month month day-of-week."
    try:
        next(CronSim(cron, datetime(2000, 1, 1)))
    except CronSimError as error:
        return f"'cron' is not a valid cron expression ({str(error).rstrip('.').lower()})."
    except StopIteration:
        return "'cron' never matches a date."
    try:
        eventbridge_expression(cron)
    except ScheduleError as error:
        return str(error)
    return None


def next_tick(cron: str, timezone: str, after: datetime) -> datetime:
    """The first tick strictly after `after` (an aware datetime), in UTC."""
    zone = ZoneInfo(timezone)
    start = after.astimezone(zone)
    try:
        return next(CronSim(cron, start)).astimezone(UTC)
    except (CronSimError, StopIteration) as error:
        raise ScheduleError(f"'{cron}' has no next tick.") from error


def ticks_between(cron: str, timezone: str, start: datetime, end: datetime, limit: int = 1000) -> list[datetime]:
    """Every tick in (`start`, `end`], in UTC, oldest first (at most `limit`: the latest ones)."""
    ticks: list[datetime] = []
    current = start
    while True:
        tick = next_tick(cron, timezone, current)
        if tick > end:
            return ticks[-limit:]
        ticks.append(tick)
        current = tick


def is_catch_up(cron: str, timezone: str, tick: datetime) -> bool:
    """True when `tick` is a daylight-saving adjustment: the cron does not match its local wall
    time (a 02:30 job fired at 03:00 on the spring-forward day). EventBridge skips those."""
    wall = tick.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)
    try:
        matched = next(CronSim(cron, wall - timedelta(minutes=1)))
    except (CronSimError, StopIteration):
        return True
    return matched != wall


def tick_id(tick: datetime) -> str:
    """The canonical form of a tick time (UTC, to the minute): what `scheduledAt` holds."""
    return tick.astimezone(UTC).strftime(TICK_FORMAT)


def parse_tick(value: object) -> datetime:
    """A tick time from an ISO 8601 string with an offset (EventBridge's `scheduled-time`)."""
    if not isinstance(value, str) or len(value) > 40:
        raise ScheduleError("'scheduledAt' must be an ISO 8601 time with a UTC offset.")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ScheduleError("'scheduledAt' must be an ISO 8601 time with a UTC offset.") from None
    if parsed.tzinfo is None:
        raise ScheduleError("'scheduledAt' must carry a UTC offset.")
    return parsed.astimezone(UTC).replace(second=0, microsecond=0)


def eventbridge_expression(cron: str) -> str:
    """`cron(...)` for EventBridge Scheduler, firing at the same local times as `cron`."""
    minute, hour, day, month, weekday = cron.split()
    if day != "*" and weekday != "*":
        raise ScheduleError(
            "'cron' may restrict the day of the month or the day of the week, not both "
            "(EventBridge Scheduler cannot run on either kind of day)."
        )
    if weekday == "*":
        days, weekdays = _steps(day, "1"), "?"
    else:
        days, weekdays = "?", _eventbridge_weekdays(weekday)
    return f"cron({_steps(minute, '0')} {_steps(hour, '0')} {days} {_steps(month, '1')} {weekdays} *)"


def _steps(field: str, first: str) -> str:
    # EventBridge writes "every n" from the field's first value (`0/15`), not from `*`.
    return ",".join(first + part[1:] if part.startswith("*/") else part for part in field.split(","))


def _eventbridge_weekdays(field: str) -> str:
    """Day-of-week numbers shifted to EventBridge's (Sunday 1 .. Saturday 7); names stay."""
    out: list[str] = []
    for part in field.upper().split(","):
        step = ""
        if "/" in part:
            part, step = part.split("/", 1)
            step = "/" + step
        if "#" in part:
            day, nth = part.split("#", 1)
            out.append(f"{_eventbridge_day(day)}#{nth}")
        elif part.endswith("L") and len(part) > 1:
            out.append(f"{_eventbridge_day(part[:-1])}L")
        elif "-" in part:
            low, high = part.split("-", 1)
            if high == "7":
                if step:
                    raise ScheduleError("'cron' day-of-week ranges ending at 7 cannot take a step; end them at 6.")
                # 7 is Sunday again: 5-7 is Friday, Saturday and Sunday.
                out.append("1-7" if low == "0" else "1" if low == "7" else f"{_eventbridge_day(low)}-7,1")
            else:
                out.append(f"{_eventbridge_day(low)}-{_eventbridge_day(high)}{step}")
        elif part == "*":
            out.append("1" + step if step else "*")
        else:
            out.append(_eventbridge_day(part) + step)
    return ",".join(out)


def _eventbridge_day(day: str) -> str:
    if DOW_NUMBER.fullmatch(day):
        return str(int(day) % 7 + 1)
    return day

"""Date handling as the WordPress.com API does it: times are stored in UTC and shown in the site's
offset (`2024-01-09T18:30:00+05:30`); inputs without a zone are taken as UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone


def from_timestamp(seconds: float) -> datetime:
    """A UTC datetime (whole seconds) from a clock value."""
    return datetime.fromtimestamp(int(seconds), UTC)


def parse_iso(value: object) -> datetime | None:
    """An ISO 8601 date or datetime as UTC (no zone -> UTC), or None when it does not parse."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def site_zone(gmt_offset: float) -> timezone:
    """The fixed offset of a site (`gmt_offset` hours, e.g. 5.5)."""
    return timezone(timedelta(minutes=round(gmt_offset * 60)))


def format_local(moment: datetime, gmt_offset: float) -> str:
    """ISO 8601 in the site's offset, as post and comment dates are shown."""
    return moment.astimezone(site_zone(gmt_offset)).isoformat()


def format_mysql(moment: datetime) -> str:
    """`YYYY-MM-DD HH:MM:SS` in UTC, as likes show `date_liked`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")

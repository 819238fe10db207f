"""Memory timestamps: stored and shown as UTC ISO 8601, compared as datetimes."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_utc(value: str) -> datetime:
    """An ISO 8601 timestamp as an aware UTC datetime (naive ones are taken as UTC).

    Raises ValueError for text that is not ISO 8601.
    """
    parsed = datetime.fromisoformat(value.strip())
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_utc(moment: datetime) -> str:
    """``2025-01-31T08:00:00.000Z``: the form termmate shows and exports."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def normalize_utc(value: str) -> str:
    """Any ISO 8601 timestamp in termmate's form (raises ValueError when it is not one)."""
    return format_utc(parse_utc(value))


def now_utc() -> datetime:
    return datetime.now(UTC)

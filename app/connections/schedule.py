"""When a connection syncs: on every change (the default), every N minutes, daily at a local time,
or only when asked (SYNC NOW, a settings change, retry-failed).

The schedule is part of the connection's sync settings. A scheduled connection keeps its due moment
in `connections.next_run_at`; the scheduler's tick claims it (app.sync.schedules) and rings once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ScheduleMode = Literal["on_change", "every_minutes", "daily_at", "manual"]


class SyncSchedule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: ScheduleMode = Field(
        default="on_change",
        description="on_change: push each change as it arrives; every_minutes: a run every `every_minutes`; "
        "daily_at: a run each day at `daily_at` in `time_zone`; manual: only SYNC NOW, a settings change or "
        "retry-failed start a run. Records arriving meanwhile wait as pending.",
    )
    every_minutes: int | None = Field(
        default=None, ge=1, le=1440, description="Minutes between scheduled runs (mode every_minutes only)."
    )
    daily_at: str | None = Field(
        default=None, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="The local time of the daily run, HH:MM (mode daily_at only).",
    )
    time_zone: str = Field(
        default="UTC", max_length=64, description="The shop's IANA time zone for `daily_at`, e.g. Australia/Sydney."
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/London)") from exc
        return value

    @model_validator(mode="after")
    def _fields_of_the_mode(self) -> "SyncSchedule":
        for field in ("every_minutes", "daily_at"):
            given = getattr(self, field) is not None
            if self.mode == field and not given:
                raise ValueError(f"mode {field} needs `{field}`")
            if self.mode != field and given:
                raise ValueError(f"`{field}` only goes with mode {field}")
        return self

    @property
    def rings_on_change(self) -> bool:
        return self.mode == "on_change"


def schedule_of(settings: dict[str, Any] | None) -> SyncSchedule:
    """The schedule in stored settings (settings stored before schedules existed: on_change)."""
    return SyncSchedule.model_validate((settings or {}).get("schedule") or {})


def plan_next_run(connection, before: SyncSchedule | None, after: SyncSchedule, now: datetime) -> None:
    """Set the connection's next scheduled run when its schedule is new or changed; a change of
    other settings leaves a planned run where it is."""
    if before is None or before != after or (connection.next_run_at is None) != (after.mode in ("on_change", "manual")):
        connection.next_run_at = next_run_after(after, now)


def next_run_after(schedule: SyncSchedule, moment: datetime) -> datetime | None:
    """The first scheduled run strictly after `moment`; None when nothing is scheduled."""
    if schedule.mode == "every_minutes":
        return moment + timedelta(minutes=schedule.every_minutes)
    if schedule.mode == "daily_at":
        zone = ZoneInfo(schedule.time_zone)
        local = moment.astimezone(zone)
        at = time.fromisoformat(schedule.daily_at)
        day: date = local.date()
        candidate = datetime.combine(day, at, tzinfo=zone)
        if candidate <= local:
            candidate = datetime.combine(day + timedelta(days=1), at, tzinfo=zone)
        return candidate.astimezone(UTC)
    return None

"""What happened to one claimed link in one attempt: the engine's single currency."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from app.connectors.base import PushResult
from app.connectors.errors import PermanentError, SettingMissing, SyncError, TransientError
from app.models import AttemptOutcome
from app.sync.claim import Claimed
from app.sync.setting_waits import setting_key


@dataclass(frozen=True)
class Outcome:
    claimed: Claimed
    kind: str  # an AttemptOutcome
    external_id: str | None = None
    error: SyncError | None = None
    skipped_reason: str | None = None
    duration_ms: int = 0
    # Outcomes with one retry group come due again together (see backoff.next_attempt).
    retry_group: int = 0
    remote_version: str | None = None  # the object's version the program reported, if any
    remote_digest: str | None = None  # the program's answer over the mapped fields (see PushResult)
    request_id: str | None = None  # the program's id of a successful call (errors carry their own)
    # "<entity type>:<POS id>" of the dependency this record waits for, if any.
    waiting_for: str | None = None
    note: str | None = None  # a successful push's remark, kept as the attempt's advice
    # A failure without an answer: the key of the create call the record went in, whether this push
    # looked it up and found nothing, and when the call was sent (see Link.lost_call_key).
    call_key: str | None = None
    looked_up: bool = False
    sent_at: datetime | None = None


def from_result(claimed: Claimed, result: PushResult, duration_ms: int) -> Outcome:
    if result.skipped is not None:
        return Outcome(claimed, AttemptOutcome.SKIPPED, skipped_reason=result.skipped, duration_ms=duration_ms)
    if result.error is not None:
        outcome = replace(from_error(claimed, result.error, duration_ms),
                          call_key=result.call_key, looked_up=result.looked_up)
        # The program may have created the object before refusing a later step (an invoice whose
        # payments failed): keep its id, so the next push updates it instead of creating another.
        if result.external_id:
            return replace(outcome, external_id=result.external_id, remote_version=result.remote_version)
        return outcome
    return Outcome(claimed, result.action or AttemptOutcome.UPDATED, external_id=result.external_id,
                   duration_ms=duration_ms, remote_version=result.remote_version,
                   remote_digest=result.remote_digest, request_id=result.request_id,
                   note=result.note)


def from_error(claimed: Claimed, error: Exception, duration_ms: int = 0) -> Outcome:
    if isinstance(error, TransientError):
        return Outcome(claimed, AttemptOutcome.RETRY, error=error, duration_ms=duration_ms, call_key=error.call_key)
    if isinstance(error, SyncError) and not isinstance(error, PermanentError):
        # ConnectionBroken reaches here only for the items of a call that was cut short: retry later.
        return Outcome(claimed, AttemptOutcome.RETRY, error=error, duration_ms=duration_ms, call_key=error.call_key)
    if isinstance(error, SettingMissing):
        # Not the program's refusal: it waits for the setting, and saving it wakes exactly this record.
        return Outcome(claimed, AttemptOutcome.FAILED, error=error, duration_ms=duration_ms,
                       waiting_for=setting_key(error.setting, error.key))
    if isinstance(error, SyncError):
        return Outcome(claimed, AttemptOutcome.FAILED, error=error, duration_ms=duration_ms)
    # A bug of ours, not the program's refusal: fail visibly instead of retrying in a hot loop.
    internal = PermanentError(
        f"possync could not push this record ({type(error).__name__}).",
        code="internal_error",
        advice="This is possync's fault, not your data's. Operators have the details; press SYNC NOW to try again.",
    )
    return Outcome(claimed, AttemptOutcome.FAILED, error=internal, duration_ms=duration_ms)

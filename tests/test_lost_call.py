"""What a link keeps of a call that went unanswered: a key vouches for a retry without a look-up
only while it names the one call an object of this content can have come from."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from app.connectors.errors import PermanentError, TransientError
from app.models import AttemptOutcome
from app.sync.claim import Claimed
from app.sync.outcomes import Outcome
from app.sync.results import _link_values

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=timezone.utc)
SENT = NOW - timedelta(seconds=3)
EARLIER = NOW - timedelta(minutes=2)


def _claimed(**kw) -> Claimed:
    return Claimed(link_id=1, record_id=1, entity_type="customer", pos_id="C-1", payload={}, content_hash="h",
                   external_id=None, retries=kw.pop("retries", 0), claim_token="t", **kw)


def _lost(claimed: Claimed, key: str | None, *, looked_up: bool = False) -> tuple[str | None, datetime | None]:
    outcome = Outcome(claimed, AttemptOutcome.RETRY, error=TransientError("reset"), call_key=key,
                      looked_up=looked_up, sent_at=SENT)
    values = _link_values(outcome, NOW)
    return values["lost_call_key"], values["first_unanswered_at"]


def test_the_first_unanswered_try_keeps_its_call_and_when_it_was_sent():
    assert _lost(_claimed(), "K") == ("K", SENT)


def test_the_same_call_lost_again_keeps_the_first_time():
    assert _lost(_claimed(retries=1, lost_call_key="K", first_unanswered_at=EARLIER), "K") == ("K", EARLIER)


def test_another_call_after_a_look_up_that_found_nothing_starts_again():
    assert _lost(_claimed(retries=1, lost_call_key="K", first_unanswered_at=EARLIER), "K2", looked_up=True) == (
        "K2", SENT)


def test_another_call_without_a_look_up_vouches_for_nothing():
    # The lost call under K may hold the object: the next try looks it up.
    # Nor is the unanswered create forgotten: the next create of the record is looked up.
    assert _lost(_claimed(retries=1, lost_call_key="K", first_unanswered_at=EARLIER), "K2") == (None, EARLIER)
    assert _lost(_claimed(retries=1), "K2") == (None, SENT)


def test_a_try_after_an_answered_retry_vouches_for_nothing_unless_it_looked_up():
    # Retries without an unanswered create (a 429, say): kept as before, conservatively.
    assert _lost(_claimed(retries=2), "K") == (None, SENT)
    assert _lost(_claimed(retries=2), "K", looked_up=True) == ("K", SENT)


def test_an_unknown_call_or_any_answer_forgets_the_key():
    claimed = _claimed(retries=1, lost_call_key="K", first_unanswered_at=EARLIER)
    assert _lost(claimed, None) == (None, EARLIER)
    created = _link_values(Outcome(claimed, AttemptOutcome.CREATED, external_id="9"), NOW)
    assert (created["lost_call_key"], created["first_unanswered_at"]) == (None, None)


def test_a_re_pended_record_remembers_its_unanswered_create_until_a_push_goes_through():
    # New content after a lost create: retries start again from 0 and the old call's key is gone,
    # but the lost create may have made an object; a try that did not look first vouches for nothing.
    repended = _claimed(first_unanswered_at=EARLIER)
    assert _lost(repended, "K2") == (None, EARLIER)
    assert _lost(repended, "K2", looked_up=True) == ("K2", SENT)
    refused = _link_values(Outcome(repended, AttemptOutcome.FAILED, error=PermanentError("bad email")), NOW)
    assert (refused["lost_call_key"], refused["first_unanswered_at"]) == (None, EARLIER)
    created = _link_values(Outcome(repended, AttemptOutcome.CREATED, external_id="9"), NOW)
    assert created["first_unanswered_at"] is None

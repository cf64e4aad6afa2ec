"""Intuit's faults, in each shape they come in, become the engine's classes with advice."""

from __future__ import annotations

import httpx
import pytest

from app.connectors.errors import ConnectionBroken, PermanentError, RateLimited, TokenRefused, TransientError
from app.connectors.quickbooks import errors
from tests.fakes.fake_quickbooks import THROTTLE_XML


def fault(code: str, message: str = "Msg", detail: str = "", status: int = 400, **headers) -> httpx.Response:
    body = {"Fault": {"Error": [{"Message": message, "Detail": detail, "code": code, "element": ""}],
                      "type": "ValidationFault"}, "time": "2026-11-27T10:00:00.000-08:00"}
    return httpx.Response(status, json=body, headers={"intuit_tid": "1-abc", **headers})


@pytest.mark.parametrize(
    ("code", "detail", "expected", "in_advice"),
    [
        ("6240", "The name supplied already exists.", "duplicate_name", "customer, vendor or employee"),
        ("6140", "Duplicate Document Number Error", "duplicate_document_number", "prefix"),
        ("2500", "Invalid Reference Id : Accounts element id 99 not found", "invalid_reference", "Accounts 99"),
        ("610", "Object Not Found : Something you're trying to use has been made inactive.", "object_inactive",
         "inactive"),
        ("6000", "Transaction amount must be positive.", "business_validation", "Transaction amount must be positive"),
        ("6210", "The account period has closed.", "closed_period", "closing date"),
    ],
)
def test_each_fault_code_gets_its_advice(code, detail, expected, in_advice):
    error = errors.from_response(fault(code, detail=detail))
    assert isinstance(error, PermanentError) and error.code == expected
    assert in_advice in error.advice and error.request_id == "1-abc"


def test_a_fault_that_comes_with_http_200_is_still_a_refusal():
    error = errors.from_response(fault("6000", detail="Something is wrong.", status=200))
    assert isinstance(error, PermanentError) and "Something is wrong." in error.advice


def test_a_batch_item_fault_is_read_the_same_way():
    entry = {"bId": "7", "Fault": {"Error": [{"Message": "Stale Object Error", "code": "5010"}], "type": "ValidationFault"}}
    assert isinstance(errors.classify(errors.faults_in(entry)), errors.StaleObject)
    assert errors.faults_in({"bId": "7", "Customer": {"Id": "1"}}) == []


def test_throttled_answers_in_xml_or_json_wait_as_told_or_60_seconds():
    xml = httpx.Response(429, text=THROTTLE_XML, headers={"Content-Type": "application/xml"})
    assert errors.faults_of(xml)[0].code == "3001"
    limited = errors.from_response(xml)
    assert isinstance(limited, RateLimited) and limited.retry_after_s == 60.0
    told = errors.from_response(httpx.Response(429, json={}, headers={"Retry-After": "7"}))
    assert told.retry_after_s == 7.0


def test_authentication_and_authorization_faults_in_lower_case():
    body = {"fault": {"error": [{"message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                                 "detail": "Token expired"}], "type": "AUTHENTICATION"}}
    expired = errors.from_response(httpx.Response(401, json=body))
    assert isinstance(expired, TokenRefused) and "Reconnect" in expired.advice
    denied = errors.from_response(fault("3100", "AuthorizationFailed", status=403))
    assert isinstance(denied, ConnectionBroken) and not isinstance(denied, TokenRefused)


def test_an_ended_subscription_stops_the_connection_with_advice():
    ended = errors.from_response(fault("6190", "Invalid Company Status", "Subscription period has ended."))
    assert isinstance(ended, ConnectionBroken) and ended.code == "subscription_ended" and "Renew" in ended.advice


def test_server_errors_are_transient():
    assert isinstance(errors.from_response(httpx.Response(503, text="busy")), TransientError)
    assert errors.from_response(httpx.Response(200, json={"BatchItemResponse": []})) is None

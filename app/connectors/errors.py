"""Failures a connector raises, classified by whether a retry can help.

The engine acts on the class, never on the message: a TransientError keeps the link pending
and backs off; a PermanentError marks it failed with advice until the record, the settings or
the shop (SYNC NOW) changes something; a ConnectionBroken stops the whole connection until the
shop reconnects or the pause ends.
"""

from __future__ import annotations


class SyncError(Exception):
    """Base of every classified failure. `code` is stable and machine-readable."""

    code = "sync_error"
    # The key of the create call that failed without an answer, where the connector knows it (see
    # "Lost answers" in app.connectors.base); set by the connector after the error is raised.
    call_key: str | None = None

    def __init__(
        self,
        message: str,
        *,
        advice: str | None = None,
        code: str | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.advice = advice
        if code:
            self.code = code
        self.http_status = http_status
        self.request_id = request_id


class TransientError(SyncError):
    """A retry may succeed: network, timeout, 5xx, rate limit, lock, a dependency still on its way."""

    code = "transient"

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after_s = retry_after_s


class RateLimited(TransientError):
    code = "rate_limited"


class PermanentError(SyncError):
    """The program refused the data; the same push would be refused again."""

    code = "validation"


class SettingMissing(PermanentError):
    """The record carries a POS value (payment type, tax rate, custom-line kind) the settings do not map.

    No call to the program can help: the record waits until the shop saves that setting, and saving it
    re-queues exactly the records that waited on it. `setting` is the settings field (a mapping),
    `key` the POS value missing from it, `pos_kind` what that value is ("payment_type", "tax_rate",
    "custom_line_kind").
    """

    code = "setting_missing"

    def __init__(self, message: str, *, setting: str, key: str, pos_kind: str, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.setting, self.key, self.pos_kind = setting, key, pos_kind


class ConnectionBroken(SyncError):
    """Nothing can be pushed through this connection now (tokens revoked, day limit reached).

    `pause_s` set: the connection resumes by itself after that long; unset: it needs the shop
    (reconnect).
    """

    code = "reconnect_required"

    def __init__(self, message: str, *, pause_s: float | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.pause_s = pause_s


class TokenRefused(ConnectionBroken):
    """The program refused the access token before its stated lifetime ended (clock skew, revoked).

    The engine forces one token refresh per run and tries the batch again; only if the fresh
    token is refused too does the connection stop. Raise it for the program's "token expired"
    answer, not for "this app lost access" (that is a plain ConnectionBroken: reconnect).
    """

    code = "token_expired"

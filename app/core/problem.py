"""The one failure that reaches a client: an RFC 9457 problem. Raised anywhere a request can be
refused (services included); rendered by the API's handler in app.api.problems."""

from __future__ import annotations


class Problem(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type_: str = "about:blank",
        errors: list[dict] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.type, self.errors, self.headers = status, detail, type_, errors, headers


def field_errors(errors) -> list[dict]:
    """pydantic's errors as the problem's `errors`: path, message, type."""
    out = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ())]
        out.append({"path": ".".join(loc), "message": e.get("msg", "invalid"), "type": e.get("type", "invalid")})
    return out

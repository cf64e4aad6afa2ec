"""RFC 9457 problem details: the one error shape of the whole API."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from app.core.problem import Problem, field_errors

MEDIA_TYPE = "application/problem+json"
DATABASE_UNAVAILABLE = "https://possync.dev/problems/database-unavailable"
RETRY_AFTER_S = 5


class FieldError(BaseModel):
    path: str = Field(description="Where: body.…, query.… or path.…")
    message: str = Field(description="What is wrong there.")
    type: str = Field(description="A short code of the error.")
    value: str | None = Field(default=None, description="The value refused, when a setting names what the program lacks.")
    allowed: list[str] | None = Field(default=None, description="What that setting may name instead (the program's codes or ids).")


class ProblemDetails(BaseModel):
    type: str = Field(default="about:blank", description="A URI naming the kind of problem; about:blank when the status says it all.")
    title: str = Field(description="The HTTP status phrase.")
    status: int = Field(description="The HTTP status code.")
    detail: str | None = Field(default=None, description="What went wrong and what to do.")
    errors: list[FieldError] | None = Field(default=None, description="Field errors, when the request's content is at fault.")


def problem_response(status: int, detail: str | None, *, type_: str = "about:blank",
                     errors: list[dict] | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": type_, "title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.detail, type_=exc.type, errors=exc.errors, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        syntax = _json_syntax_error(exc)
        if syntax is not None:
            return problem_response(422, syntax, errors=[{"path": "body", "message": syntax, "type": "json_invalid"}])
        return problem_response(422, "The request is not valid; see errors.", errors=field_errors(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(getattr(exc, "headers", None) or {})
        detail = str(exc.detail) if exc.detail else None
        if exc.status_code == 404 and detail == HTTPStatus.NOT_FOUND.phrase:
            detail = _not_found_detail(request)
        elif exc.status_code == 405:
            allowed = allowed_methods(request.app, request.scope)
            headers["Allow"] = ", ".join(allowed)
            detail = f"{request.method} is not allowed here; this path takes {', '.join(allowed)}."
        return problem_response(exc.status_code, detail, headers=headers or None)
    # Unexpected errors and database outages are answered by the outermost middleware
    # (app.api.middleware): a handler here would let Starlette re-raise to the server, and the store
    # key is checked there before any route runs.


def database_unavailable() -> JSONResponse:
    """503 for a request the database could not take (unreachable, dropped, busy). Its transaction
    did not commit (or cannot be known to have): nothing is acknowledged, and every write is an
    idempotent upsert, so sending it again is safe."""
    return problem_response(
        503, "The database could not take this request right now (unreachable or busy), so it was "
             "not stored. Send it again shortly (Retry-After); repeating it is safe.",
        type_=DATABASE_UNAVAILABLE, headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def allowed_methods(app, scope) -> list[str]:
    """Every method some route of this path takes. Starlette's own Allow names only the methods of
    the first route that matched the path, and the routes here are one per method."""
    table = getattr(app.state, "allow_table", None)
    if table is None:
        table = []
        for template, item in app.openapi().get("paths", {}).items():
            methods = {m.upper() for m in item if m in {"get", "put", "post", "patch", "delete", "head", "options"}}
            if "GET" in methods:
                methods.add("HEAD")
            table.append((compile_path(template.replace("{pos_id}", "{pos_id:pos_id}"))[0], methods))
        app.state.allow_table = table
    found: set[str] = set()
    for pattern, methods in table:
        if pattern.match(scope["path"]):
            found |= methods
    return sorted(found)


def _not_found_detail(request: Request) -> str:
    from app.entities import ENTITY_TYPES

    parts = request.url.path.strip("/").split("/")
    collections = sorted(et.collection for et in ENTITY_TYPES.values())
    if len(parts) >= 2 and parts[0] == "v1" and parts[1] not in {*collections, *TOP_LEVEL}:
        return (f"There is no collection '{parts[1]}'. The collections are: {', '.join(collections)} "
                f"(and /v1/connections for Integrated Apps).")
    return f"Nothing at {request.method} {request.url.path}; the API is described at /docs."


# First path segments under /v1 that are not collections.
TOP_LEVEL = {"connections", "runs", "oauth", "store", "webhooks"}


def _json_syntax_error(exc: RequestValidationError) -> str | None:
    """For a body that is not JSON at all: where the syntax broke, as line and column."""
    for error in exc.errors():
        if error.get("type") != "json_invalid":
            continue
        loc = error.get("loc", ())
        position = loc[-1] if loc and isinstance(loc[-1], int) else 0
        document = exc.body if isinstance(exc.body, str) else ""
        line = document.count("\n", 0, position) + 1
        column = position - (document.rfind("\n", 0, position) + 1) + 1
        reason = (error.get("ctx") or {}).get("error", "invalid JSON")
        return f"The body is not valid JSON: {reason} at line {line}, column {column}."
    return None


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemDetails, "content": {MEDIA_TYPE: {}}, "description": HTTPStatus(code).phrase}
    for code in (400, 401, 404, 405, 409, 413, 415, 422, 429, 503)
}

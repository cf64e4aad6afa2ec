"""The OAuth redirect target: one fixed URL per connector, authenticated by the signed state."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from app.api.connections import public
from app.api.deps import DepsDep
from app.api.problems import PROBLEM_RESPONSES
from app.connections import oauth
from app.connections.schemas import ConnectionPublic

router = APIRouter(prefix="/v1/oauth", tags=["Integrated Apps"])


@router.get("/{connector}/callback", summary="OAuth redirect target (the program sends the browser here)",
            response_model=ConnectionPublic,
            responses={303: {"description": "Back to the return_url"}, **{c: PROBLEM_RESPONSES[c] for c in (400, 404)}})
async def callback(connector: str, request: Request, deps: DepsDep):
    params = {k: v for k, v in request.query_params.items()}
    outcome = await oauth.complete(deps, connector, params)
    target = oauth.return_target(outcome.connection, outcome.error)
    if target:
        return RedirectResponse(target, status_code=303)
    return public(outcome.connection)

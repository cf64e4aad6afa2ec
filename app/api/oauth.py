"""OAuth in the browser: possync's start route (binds the flow to the browser, then on to the
program) and the redirect target (one fixed URL per connector, authenticated by the state)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse

from app.api.connections import public
from app.api.deps import BellDep, OAuthConnectorDep, ProgramAccessDep, SettingsDep
from app.api.problems import PROBLEM_RESPONSES
from app.connections import oauth
from app.connections.schemas import ConnectionPublic

router = APIRouter(prefix="/v1/oauth", tags=["Integrated Apps"])


def _cookie_path(connector: str) -> str:
    return f"/v1/oauth/{connector}/"


@router.get("/{connector}/start", summary="Start signing in (the authorize_url possync hands out)",
            status_code=303, response_class=RedirectResponse,
            responses={303: {"description": "On to the program's consent page"},
                       **{c: PROBLEM_RESPONSES[c] for c in (400, 404, 422)}})
async def start(connector: OAuthConnectorDep, access: ProgramAccessDep, settings: SettingsDep,
                state: Annotated[str, Query(description="The state inside the authorize_url.")]):
    target = await oauth.program_url(access, settings, connector, state)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        oauth.COOKIE_NAME, oauth.browser_binding(state), max_age=oauth.STATE_TTL_S, path=_cookie_path(connector.name),
        httponly=True, samesite="lax", secure=settings.public_url.startswith("https://"),
    )
    return response


@router.get("/{connector}/callback", summary="OAuth redirect target (the program sends the browser here)",
            response_model=ConnectionPublic,
            responses={303: {"description": "Back to the return_url"}, **{c: PROBLEM_RESPONSES[c] for c in (400, 404)}})
async def callback(connector: OAuthConnectorDep, request: Request, access: ProgramAccessDep, settings: SettingsDep,
                   bell: BellDep):
    params = {k: v for k, v in request.query_params.items()}
    outcome = await oauth.complete(access, settings, connector, bell, params, request.cookies.get(oauth.COOKIE_NAME))
    target = oauth.return_target(outcome.connection, outcome.error)
    if target:
        response = RedirectResponse(target, status_code=303)
    else:
        response = JSONResponse(public(outcome.connection).model_dump(mode="json"))
    response.delete_cookie(oauth.COOKIE_NAME, path=_cookie_path(connector.name), httponly=True, samesite="lax")
    return response

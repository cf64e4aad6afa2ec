"""What every OAuth2 connector does the same way around Authlib's httpx client: build the client,
and turn the token endpoint's answers into the engine's failure classes.

Only the program's name, its scopes and the reconnect advice differ between programs.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from app.connectors.errors import ConnectionBroken, PermanentError, TransientError

import authlib.deprecate  # noqa: F401  (installs Authlib's own warning filter first, so ours can override it)

with warnings.catch_warnings():
    # Authlib nudges towards its httpx2 fork; the project pins httpx, which it still supports.
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

# Errors of a token endpoint after which only the shop can help (reconnect).
DEAD_GRANT = {"invalid_grant", "invalid_client", "unauthorized_client", "unsupported_grant_type"}


class _ServerError(Exception):
    def __init__(self, response: httpx.Response) -> None:
        self.response = response


def _raise_for_server_error(response: httpx.Response) -> httpx.Response:
    # Authlib would read a 5xx or 429 as a refusal of the grant; a retry later helps instead.
    if response.status_code >= 500 or response.status_code == 429:
        raise _ServerError(response)
    return response


def oauth_client(*, client_id: str, client_secret: str, scope: str, transport: httpx.AsyncBaseTransport | None,
                 timeout_s: float, **kwargs: Any) -> AsyncOAuth2Client:
    client = AsyncOAuth2Client(client_id=client_id, client_secret=client_secret, scope=scope,
                               transport=transport, timeout=timeout_s, **kwargs)
    client.register_compliance_hook("access_token_response", _raise_for_server_error)
    client.register_compliance_hook("refresh_token_response", _raise_for_server_error)
    return client


async def token_call(call: Awaitable[Any], *, program: str, reconnect_advice: str,
                     from_transport: Callable[[httpx.HTTPError], TransientError]) -> dict[str, Any]:
    """The token endpoint's answer, or the failure class a retry (or only the shop) can mend."""
    try:
        return dict(await call)
    except _ServerError as exc:
        status = exc.response.status_code
        raise TransientError(f"{program}'s token endpoint answered {status}.", http_status=status) from exc
    except OAuthError as exc:
        if exc.error in DEAD_GRANT:
            raise ConnectionBroken(f"{program} refused the tokens: {exc.error}.", advice=reconnect_advice) from exc
        raise PermanentError(f"{program}'s token endpoint refused the request: {exc.error}.") from exc
    except httpx.HTTPError as exc:
        raise from_transport(exc) from exc
    except (ValueError, KeyError) as exc:
        raise TransientError(f"{program}'s token endpoint gave an unreadable answer.") from exc


def expires_at(token: dict[str, Any]) -> float | None:
    """When the access token runs out (unix seconds), from `expires_at` or `expires_in`."""
    value = token.get("expires_at")
    if value is None and token.get("expires_in"):
        value = time.time() + float(token["expires_in"])
    return float(value) if value is not None else None

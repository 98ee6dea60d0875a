"""Console sign-in: the API token, once, buys a signed session cookie (HttpOnly,
SameSite=Strict); write requests made with the cookie also carry a CSRF token.

Sessions are stateless (signed with a key derived from the API token), so every CSMS
process behind a load balancer accepts them and a new API token ends them all.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web

from csms.api.responses import body, error, json_response
from csms.api.server import AUTHENTICATED, Handler

#: Name of the session cookie.
COOKIE = "csms_session"
#: Header the console's scripts send the CSRF token in.
CSRF_HEADER = "X-CSRF-Token"
#: How long a sign-in lasts (seconds); the operator signs in again after it.
SESSION_LIFETIME_S = 12 * 3600


@dataclass(frozen=True, slots=True)
class Signer:
    """Issues and checks session values `<expires>.<nonce>.<mac>` for one API token."""

    key: bytes

    @classmethod
    def for_token(cls, api_token: str) -> Signer:
        return cls(hmac.new(api_token.encode(), b"csms-console-session", hashlib.sha256).digest())

    def _mac(self, text: str) -> str:
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()

    def issue(self, now_s: float, lifetime_s: float = SESSION_LIFETIME_S) -> str:
        body = f"{int(now_s + lifetime_s)}.{secrets.token_hex(16)}"
        return f"{body}.{self._mac(body)}"

    def valid(self, value: str, now_s: float) -> bool:
        expires, _, rest = value.partition(".")
        nonce, _, mac = rest.partition(".")
        if not (expires.isdigit() and nonce and mac):
            return False
        expected = self._mac(f"{expires}.{nonce}")
        return hmac.compare_digest(mac, expected) and int(expires) > now_s

    def csrf(self, value: str) -> str:
        """The CSRF token bound to one session value."""
        return self._mac(f"csrf:{value}")[:32]


def token_matches(given: str, api_token: str) -> bool:
    return hmac.compare_digest(given.encode(), api_token.encode())


#: What anyone may ask for: the sign-in page, signing in, and the assets (under the prefix).
PUBLIC = frozenset({("GET", "/login"), ("HEAD", "/login"), ("POST", "/session")})
PUBLIC_PREFIX = "/static/"
#: Methods that change nothing, so need no CSRF token.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SIGNER_KEY: web.AppKey[Signer | None] = web.AppKey("console_signer")


def _signer(request: web.Request) -> Signer | None:
    return request.app[SIGNER_KEY]


def csrf_token(request: web.Request) -> str:
    """The CSRF token for the page being rendered ("" when no API token is configured)."""
    signer = _signer(request)
    value = request.cookies.get(COOKIE, "")
    return signer.csrf(value) if signer and value else ""


def session_middleware(api_token: str | None) -> Any:
    """Outermost middleware: a valid session cookie authenticates the request for the API's
    bearer guard (which still answers anything else); console pages without one redirect to
    the sign-in page."""
    signer = Signer.for_token(api_token) if api_token else None

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if signer is None:
            return await handler(request)
        path = request.path
        if (request.method, path) in PUBLIC or path.startswith(PUBLIC_PREFIX):
            request[AUTHENTICATED] = True
            return await handler(request)
        value = request.cookies.get(COOKIE)
        if value and signer.valid(value, time.time()):
            if request.method not in SAFE_METHODS and not hmac.compare_digest(
                request.headers.get(CSRF_HEADER, ""), signer.csrf(value)
            ):
                return error(403, "missing or wrong CSRF token")
            request[AUTHENTICATED] = True
            return await handler(request)
        if not path.startswith("/api/") and request.method in SAFE_METHODS:
            raise web.HTTPSeeOther(f"/login?next={quote(path, safe='/')}")
        return await handler(request)

    return check


async def post_session(request: web.Request) -> web.Response:
    """Sign in: `{"token": "<API token>"}` -> the session cookie and the CSRF token."""
    signer = _signer(request)
    api_token = request.app[API_TOKEN_KEY]
    if signer is None or api_token is None:
        return json_response({"csrf": ""})
    given = (await body(request)).get("token")
    if not isinstance(given, str) or not token_matches(given, api_token):
        return error(401, "wrong token")
    value = signer.issue(time.time())
    reply = json_response({"csrf": signer.csrf(value)})
    reply.set_cookie(
        COOKIE,
        value,
        max_age=SESSION_LIFETIME_S,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )
    return reply


async def delete_session(request: web.Request) -> web.Response:
    """Sign out (this browser; a new API token ends every session)."""
    reply = json_response({"signed_out": True})
    reply.del_cookie(COOKIE, path="/")
    return reply


API_TOKEN_KEY: web.AppKey[str | None] = web.AppKey("console_api_token")


def add_routes(app: web.Application, api_token: str | None) -> None:
    app[API_TOKEN_KEY] = api_token
    app[SIGNER_KEY] = Signer.for_token(api_token) if api_token else None
    app.router.add_post("/session", post_session)
    app.router.add_delete("/session", delete_session)

"""Who is calling: HTTP Basic (Terraform's ``username``/``password``) or a Bearer token.

A refusal says only ``401 unauthorized`` (no or unknown credentials) or
``403 forbidden`` (a known token without the role): never which part was
wrong, which names exist, or what the caller sent.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.requests import Request

from statesync.server.context import ServerContext
from statesync.server.tokens import TokenEntry, level

_CHALLENGE = {"WWW-Authenticate": 'Basic realm="statesync", charset="UTF-8"'}


@dataclass(frozen=True)
class Caller:
    """An authenticated caller; ``entry`` is None when the server runs without auth."""

    name: str
    entry: TokenEntry | None

    def level_for(self, env: str) -> int:
        return level("admin") if self.entry is None else self.entry.level_for(env)

    def is_admin(self, env: str) -> bool:
        return self.level_for(env) >= level("admin")


def unauthorized() -> HTTPException:
    return HTTPException(401, "unauthorized", headers=_CHALLENGE)


def forbidden() -> HTTPException:
    return HTTPException(403, "forbidden")


def _credentials(header: str) -> tuple[str | None, str]:
    """``(name or None, token)`` from an Authorization header; 401 if malformed."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return None, value.strip()
    if scheme.lower() == "basic":
        try:
            pair = base64.b64decode(value.strip(), validate=True).decode()
            name, sep, token = pair.partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise unauthorized() from None
        if sep and name and token:
            return name, token
    raise unauthorized()


def authenticate(request: Request, ctx: ServerContext) -> Caller:
    """The caller of ``request``; :class:`HTTPException` 401 without valid credentials."""
    if ctx.settings.no_auth:
        return Caller("anonymous", None)
    header = request.headers.get("authorization")
    if not header:
        raise unauthorized()
    name, token = _credentials(header)
    entry = ctx.tokens.table().match(token, name)
    if entry is None:
        raise unauthorized()
    request.state.caller = entry.name  # for the request log
    return Caller(entry.name, entry)


def require(caller: Caller, env: str, role: str) -> None:
    """:class:`HTTPException` 403 unless ``caller`` holds at least ``role`` on ``env``."""
    if caller.level_for(env) < level(role):
        raise forbidden()

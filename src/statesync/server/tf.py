"""Routes of the Terraform/OpenTofu ``http`` backend: ``/tf/<env>`` and ``/tf/<env>/lock``.

``/tf/<env>`` answers GET, the update method (POST unless configured),
DELETE, LOCK and UNLOCK; ``/tf/<env>/lock`` answers LOCK/UNLOCK and
POST (lock) / DELETE (unlock), the layout proxies that only pass standard
methods allow (``lock_address``/``unlock_address``). Every body is limited
in size (413) and time (408) and checked against its ``Content-MD5`` (400).
Roles: read for GET, write for the rest; force-unlock and history
rewrites need admin (:mod:`statesync.server.tfops`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from statesync.errors import StatesyncError, UsageError
from statesync.server import tfops
from statesync.server.auth import Caller, authenticate, require
from statesync.server.context import ServerContext, ServerSettings
from statesync.server.tfops import Answer
from statesync.sync.store import layout

_LOCK_METHODS = {"LOCK": "lock", "UNLOCK": "unlock", "POST": "lock", "DELETE": "unlock"}


async def read_body(request: Request, settings: ServerSettings) -> bytes:
    """The whole body: 413 past ``max_body``, 408 if slower than ``body_timeout``,
    400 if a ``Content-MD5`` header does not match it."""
    declared = request.headers.get("content-length", "0")
    if not (declared.isascii() and declared.isdigit()) or int(declared) > settings.max_body:
        raise HTTPException(413, "body too large")
    chunks: list[bytes] = []

    async def collect() -> None:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > settings.max_body:
                raise HTTPException(413, "body too large")
            chunks.append(chunk)

    try:
        await asyncio.wait_for(collect(), settings.body_timeout)
    except TimeoutError:
        raise HTTPException(408, "body not received in time") from None
    body = b"".join(chunks)
    _check_md5(request.headers.get("content-md5"), body)
    return body


def _check_md5(header: str | None, body: bytes) -> None:
    if header is None:
        return
    want = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
    if header.strip() != want:
        raise HTTPException(400, "Content-MD5 does not match the body")


def _env(request: Request) -> str:
    try:
        return layout.validate_env(str(request.path_params["env"]))
    except UsageError:
        raise HTTPException(400, "invalid environment name") from None


def _response(answer: Answer) -> Response:
    return Response(answer.body, status_code=answer.status, headers=answer.headers)


async def _run(fn: Callable[..., Answer], *args: object) -> Response:
    """Run a blocking operation off the event loop; store errors become answers."""
    try:
        return _response(await run_in_threadpool(fn, *args))
    except StatesyncError as exc:
        return _response(tfops.answer_error(exc))


async def _caller(request: Request, ctx: ServerContext, role: str) -> tuple[str, Caller]:
    caller = authenticate(request, ctx)
    env = _env(request)
    require(caller, env, role)
    return env, caller


def tf_routes(ctx: ServerContext) -> list[BaseRoute]:
    """The routes of the http backend over ``ctx``'s store."""
    update = ctx.settings.update_method

    async def state(request: Request) -> Response:
        method = request.method
        if method in ("LOCK", "UNLOCK"):
            return await lock_op(request, _LOCK_METHODS[method])
        env, caller = await _caller(request, ctx, "read" if method == "GET" else "write")
        lock_id = request.query_params.get("ID") or None
        if method == "GET":
            return await _run(tfops.get, ctx, env)
        if method == "DELETE":
            await read_body(request, ctx.settings)
            return await _run(tfops.delete, ctx, env, caller, lock_id)
        body = await read_body(request, ctx.settings)
        return await _run(tfops.put, ctx, env, caller, body, lock_id)

    async def lock_op(request: Request, op: str) -> Response:
        env, caller = await _caller(request, ctx, "write")
        body = await read_body(request, ctx.settings)
        if op == "lock":
            return await _run(tfops.lock, ctx, env, body)
        return await _run(tfops.unlock, ctx, env, caller, body)

    async def lock_endpoint(request: Request) -> Response:
        return await lock_op(request, _LOCK_METHODS[request.method])

    methods = sorted({"GET", update, "DELETE", "LOCK", "UNLOCK"})
    return [
        Route("/tf/{env}", state, methods=methods),
        Route("/tf/{env}/lock", lock_endpoint, methods=sorted(_LOCK_METHODS)),
    ]

"""The dashboard's ASGI app (Starlette): read-only REST under ``/api``, ``/ws``, and the page.

The WebSocket follows the history store's ``events`` table (the run writes, the dashboard
reads), so a run never depends on a dashboard being up. With a token every request, the
WebSocket included, must carry it (``Authorization: Bearer TOKEN`` or ``?token=TOKEN``). There is
no write endpoint: anything but GET/HEAD is 405.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from collections.abc import Callable
import functools
import hmac
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.responses import Response
from starlette.routing import Route
from starlette.routing import WebSocketRoute
from starlette.types import ASGIApp
from starlette.types import Receive
from starlette.types import Scope
from starlette.types import Send
from starlette.websockets import WebSocket
from starlette.websockets import WebSocketDisconnect

from pytest_kisys.dashboard.html import asset
from pytest_kisys.dashboard.queries import Filters
from pytest_kisys.dashboard.queries import FINDING_GROUPS
from pytest_kisys.dashboard.queries import QueryError
from pytest_kisys.dashboard.queries import Reader


FOLLOW_INTERVAL = 0.25
_STATIC = {"app.js": "text/javascript", "app.css": "text/css"}


class TokenGuard:
    """ASGI middleware: 401 (HTTP) or close code 1008 (WebSocket) without the right token."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    def _allowed(self, scope: Scope) -> bool:
        if self.token is None:
            return True
        given = ""
        for name, value in scope.get("headers", ()):
            if name == b"authorization" and value.startswith(b"Bearer "):
                given = value[7:].decode("latin-1")
        if not given:
            from urllib.parse import parse_qs

            given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
        return hmac.compare_digest(given.encode(), self.token.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not self._allowed(scope):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            response = JSONResponse(
                {"error": "a token is required (Authorization: Bearer TOKEN or ?token=)"}, status_code=401
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _json(work: Callable[[], Any]) -> Response:
    try:
        return JSONResponse(work())
    except QueryError as exc:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)


def create_app(reader: Reader, token: str | None = None) -> ASGIApp:
    """The dashboard app over ``reader``; ``token`` (if any) guards every route."""

    def listing(method: Callable[[Filters], Any]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            params = dict(request.query_params)
            return await anyio.to_thread.run_sync(lambda: _json(lambda: method(Filters.parse(params))))

        return endpoint

    async def run_detail(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        return await anyio.to_thread.run_sync(lambda: _json(lambda: reader.run(run_id)))

    async def index(request: Request) -> Response:
        page = asset("index.html").replace("<!--kisys:csp-->", "").replace("<!--kisys:data-->", "")
        return Response(page, media_type="text/html")

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _STATIC:
            return JSONResponse({"error": f"no asset {name!r}"}, status_code=404)
        return Response(asset(name), media_type=_STATIC[name])

    async def follow(websocket: WebSocket) -> None:
        await websocket.accept()
        run = websocket.query_params.get("run") or None
        since = websocket.query_params.get("since", "")
        seq = int(since) if since.isdigit() else await anyio.to_thread.run_sync(reader.last_seq)
        closed = asyncio.Event()

        async def watch() -> None:
            try:
                while True:
                    message = await websocket.receive()
                    if message["type"] == "websocket.disconnect":
                        break
            finally:
                closed.set()

        watcher = asyncio.ensure_future(watch())
        try:
            while not closed.is_set():
                events = await anyio.to_thread.run_sync(functools.partial(reader.events_after, seq, run))
                for event in events:
                    await websocket.send_json(event)
                    seq = event["seq"]
                if not events:
                    try:
                        await asyncio.wait_for(closed.wait(), FOLLOW_INTERVAL)
                    except TimeoutError:
                        pass  # nothing new yet: poll again
        except WebSocketDisconnect:
            pass  # the client left while we were sending
        finally:
            watcher.cancel()

    def group(name: str) -> Callable[[Filters], Any]:
        return lambda f: reader.findings(name, f)

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/static/{name}", static, methods=["GET"]),
        Route("/api/runs", listing(reader.runs), methods=["GET"]),
        Route("/api/runs/{run_id}", run_detail, methods=["GET"]),
        Route("/api/workflows", listing(reader.workflows), methods=["GET"]),
        Route("/api/traces", listing(reader.traces), methods=["GET"]),
        *(Route(f"/api/{name}", listing(group(name)), methods=["GET"]) for name in FINDING_GROUPS),
        Route("/api/costs", listing(reader.costs), methods=["GET"]),
        Route("/api/decisions", listing(reader.decisions), methods=["GET"]),
        Route("/api/trends", listing(reader.trends), methods=["GET"]),
        WebSocketRoute("/ws", follow),
    ]
    return TokenGuard(Starlette(routes=routes), token)

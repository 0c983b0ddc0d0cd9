"""The web server of ``hingemarch run``: live page, session downloads and reports, JSON API.

aiohttp in one thread with its own event loop, beside the counting loop: the counting thread only
hands it snapshots (:mod:`firmware_bridge.web.live`), so a slow phone or a dropped Wi-Fi link never
slows counting. The routes are in :mod:`firmware_bridge.web.routes`; docs/dashboard.md describes them.
If the port cannot be bound, the page is off and the service goes on counting: the reason is logged
and shown in the state (``"web": {"error": ...}``).

Hostile or broken clients get one line and cost little: a malformed request (bad header bytes, a
non-ASCII Cookie or Authorization) is a 400 with one line and one log line, never a traceback; a
connection that has not sent a whole request header within IDLE_TIMEOUT_S of connecting or of its
last answer is closed; beyond MAX_CONNECTIONS open connections a new one gets a 503 at once.
"""
from __future__ import annotations

import asyncio
import errno
import hmac
import logging
import os
import socket
import threading
from pathlib import Path

from aiohttp import web

from analysis.errors import HingemarchError
from firmware_bridge.web import assets, routes
from firmware_bridge.web.live import LiveHub
from firmware_bridge.web.report import ReportWorker
from firmware_bridge.web.sessions import NotFound, Sessions

log = logging.getLogger("hingemarch.web")
TOKEN_ENV = "HINGEMARCH_WEB_TOKEN"
COOKIE = "hingemarch_token"
IDLE_TIMEOUT_S = 10.0        # header read and idle keep-alive: aiohttp's keepalive_timeout covers both
MAX_CONNECTIONS = 64         # open connections (each live page holds one or two)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                               "script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
}


class WebError(HingemarchError, OSError):
    """The web server cannot start (port taken, no such address, no permission)."""


def _bind_error(host: str, port: int, e: OSError) -> WebError:
    why = {errno.EADDRINUSE: "the port is already in use", errno.EACCES: "permission denied (ports "
           "below 1024 need root)", errno.EADDRNOTAVAIL: "this machine has no such address"}
    return WebError(f"cannot listen on {host}:{port}: {why.get(e.errno, e.strerror or str(e))}")


class WebServer:
    """One aiohttp application on ``host:port`` in a daemon thread. ``port`` 0 picks a free one."""

    def __init__(self, host: str, port: int, token: str = "", sessions_dir: Path | None = None,
                 hub: LiveHub | None = None, service=None, idle_timeout_s: float = IDLE_TIMEOUT_S,
                 max_connections: int = MAX_CONNECTIONS, live: bool = True):
        self.host, self.port, self.token = host, port, token
        self.live = live          # False: sessions only (``hingemarch serve``), / opens the sessions list
        self.idle_timeout_s, self.max_connections = idle_timeout_s, max_connections
        self.hub = hub or LiveHub()
        self.service = service
        self.sessions = Sessions(sessions_dir)
        self.reports = ReportWorker()
        self.static, self.asset_version = assets.load()
        self.app = web.Application(middlewares=[self._guard], client_max_size=64 * 1024)
        self.app.on_response_prepare.append(self._headers)
        self.app.on_shutdown.append(self._on_shutdown)
        routes.add_routes(self.app, self)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self._refusing = False       # a 503 for too many connections was logged; quiet until one is taken
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            name = socket.gethostname()
            host = name if "." in name else f"{name}.local"
        return f"http://{host}:{self.port}/"

    def start(self) -> WebServer:
        """Bind and serve; raises WebError (and leaves nothing running) if the port cannot be had."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            loop = self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._open())
            except BaseException as e:        # reported to start(), which raises it in its thread
                failure.append(e)
                if self._runner is not None:
                    loop.run_until_complete(self._runner.cleanup())
                loop.close()
                ready.set()
                return
            ready.set()
            loop.run_forever()
            self._listener.close()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=main, name="hingemarch-web", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            e = failure[0]
            raise _bind_error(self.host, self.port, e) if isinstance(e, OSError) else e
        return self

    async def _open(self) -> None:
        self.hub.attach(asyncio.get_running_loop())
        self._runner = web.AppRunner(self.app, shutdown_timeout=2.0)
        await self._runner.setup()
        self._listener = await asyncio.get_running_loop().create_server(
            self._connection, self.host, self.port, reuse_address=True, backlog=128)
        self.port = self._listener.sockets[0].getsockname()[1]

    def _connection(self) -> asyncio.Protocol:
        """The protocol of a new connection (our own listener instead of aiohttp's TCPSite, for the
        cap): aiohttp's request handler with our limits, or a 503 when MAX_CONNECTIONS are open."""
        server = self._runner.server
        if len(server.connections) >= self.max_connections:
            if not self._refusing:
                log.warning("web: %d connections open, refusing new ones", len(server.connections))
            self._refusing = True
            return _Busy()
        self._refusing = False
        return _Handler(server, loop=self._loop, access_log=None, keepalive_timeout=self.idle_timeout_s,
                        max_line_size=8190, max_field_size=8190, max_headers=64)

    def stop(self) -> None:
        """Close every stream and the listening socket; returns within a few seconds."""
        if self._loop is None or self._thread is None or not self._thread.is_alive():
            return
        self._loop.call_soon_threadsafe(self.reports.close)     # a report being computed is dropped
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _on_shutdown(self, app) -> None:
        self.hub.close()

    # --- every request ------------------------------------------------------------------------
    def authorized(self, request: web.Request) -> bool:
        if not self.token:
            return True
        auth = request.headers.get("Authorization", "")
        offered = [auth[7:] if auth.startswith("Bearer ") else "", request.query.get("token", ""),
                   request.cookies.get(COOKIE, "")]
        # surrogateescape: aiohttp hands non-UTF-8 header bytes over as surrogates; they simply do not match
        return any(o and hmac.compare_digest(o.encode("utf-8", "surrogateescape"), self.token.encode())
                   for o in offered)

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        """Header check, token check, and every refusal or failure as one clear line (JSON under /api/)."""
        malformed = _malformed_header(request)
        if malformed:
            log.info("web: refused %s %s: %s", request.method, request.path[:80], malformed)
            return refusal(request, 400, malformed)
        if not self.authorized(request):
            return refusal(request, 401, "this page needs the access token: open it once as "
                                         f"{request.path}?token=... or send 'Authorization: Bearer ...'")
        try:
            response = await handler(request)
            if self.token and request.query.get("token") and not response.prepared:   # the phone's first visit
                response.set_cookie(COOKIE, self.token, max_age=30 * 86400, httponly=True, samesite="Strict")
            return response
        except NotFound as e:
            return refusal(request, 404, str(e))
        except web.HTTPException as e:
            if e.status < 400:
                raise
            return refusal(request, e.status, e.text if e.text and not e.text.startswith(str(e.status))
                           else e.reason)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("web: %s %s failed", request.method, request.path)
            return refusal(request, 500, "internal error; the service log has the details")

    async def _headers(self, request: web.Request, response: web.StreamResponse) -> None:
        """Cache rules: versioned static assets for a year, pages revalidated, live data never stored."""
        if "Cache-Control" not in response.headers:
            path = request.path
            if path.startswith("/static/") and request.query.get("v") == self.asset_version and response.status == 200:
                response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
            elif path.startswith("/api/") or response.status >= 400:
                response.headers["Cache-Control"] = "no-store"
            else:
                response.headers["Cache-Control"] = "no-cache"
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)


def _malformed_header(request: web.Request) -> str | None:
    """What is wrong with the Authorization header (printable ASCII only; aiohttp itself refuses
    control characters), or None. The Cookie header is not refused: another program on the same
    host may set cookies of any kind there; only ours is read, and a bad one does not match."""
    value = request.headers.get("Authorization", "")
    if not (value.isascii() and value.isprintable()):
        return "malformed Authorization header: only printable ASCII is accepted"
    return None


class _Handler(web.RequestHandler):
    """aiohttp's request handler, but a request aiohttp cannot parse (bad request line or header
    bytes, too long a header) is answered with one line and logged as one line, not a traceback."""

    def handle_error(self, request, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status >= 500:
            return super().handle_error(request, status, exc, message)
        text = str(getattr(exc, "message", "") or message or exc or "")
        why = (text.strip().splitlines() or ["unreadable"])[0].split(": ", 1)[0].strip().rstrip(":")  # not the bytes sent
        log.info("web: refused a malformed request from %s: %s", request.remote, why)
        resp = web.Response(status=status, text=f"{status}: malformed request: {why}\n",
                            headers={"Cache-Control": "no-store"})
        resp.force_close()
        return resp


class _Busy(asyncio.Protocol):
    """A connection over MAX_CONNECTIONS: a 503 at once, then closed (after the client's end, or
    within 2 s; what it sends is read and dropped, so the 503 is not lost to a reset)."""

    BODY = b"503: too many connections; try again shortly\n"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 2\r\n"
                        b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(self.BODY), self.BODY))
        transport.write_eof()
        asyncio.get_running_loop().call_later(2.0, transport.close)

    def data_received(self, data: bytes) -> None:
        pass


def refusal(request: web.Request, status: int, message: str) -> web.Response:
    """A refused or failed request: one line, never a traceback."""
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="hingemarch"'
    if request.path.startswith("/api/"):
        return web.json_response({"ok": False, "error": message}, status=status, headers=headers)
    return web.Response(text=f"{status}: {message}\n", status=status, headers=headers)


def start_for(service, host: str, port: int, token: str, sessions_dir: Path | None,
              or_any_port: bool = False) -> WebServer | None:
    """Start the web server of a running Service on ``host``:``port`` (the [web] config; the
    environment's token wins over ``token``). A port that cannot be bound turns the page off, is
    logged and shown in the state; counting goes on. ``or_any_port``: then any free port instead
    (the demo: two on one machine at once)."""
    hub = LiveHub()
    token = os.environ.get(TOKEN_ENV) or token
    server = WebServer(host, port, token, sessions_dir, hub, service)
    try:
        try:
            server.start()
        except WebError:
            if not or_any_port:
                raise
            server = WebServer(host, 0, token, sessions_dir, hub, service).start()
    except WebError as e:
        log.error("web page off: %s; counting goes on (set [web] port, or --no-web)", e)
        service.parts["web"] = {"url": None, "error": str(e)}
        return None
    service.listeners.append(hub.on_event)
    service.parts["web"] = {"url": server.url, "error": None}
    log.info("live page on %s%s", server.url, " (access token required)" if token else "")
    return server

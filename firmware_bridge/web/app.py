"""The web server of ``hingemarch run``: live page, session downloads and reports, JSON API.

aiohttp in one thread with its own event loop, beside the counting loop: the counting thread only
hands it snapshots (:mod:`firmware_bridge.web.live`), so a slow phone or a dropped Wi-Fi link never
slows counting. The routes are in :mod:`firmware_bridge.web.routes`; docs/dashboard.md describes them.
If the port cannot be bound, the page is off and the service goes on counting: the reason is logged
and shown in the state (``"web": {"error": ...}``).
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
                 hub: LiveHub | None = None, service=None):
        self.host, self.port, self.token = host, port, token
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
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]

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
        return any(o and hmac.compare_digest(o.encode(), self.token.encode()) for o in offered)

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        """Token check, and every refusal or failure as one clear line (JSON under /api/)."""
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


def refusal(request: web.Request, status: int, message: str) -> web.Response:
    """A refused or failed request: one line, never a traceback."""
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="hingemarch"'
    if request.path.startswith("/api/"):
        return web.json_response({"ok": False, "error": message}, status=status, headers=headers)
    return web.Response(text=f"{status}: {message}\n", status=status, headers=headers)


def start_for(service, host: str, port: int, token: str, sessions_dir: Path | None) -> WebServer | None:
    """Start the web server of a running Service on ``host``:``port`` (the [web] config; the
    environment's token wins over ``token``). A port that cannot be bound turns the page off, is
    logged and shown in the state; counting goes on."""
    hub = LiveHub()
    token = os.environ.get(TOKEN_ENV) or token
    server = WebServer(host, port, token, sessions_dir, hub, service)
    try:
        server.start()
    except WebError as e:
        log.error("web page off: %s; counting goes on (set [web] port, or --no-web)", e)
        service.parts["web"] = {"url": None, "error": str(e)}
        return None
    service.listeners.append(hub.on_event)
    service.parts["web"] = {"url": server.url, "error": None}
    log.info("live page on %s%s", server.url, " (access token required)" if token else "")
    return server

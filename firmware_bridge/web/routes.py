"""The routes of the web server (docs/dashboard.md has the table): pages, downloads, the JSON API.

    GET  /                              live page        GET  /api/state           live snapshot (JSON)
    GET  /api/live                      the live page's Server-Sent Events stream
    POST /api/cmd/{name}                a command, through the same validation as MQTT commands
    GET  /sessions                      sessions list    GET  /api/sessions
    GET  /sessions/{id}                 report           GET  /api/sessions/{id}
    GET  /sessions/{id}/files/{name}    one file         GET  /sessions/{id}/zip   every file, one zip
    POST /api/sessions/{id}/edits       add an edit      POST /api/sessions/{id}/edits/undo   undo the last
    GET  /sessions/{id}/export.fit      FIT activity     GET  /sessions/{id}/sets.csv   the athlete's sets
    GET  /history                       athletes         GET  /history/{athlete}   their sessions over time
    GET  /api/history/{athlete}         the same as JSON
    GET  /static/{name}                 the page's own script and style sheet
"""
from __future__ import annotations

import asyncio
import json
import zipfile

from aiohttp import web

from analysis.errors import DataError, HingemarchError
from firmware_bridge.mqtt.topics import CommandError, Topics, parse_command, to_json
from firmware_bridge.store.edits import EditError, undo_edit
from firmware_bridge.store.export import fit_activity, sets_csv
from firmware_bridge.store.folder import SAMPLES
from firmware_bridge.store.view import edit_session, session_view
from firmware_bridge.web import assets, history, pages
from firmware_bridge.web.sessions import NotFound

KEEPALIVE_S = 10.0           # an SSE "ping" this often, so the page can tell a silent link
BODY_TIMEOUT_S = 10.0        # a command's body, once its header arrived
COMMAND_TIMEOUT_S = 5.0      # commands are applied between blocks, every ~0.1 s
ZIP_CHUNK = 256 * 1024
_WEB_TOPICS = Topics("web", "page")     # only to reuse parse_command: nothing is published here
SERVER_KEY: web.AppKey = web.AppKey("server")


def add_routes(app: web.Application, server) -> None:
    """Every route on ``app``; the handlers find ``server`` (the WebServer: hub, sessions, reports,
    static files) through the application."""
    app[SERVER_KEY] = server
    r = app.router
    r.add_get("/", live_page)
    r.add_get("/static/{name}", static)
    r.add_get("/api/state", api_state)
    r.add_get("/api/live", api_live)
    r.add_post("/api/cmd/{name}", api_command)
    r.add_get("/sessions", sessions_page)
    r.add_get("/sessions/{sid}", report_page)
    r.add_get("/sessions/{sid}/files/{name}", download)
    r.add_get("/sessions/{sid}/zip", download_zip, allow_head=False)
    r.add_get("/sessions/{sid}/export.fit", export_fit)
    r.add_get("/sessions/{sid}/sets.csv", export_sets)
    r.add_get("/api/sessions", api_sessions)
    r.add_get("/api/sessions/{sid}", api_session)
    r.add_post("/api/sessions/{sid}/edits", api_edit)
    r.add_get("/history", history_index)
    r.add_get("/history/{athlete}", history_page)
    r.add_get("/api/history/{athlete}", api_history)
    r.add_post("/api/sessions/{sid}/edits/undo", api_undo_edit)


def _server(request: web.Request):
    return request.app[SERVER_KEY]


def _json(obj, status: int = 200) -> web.Response:
    return web.Response(body=to_json(obj), status=status, content_type="application/json")


def _html(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html", charset="utf-8")


# --- live ----------------------------------------------------------------------------------------
async def live_page(request: web.Request) -> web.Response:
    """The live page; on a sessions-only server (``hingemarch serve``) the sessions list instead."""
    s = _server(request)
    if not s.live:      # a response, not raised: the token's cookie is set on a first visit
        return web.Response(status=302, headers={"Location": "/sessions"})
    return _html(s.static["live.html"].decode().replace("__V__", s.asset_version))


async def static(request: web.Request) -> web.Response:
    s, name = _server(request), request.match_info["name"]
    if name not in s.static or name.endswith(".html"):
        raise web.HTTPNotFound(text=f"no such file: {name[:60]!r}")
    etag = f'"{s.asset_version}-{name}"'
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers={"ETag": etag})
    return web.Response(body=s.static[name], headers={"ETag": etag, "Content-Type": assets.TYPES[name[name.rfind("."):]]})


async def api_state(request: web.Request) -> web.Response:
    return _json(_server(request).hub.snapshot()[0])


async def api_live(request: web.Request) -> web.StreamResponse:
    """The live snapshot, then new trace points and state at most every 0.1 s (at once after an
    event), a ``ping`` event every KEEPALIVE_S; the browser's EventSource reconnects by itself."""
    hub = _server(request).hub
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                       "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    hub.clients += 1
    try:
        await resp.write(b"retry: 2000\n\n")
        cursor = None
        while not hub.closing:
            changed = hub.changed
            body, cursor = hub.message(cursor)
            await resp.write(b"data: " + body + b"\n\n")
            while not changed.done() and not hub.closing:
                try:
                    await asyncio.wait_for(asyncio.shield(changed), KEEPALIVE_S)
                except TimeoutError:
                    await resp.write(b"event: ping\ndata: {}\n\n")
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        hub.clients -= 1
    return resp


async def api_command(request: web.Request) -> web.Response:
    """Validated like an MQTT command (topics.parse_command), queued with Service.on_command, answered
    once the counting loop applied it: 200 done, 409 refused (e.g. no rep to undo), 400 malformed."""
    s, name = _server(request), request.match_info["name"]
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="send commands as JSON (Content-Type: application/json)")
    if s.service is None:
        raise web.HTTPServiceUnavailable(text="no live service to take commands")
    try:
        body = await asyncio.wait_for(request.read(), BODY_TIMEOUT_S)
    except TimeoutError:
        raise web.HTTPRequestTimeout(text=f"the body did not arrive within {BODY_TIMEOUT_S:g} s") from None
    try:
        cmd = parse_command(_WEB_TOPICS.command(name), body, _WEB_TOPICS)
    except CommandError as e:
        return _json({"cmd": name, "ok": False, "error": str(e)}, 400)
    reply = s.hub.expect_reply(cmd)
    s.service.on_command(cmd)
    try:
        body = await asyncio.wait_for(reply, COMMAND_TIMEOUT_S)
    except TimeoutError:
        s.hub.forget(cmd)
        raise web.HTTPServiceUnavailable(text=f"the service did not take the command within "
                                              f"{COMMAND_TIMEOUT_S:g} s") from None
    return _json({"cmd": cmd.name, "id": cmd.id, "ok": body["ok"], "error": body["error"],
                  "session_id": s.hub.session_id}, 200 if body["ok"] else 409)


# --- sessions --------------------------------------------------------------------------------------
async def _rows(s) -> list[dict]:
    def read() -> list[dict]:
        rows = []
        for sid in s.sessions.ids():
            try:
                rows.append(s.sessions.describe(sid))
            except NotFound:          # removed meanwhile
                continue
        return rows
    return await asyncio.get_running_loop().run_in_executor(None, read)


def _urls(row: dict) -> dict:
    sid = row["session_id"]
    return {**row, "url": f"/api/sessions/{sid}", "report_url": f"/sessions/{sid}", "zip_url": f"/sessions/{sid}/zip",
            "files": [{**f, "url": f"/sessions/{sid}/files/{f['name']}"} for f in row["files"]]}


async def sessions_page(request: web.Request) -> web.Response:
    s = _server(request)
    live = s.hub.session_id if s.hub.snapshot()[0]["state"].get("running") else None
    return _html(pages.sessions_page(await _rows(s), live, s.asset_version))


async def api_sessions(request: web.Request) -> web.Response:
    return _json({"sessions": [_urls(r) for r in await _rows(_server(request))]})


async def _report(request: web.Request) -> tuple[dict, dict]:
    s, sid = _server(request), request.match_info["sid"]
    folder = s.sessions.folder(sid)
    loop = asyncio.get_running_loop()
    row = await loop.run_in_executor(None, s.sessions.describe, sid)
    view = await loop.run_in_executor(None, session_view, folder)
    report = {k: view[k] for k in ("reps", "sets", "sides", "totals", "notes", "deleted_reps", "edited",
                                   "deleted", "edits")}
    report.update(trace=None, trace_error=None)
    try:
        report["trace"] = await s.reports.trace(s.sessions.file(sid, SAMPLES))
    except NotFound:
        report["trace_error"] = "the session has no samples file"
    except (HingemarchError, OSError) as e:
        report["trace_error"] = str(e)
    return row, report


async def report_page(request: web.Request) -> web.Response:
    row, report = await _report(request)
    return _html(pages.report_page(row, report, _server(request).asset_version))


async def api_session(request: web.Request) -> web.Response:
    row, report = await _report(request)
    return _json({**_urls(row), **report})


async def history_index(request: web.Request) -> web.Response:
    s = _server(request)
    rows = await asyncio.get_running_loop().run_in_executor(None, history.athletes, s.sessions)
    return _html(pages.history_index_page(rows, s.asset_version))


async def _history(request: web.Request) -> dict:
    s = _server(request)
    return await asyncio.get_running_loop().run_in_executor(None, history.history, s.sessions,
                                                            request.match_info["athlete"])


async def history_page(request: web.Request) -> web.Response:
    return _html(pages.history_page(await _history(request), _server(request).asset_version))


async def api_history(request: web.Request) -> web.Response:
    return _json(await _history(request))


async def _json_body(request: web.Request):
    """A small JSON body (415 unless JSON, 408 if it does not arrive, 400 if it does not parse)."""
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="send edits as JSON (Content-Type: application/json)")
    try:
        raw = await asyncio.wait_for(request.read(), BODY_TIMEOUT_S)
    except TimeoutError:
        raise web.HTTPRequestTimeout(text=f"the body did not arrive within {BODY_TIMEOUT_S:g} s") from None
    try:
        return json.loads(raw or b"{}")
    except (ValueError, RecursionError):
        raise web.HTTPBadRequest(text="the body is not JSON") from None


async def api_edit(request: web.Request) -> web.Response:
    """Add an edit to a session (edits.json beside its files): 200 with the stored edit, 400 on a bad one."""
    s, sid = _server(request), request.match_info["sid"]
    folder = s.sessions.folder(sid)
    body = await _json_body(request)
    try:
        edit = await asyncio.get_running_loop().run_in_executor(None, edit_session, folder, body)
    except EditError as e:
        return _json({"ok": False, "error": str(e)}, 400)
    return _json({"ok": True, "edit": edit})


async def api_undo_edit(request: web.Request) -> web.Response:
    """Undo a session's latest edit in force: 200 with it, 409 when there is none."""
    s, sid = _server(request), request.match_info["sid"]
    folder = s.sessions.folder(sid)
    await _json_body(request)
    try:
        edit = await asyncio.get_running_loop().run_in_executor(None, undo_edit, folder)
    except EditError as e:
        return _json({"ok": False, "error": str(e)}, 409)
    return _json({"ok": True, "undone": edit})


async def download(request: web.Request) -> web.FileResponse:
    sid, name = request.match_info["sid"], request.match_info["name"]
    path = _server(request).sessions.file(sid, name)
    kind = "text/csv; charset=utf-8" if name.endswith(".csv") else "application/json"
    return web.FileResponse(path, headers={"Content-Type": kind, "Cache-Control": "no-cache",
                                           "Content-Disposition": f'attachment; filename="{sid}-{name}"'})


async def export_fit(request: web.Request) -> web.Response:
    """The session as edited, as a FIT strength-training activity (store/export.py)."""
    s, sid = _server(request), request.match_info["sid"]
    folder = s.sessions.folder(sid)
    loop = asyncio.get_running_loop()
    try:
        data = await loop.run_in_executor(None, lambda: fit_activity(session_view(folder)))
    except DataError as e:
        raise NotFound(str(e)) from None
    return web.Response(body=data, headers={"Content-Type": "application/vnd.ant.fit", "Cache-Control": "no-cache",
                                            "Content-Disposition": f'attachment; filename="{sid}.fit"'})


async def export_sets(request: web.Request) -> web.Response:
    """One row per set across every session of this session's athlete, as edited (a spreadsheet)."""
    s, sid = _server(request), request.match_info["sid"]
    folder = s.sessions.folder(sid)
    loop = asyncio.get_running_loop()

    def build() -> tuple[str, str]:
        athlete = str(session_view(folder)["athlete"] or "")
        return athlete, sets_csv(history.athlete_views(s.sessions, athlete))
    athlete, text = await loop.run_in_executor(None, build)
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in athlete)[:40] or "athlete"
    return web.Response(text=text, headers={"Content-Type": "text/csv; charset=utf-8", "Cache-Control": "no-cache",
                                            "Content-Disposition": f'attachment; filename="{name}-sets.csv"'})


class _Sink:
    """A write-only file for zipfile: collects what it writes, handed on to the response in pieces."""

    def __init__(self):
        self.parts: list[bytes] = []

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


async def download_zip(request: web.Request) -> web.StreamResponse:
    """Every file of a session as ``<id>.zip``, compressed and sent while it is read (no temp file,
    memory bounded by one chunk)."""
    s, sid = _server(request), request.match_info["sid"]
    files = s.sessions.files(s.sessions.folder(sid))
    resp = web.StreamResponse(headers={"Content-Type": "application/zip", "Cache-Control": "no-store",
                                       "Content-Disposition": f'attachment; filename="{sid}.zip"'})
    await resp.prepare(request)
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path in files:
            info = zipfile.ZipInfo.from_file(path, f"{sid}/{path.name}")
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as src, zf.open(info, "w", force_zip64=info.file_size > 2**30) as dst:
                while chunk := src.read(ZIP_CHUNK):
                    dst.write(chunk)
                    await resp.write(sink.take())
            await resp.write(sink.take())
    await resp.write(sink.take())
    await resp.write_eof()
    return resp

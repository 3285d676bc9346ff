"""The status page at ``/``: static HTML, CSS and JS from ``ingest/static/`` that poll
``/api/status``.

Everything the page needs is served from here (no CDN, no map tiles), so it works offline. The
page and its files carry a Content-Security-Policy that allows only this origin: even if a value
were ever inserted as HTML, no inline or foreign script could run.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

__all__ = ["STATIC_DIR", "add_status_page"]

STATIC_DIR = Path(__file__).with_name("static")
_PAGE = STATIC_DIR / "index.html"
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def add_status_page(app: web.Application) -> None:
    """Serve the page at ``/`` and its files under ``/static/``."""
    app.router.add_get("/", _page)
    app.router.add_static("/static/", STATIC_DIR, name="static")
    app.on_response_prepare.append(_secure)


async def _page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(_PAGE, headers={"Cache-Control": "no-cache"})


async def _secure(request: web.Request, response: web.StreamResponse) -> None:
    if request.path == "/" or request.path.startswith("/static/"):
        response.headers.update(_HEADERS)

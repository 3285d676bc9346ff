"""`add_status_page`: the page and its files, served with a same-origin-only policy."""

from __future__ import annotations

import asyncio
import re

from aiohttp import ClientSession, web

from ingest.statuspage import STATIC_DIR, add_status_page

# The only URL the page's files may hold: the SVG namespace name, an identifier, never fetched.
_SVG_NAMESPACE = "http://www.w3.org/2000/svg"


async def _fetch_all(paths: list[str]) -> dict[str, tuple[int, dict[str, str], bytes]]:
    app = web.Application()
    add_status_page(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    answers = {}
    try:
        async with ClientSession() as session:
            for path in paths:
                async with session.get(f"http://127.0.0.1:{port}{path}") as response:
                    answers[path] = (response.status, dict(response.headers), await response.read())
    finally:
        await runner.cleanup()
    return answers


def test_page_and_files_are_served_with_a_content_security_policy() -> None:
    paths = ["/", "/static/status.js", "/static/status.css", "/static/missing.js"]
    answers = asyncio.run(_fetch_all(paths))
    status, headers, body = answers["/"]
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert body == (STATIC_DIR / "index.html").read_bytes()
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    script_status, script_headers, _ = answers["/static/status.js"]
    assert script_status == 200
    assert "javascript" in script_headers["Content-Type"]
    assert "Content-Security-Policy" in script_headers
    assert answers["/static/status.css"][1]["Content-Type"].startswith("text/css")
    assert answers["/static/missing.js"][0] == 404


def test_files_outside_the_static_folder_are_not_served() -> None:
    answers = asyncio.run(_fetch_all(["/static/../statuspage.py", "/static/%2e%2e/statuspage.py"]))
    assert all(status in (403, 404) for status, _, _ in answers.values())


def test_the_page_loads_nothing_from_other_servers() -> None:
    for path in STATIC_DIR.iterdir():
        text = path.read_text(encoding="utf-8").replace(_SVG_NAMESPACE, "")
        assert not re.search(r"https?://|(src|href)=\"//|url\(|@import", text), path.name
        assert "innerHTML" not in text, path.name
        assert "insertAdjacentHTML" not in text, path.name

"""The fault proxy: byte-for-byte forwarding, each fault mode, counters (fast; not `faults`)."""

from __future__ import annotations

import socket
import socketserver
import threading
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from simulators.servers import HttpResponse, InfluxV1, free_port, request, wait_until
from simulators.servers.faultproxy import FaultMode, FaultProxy

REQUEST = (
    b"POST /write?db=x HTTP/1.1\r\nHost: upstream\r\nX-odd-CASE:  kept \r\n"
    b"Content-Length: 11\r\n\r\nhello world"
)
CHUNKED_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Trailer-Next: yes\r\n\r\n"
    b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: 42\r\n\r\n"
)
EMPTY_RESPONSE = b"HTTP/1.1 204 No Content\r\nX-Influxdb-Version: 1.6.7\r\n\r\n"
_DROPPED = r"(?i)reset|closed|aborted|remote end"  # how urllib reports a dropped connection


class _Upstream(socketserver.ThreadingTCPServer):
    """Reads requests of ``len(REQUEST)`` bytes; answers them with ``answers`` in turn."""

    daemon_threads = True

    def __init__(self, answers: list[bytes]) -> None:
        super().__init__(("127.0.0.1", 0), _UpstreamHandler)
        self.answers = answers
        self.received: list[bytes] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _UpstreamHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        server = self.server
        assert isinstance(server, _Upstream)
        for answer in server.answers:
            data = self.rfile.read(len(REQUEST))
            if not data:
                return
            server.received.append(data)
            self.wfile.write(answer)


@pytest.fixture
def upstream() -> Iterator[_Upstream]:
    server = _Upstream([CHUNKED_RESPONSE, EMPTY_RESPONSE])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size and (part := sock.recv(size - len(data))):
        data += part
    return data


def test_forwards_requests_and_responses_byte_for_byte(upstream: _Upstream) -> None:
    with (
        FaultProxy(upstream.url) as proxy,
        socket.create_connection((proxy.host, proxy.port), timeout=5) as client,
    ):
        client.sendall(REQUEST)
        first = _read(client, len(CHUNKED_RESPONSE))
        client.sendall(REQUEST)  # the same keep-alive connection
        second = _read(client, len(EMPTY_RESPONSE))
        counts = proxy.counts()
    assert (first, second) == (CHUNKED_RESPONSE, EMPTY_RESPONSE)
    assert upstream.received == [REQUEST, REQUEST]
    assert counts[FaultMode.FORWARD] == 2


def test_errors_are_answered_by_the_proxy_and_counted(upstream: _Upstream) -> None:
    with FaultProxy(upstream.url, retry_after=7) as proxy:
        proxy.mode = FaultMode.ERROR_500
        failed = request("POST", f"{proxy.url}/write", body=b"x")
        proxy.mode = FaultMode.UNAVAILABLE_503
        unavailable = request("POST", f"{proxy.url}/write", body=b"x")
        unavailable_again = request("GET", f"{proxy.url}/ping")
        counts = proxy.counts()
    assert failed.status == 500
    assert (unavailable.status, unavailable.headers["Retry-After"]) == (503, "7")
    assert unavailable_again.status == 503
    assert counts == {
        FaultMode.FORWARD: 0,
        FaultMode.ERROR_500: 1,
        FaultMode.UNAVAILABLE_503: 2,
        FaultMode.HANG: 0,
        FaultMode.CLOSE: 0,
    }
    assert upstream.received == []


def test_close_resets_the_connection_without_an_answer(upstream: _Upstream) -> None:
    with FaultProxy(upstream.url) as proxy:
        proxy.mode = FaultMode.CLOSE
        with pytest.raises(OSError, match=_DROPPED):
            request("GET", f"{proxy.url}/ping")
        assert proxy.counts()[FaultMode.CLOSE] == 1


def test_unreachable_upstream_is_a_bad_gateway() -> None:
    with FaultProxy(f"http://127.0.0.1:{free_port()}") as proxy:
        response = request("GET", f"{proxy.url}/ping")
    assert response.status == 502
    assert b"fault proxy: upstream" in response.body


def _write(url: str, line: str) -> HttpResponse:
    query = urllib.parse.urlencode({"db": "city"})
    return request("POST", f"{url}/write?{query}", body=line.encode(), timeout=30)


def test_hang_holds_a_write_until_the_mode_changes_then_forwards_it(
    influxdb_session: InfluxV1, unique_name: str
) -> None:
    line = f"{unique_name} value=1 1700000000000000000"
    with FaultProxy(influxdb_session.url) as proxy, ThreadPoolExecutor(1) as pool:
        proxy.mode = FaultMode.HANG
        pending: Future[HttpResponse] = pool.submit(_write, proxy.url, line)
        wait_until(lambda: proxy.counts()[FaultMode.HANG] == 1, 5)
        held = influxdb_session.query(f'SELECT * FROM "{unique_name}"')
        assert not pending.done()
        proxy.mode = FaultMode.FORWARD
        assert pending.result(10).status == 204
        via_proxy = request("GET", f"{proxy.url}/query?" + _select(unique_name))
    assert held == []
    assert influxdb_session.query(f'SELECT * FROM "{unique_name}"') != []
    direct = request("GET", f"{influxdb_session.url}/query?" + _select(unique_name))
    assert via_proxy.body == direct.body


def _select(measurement: str) -> str:
    return urllib.parse.urlencode({"db": "city", "q": f'SELECT * FROM "{measurement}"'})


def test_stop_drops_held_requests(upstream: _Upstream) -> None:
    proxy = FaultProxy(upstream.url).start()
    with ThreadPoolExecutor(1) as pool:
        proxy.mode = FaultMode.HANG
        pending = pool.submit(request, "GET", f"{proxy.url}/ping")
        wait_until(lambda: proxy.counts()[FaultMode.HANG] == 1, 5)
        proxy.stop()
        with pytest.raises(OSError, match=_DROPPED):
            pending.result(5)
    assert upstream.received == []

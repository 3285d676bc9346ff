"""The test servers work: real Mosquitto, influxd and VictoriaMetrics, and the InfluxDB 2 stub."""

from __future__ import annotations

import gzip
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from simulators.servers import (
    HttpResponse,
    InfluxV1,
    Mosquitto,
    ServerError,
    VictoriaMetrics,
    process,
    render_test_config,
    request,
    wait_until,
)
from simulators.servers.mosquitto import SHIPPED_CONFIG
from tests.influx_v2_stub import FailureMode, InfluxV2Stub, line_error

T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z in ns


# ---------------------------------------------------------------- Mosquitto


class _Client:
    """A paho-mqtt client (callback API v2) that records what it receives."""

    def __init__(self, broker: Mosquitto, client_id: str, *, clean_session: bool) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self.session_present: bool | None = None
        self.subscribed = threading.Event()
        self.paho = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session
        )
        self.paho.on_connect = self._on_connect
        self.paho.on_subscribe = lambda *_: self.subscribed.set()
        self.paho.on_message = lambda _client, _userdata, message: self.messages.append(message)
        self.paho.connect(broker.host, broker.port)

    def _on_connect(
        self, _c: mqtt.Client, _u: object, flags: mqtt.ConnectFlags, *_: object
    ) -> None:
        self.session_present = flags.session_present


@contextmanager
def _connected(
    broker: Mosquitto, client_id: str, *, clean_session: bool = True
) -> Iterator[_Client]:
    client = _Client(broker, client_id, clean_session=clean_session)
    client.paho.loop_start()
    try:
        wait_until(client.paho.is_connected, 5, message=f"{client_id} did not connect")
        yield client
    finally:
        client.paho.disconnect()
        client.paho.loop_stop()


def _subscribe(client: _Client, topic: str) -> None:
    client.paho.subscribe(topic, qos=1)
    wait_until(client.subscribed.is_set, 5, message=f"no SUBACK for {topic}")


def _publish(broker: Mosquitto, topic: str, payload: bytes) -> None:
    with _connected(broker, "publisher") as publisher:
        publisher.paho.publish(topic, payload, qos=1).wait_for_publish(timeout=5)


def test_shipped_config_sets_the_window_and_queue_deliberately() -> None:
    settings = dict(
        line.split(maxsplit=1)
        for line in SHIPPED_CONFIG.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert settings["persistence"] == "true"
    assert settings["max_inflight_messages"] == "1000"
    assert settings["max_queued_messages"] == "1000000"
    assert settings["max_queued_bytes"] == "0"


def test_test_config_rewrites_only_port_paths_and_log(tmp_path: Path) -> None:
    shipped = SHIPPED_CONFIG.read_text()
    rendered = render_test_config(shipped, root=tmp_path, port=4321)
    active = [line for line in rendered.splitlines() if line.strip() and not line.startswith("#")]
    assert "listener 4321 127.0.0.1" in active
    assert f"persistence_location {tmp_path}/data/" in active
    assert "log_dest stderr" in active
    assert not any("/mosquitto/" in line for line in active)
    assert "max_inflight_messages 1000" in active


def test_test_config_refuses_a_second_listener(tmp_path: Path) -> None:
    with pytest.raises(ServerError, match="second listener"):
        render_test_config("listener 1883\nlistener 8883\n", root=tmp_path, port=1)


def test_broker_delivers_a_qos1_message(mosquitto: Mosquitto) -> None:
    with _connected(mosquitto, "subscriber") as subscriber:
        _subscribe(subscriber, "city/up")
        _publish(mosquitto, "city/up", b"hello")
        wait_until(lambda: subscriber.messages, 5, message="message not delivered")
    assert [(m.topic, m.payload, m.qos) for m in subscriber.messages] == [("city/up", b"hello", 1)]


@pytest.mark.parametrize("outage", ["stop", "save_then_kill"])
def test_persistent_session_keeps_queued_message_across_restart(
    mosquitto: Mosquitto, outage: str
) -> None:
    with _connected(mosquitto, "ingest", clean_session=False) as ingest:
        _subscribe(ingest, "city/up")
    _publish(mosquitto, "city/up", b"queued while offline")
    if outage == "save_then_kill":
        mosquitto.save()
        mosquitto.kill()
    mosquitto.restart()
    with _connected(mosquitto, "ingest", clean_session=False) as ingest:
        wait_until(lambda: ingest.messages, 5, message="queued message lost")
    assert ingest.session_present is True
    assert [(m.payload, m.qos) for m in ingest.messages] == [(b"queued while offline", 1)]


def test_start_retries_on_a_taken_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken])
        real_free_port = process.free_port
        monkeypatch.setattr(
            process, "free_port", lambda host: next(ports, 0) or real_free_port(host)
        )
        with Mosquitto(tmp_path) as broker:
            assert broker.port != taken
            assert broker.running


def test_start_failure_raises_with_the_log_tail(tmp_path: Path) -> None:
    bad = tmp_path / "shipped" / "mosquitto.conf"
    bad.parent.mkdir()
    bad.write_text("listener 1883\nno_such_option 1\n")
    broker = Mosquitto(tmp_path / "run", config=bad)
    with pytest.raises(ServerError, match='Unknown configuration variable "no_such_option"'):
        broker.start()
    assert not broker.running


# ---------------------------------------------------------------- InfluxDB 1.x


def test_influxdb_write_reads_back_and_survives_restart(influxdb: InfluxV1) -> None:
    influxdb.write(f"air,device=a,district=centrum pm25=12.5,pm25_qc=1i {T0}")
    influxdb.restart()
    rows = influxdb.query("SELECT pm25, pm25_qc, device FROM air")
    assert rows == [{"time": T0, "pm25": 12.5, "pm25_qc": 1, "device": "a"}]


def test_influxdb_query_error_raises(influxdb: InfluxV1) -> None:
    with pytest.raises(ServerError, match="error parsing query"):
        influxdb.query("SELEC pm25 FROM air")


# ---------------------------------------------------------------- VictoriaMetrics


def test_victoria_v2_write_checks_no_token_org_or_bucket(victoria: VictoriaMetrics) -> None:
    body = f"air,device=a pm25=12.5 {T0}\nthis line does not parse\n".encode()
    response = request(
        "POST",
        f"{victoria.url}/api/v2/write?org=nobody&bucket=nothing&precision=ns",
        body=body,
        headers={"Authorization": "Token wrong"},
    )
    assert response.status == 204
    exported = victoria.export('{__name__="air_pm25"}')
    assert exported == [
        {
            "metric": {"__name__": "air_pm25", "device": "a"},
            "values": [12.5],
            "timestamps": [T0 // 10**6],
        }
    ]
    assert victoria.count_points('{__name__=~".+"}') == 1


def test_victoria_keeps_both_samples_of_a_rewritten_point(victoria: VictoriaMetrics) -> None:
    for value in (1, 2):
        body = f"air,device=a pm25={value} {T0}".encode()
        assert request("POST", f"{victoria.url}/api/v2/write", body=body).status == 204
    assert victoria.count_points('{__name__="air_pm25"}') == 2


# ---------------------------------------------------------------- InfluxDB 2 stub


def _write_v2(
    stub: InfluxV2Stub,
    body: bytes,
    *,
    token: str = "stub-token",  # noqa: S107 - the stub's test token
    org: str = "city",
    bucket: str = "city",
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> HttpResponse:
    url = f"{stub.url}/api/v2/write?org={org}&bucket={bucket}&precision=ns"
    auth = {"Authorization": f"Token {token}"} if token else {}
    return request("POST", url, body=body, headers=auth | (headers or {}), timeout=timeout)


def test_stub_ping_names_influxdb_2(influx_v2_stub: InfluxV2Stub) -> None:
    response = request("GET", f"{influx_v2_stub.url}/ping")
    assert response.status == 204
    assert response.headers.get("X-Influxdb-Version") == "v2.7.11"


@pytest.mark.parametrize("token", ["", "wrong"])
def test_stub_refuses_a_missing_or_wrong_token(influx_v2_stub: InfluxV2Stub, token: str) -> None:
    response = _write_v2(influx_v2_stub, b"air pm25=1", token=token)
    assert (response.status, response.json()) == (
        401,
        {"code": "unauthorized", "message": "unauthorized access"},
    )


@pytest.mark.parametrize(
    ("org", "bucket", "message"),
    [
        ("city", "x", 'bucket "x" not found'),
        ("acme", "city", 'organization name "acme" not found'),
    ],
)
def test_stub_answers_404_for_unknown_bucket_or_org(
    influx_v2_stub: InfluxV2Stub, org: str, bucket: str, message: str
) -> None:
    response = _write_v2(influx_v2_stub, b"air pm25=1", org=org, bucket=bucket)
    assert (response.status, response.json()) == (404, {"code": "not found", "message": message})


def test_stub_refuses_the_whole_request_for_one_bad_line(influx_v2_stub: InfluxV2Stub) -> None:
    response = _write_v2(influx_v2_stub, b"air pm25=1 1\nair pm25 2\n")
    assert response.status == 400
    assert response.json()["code"] == "invalid"
    assert "line 2" in response.json()["message"]
    assert influx_v2_stub.lines == []


def test_stub_accepts_gzip_and_records_lines(influx_v2_stub: InfluxV2Stub) -> None:
    lines = f'air,device=a pm25=1.5,ok=true {T0}\n# comment\nnoise laeq=55i,note="a b"\n'
    response = _write_v2(
        influx_v2_stub, gzip.compress(lines.encode()), headers={"Content-Encoding": "gzip"}
    )
    assert response.status == 204
    assert influx_v2_stub.lines == [
        f"air,device=a pm25=1.5,ok=true {T0}",
        'noise laeq=55i,note="a b"',
    ]


@pytest.mark.parametrize(
    ("mode", "status"), [(FailureMode.ERROR_500, 500), (FailureMode.UNAVAILABLE_503, 503)]
)
def test_stub_injects_errors_then_recovers(
    influx_v2_stub: InfluxV2Stub, mode: FailureMode, status: int
) -> None:
    influx_v2_stub.set_failure(mode, times=1)
    failed = _write_v2(influx_v2_stub, b"air pm25=1")
    assert failed.status == status
    assert (failed.headers.get("Retry-After") is not None) == (status == 503)
    assert _write_v2(influx_v2_stub, b"air pm25=1").status == 204
    assert influx_v2_stub.write_attempts == 2


def test_stub_hang_outlasts_the_client_then_writes(influx_v2_stub: InfluxV2Stub) -> None:
    influx_v2_stub.set_failure(FailureMode.HANG)
    with pytest.raises(OSError, match="timed out"):
        _write_v2(influx_v2_stub, b"air pm25=1", timeout=0.3)
    influx_v2_stub.set_failure(FailureMode.NONE)
    wait_until(lambda: influx_v2_stub.lines, 5, message="released request not recorded")
    assert influx_v2_stub.lines == ["air pm25=1"]


@pytest.mark.parametrize(
    "line",
    [
        "air pm25=1",
        f'air,device=a,district=x pm25=-1.5e3,n=3i,u=4u,ok=T,s="x y" {T0}',
        r"my\ air,tag\,k=v\=w f=1",
    ],
)
def test_line_check_accepts_valid_lines(line: str) -> None:
    assert line_error(line) is None


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("air", "expected"),
        (",device=a pm25=1", "missing measurement"),
        ("air,device pm25=1", "tag"),
        ("air pm25=", "field"),
        ("air pm25=abc", "invalid value"),
        ("air pm25=1 12:00", "invalid timestamp"),
    ],
)
def test_line_check_rejects_invalid_lines(line: str, reason: str) -> None:
    assert reason in (line_error(line) or "")

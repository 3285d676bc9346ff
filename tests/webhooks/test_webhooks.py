"""The webhook endpoints of `city-ingest run`: real requests, real Mosquitto and InfluxDB."""

from __future__ import annotations

import json
import socket
import ssl
import urllib.request
from pathlib import Path

import pytest

from ingest.model import Network
from ingest.replay import replay_dead_letters
from ingest.settings import load_settings
from ingest.sinks.deadletter import FILE_NAME, read_dead_letters
from ingest.sinks.spool import Spool, SpoolFull
from simulators.servers import InfluxV1, Mosquitto, wait_until
from simulators.servers.http_client import request
from simulators.webhooks import PATHS
from tests.e2e import outcome_counts, wait_for_accounting
from tests.uplinks import clean_uplinks
from tests.webhooks.conftest import Hooks, credential_headers, start_hooks

NETWORKS = ("tts", "chirpstack", "kpn")


@pytest.mark.parametrize("network", NETWORKS)
def test_each_networks_requests_are_written_exactly_once(network: str, hooks: Hooks) -> None:
    uplinks = clean_uplinks(hooks.workdir, network, messages=15)
    for uplink in uplinks:
        response = hooks.post(network, uplink.payload)
        assert response.status == 200, response.body
    counts = outcome_counts(hooks.service)  # answered 200: already durable, no waiting
    assert counts["written"] == len(uplinks)
    hooks.reconcile(uplinks)


@pytest.mark.parametrize("network", NETWORKS)
def test_missing_or_wrong_credentials_are_refused_and_nothing_is_written(
    network: str, hooks: Hooks
) -> None:
    body = clean_uplinks(hooks.workdir, network, messages=1)[0].payload
    assert hooks.post(network, body, "missing").status == 401
    assert hooks.post(network, body, "wrong").status == 403
    assert hooks.post(network, body + b" ", "right", "application/octet-stream").status == 415
    assert hooks.post(network, b" " * 70_000).status == 413  # over max_body_bytes (64 KiB)
    assert outcome_counts(hooks.service)["received"] == 0
    assert hooks.influxdb.query("SHOW MEASUREMENTS") == []
    metrics = hooks.service.metrics()
    for status in (401, 403, 415, 413):
        assert (
            metrics[f'city_ingest_webhook_answers_total{{network="{network}",status="{status}"}}']
            == 1
        )


def test_other_chirpstack_events_are_acknowledged_and_dropped(hooks: Hooks) -> None:
    body = b'{"deviceInfo": {"devEui": "a84041000181c3d2"}, "batteryLevel": 90}'
    headers = credential_headers("chirpstack", body, "right")
    answer = request("POST", hooks.url + "/chirpstack?event=status", body=body, headers=headers)
    assert answer.status == 204
    assert outcome_counts(hooks.service)["received"] == 0


def test_with_the_database_down_the_answer_waits_for_the_spool(hooks: Hooks) -> None:
    uplinks = clean_uplinks(hooks.workdir, "tts", messages=3)
    hooks.influxdb.stop()
    assert hooks.post("tts", uplinks[0].payload).status == 200
    assert hooks.service.metrics()["city_ingest_spool_batches"] >= 1  # answered once spooled
    for uplink in uplinks[1:]:  # the spool holds something: later batches join it at once
        assert hooks.post("tts", uplink.payload).status == 200
    hooks.influxdb.restart()
    wait_until(lambda: hooks.service.metrics()["city_ingest_spool_batches"] == 0, 30.0)
    hooks.reconcile(uplinks)


def test_a_full_spool_answers_503_with_retry_after_and_loses_nothing(
    tmp_path: Path, mosquitto_session: Mosquitto, influxdb: InfluxV1
) -> None:
    spool = Spool(tmp_path / "spool", 1 << 20)  # spool.max_bytes at its minimum, filled up
    spool.open()
    with pytest.raises(SpoolFull):  # noqa: PT012 - filling until it is full is the point
        for i in range(1, 1 << 20):
            spool.append([f"spool_fill,device=x value={j}i {i}" for j in range(50)], i)
    influxdb.stop()
    service, hooks = start_hooks(
        tmp_path, mosquitto_session, influxdb, spool__max_bytes=str(1 << 20), webhooks__max_wait="1"
    )
    uplinks = clean_uplinks(tmp_path, "tts", messages=2)
    with service:
        first = hooks.post("tts", uplinks[0].payload)  # waits on the full spool, then 503
        second = hooks.post("tts", uplinks[1].payload)  # refused at once: the spool is full
        assert (first.status, second.status) == (503, 503)
        assert second.headers["Retry-After"] == "30"
        assert service.metrics()["city_ingest_spool_full"] == 1
        influxdb.restart()
        wait_until(lambda: service.metrics()["city_ingest_spool_full"] == 0, 60.0)
        for uplink in uplinks:  # the network server retries; the first is already in
            assert hooks.post("tts", uplink.payload).status == 200
        counts = wait_for_accounting(service, 3)  # the second was never taken
        assert (counts["written"], counts["duplicate"]) == (2, 1)
        wait_until(lambda: service.metrics()["city_ingest_spool_batches"] == 0, 60.0)
    hooks.reconcile(uplinks)


def test_a_retried_request_after_a_lost_answer_is_deduplicated(hooks: Hooks) -> None:
    body = clean_uplinks(hooks.workdir, "kpn", messages=1)[0].payload
    headers = credential_headers("kpn", body, "right")
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    port = int(hooks.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as lost:  # the answer never arrives
        lost.sendall(
            f"POST {PATHS[Network.KPN]} HTTP/1.1\r\nHost: x\r\n{head}"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
    wait_for_accounting(hooks.service, 1)
    assert hooks.post("kpn", body).status == 200  # KPN Things retries
    counts = wait_for_accounting(hooks.service, 2)
    assert (counts["written"], counts["duplicate"]) == (1, 1)
    hooks.reconcile(clean_uplinks(hooks.workdir, "kpn", messages=1))


def test_https_when_a_certificate_is_configured(
    tmp_path: Path, mosquitto_session: Mosquitto, influxdb: InfluxV1, certs_dir: Path
) -> None:
    service, hooks = start_hooks(
        tmp_path,
        mosquitto_session,
        influxdb,
        webhooks__tls_cert=str(certs_dir / "server.crt"),
        webhooks__tls_key=str(certs_dir / "server.key"),
    )
    body = clean_uplinks(tmp_path, "tts", messages=1)[0].payload
    headers = credential_headers("tts", body, "right")
    url = hooks.url.replace("http://127.0.0.1", "https://localhost") + PATHS[Network.TTS]
    context = ssl.create_default_context(cafile=certs_dir / "ca.crt")
    with service:
        post = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
        with urllib.request.urlopen(post, context=context) as answer:  # noqa: S310 - loopback
            assert answer.status == 200
        with pytest.raises(ConnectionError):  # plain HTTP on the TLS port
            request("POST", hooks.url + PATHS[Network.TTS], body=body, headers=headers, timeout=5)
    hooks.reconcile(clean_uplinks(tmp_path, "tts", messages=1))


def test_a_dead_lettered_request_is_answered_and_kept_by_replay(hooks: Hooks) -> None:
    uplink = json.loads(clean_uplinks(hooks.workdir, "tts", messages=1)[0].payload)
    uplink["end_device_ids"]["dev_eui"] = "00000000000000AA"  # not in the registry
    body = json.dumps(uplink).encode()
    assert hooks.post("tts", body).status == 200  # durable as a dead letter
    store = hooks.workdir / "dead-letter" / FILE_NAME
    [letter] = read_dead_letters(store)
    assert (letter.topic, letter.reason, letter.payload) == ("$webhook/tts", "unknown_device", body)
    assert replay_dead_letters(load_settings(hooks.service.config_path), None) == 0
    assert list(read_dead_letters(store)) == [letter]  # MQTT cannot carry it: kept

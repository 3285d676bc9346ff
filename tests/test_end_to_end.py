"""The whole service against a real Mosquitto and a real InfluxDB (issue 3's acceptance)."""

from __future__ import annotations

import signal
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.demo import EXAMPLE_QUERIES
from ingest.sinks.deadletter import FILE_NAME, read_dead_letters
from simulators.servers import InfluxV1, Mosquitto, request, wait_until
from simulators.servers.service import CityIngest
from tests.e2e import (
    OUTCOMES,
    expected_counts,
    make_registry,
    reconcile_run,
    simulate,
    wait_for_accounting,
)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("network", ["tts", "chirpstack", "kpn"])
def test_each_network_lands_exactly_the_manifest(
    network: str, mosquitto: Mosquitto, influxdb: InfluxV1, tmp_path: Path
) -> None:
    make_registry(tmp_path, devices=20, seed=11)
    with CityIngest(tmp_path, mqtt_port=mosquitto.port, influx_url=influxdb.url) as service:
        manifest = simulate(
            tmp_path,
            mosquitto.port,
            "--network",
            network,
            "--messages",
            "3000",
            "--seed",
            "11",
            "--malformed",
            "0.05",
            "--duplicates",
            "0.03",
        )
        counts = wait_for_accounting(service, len(manifest))
    expected = expected_counts(manifest)
    assert expected["dead_letter"] >= 100
    assert expected["duplicate"] >= 50
    assert {o: counts[o] for o in OUTCOMES} == {o: expected[o] for o in OUTCOMES}
    assert counts["received"] == len(manifest)
    result = reconcile_run(tmp_path, influxdb, manifest)
    assert result.ok, result.report()
    for title, query in EXAMPLE_QUERIES:  # the queries the demo and README show analysts
        assert influxdb.query(query), f"no rows for '{title}'"


def test_ack_after_write_survives_a_crash_while_the_database_is_down(
    mosquitto: Mosquitto, influxdb: InfluxV1, tmp_path: Path
) -> None:
    """InfluxDB down, publish, SIGKILL the service, bring both back: every uplink lands."""
    make_registry(tmp_path, devices=5, seed=3)
    never_spool = {"CITY_INGEST_SPOOL__AFTER": "3600"}  # only the broker may hold them
    service = CityIngest(
        tmp_path, mqtt_port=mosquitto.port, influx_url=influxdb.url, env=never_spool
    )
    with service:
        influxdb.stop()
        manifest = simulate(
            tmp_path,
            mosquitto.port,
            "--messages",
            "500",
            "--seed",
            "3",
            "--malformed",
            "0",
            "--duplicates",
            "0",
        )
        wait_until(
            lambda: service.metrics()["city_ingest_in_flight"] == len(manifest),
            30,
            message="the service did not take every message",
        )
        service.kill()  # it held every message, none acked: the write never succeeded
        influxdb.restart()  # same port and data
        service.start()
        wait_for_accounting(service, len(manifest))
    result = reconcile_run(tmp_path, influxdb, manifest)
    assert result.ok, result.report()
    assert result.points["air"] + result.points["noise"] + result.points["waste"] == len(manifest)


def test_service_reconnects_after_a_broker_restart(
    mosquitto: Mosquitto, influxdb: InfluxV1, tmp_path: Path
) -> None:
    make_registry(tmp_path, devices=5, seed=5)
    with CityIngest(tmp_path, mqtt_port=mosquitto.port, influx_url=influxdb.url) as service:
        first = simulate(tmp_path, mosquitto.port, "--messages", "300", "--seed", "5")
        wait_for_accounting(service, len(first))
        mosquitto.restart()  # same port, persistent sessions kept
        wait_until(
            lambda: service.metrics()["city_ingest_mqtt_connected"] == 1,
            30,
            message="the service did not reconnect",
        )
        second = simulate(
            tmp_path,
            mosquitto.port,
            "--messages",
            "300",
            "--seed",
            "6",
            "--start",
            "2026-01-02T00:00:00+00:00",
        )
        counts = wait_for_accounting(service, len(first) + len(second))
    # QoS 1 is at-least-once: a broker stopped before it read our last PUBACKs delivers those
    # messages again. Dedup makes them duplicates; the points in InfluxDB stay exact.
    expected = expected_counts(first + second)
    redelivered = counts["received"] - len(first) - len(second)
    assert counts["written"] == expected["written"]
    assert counts["duplicate"] + counts["dead_letter"] == (
        expected["duplicate"] + expected["dead_letter"] + redelivered
    )
    result = reconcile_run(tmp_path, influxdb, first + second, redelivery=True)
    assert result.ok, result.report()


def test_outage_spools_acknowledges_and_replays_after_a_crash(
    mosquitto: Mosquitto, influxdb: InfluxV1, tmp_path: Path
) -> None:
    """InfluxDB down: batches go to the disk spool and are acknowledged; a SIGKILL later the
    restarted service replays the spool once InfluxDB is back. Nothing waits in the broker."""
    make_registry(tmp_path, devices=5, seed=4)
    fast = {"CITY_INGEST_SPOOL__AFTER": "0.2"}
    service = CityIngest(tmp_path, mqtt_port=mosquitto.port, influx_url=influxdb.url, env=fast)
    with service:
        influxdb.stop()
        manifest = simulate(
            tmp_path,
            mosquitto.port,
            "--messages",
            "500",
            "--seed",
            "4",
            "--malformed",
            "0",
            "--duplicates",
            "0",
        )
        counts = wait_for_accounting(service, len(manifest))  # acknowledged: in the spool
        assert service.metrics()["city_ingest_spool_batches"] >= 1
        notes = request("GET", f"{service.url}/readyz").json()["notes"]
        assert any("spooling (" in note and "oldest" in note for note in notes), notes
        assert counts["written"] == len(manifest)
        service.kill()
        influxdb.restart()
        service.start()
        wait_until(
            lambda: service.metrics()["city_ingest_spool_batches"] == 0,
            30,
            message="the spool was not replayed",
        )
        assert service.metrics()["city_ingest_received_total"] == 0  # nothing redelivered
    result = reconcile_run(tmp_path, influxdb, manifest)
    assert result.ok, result.report()


def test_stall_is_reported_and_oversized_messages_are_dead_lettered(
    mosquitto: Mosquitto, influxdb: InfluxV1, tmp_path: Path
) -> None:
    make_registry(tmp_path, devices=2, seed=1)
    env = {"CITY_INGEST_MQTT__STALL_AFTER": "0.5", "CITY_INGEST_MQTT__MAX_MESSAGE_BYTES": "1024"}
    with CityIngest(
        tmp_path, mqtt_port=mosquitto.port, influx_url=influxdb.url, env=env
    ) as service:
        wait_until(
            lambda: service.metrics()["city_ingest_stalled"] == 1, 10, message="no stall reported"
        )
        readiness = request("GET", f"{service.url}/readyz").json()
        assert any("nothing received" in note for note in readiness["notes"])
        publish = paho.Client(CallbackAPIVersion.VERSION2)
        publish.connect("127.0.0.1", mosquitto.port)
        publish.loop_start()
        publish.publish(
            "v3/app@ttn/devices/x/up", b"{" + b" " * 2000 + b"}", qos=1
        ).wait_for_publish(5)
        publish.disconnect()
        publish.loop_stop()
        wait_for_accounting(service, 1)
        assert service.metrics()["city_ingest_stalled"] == 0
    letters = list(read_dead_letters(tmp_path / "dead-letter" / FILE_NAME))
    assert [(d.reason.value, d.detail) for d in letters] == [("bad_envelope", "envelope.too_large")]


def test_sighup_reloads_the_registry_without_dropping_the_session(
    mosquitto: Mosquitto, influxdb: InfluxV1, tmp_path: Path
) -> None:
    fleet = tmp_path / "fleet"  # the simulator publishes for every device of this registry
    fleet.mkdir()
    full = make_registry(fleet, devices=3, seed=8).read_text(encoding="utf-8")
    header, first_row, *rows = full.splitlines()
    registry = tmp_path / "devices.csv"  # the service starts without the first device
    registry.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    unknown = 'city_ingest_dead_letters_total{reason="unknown_device"}'
    quiet = ("--malformed", "0", "--duplicates", "0")
    with CityIngest(tmp_path, mqtt_port=mosquitto.port, influx_url=influxdb.url) as service:
        first = simulate(fleet, mosquitto.port, "--messages", "200", "--seed", "8", *quiet)
        wait_for_accounting(service, len(first))
        unknown_before = service.metrics()[unknown]
        assert unknown_before > 0
        registry.write_text(full, encoding="utf-8")
        service.send_signal(signal.SIGHUP)
        wait_until(lambda: "registry reloaded" in service.log_text(), 10, message="no reload")
        second = simulate(
            fleet,
            mosquitto.port,
            "--messages",
            "200",
            "--seed",
            "9",
            *quiet,
            "--start",
            "2026-02-01T00:00:00+00:00",
        )
        wait_for_accounting(service, len(first) + len(second))
        assert service.metrics()[unknown] == unknown_before
        log = service.log_text()
    assert any(e["dev_eui"] == first_row.split(",")[0] for e in second)
    assert "connection lost" not in log  # the MQTT session was never dropped


def test_points_the_database_refuses_become_dead_letters_and_nothing_else_is_lost(
    mosquitto: Mosquitto, influxdb: InfluxV1, tmp_path: Path
) -> None:
    start = "2026-01-05T00:00:00+00:00"  # a Monday: the hours simulated stay in one weekly shard
    make_registry(tmp_path, devices=6, seed=21)
    influxdb.create_database("city")
    # from now on `pm25` is a string field in this shard: every air point with pm25 conflicts
    influxdb.write('air,device=x,district=y pm25="text" 1767571200000000000')
    with CityIngest(tmp_path, mqtt_port=mosquitto.port, influx_url=influxdb.url) as service:
        manifest = simulate(
            tmp_path, mosquitto.port,
            *("--network", "tts", "--messages", "300", "--seed", "21", "--start", start),
            *("--malformed", "0", "--duplicates", "0"),
        )  # fmt: skip
        counts = wait_for_accounting(service, len(manifest))
    letters = list(read_dead_letters(tmp_path / "dead-letter" / FILE_NAME))
    refused = [letter for letter in letters if letter.reason.value == "rejected_by_db"]
    conflicting = [
        e for e in manifest
        if e["expect"] == "written" and e["kind"] == "air" and "pm25" in e["values"]
    ]  # fmt: skip
    assert len(refused) == len(conflicting) > 0
    assert {letter.detail for letter in refused} == {"influxdb.rejected"}
    assert all("conflict" in letter.message for letter in refused)
    assert counts["dead_letter"] == len(letters) == len(refused)
    assert counts["written"] == counts["received"] - len(refused) > 0  # the rest landed

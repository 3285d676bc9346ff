"""Helpers for end-to-end tests: publish a seeded city, wait for the service, reconcile."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

from ingest.decoders import decoder_kinds, load_config
from ingest.privacy import Pseudonymizer
from ingest.registry import load_registry
from ingest.settings import InfluxSettings
from ingest.sinks.deadletter import FILE_NAME, read_dead_letters
from ingest.sinks.retention import influxql_source
from simulators import cli as simulate_cli
from simulators.fleet import load_or_create_fleet
from simulators.manifest import read_manifest
from simulators.reconcile import Reconciliation, reconcile
from simulators.servers import InfluxV1, wait_until
from simulators.servers.process import CONFIG_DIR
from simulators.servers.service import CityIngest

DECODERS = CONFIG_DIR / "decoders.toml"
OUTCOMES = ("written", "duplicate", "dead_letter")


def make_registry(workdir: Path, devices: int, seed: int) -> Path:
    path = workdir / "devices.csv"
    load_or_create_fleet(path, devices, seed, load_config(DECODERS))
    return path


def simulate(workdir: Path, port: int, *args: str) -> list[dict[str, Any]]:
    """Run ``city-ingest simulate`` against the broker; the manifest's entries."""
    parser = argparse.ArgumentParser()
    simulate_cli.add_arguments(parser)
    manifest = workdir / "manifest.jsonl"
    options = parser.parse_args(
        [
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--registry",
            str(workdir / "devices.csv"),
            "--manifest",
            str(manifest),
            "--decoders",
            str(DECODERS),
            *args,
        ]
    )
    assert simulate_cli.run(options) == 0
    return read_manifest(manifest)


def outcome_counts(service: CityIngest) -> dict[str, float]:
    metrics = service.metrics()
    counts = {o: metrics[f'city_ingest_uplinks_total{{outcome="{o}"}}'] for o in OUTCOMES}
    counts["received"] = metrics["city_ingest_received_total"]
    return counts


def wait_for_accounting(
    service: CityIngest, published: int, timeout: float = 60.0
) -> dict[str, float]:
    """Wait until every published message has an outcome; the counts."""

    def settled() -> dict[str, float] | None:
        counts = outcome_counts(service)
        done = (
            counts["received"] >= published
            and sum(counts[o] for o in OUTCOMES) == counts["received"]
        )
        return counts if done else None

    return wait_until(settled, timeout, message=f"service did not account for {published} messages")


def public_names(workdir: Path) -> dict[str, str]:
    registry = load_registry(workdir / "devices.csv", decoder_kinds(load_config(DECODERS)))
    key = (workdir / "pseudonym.key").read_text(encoding="utf-8").strip()
    pseudonyms = Pseudonymizer.for_registry(registry, key)
    return {d.dev_eui: pseudonyms.name(d) for d in registry}


def source(measurement: str) -> str:
    """The InfluxQL ``FROM`` of a measurement under the default retention settings."""
    return influxql_source(measurement, InfluxSettings())


def reconcile_run(
    workdir: Path, influx: InfluxV1, manifest: list[dict[str, Any]], *, redelivery: bool = False
) -> Reconciliation:
    names = public_names(workdir)

    def rows_of(measurement: str) -> list[dict[str, Any]]:
        return influx.query(f"SELECT * FROM {source(measurement)} GROUP BY *")

    letters = read_dead_letters(workdir / "dead-letter" / FILE_NAME)
    return reconcile(
        manifest, rows_of, letters, lambda eui: names.get(eui, eui), redelivery=redelivery
    )


def expected_counts(manifest: list[dict[str, Any]]) -> Counter[str]:
    return Counter(str(e["expect"]) for e in manifest)

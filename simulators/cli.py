"""``city-ingest simulate`` (contract §6): publish a simulated city's uplinks over MQTT.

``add_arguments`` fills the sub-command's parser, ``run`` executes it and returns the exit code:
0 ok, 2 bad usage or configuration, 1 runtime failure (broker unreachable, PUBACKs missing).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import IO

from ingest.decoders.config import load_config
from ingest.errors import ConfigError, SinkUnavailable
from ingest.model import Device, Kind, Network, Outcome
from ingest.timearg import instant_ns
from simulators.fleet import load_or_create_fleet
from simulators.manifest import manifest_line
from simulators.networks import KPN_TOPIC
from simulators.publisher import BrokerOptions, Publisher, PublishReport, publish_all
from simulators.sensor_faults import SensorFault, parse_fault_spec
from simulators.stream import (
    DEFAULT_INTERVALS_S,
    MIXED,
    Publication,
    Scenario,
    default_start,
    generate,
)

__all__ = ["add_arguments", "run"]

# KPN SenML times may be whole seconds: reports closer than this could share a timestamp.
_MIN_INTERVAL_S = 10.0
_DUPLICATE_WITHIN_S = 300.0  # half the service's default dedup window (contract §7)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``city-ingest simulate``."""
    add = parser.add_argument
    add(
        "--network",
        choices=[*(n.value for n in Network), MIXED],
        default=MIXED,
        help="network server format to publish (mixed: devices spread over all three)",
    )
    add("--devices", type=_positive_int, default=4, help="devices per kind (air, noise, waste)")
    add("--messages", type=_positive_int, default=1000, help="messages to publish")
    add(
        "--rate",
        type=_non_negative,
        default=0.0,
        help="messages per second, 0 = as fast as possible",
    )
    add("--seed", type=int, default=1, help="same seed, same registry and messages")
    add("--host", default="localhost", help="MQTT broker host")
    add("--port", type=_positive_int, default=1883, help="MQTT broker port")
    add("--username", help="MQTT user name")
    add("--password-file", type=Path, help="file holding the MQTT password")
    add("--tls", action="store_true", help="connect with TLS")
    add("--ca-file", type=Path, help="CA bundle for TLS (default: the system's)")
    add(
        "--max-inflight",
        type=_non_negative_int,
        default=0,
        help="unacknowledged messages at once, 0 = unlimited",
    )
    add(
        "--faults",
        type=_faults,
        default={},
        metavar="SPEC",
        help=f"sensor faults as name=fraction,... (known: {', '.join(SensorFault)})",
    )
    add("--malformed", type=_fraction, default=0.05, help="fraction of malformed messages")
    add("--duplicates", type=_fraction, default=0.02, help="fraction of duplicate messages")
    add("--manifest", type=Path, help="write one JSON line per published message here")
    add(
        "--registry",
        type=Path,
        help="device registry CSV: read if it exists, else generated and written there",
    )
    add("--decoders", type=Path, default=Path("config/decoders.toml"), help="decoder layouts")
    add(
        "--start",
        type=instant_ns,
        help="simulated start time, ISO 8601 with offset "
        "(default: the current hour minus the simulated span)",
    )
    add(
        "--intervals",
        type=_intervals,
        default=dict(DEFAULT_INTERVALS_S),
        metavar="SPEC",
        help="uplink interval per kind in seconds, e.g. air=600,noise=300,waste=3600",
    )
    add("--topic-prefix", default="", help="prepended to every topic")
    add(
        "--kpn-topic",
        default=KPN_TOPIC,
        help="topic of KPN Things packs; {dev_eui} becomes the DevEUI (default: %(default)s)",
    )
    add(
        "--prebuild",
        action="store_true",
        help="build every message before publishing (load tests: times publishing only)",
    )


def run(args: argparse.Namespace) -> int:
    """Publish the simulated uplinks; the exit code."""
    try:
        decoders = load_config(args.decoders)
        devices = load_or_create_fleet(args.registry, args.devices, args.seed, decoders)
        scenario = _scenario(args, devices)
        options = _broker_options(args)
    except (ConfigError, ValueError, OSError) as exc:
        sys.stderr.write(f"city-ingest simulate: {exc}\n")
        return 2
    publications: Iterable[Publication] = generate(scenario, devices, decoders)
    if args.prebuild:
        publications = list(publications)
    outcomes: Counter[str] = Counter()
    try:
        with _manifest(args.manifest) as manifest, Publisher(options) as publisher:
            report = publish_all(
                _recorded(publications, manifest, outcomes),
                publisher,
                args.rate,
                total=args.messages,
            )
    except SinkUnavailable as exc:
        sys.stderr.write(f"city-ingest simulate: {exc}\n")
        return 1
    sys.stdout.write(_summary(report, outcomes, len(devices)))
    return 0


def _scenario(args: argparse.Namespace, devices: Sequence[Device]) -> Scenario:
    start = args.start
    if start is None:
        start = default_start(devices, args.messages, args.intervals, time.time_ns())
    # Duplicates repeat a recent uplink: keep them well inside the service's dedup window.
    horizon = 8 if args.rate == 0 else max(1, min(8, int(args.rate * _DUPLICATE_WITHIN_S)))
    return Scenario(
        network=args.network,
        messages=args.messages,
        seed=args.seed,
        start_ns=start,
        malformed=args.malformed,
        duplicates=args.duplicates,
        faults=args.faults,
        intervals_s=args.intervals,
        topic_prefix=args.topic_prefix,
        kpn_topic=args.kpn_topic,
        duplicate_horizon=horizon,
    )


def _broker_options(args: argparse.Namespace) -> BrokerOptions:
    password = None
    if args.password_file is not None:
        password = args.password_file.read_text(encoding="utf-8").strip()
    return BrokerOptions(
        host=args.host,
        port=args.port,
        username=args.username,
        password=password,
        tls=args.tls,
        ca_file=args.ca_file,
        max_inflight=args.max_inflight,
    )


def _manifest(path: Path | None) -> AbstractContextManager[IO[bytes] | None]:
    return nullcontext() if path is None else path.open("wb")


def _recorded(
    publications: Iterable[Publication], manifest: IO[bytes] | None, outcomes: Counter[str]
) -> Iterator[tuple[str, bytes]]:
    """The messages to publish, each written to the manifest and counted just before."""
    for publication in publications:
        if manifest is not None:
            manifest.write(manifest_line(publication.entry))
        outcomes[publication.entry.expect] += 1
        yield publication.topic, publication.payload


def _summary(report: PublishReport, outcomes: Counter[str], devices: int) -> str:
    expected = ", ".join(f"{outcomes[o]} {o}" for o in Outcome)
    return (
        f"published {report.published} messages from {devices} devices "
        f"(expected: {expected}); {report.acknowledged} acknowledged "
        f"in {report.seconds:.2f} s = {report.rate:.0f} msg/s\n"
    )


# -- argument types: argparse turns their ValueError/ArgumentTypeError into a usage error ------
def _positive_int(text: str) -> int:
    number = int(text)
    if number < 1:
        msg = f"expected a whole number >= 1, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return number


def _non_negative_int(text: str) -> int:
    number = int(text)
    if number < 0:
        msg = f"expected a whole number >= 0, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return number


def _non_negative(text: str) -> float:
    number = float(text)
    if not 0.0 <= number < float("inf"):
        msg = f"expected a number >= 0, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return number


def _fraction(text: str) -> float:
    number = float(text)
    if not 0.0 <= number <= 1.0:
        msg = f"expected a fraction in [0, 1], got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return number


def _faults(text: str) -> dict[SensorFault, float]:
    try:
        return parse_fault_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _intervals(text: str) -> dict[Kind, float]:
    intervals = dict(DEFAULT_INTERVALS_S)
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, seconds = part.partition("=")
        try:
            kind, interval = Kind(name.strip()), float(seconds)
        except ValueError:
            interval = float("nan")
        if not _MIN_INTERVAL_S <= interval < float("inf"):
            kinds = ", ".join(k.value for k in Kind)
            msg = f"expected KIND=SECONDS (KIND one of {kinds}, SECONDS >= 10), got {part!r}"
            raise argparse.ArgumentTypeError(msg)
        intervals[kind] = interval
    return intervals

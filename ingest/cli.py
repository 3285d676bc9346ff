"""The ``city-ingest`` command line (contract §1)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from ingest import backfill_command, qcreport, reaggregate, report
from ingest import demo as demo_module
from ingest.diagnose import probe_problems, static_problems
from ingest.errors import CityIngestError, ConfigError
from ingest.integrations import qos0_warnings
from ingest.logs import LogFormat, configure_logging
from ingest.pipeline import Pipeline
from ingest.plan import plan
from ingest.replay import replay_dead_letters
from ingest.settings import Settings, load_settings
from ingest.sinks.deadletter import FILE_NAME, read_dead_letters
from ingest.sources.jetstream_setup import provision
from simulators import cli as simulate_cli

__all__ = ["main"]

log = logging.getLogger("city_ingest")
EXIT_OK, EXIT_RUNTIME, EXIT_CONFIG = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level, LogFormat(args.log_format))
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        print(f"city-ingest: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except CityIngestError as exc:
        print(f"city-ingest: {exc}", file=sys.stderr)
        return EXIT_RUNTIME


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="city-ingest",
        description="Smart-city sensor ingestion: LoRaWAN uplinks from MQTT into InfluxDB.",
        epilog="Exit codes: 0 ok, 2 bad configuration or usage, 1 runtime failure.",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="for commands without a config file; `run` follows [logging] in its config",
    )
    parser.add_argument("--log-format", default="text", choices=[f.value for f in LogFormat])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the service until SIGTERM/SIGINT")
    run.add_argument("--config", type=Path, required=True)
    run.set_defaults(handler=_run)

    check = commands.add_parser("check-config", help="validate config, registry and decoders")
    check.add_argument("--config", type=Path, required=True)
    check.add_argument(
        "--probe",
        action="store_true",
        help="also connect to the broker and InfluxDB and check what they say",
    )
    check.set_defaults(handler=_check_config)

    simulate = commands.add_parser("simulate", help="publish simulated uplinks")
    simulate_cli.add_arguments(simulate)
    simulate.set_defaults(handler=simulate_cli.run)

    demo = commands.add_parser("demo", help="run a short simulated city end to end")
    demo_module.add_arguments(demo)
    demo.set_defaults(handler=demo_module.run)

    qc = commands.add_parser("qc-report", help="QC flags in InfluxDB against a fault manifest")
    qcreport.add_arguments(qc)
    qc.set_defaults(handler=qcreport.run)

    again = commands.add_parser("reaggregate", help="recompute aggregates from raw points")
    reaggregate.add_arguments(again)
    again.set_defaults(handler=reaggregate.run)

    day_report = commands.add_parser("report", help="one day's report for analysts")
    report.add_arguments(day_report)
    day_report.set_defaults(handler=report.run)

    backfill = commands.add_parser("backfill", help="fetch stored uplinks of a time range again")
    backfill_command.add_arguments(backfill)
    backfill.set_defaults(handler=backfill_command.run)
    setup = commands.add_parser(
        "jetstream-setup", help="create the JetStream partition consumers (docs/scaling.md)"
    )
    setup.add_argument("--config", type=Path, required=True)
    setup.set_defaults(handler=_jetstream_setup)

    letters = commands.add_parser("dead-letter", help="list or replay dead letters")
    letter_commands = letters.add_subparsers(required=True, metavar="ACTION")
    for name, handler in (("list", _dead_letter_list), ("replay", _dead_letter_replay)):
        action = letter_commands.add_parser(name)
        action.add_argument("--config", type=Path, required=True)
        action.add_argument("--reason", help="only dead letters with this reason")
        action.set_defaults(handler=handler)
    letters_list = letter_commands.choices["list"]
    letters_list.add_argument("--format", choices=["table", "json"], default="table")
    return parser


def _run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    configure_logging(settings.logging.level, settings.logging.format)
    for problem in static_problems(settings) + qos0_warnings(settings):
        log.warning("%s", problem)
    pipeline = Pipeline(plan(settings))
    return asyncio.run(_serve(pipeline))


async def _serve(pipeline: Pipeline) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, pipeline.reload_registry)
    totals = await pipeline.run(stop)
    return EXIT_OK if totals.balanced() else EXIT_RUNTIME


def _check_config(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    the_plan = plan(settings)
    problems = static_problems(settings) + (probe_problems(settings) if args.probe else [])
    for problem in problems:
        print(f"city-ingest: {problem}", file=sys.stderr)
    for warning in qos0_warnings(settings):
        print(f"city-ingest: warning: {warning}", file=sys.stderr)
    if problems:
        return EXIT_CONFIG
    kinds = Counter(d.kind.value for d in the_plan.registry)
    print(f"config {args.config}: OK" + (" (broker and InfluxDB answered)" if args.probe else ""))
    print(f"  sources: {', '.join(f'{s.network.value} {s.topic}' for s in settings.sources)}")
    print(f"  influxdb: {settings.influxdb.url} (api {settings.influxdb.api.value})")
    print(
        f"  registry: {len(the_plan.registry)} devices "
        f"({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})"
    )
    print(f"  decoders: {', '.join(sorted(the_plan.decoders))}")
    print("effective configuration (secrets masked):")
    print(json.dumps(_masked(settings), indent=2, default=str))
    return EXIT_OK


def _jetstream_setup(args: argparse.Namespace) -> int:
    names = asyncio.run(provision(load_settings(args.config)))
    print(f"{len(names)} partition consumers ready: {names[0]} … {names[-1]}")
    return EXIT_OK


def _masked(settings: Settings) -> object:
    return settings.model_dump(mode="json")  # SecretStr dumps as '**********'


def _dead_letter_list(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    path = settings.dead_letter.dir / FILE_NAME
    shown = 0
    for letter in read_dead_letters(path):
        if args.reason and letter.reason.value != args.reason:
            continue
        shown += 1
        if args.format == "json":
            print(json.dumps(letter.to_json(), ensure_ascii=False))
        else:
            record = letter.to_json()
            print(
                f"{record['time']}  {letter.reason.value:<15} {letter.detail:<28} "
                f"{letter.topic}  {letter.message}"
            )
    print(f"{shown} dead letters in {path}", file=sys.stderr)
    return EXIT_OK


def _dead_letter_replay(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    return replay_dead_letters(settings, args.reason)

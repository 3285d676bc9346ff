"""``python -m simulators``: ``city-ingest simulate`` on its own (same options, same exit codes)."""

from __future__ import annotations

import argparse
import sys

from simulators.cli import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: the command line) and run the simulator."""
    parser = argparse.ArgumentParser(
        prog="python -m simulators", description="Publish a simulated city's LoRaWAN uplinks."
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

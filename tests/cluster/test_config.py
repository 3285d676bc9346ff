"""The shipped NATS node configs (config/nats/) pass the server's own check, and refuse to
start without the users' passwords in the environment (config/nats/auth.conf)."""

from __future__ import annotations

import os
import subprocess

import pytest

from simulators.servers.nats import INGEST, NETWORK
from simulators.servers.process import CONFIG_DIR

pytestmark = pytest.mark.cluster


def _check(binary: str, node: int, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, "-c", f"node-{node}.conf", "-t"],
        cwd=CONFIG_DIR / "nats",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=env,
    )


@pytest.mark.parametrize("node", [1, 2, 3])
def test_the_shipped_node_config_is_valid(nats_server_binary: str, node: int) -> None:
    passwords = {user.variable: user.password for user in (INGEST, NETWORK)}
    done = _check(nats_server_binary, node, os.environ | passwords)
    assert done.returncode == 0, done.stderr
    assert "is valid" in done.stderr + done.stdout


def test_a_node_without_the_passwords_does_not_start(nats_server_binary: str) -> None:
    unset = {k: v for k, v in os.environ.items() if not k.startswith("NATS_")}
    done = _check(nats_server_binary, 1, unset)
    assert done.returncode != 0
    assert "NATS_INGEST_PASSWORD" in done.stderr

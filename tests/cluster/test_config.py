"""The shipped NATS node configs (config/nats/) pass the server's own check."""

from __future__ import annotations

import subprocess

import pytest

from simulators.servers.process import CONFIG_DIR

pytestmark = pytest.mark.cluster


@pytest.mark.parametrize("node", [1, 2, 3])
def test_the_shipped_node_config_is_valid(nats_server_binary: str, node: int) -> None:
    done = subprocess.run(
        [nats_server_binary, "-c", f"node-{node}.conf", "-t"],
        cwd=CONFIG_DIR / "nats",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "is valid" in done.stderr + done.stdout

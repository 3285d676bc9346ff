"""A Mosquitto broker running the shipped `config/mosquitto/mosquitto.conf`."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

from simulators.servers.polling import wait_until
from simulators.servers.process import (
    CONFIG_DIR,
    LOOPBACK,
    ServerError,
    ServerProcess,
    find_binary,
    free_port,
    port_open,
)

__all__ = [
    "PRODUCTION_CONFIG",
    "SHIPPED_CONFIG",
    "Mosquitto",
    "production_broker",
    "render_test_config",
]

SHIPPED_CONFIG = CONFIG_DIR / "mosquitto" / "mosquitto.conf"
PRODUCTION_CONFIG = CONFIG_DIR / "mosquitto" / "production.conf"
"""The compose broker: password file, ACL and a TLS listener (its `extra_ports[0]`)."""
_PASSWD_SCRIPT = CONFIG_DIR / "mosquitto" / "passwd.sh"

_IMAGE_PATH = re.compile(r"(?<=\s)/mosquitto/")  # the official image's volume root
_READY_MARKER = " running"  # "mosquitto version 2.0.11 running": logged once listening


def render_test_config(text: str, *, root: Path, port: int, extra_ports: Sequence[int] = ()) -> str:
    """Turn the shipped broker config into a test broker's config, changing only:

    - `listener 1883` becomes `listener <port> 127.0.0.1`, and each further `listener` line
      (e.g. `listener 8883` of production.conf, TLS) takes the next of `extra_ports`; a
      listener without a port raises;
    - every absolute `/mosquitto/...` path (the image's volumes: persistence_location,
      password_file, acl_file, certificates) moves under `root`, so `/mosquitto/data/`
      becomes `<root>/data/`;
    - the first `log_dest` becomes `log_dest stderr` (the harness captures stderr into the
      log file; stderr, unlike stdout, is unbuffered) and further `log_dest` lines are dropped;
    - when the tests run as root, `user root` is appended: Mosquitto would otherwise drop
      privileges to the `mosquitto` user, who cannot write a root-owned temp dir.

    Everything else (persistence, in-flight window, queue limits, logging) stays as shipped.
    """
    ports = [port, *extra_ports]
    lines: list[str] = []
    listeners = 0
    log_dest_done = False
    for line in text.splitlines():
        key = line.split(maxsplit=1)[0] if line.strip() else ""
        if key == "listener":
            if listeners == len(ports):
                raise ServerError(f"a second listener needs a port of its own: {line!r}")
            lines.append(f"listener {ports[listeners]} {LOOPBACK}")
            listeners += 1
        elif key == "log_dest":
            if not log_dest_done:
                lines.append("log_dest stderr")
            log_dest_done = True
        elif key.startswith("#"):
            lines.append(line)
        else:
            lines.append(_IMAGE_PATH.sub(f"{root}/", line))
    if os.geteuid() == 0:
        lines.append("user root")
    return "\n".join(lines) + "\n"


class Mosquitto(ServerProcess):
    """A Mosquitto broker on a free loopback port, configured by the shipped config file.

    `root` mirrors the official image's volumes: `root/config` (a copy of the shipped config
    folder, with `mosquitto.conf` rewritten by `render_test_config`), `root/data` (the
    persistence file) and `root/log`. A config with several listeners (production.conf) gets
    `port` for the first and `extra_ports` for the others, in file order; files it names
    outside those volumes (`/mosquitto/certs/...`, `/mosquitto/auth/...`) are looked up under
    `root`, so a test puts them there before `start()`. Persistence stays on, so `restart()`
    keeps persistent sessions and their queued messages. `kill()` loses what arrived since the
    last save, as a real broker crash would; call `save()` first to make a crash test
    deterministic.
    """

    name = "mosquitto"

    def __init__(
        self,
        root: Path | None = None,
        *,
        config: Path = SHIPPED_CONFIG,
        startup_timeout: float = 15.0,
    ) -> None:
        super().__init__(root, startup_timeout=startup_timeout)
        self.shipped_config = config
        self.extra_ports: tuple[int, ...] = ()

    @property
    def url(self) -> str:
        """`mqtt://host:port`."""
        return f"mqtt://{self.host}:{self.port}"

    @property
    def config_path(self) -> Path:
        """The rewritten config the broker runs."""
        return self.root / "config" / self.shipped_config.name

    @property
    def database_path(self) -> Path:
        """The persistence file (sessions, subscriptions, queued messages)."""
        return self.root / "data" / "mosquitto.db"

    def save(self, timeout: float = 5.0) -> None:
        """Write the persistence file now (SIGUSR1, mosquitto(8)) and wait until it is replaced."""
        before = self._database_identity()
        self.send_signal(signal.SIGUSR1)
        wait_until(
            lambda: self._database_identity() != before,
            timeout,
            message=f"{self.name} did not rewrite {self.database_path}",
        )

    def _database_identity(self) -> tuple[int, int] | None:
        # Mosquitto writes `mosquitto.db.new` and renames it over the old file: a new inode.
        try:
            stat = self.database_path.stat()
        except FileNotFoundError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    def _assign_ports(self) -> None:
        super()._assign_ports()
        text = self.shipped_config.read_text(encoding="utf-8")
        listeners = sum(1 for line in text.splitlines() if line.split()[:1] == ["listener"])
        taken = {self.port}
        while len(taken) < listeners:
            taken.add(free_port(self.host))
        self.extra_ports = tuple(sorted(taken - {self.port}))

    def _configure(self) -> None:
        shutil.copytree(self.shipped_config.parent, self.config_path.parent, dirs_exist_ok=True)
        for volume in ("data", "log"):
            (self.root / volume).mkdir(exist_ok=True)
        text = self.shipped_config.read_text(encoding="utf-8")
        rendered = render_test_config(
            text, root=self.root, port=self.port, extra_ports=self.extra_ports
        )
        self.config_path.write_text(rendered, encoding="utf-8")

    def _command(self) -> list[str]:
        return [find_binary("mosquitto"), "-c", str(self.config_path)]

    def _is_ready(self) -> bool:
        return _READY_MARKER in self.log_text() and port_open(self.host, self.port)


def production_broker(root: Path, *, secrets_dir: Path, certs_dir: Path) -> Mosquitto:
    """A (not yet started) broker on `PRODUCTION_CONFIG`, laid out as docker-compose.yml mounts
    it: `root/auth/passwd` written by the shipped `passwd.sh` from the secret files of `make
    secrets` in `secrets_dir`, and `root/certs` a copy of what `make certs` wrote to `certs_dir`.
    """
    (root / "auth").mkdir(parents=True, exist_ok=True)
    subprocess.run(  # noqa: S603 - the repository's own script
        ["sh", str(_PASSWD_SCRIPT)],  # noqa: S607 - POSIX sh from PATH, as in the image
        env={
            **os.environ,
            "SECRETS_DIR": str(secrets_dir),
            "PASSWD_FILE": str(root / "auth" / "passwd"),
        },
        check=True,
        capture_output=True,
        timeout=60,
    )
    shutil.copytree(certs_dir, root / "certs", dirs_exist_ok=True)
    return Mosquitto(root, config=PRODUCTION_CONFIG)

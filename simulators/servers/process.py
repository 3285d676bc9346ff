"""A server binary run as a child process in its own directory, on a free loopback port.

`ServerProcess` owns the process; a subclass only says how to configure, launch and probe
its server. The base class picks free ports (bind to port 0, close, start; a start that
fails with EADDRINUSE is retried on fresh ports), waits for readiness with a deadline,
stops (SIGTERM, wait), kills (SIGKILL), restarts on the same port and data, and puts the
tail of the server's log into every error it raises.
"""

from __future__ import annotations

import abc
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

from simulators.servers.polling import wait_until

__all__ = ["CONFIG_DIR", "LOOPBACK", "ServerError", "ServerProcess", "find_binary", "free_port"]

LOOPBACK = "127.0.0.1"
CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
"""The repository's shipped `config/` folder."""

_PORT_ATTEMPTS = 5
_LOG_TAIL_LINES = 40
_SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")


class ServerError(RuntimeError):
    """A test server did not start, did not stop in time, or refused a helper's request."""


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that is free right now (the kernel's choice for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def find_binary(name: str) -> str:
    """The path of a server binary on PATH or in the sbin folders (mosquitto lives there)."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN_DIRS])
    found = shutil.which(name, path=search)
    if found is None:
        raise ServerError(f"`{name}` not found on PATH or in {_SBIN_DIRS}; install it")
    return found


class ServerProcess(abc.ABC):
    """One server process; use it as a context manager or call start() and stop().

    `root` is the server's directory (config, data, log). Without one, a temp dir is
    created and removed again when the context manager exits.
    """

    name: ClassVar[str]
    """Names the server in messages and its log file, `<root>/<name>.log`."""

    def __init__(self, root: Path | None = None, *, startup_timeout: float = 15.0) -> None:
        self._owns_root = root is None
        self.root = (
            Path(tempfile.mkdtemp(prefix=f"city-ingest-{self.name}-")) if root is None else root
        )
        self.host = LOOPBACK
        self.port = 0
        self.startup_timeout = startup_timeout
        self.log_path = self.root / f"{self.name}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def running(self) -> bool:
        """True while the process this handle started is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int:
        """The process id of the running server."""
        if self._proc is None:
            raise ServerError(f"{self.name} is not running")
        return self._proc.pid

    def start(self) -> Self:
        """Configure the server on free ports, start it and wait until it is ready."""
        if self._proc is not None:
            raise ServerError(f"{self.name} already started (pid {self._proc.pid})")
        self.root.mkdir(parents=True, exist_ok=True)
        for _ in range(_PORT_ATTEMPTS):
            self._assign_ports()
            self._configure()
            if self._launch():
                return self
        raise ServerError(self._failure(f"ports taken on {_PORT_ATTEMPTS} attempts"))

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM and wait: the server saves its state and exits. Kills it if it hangs."""
        proc = self._proc
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            self.kill()
            raise ServerError(self._failure(f"ignored SIGTERM for {timeout:g} s; killed")) from exc
        self._proc = None

    def kill(self) -> None:
        """SIGKILL, as in a crash: nothing is saved."""
        proc = self._proc
        if proc is None:
            return
        proc.kill()
        proc.wait()
        self._proc = None

    def restart(self) -> None:
        """Stop (if running) and start again on the same port with the same data."""
        self.stop()
        if not self._launch():
            raise ServerError(self._failure(f"port {self.port} was taken while stopped"))

    def send_signal(self, signum: signal.Signals) -> None:
        """Deliver a signal to the running server."""
        if self._proc is None or not self.running:
            raise ServerError(self._failure(f"not running; cannot send {signum.name}"))
        self._proc.send_signal(signum)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.stop()
        finally:
            if self._owns_root:
                shutil.rmtree(self.root, ignore_errors=True)

    def log_text(self) -> str:
        """What the server logged since its latest start."""
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            return log.read().decode(errors="replace")

    # ---- what a subclass provides

    def _assign_ports(self) -> None:
        """Pick the port(s) for the next start; a subclass with more ports extends this."""
        self.port = free_port(self.host)

    @abc.abstractmethod
    def _configure(self) -> None:
        """Write the server's config into `root` for the ports just assigned."""

    @abc.abstractmethod
    def _command(self) -> list[str]:
        """The command line that runs the server in the foreground."""

    @abc.abstractmethod
    def _is_ready(self) -> bool:
        """True once *this* process (not another one on the port) serves requests."""

    def _environment(self) -> dict[str, str]:
        return dict(os.environ)

    # ---- the process

    def _launch(self) -> bool:
        """Start the process and wait for readiness; False if it lost its port (EADDRINUSE)."""
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(  # noqa: S603 - our own server binary and arguments
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                env=self._environment(),
                start_new_session=True,  # a Ctrl-C at the terminal reaches pytest, which stops us
            )
        try:
            wait_until(lambda: not self.running or self._is_ready(), self.startup_timeout)
        except AssertionError as exc:
            self.kill()
            raise ServerError(self._failure(f"not ready in {self.startup_timeout:g} s")) from exc
        if self.running:
            return True
        self.kill()  # reaps the exited process
        if "address already in use" in self.log_text().lower():
            return False
        raise ServerError(self._failure("exited during start-up"))

    def _failure(self, what: str) -> str:
        tail = self.log_text().splitlines()[-_LOG_TAIL_LINES:] if self.log_path.exists() else []
        return "\n".join(
            [f"{self.name} on {self.host}:{self.port}: {what}", f"--- {self.log_path} ---", *tail]
        )

"""A broker with a password file, an ACL and a TLS listener, and the certificates it uses.

Certificates come from the `openssl` CLI: a CA, a broker certificate signed by it for
`DNS:localhost` only (so `127.0.0.1` is a wrong host name), and an unrelated second CA.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulators.servers import Mosquitto

USER = ("ingest", "ingest-secret")
PUBLISHER = ("publisher", "publisher-secret")

_CONFIG = """\
persistence true
persistence_location /mosquitto/data/
max_inflight_messages 1000
max_queued_messages 100000
allow_anonymous false
password_file /mosquitto/auth/passwd
acl_file /mosquitto/auth/acl
listener 1883
listener 8883
cafile /mosquitto/certs/ca.crt
certfile /mosquitto/certs/server.crt
keyfile /mosquitto/certs/server.key
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
"""
_ACL = f"user {USER[0]}\ntopic read #\nuser {PUBLISHER[0]}\ntopic write #\n"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def _make_ca(folder: Path, name: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc",
        "-days", "2", "-subj", f"/CN={name}", "-keyout", str(folder / f"{name}.key"),
        "-out", str(folder / f"{name}.crt"), "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ca.crt, server.crt/.key (signed by ca, for DNS:localhost) and other.crt (another CA)."""
    folder = tmp_path_factory.mktemp("certs")
    _make_ca(folder, "ca")
    _make_ca(folder, "other")
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc",
        "-subj", "/CN=broker", "-keyout", str(folder / "server.key"),
        "-out", str(folder / "server.csr"),
    )  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n")
    _openssl(
        "x509", "-req", "-in", str(folder / "server.csr"), "-CA", str(folder / "ca.crt"),
        "-CAkey", str(folder / "ca.key"), "-CAcreateserial", "-days", "2",
        "-out", str(folder / "server.crt"), "-extfile", str(folder / "san.ext"),
    )  # fmt: skip
    return folder


@pytest.fixture(scope="session")
def secure_broker(tmp_path_factory: pytest.TempPathFactory, certs: Path) -> Iterator[Mosquitto]:
    """Login required (USER reads, PUBLISHER writes); plain `port` and TLS `extra_ports[0]`."""
    base = tmp_path_factory.mktemp("secure-broker")
    (base / "config").mkdir()
    (base / "config" / "mosquitto.conf").write_text(_CONFIG)
    root = base / "root"
    (root / "auth").mkdir(parents=True)
    (root / "certs").mkdir()
    for name in ("ca.crt", "server.crt", "server.key"):
        (root / "certs" / name).write_bytes((certs / name).read_bytes())
    passwd = root / "auth" / "passwd"
    for i, (user, password) in enumerate((USER, PUBLISHER)):
        create = ["-c"] if i == 0 else []
        subprocess.run(
            ["mosquitto_passwd", "-b", *create, str(passwd), user, password],
            check=True,
            capture_output=True,
            timeout=30,
        )
    (root / "auth" / "acl").write_text(_ACL)
    with Mosquitto(root, config=base / "config" / "mosquitto.conf") as broker:
        yield broker

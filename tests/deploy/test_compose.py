"""docker-compose.yml, checked without a Docker engine: structure, mounts, secrets, volumes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from ingest.settings import load_settings
from tests.deploy.conftest import COMPOSE_FILE, REPO

CLUSTER = {"nats-1", "nats-2", "nats-3", "nats-setup", "city-ingest-0", "city-ingest-1"}
SERVICES = {"mosquitto", "influxdb", "grafana", "city-ingest", "simulator", *CLUSTER}
ONE_SHOT = {"simulator", "nats-setup"}  # does its job and exits: no healthcheck to ask
SECRETS_PATH = "/run/secrets/"
SECRET_WORDS = re.compile(r"TOKEN|PASSWORD|SECRET|KEY", re.IGNORECASE)
GENERATED = {"secrets": "make secrets", "certs": "make certs"}  # folders the Makefile fills


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of the volumes that are paths on the host."""
    mounts = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts.append((source, target))
    return mounts


def _secret_references(service: dict[str, Any]) -> set[str]:
    """Names of /run/secrets/<name> that a service's environment or command mentions."""
    text = " ".join([*_environment(service).values(), *map(str, service.get("command", []))])
    return set(re.findall(re.escape(SECRETS_PATH) + r"([\w.-]+)", text))


def test_the_deployment_has_its_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == SERVICES
    assert compose["services"]["simulator"]["profiles"] == ["demo"]
    assert all(compose["services"][name]["profiles"] == ["cluster"] for name in CLUSTER)
    others = SERVICES - {"simulator"} - CLUSTER
    assert not [name for name in others if "profiles" in compose["services"][name]]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_an_image_and_a_restart_policy(
    compose: dict[str, Any], name: str
) -> None:
    service = compose["services"][name]
    assert "image" in service or "build" in service
    assert service.get("restart") in {"unless-stopped", "always", "on-failure"}


@pytest.mark.parametrize("name", sorted(SERVICES - ONE_SHOT))
def test_every_long_running_service_has_a_healthcheck(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    if "healthcheck" in service:
        assert service["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}
    else:  # built here: the Dockerfile's HEALTHCHECK applies
        assert service.get("build") == "."
        assert "\nHEALTHCHECK " in (REPO / "Dockerfile").read_text(encoding="utf-8")


def test_services_wait_for_what_they_need_to_be_healthy(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, needs in {
        "city-ingest": {"mosquitto", "influxdb"},
        "grafana": {"influxdb"},
        "simulator": {"city-ingest"},
    }.items():
        depends = services[name]["depends_on"]
        assert set(depends) == needs
        assert all(d["condition"] == "service_healthy" for d in depends.values())


def test_every_mounted_file_is_in_the_repository_or_made_by_the_makefile(
    compose: dict[str, Any], secrets_dir: Path, certs_dir: Path
) -> None:
    made = {"secrets": secrets_dir, "certs": certs_dir}
    for name, service in compose["services"].items():
        for source, _ in _bind_mounts(service):
            relative = Path(source).relative_to(".")
            folder = relative.parts[0]
            if folder in made:
                where = made[folder] / Path(*relative.parts[1:])
                assert where.is_file(), f"{name}: {source} is not made by {GENERATED[folder]}"
            else:
                assert (REPO / relative).exists(), f"{name} mounts {source}, missing"
    for secret in compose["secrets"].values():
        relative = Path(secret["file"]).relative_to(".")
        assert relative.parts[0] == "secrets"
        assert (secrets_dir / relative.name).is_file(), f"make secrets does not write {relative}"


def test_config_mounts_are_read_only(compose: dict[str, Any]) -> None:
    # the mosquitto image chowns /mosquitto at start: a writable bind mount would hand the
    # repository's files to its user
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            if volume.startswith("."):
                assert volume.endswith(":ro"), f"{name}: {volume} should be mounted :ro"


def test_no_secret_is_written_in_the_compose_file(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key, value in _environment(service).items():
            if SECRET_WORDS.search(key):
                assert key.endswith("_FILE"), f"{name}: {key} holds a secret; use {key}_FILE"
                assert value.startswith(SECRETS_PATH), f"{name}: {key}={value}"
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    # a value right after a TOKEN/PASSWORD key, on the same line (secret names end in a colon)
    assert not re.search(r"(TOKEN|PASSWORD)[ \t]*[:=][ \t]*[^\s#]", text, re.IGNORECASE)


def test_every_secret_file_variable_names_a_secret_the_service_gets(
    compose: dict[str, Any],
) -> None:
    declared = set(compose["secrets"])
    seen = set()
    for name, service in compose["services"].items():
        given = set(service.get("secrets", []))
        assert given <= declared, f"{name} gets undeclared secrets {given - declared}"
        referenced = _secret_references(service)
        assert referenced <= given, f"{name} reads {referenced - given} but is not given them"
        seen |= given
    assert seen == declared, f"declared but given to no service: {declared - seen}"


def test_the_makefile_writes_every_declared_secret_once(
    compose: dict[str, Any], secrets_dir: Path
) -> None:
    written = {p.name for p in secrets_dir.iterdir() if not p.name.startswith(".")}
    assert written == set(compose["secrets"])
    values = [(secrets_dir / name).read_text().strip() for name in written]
    assert all(len(value) == 64 for value in values)  # 32 random bytes, hex
    assert len(set(values)) == len(values)
    assert secrets_dir.stat().st_mode & 0o777 == 0o700
    assert (secrets_dir / ".gitignore").read_text().strip() == "*"


def test_make_secrets_never_replaces_a_secret(secrets_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "secrets"
    shutil.copytree(secrets_dir, folder)
    before = {p.name: p.read_text() for p in folder.iterdir()}
    (folder / "pseudonym_key").unlink()
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), "secrets", f"SECRETS_DIR={folder}"],
        capture_output=True,
        text=True,
        check=True,
    )
    after = {p.name: p.read_text() for p in folder.iterdir()}
    assert "created" in result.stdout
    assert after["pseudonym_key"] != before["pseudonym_key"]
    assert {k: v for k, v in after.items() if k != "pseudonym_key"} == {
        k: v for k, v in before.items() if k != "pseudonym_key"
    }


def test_state_lives_in_named_volumes(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    used = set()
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                used.add(source)
    assert used == declared
    targets = {v.split(":")[1] for v in compose["services"]["mosquitto"]["volumes"]}
    assert "/mosquitto/data" in targets
    targets = {v.split(":")[1] for v in compose["services"]["influxdb"]["volumes"]}
    assert "/var/lib/influxdb2" in targets


def test_only_mqtt_over_tls_is_published_beyond_the_loopback(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            if port == "8883:8883":
                assert name == "mosquitto"
                continue
            assert re.match(r"(127\.0\.0\.1|\$\{\w+:-127\.0\.0\.1\}):", port), f"{name}: {port}"


def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    # the compose plugin (v2) validates against the Compose Specification without an engine;
    # the legacy docker-compose v1 does not know the `name` key and is not asked
    compose = ["docker", "compose"]
    if (
        shutil.which("docker") is None
        or subprocess.run([*compose, "version"], capture_output=True, check=False).returncode
    ):
        pytest.skip("the `docker compose` plugin is not installed: schema not checked")
    command = [*compose, "--file", str(COMPOSE_FILE), "--profile", "demo", "config", "--quiet"]
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("target", ["secrets", "certs", "compose-check", "docs"])
def test_the_makefile_has_the_deployment_targets(target: str) -> None:
    result = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", "-C", str(REPO), target],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_cluster_profile_agrees_with_the_nats_config(
    compose: dict[str, Any], secrets_dir: Path
) -> None:
    """Both replicas read the cluster config with their own index and volumes, and its
    partition count is the one every mapping of config/nats/partitions.conf uses."""
    services = compose["services"]
    indexes = {
        services[f"city-ingest-{i}"]["environment"]["CITY_INGEST_NATS__REPLICA"] for i in (0, 1)
    }
    assert indexes == {"0", "1"}
    named = [v for i in (0, 1) for v in services[f"city-ingest-{i}"]["volumes"] if v[0] != "."]
    assert len(named) == len(set(named))  # no shared spool, dead letters or state
    settings = load_settings(
        REPO / "config" / "compose" / "city-ingest-cluster.toml",
        {
            "CITY_INGEST_INFLUXDB__TOKEN_FILE": str(secrets_dir / "influxdb_admin_token"),
            "CITY_INGEST_NATS__PASSWORD_FILE": str(secrets_dir / "nats_ingest_password"),
            "CITY_INGEST_NATS__REPLICA": "1",
        },
    )
    assert settings.nats is not None
    assert settings.nats.replica == 1
    assert settings.nats.replicas == 2
    assert settings.nats.password is not None
    mapping = (REPO / "config" / "nats" / "partitions.conf").read_text(encoding="utf-8")
    counts = set(re.findall(r"\{\{partition\((\d+),", mapping))
    assert counts == {str(settings.nats.partitions)}
    for node in (1, 2, 3):
        assert services[f"nats-{node}"]["command"] == ["-c", f"/etc/nats/node-{node}.conf"]
        assert (REPO / "config" / "nats" / f"node-{node}.conf").is_file()


def test_the_nats_nodes_get_every_password_their_users_need(compose: dict[str, Any]) -> None:
    """config/nats/auth.conf reads `$NATS_<SECRET>` variables; each node's entrypoint exports
    every nats_* secret it gets under its name in capitals, and the replicas log in as a user
    the file defines, with the password of that user."""
    auth = (REPO / "config" / "nats" / "auth.conf").read_text(encoding="utf-8")
    users = dict(re.findall(r"\{user: ([\w-]+), password: \$(\w+)\}", auth))
    assert set(users) == {"city-ingest", "network-server"}
    services = compose["services"]
    for node in (1, 2, 3):
        given = {s.upper() for s in services[f"nats-{node}"]["secrets"]}
        assert set(users.values()) <= given
        assert "/run/secrets/nats_*" in " ".join(services[f"nats-{node}"]["entrypoint"])
    replica = services["city-ingest-0"]
    secret = replica["environment"]["CITY_INGEST_NATS__PASSWORD_FILE"].removeprefix(SECRETS_PATH)
    cluster = tomllib.loads((REPO / "config" / "compose" / "city-ingest-cluster.toml").read_text())
    assert users[cluster["nats"]["username"]] == secret.upper()


def test_the_nats_entrypoint_starts_the_node_with_its_secrets(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    """The nodes' entrypoint, run by this machine's sh with the secrets in a temp folder and
    the environment's nats-server checking node-1.conf (`-t`), as compose would start it."""
    node = compose["services"]["nats-1"]
    shell, flag, script, name = node["entrypoint"]
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for secret in node["secrets"]:
        (secrets / secret).write_text(f"{secret}-value\n", encoding="utf-8")
    script = script.replace("$$", "$").replace(SECRETS_PATH, f"{secrets}/")
    done = subprocess.run(
        [shell, flag, script, name, "-c", "node-1.conf", "-t"],
        cwd=REPO / "config" / "nats",
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "is valid" in done.stderr + done.stdout

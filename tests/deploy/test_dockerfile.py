"""The Dockerfile installs what CI installs, from what it copies, and runs as a non-root user.

No Docker engine here: the install step is checked against the Makefile's, and the files the
build stage copies are built into a wheel with pip, as `pip install .` in the image does."""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.deploy.conftest import REPO

DOCKERFILE = REPO / "Dockerfile"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
Instruction = tuple[str, str]


def _instructions() -> list[Instruction]:
    """(KEYWORD, arguments) of every Dockerfile instruction, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def _stages() -> list[list[Instruction]]:
    stages: list[list[Instruction]] = []
    for keyword, args in _instructions():
        if keyword == "FROM":
            stages.append([])
        stages[-1].append((keyword, args))
    return stages


def _pip_install(command: str) -> list[str]:
    """The arguments after `pip install`, options dropped."""
    words = shlex.split(command)
    after = words[words.index("install") + 1 :]
    return [word for word in after if not word.startswith("-")]


def _makefile_install() -> str:
    """The Makefile's `pip install` of the project in the virtualenv recipe that `make test`
    (so CI) depends on."""
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\n$(STAMP):", 1)[1].split("\n\n", 1)[0]
    (line,) = [ln for ln in recipe.splitlines() if "pip install" in ln and "-e" in ln.split()]
    return line


def _docker_copies(stage: list[Instruction]) -> list[str]:
    sources: list[str] = []
    for keyword, args in stage:
        if keyword == "COPY" and not args.startswith("--from"):
            sources += args.split()[:-1]
    return sources


def _dockerignored(path: str) -> bool:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return any(fnmatch.fnmatch(path, p) or path.startswith(f"{p}/") for p in patterns)


def test_both_stages_use_the_python_of_ci() -> None:
    bases = [args.split()[0] for keyword, args in _instructions() if keyword == "FROM"]
    minimum = PYPROJECT["project"]["requires-python"].removeprefix(">=")
    assert bases == [f"python:{minimum}-slim"] * 2
    assert PYPROJECT["tool"]["mypy"]["python_version"] == minimum


def test_the_image_installs_what_ci_installs_minus_dev_and_editable() -> None:
    build = _stages()[0]
    (install,) = [args for keyword, args in build if keyword == "RUN" and "pip install" in args]
    ci_install = _makefile_install()
    assert "-e" in ci_install.split()
    assert _pip_install(ci_install) == [".[dev]"]
    assert _pip_install(install) == ["."]  # the same project, no extras, not editable
    assert "-e" not in install.split()
    assert "dev" in PYPROJECT["project"]["optional-dependencies"]


def test_what_the_build_stage_copies_builds_the_whole_package(tmp_path: Path) -> None:
    """`pip wheel` on exactly the copied files: every module of the packages pyproject.toml
    names is in the wheel, with the console script."""
    context = tmp_path / "context"
    for source in _docker_copies(_stages()[0]):
        assert not _dockerignored(source), f"{source} is COPYed but .dockerignore excludes it"
        target = context / source
        if (REPO / source).is_dir():
            shutil.copytree(REPO / source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / source, target)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(tmp_path),
            str(context),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("city_ingest-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]:
        root = package.removesuffix("*")
        for module in (REPO / root).rglob("*.py"):
            assert module.relative_to(REPO).as_posix() in names
        assert f"{root}/py.typed" in names
    (entry_points,) = [n for n in names if n.endswith("entry_points.txt")]
    assert "city-ingest = ingest.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_the_service_runs_as_a_non_root_user() -> None:
    final = _stages()[-1]
    users = [args for keyword, args in final if keyword == "USER"]
    assert users
    assert users[-1] not in {"root", "0"}
    (create,) = [args for keyword, args in final if keyword == "RUN" and "useradd" in args]
    uid = re.search(r"--uid (\d+)", create)
    assert uid is not None
    assert int(uid[1]) >= 1000
    assert users[-1] in create.split()


def test_the_volume_folders_exist_in_the_image_owned_by_the_user() -> None:
    final = dict(_stages()[-1])
    for folder in ("spool", "dead-letter", "state"):
        assert f"/var/lib/city-ingest/{folder}" in final["RUN"]
    assert "chown -R city-ingest:city-ingest /var/lib/city-ingest" in final["RUN"]


def test_the_default_command_runs_the_mounted_config() -> None:
    final = dict(_stages()[-1])
    assert final["ENTRYPOINT"] == '["city-ingest"]'
    assert final["CMD"] == '["run", "--config", "/etc/city-ingest/city-ingest.toml"]'
    assert "--interval=" in final["HEALTHCHECK"]
    assert "/readyz" in final["HEALTHCHECK"]


@pytest.mark.parametrize("excluded", ["secrets", "certs", ".venv", ".git", "tests"])
def test_the_build_context_leaves_out_secrets_and_local_state(excluded: str) -> None:
    assert _dockerignored(excluded)

"""`[webhooks]` and `[backfill]` settings: refused when incomplete, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.cli import main
from ingest.errors import ConfigError
from ingest.settings import load_settings
from simulators.servers.service import write_service_config
from tests.e2e import make_registry


def _config(tmp_path: Path, extra: str = "") -> Path:
    make_registry(tmp_path, devices=3, seed=1)
    return write_service_config(
        tmp_path, mqtt_port=1883, influx_url="http://127.0.0.1:8086", extra=extra
    )


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        (
            {
                "CITY_INGEST_WEBHOOKS__LISTEN": "0.0.0.0:9110",
                "CITY_INGEST_WEBHOOKS__NETWORKS": '["kpn"]',
            },
            "kpn_shared_secret_file",
        ),
        (
            {
                "CITY_INGEST_WEBHOOKS__NETWORKS": '["tts"]',
                "CITY_INGEST_WEBHOOKS__TTS_PASSWORD": "x",
            },
            "listen",
        ),
        ({"CITY_INGEST_WEBHOOKS__TLS_CERT": "a.crt"}, "tls_key"),
        ({"CITY_INGEST_BACKFILL__URL": "https://eu1.cloud.thethings.network"}, "token"),
        ({"CITY_INGEST_BACKFILL__URL": "eu1.cloud.thethings.network"}, "add the scheme"),
    ],
)
def test_incomplete_sections_stop_start_up_naming_the_fix(
    tmp_path: Path, environ: dict[str, str], names: str
) -> None:
    with pytest.raises(ConfigError, match=names) as caught:
        load_settings(_config(tmp_path), environ)
    assert caught.value.key.split(".")[0] in {"webhooks", "backfill"}


def test_check_config_never_shows_the_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = {"kpn_shared_secret": "Kpn#Secret-0123456789-abcdefghij", "token": "NNSXS.SECRET-KEY"}
    for name, secret in secrets.items():
        (tmp_path / name).write_text(secret, encoding="utf-8")
    extra = f"""
[webhooks]
listen = "0.0.0.0:9110"
networks = ["kpn"]
kpn_shared_secret_file = "{tmp_path / "kpn_shared_secret"}"

[backfill]
url = "https://eu1.cloud.thethings.network"
application_id = "city-sensors"
token_file = "{tmp_path / "token"}"
"""
    assert main(["check-config", "--config", str(_config(tmp_path, extra))]) == 0
    out = capsys.readouterr()
    assert '"kpn_shared_secret": "**********"' in out.out
    for secret in secrets.values():
        assert secret not in out.out + out.err

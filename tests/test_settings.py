"""Settings: the shipped example, environment overrides, secrets, and errors that name the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.errors import ConfigError
from ingest.settings import InfluxApi, Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "config" / "city-ingest.toml"
MARKED = "tok-7f3a9c-never-shown"
MINIMAL = """\
[[sources]]
network = "tts"
topic = "v3/+/devices/+/up"

[registry]
path = "devices.csv"

[decoders]
path = "decoders.toml"
"""


def write_config(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "city-ingest.toml"
    path.write_text(text, encoding="utf-8")
    return path


def write_secret(path: Path, secret: str = MARKED) -> Path:
    path.write_text(f"{secret}\n", encoding="utf-8")
    return path


def config_error(path: Path, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ or {})
    return caught.value


def test_shipped_example_is_valid() -> None:
    settings = load_settings(EXAMPLE, {})
    assert [s.network.value for s in settings.sources] == ["tts", "chirpstack", "kpn"]
    assert settings.registry.path == REPO / "config" / "devices.csv"
    assert settings.registry.path.is_file()
    assert settings.decoders.path.is_file()
    assert settings.dead_letter.dir == REPO / "var" / "dead-letter"
    assert settings.influxdb.api is InfluxApi.AUTO
    assert settings.mqtt.qos == 1
    assert settings.mqtt.clean_start is False


def test_environment_overrides_the_file_with_typed_values() -> None:
    env = {
        "CITY_INGEST_INFLUXDB__URL": "http://influxdb:8086/",
        "CITY_INGEST_MQTT__PORT": "1884",
        "CITY_INGEST_MQTT__TLS": "true",
        "CITY_INGEST_MQTT__QOS": "1",
        "CITY_INGEST_INFLUXDB__FLUSH_INTERVAL": "0.25",
        "UNRELATED_MQTT__PORT": "9",
    }
    settings = load_settings(EXAMPLE, env)
    assert settings.influxdb.url == "http://influxdb:8086"
    assert settings.mqtt.port == 1884
    assert isinstance(settings.mqtt.port, int)
    assert settings.mqtt.tls is True
    assert settings.influxdb.flush_interval == 0.25


def test_text_settings_from_the_environment_stay_text() -> None:
    env = {
        "CITY_INGEST_MQTT__USERNAME": "1234",
        "CITY_INGEST_MQTT__CLIENT_ID": "007",
        "CITY_INGEST_INFLUXDB__DATABASE": "2024",
    }
    settings = load_settings(EXAMPLE, env)
    assert settings.mqtt.username == "1234"
    assert settings.mqtt.client_id == "007"
    assert settings.influxdb.database == "2024"


def test_secret_from_an_environment_file(tmp_path: Path) -> None:
    token = write_secret(tmp_path / "token")
    env = {"CITY_INGEST_INFLUXDB__TOKEN_FILE": str(token), "CITY_INGEST_INFLUXDB__API": "v2"}
    settings = load_settings(EXAMPLE, env)
    assert settings.influxdb.token is not None
    assert settings.influxdb.token.get_secret_value() == MARKED


def test_secret_file_for_a_section_the_file_lacks(tmp_path: Path) -> None:
    key = write_secret(tmp_path / "pseudonym.key", "k" * 32)
    config = write_config(tmp_path, MINIMAL)
    settings = load_settings(config, {"CITY_INGEST_PRIVACY__PSEUDONYM_KEY_FILE": str(key)})
    assert settings.privacy.pseudonym_key is not None
    assert settings.privacy.pseudonym_key.get_secret_value() == "k" * 32


def test_token_file_in_toml_is_relative_to_the_config(tmp_path: Path) -> None:
    folder = tmp_path / "etc"
    config = write_config(folder, MINIMAL + '[influxdb]\ntoken_file = "secrets/token"\n')
    (folder / "secrets").mkdir()
    write_secret(folder / "secrets" / "token")
    settings = load_settings(config, {})
    assert settings.influxdb.token is not None
    assert settings.influxdb.token.get_secret_value() == MARKED


def test_environment_secret_file_wins_over_the_toml_one(tmp_path: Path) -> None:
    config = write_config(tmp_path, MINIMAL + '[influxdb]\ntoken_file = "missing/token"\n')
    token = write_secret(tmp_path / "env-token", "from-the-environment")
    settings = load_settings(config, {"CITY_INGEST_INFLUXDB__TOKEN_FILE": str(token)})
    assert settings.influxdb.token is not None
    assert settings.influxdb.token.get_secret_value() == "from-the-environment"


def test_secrets_never_show(tmp_path: Path) -> None:
    env = {
        "CITY_INGEST_INFLUXDB__TOKEN_FILE": str(write_secret(tmp_path / "t", MARKED)),
        "CITY_INGEST_MQTT__PASSWORD_FILE": str(write_secret(tmp_path / "p", "pw-4d2c-hidden")),
        "CITY_INGEST_PRIVACY__PSEUDONYM_KEY_FILE": str(write_secret(tmp_path / "k", "k" * 32)),
    }
    settings = load_settings(EXAMPLE, env)
    shown = [
        repr(settings),
        str(settings),
        json.dumps(settings.model_dump(mode="json")),
        str(settings.model_dump()),
    ]
    for text in shown:
        assert MARKED not in text
        assert "pw-4d2c-hidden" not in text
        assert "k" * 32 not in text
    assert settings.mqtt.password is not None
    assert settings.mqtt.password.get_secret_value() == "pw-4d2c-hidden"


def test_relative_paths_resolve_against_the_config_directory(tmp_path: Path) -> None:
    folder = tmp_path / "deploy" / "config"
    text = MINIMAL + '[dead_letter]\ndir = "../var/dl"\n[mqtt]\nca_file = "certs/ca.crt"\n'
    settings = load_settings(write_config(folder, text), {})
    assert settings.registry.path == folder / "devices.csv"
    assert settings.decoders.path == folder / "decoders.toml"
    assert settings.dead_letter.dir == tmp_path / "deploy" / "var" / "dl"
    assert settings.mqtt.ca_file == folder / "certs" / "ca.crt"


@pytest.mark.parametrize(
    ("text", "key", "hint"),
    [
        (MINIMAL.replace('[registry]\npath = "devices.csv"\n', ""), "registry", "[registry]"),
        (MINIMAL.replace('path = "devices.csv"\n', ""), "registry.path", "[registry]"),
        (
            MINIMAL.replace("[[sources]]\n", "[[sources]]\nnetwork_ = 1\n"),
            "sources.0.network_",
            "did you mean `network`",
        ),
        (MINIMAL + '[mqtt]\nport = "abc"\n', "mqtt.port", "'abc'"),
        (MINIMAL + "[mqtt]\nport = 70000\n", "mqtt.port", "70000"),
        (MINIMAL + "[mqtt]\nqos = 0\n", "mqtt.qos", "Input should be 1"),
        (MINIMAL + '[influxdb]\nurll = "http://x"\n', "influxdb.urll", "did you mean `url`"),
        (MINIMAL + '[influxdb]\nurl = "localhost:8086"\n', "influxdb.url", "add the scheme"),
        (MINIMAL.replace("v3/+/devices/+/up", "a/#/b"), "sources.0.topic", "whole last level"),
        (MINIMAL.replace("v3/+/devices/+/up", "v3/a+/up"), "sources.0.topic", "whole level"),
        (MINIMAL + '[influxdb]\napi = "v2"\n', "influxdb.token", "token_file"),
        (MINIMAL + '[influx]\nurl = "http://x"\n', "influx", "did you mean `influxdb`"),
        (MINIMAL + '[http]\nlisten = "9108"\n', "http.listen", "127.0.0.1:9108"),
        (MINIMAL + "[mqtt\nport = 1\n", "--config", "not valid TOML"),
    ],
)
def test_config_errors_name_the_key_and_the_fix(
    tmp_path: Path, text: str, key: str, hint: str
) -> None:
    error = config_error(write_config(tmp_path, text))
    assert error.key == key
    assert hint in str(error)
    assert str(error).startswith(f"config key `{key}`: ")
    assert error.fix


def test_missing_sources_says_add_a_sources_table(tmp_path: Path) -> None:
    text = MINIMAL.split("[registry]")[1]
    error = config_error(write_config(tmp_path, "[registry]" + text))
    assert error.key == "sources"
    assert "add a [[sources]] section" in error.fix


def test_missing_config_file(tmp_path: Path) -> None:
    error = config_error(tmp_path / "nope.toml")
    assert error.key == "--config"
    assert "nope.toml" in error.problem


def test_unreadable_secret_file_from_toml(tmp_path: Path) -> None:
    config = write_config(tmp_path, MINIMAL + '[influxdb]\ntoken_file = "no/such/token"\n')
    error = config_error(config)
    assert error.key == "influxdb.token_file"
    assert str(tmp_path / "no" / "such" / "token") in error.problem
    assert "readable file" in error.fix


def test_unreadable_secret_file_from_environment(tmp_path: Path) -> None:
    config = write_config(tmp_path, MINIMAL)
    name = "CITY_INGEST_MQTT__PASSWORD_FILE"
    error = config_error(config, {name: str(tmp_path / "missing")})
    assert error.key == name


def test_empty_secret_file(tmp_path: Path) -> None:
    config = write_config(tmp_path, MINIMAL)
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="utf-8")
    error = config_error(config, {"CITY_INGEST_INFLUXDB__TOKEN_FILE": str(empty)})
    assert error.key == "CITY_INGEST_INFLUXDB__TOKEN_FILE"
    assert "empty" in error.problem


def test_list_sections_cannot_come_from_the_environment(tmp_path: Path) -> None:
    name = "CITY_INGEST_SOURCES__TOPIC"
    error = config_error(write_config(tmp_path, MINIMAL), {name: "x/+"})
    assert error.key == name
    assert "config file" in error.fix


def test_unknown_key_from_the_environment(tmp_path: Path) -> None:
    error = config_error(write_config(tmp_path, MINIMAL), {"CITY_INGEST_MQTT__PORTT": "1"})
    assert error.key == "mqtt.portt"
    assert "`port`" in error.fix


@pytest.mark.parametrize(
    "extra",
    [
        '[influxdb]\napi = "v2"\n',  # a model-level check once echoed the whole input
        "[mqtt]\nport = 1\nkeepalive = 1\n",
        "[mqtt]\npassword = 98765432123\n",
    ],
)
def test_errors_never_echo_secrets(tmp_path: Path, extra: str) -> None:
    key = write_secret(tmp_path / "key", "pseudonym-key-5e1f-0000")
    password = write_secret(tmp_path / "pw", "pw-4d2c-hidden")
    env = {
        "CITY_INGEST_PRIVACY__PSEUDONYM_KEY_FILE": str(key),
        "CITY_INGEST_MQTT__PASSWORD_FILE": str(password),
    }
    if "password =" in extra:
        del env["CITY_INGEST_MQTT__PASSWORD_FILE"]
    error = config_error(write_config(tmp_path, MINIMAL + extra), env)
    for secret in ("pseudonym-key-5e1f-0000", "pw-4d2c-hidden", "98765432123"):
        assert secret not in str(error)


def test_settings_models_forbid_unknown_keys() -> None:
    with pytest.raises(ValueError, match="extra"):
        Settings.model_validate(
            {"sources": [], "registry": {"path": "a"}, "decoders": {"path": "b"}, "x": 1}
        )

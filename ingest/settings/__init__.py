"""Validated configuration: one pydantic model per section of ``config/city-ingest.toml``.

Sources of values, later ones winning: the TOML file, then environment variables
``CITY_INGEST_<SECTION>__<KEY>`` (e.g. ``CITY_INGEST_INFLUXDB__URL``). A secret ``X`` may also
be given as a path ``x_file`` in the TOML or ``CITY_INGEST_<SECTION>__<X>_FILE`` in the
environment; the file's content (stripped) is the secret. Secrets are ``SecretStr``: they never
show in a repr, a log line or ``check-config``. Unknown keys stop start-up. Relative paths are
resolved against the directory of the config file.
"""

from ingest.settings.influx import (
    InfluxApi,
    InfluxSettings,
    RetentionManagement,
    RetentionSettings,
    duration_seconds,
)
from ingest.settings.integrations import BackfillSettings, NatsSettings, WebhookSettings
from ingest.settings.loading import ENV_PREFIX, load_settings
from ingest.settings.sections import (
    DeadLetterSettings,
    DedupSettings,
    HttpSettings,
    LoggingSettings,
    MqttClient,
    MqttSettings,
    PathSettings,
    PrivacySettings,
    ProcessorSettings,
    RegistrySettings,
    Settings,
    SourceSettings,
    SpoolSettings,
)

__all__ = [
    "ENV_PREFIX",
    "BackfillSettings",
    "DeadLetterSettings",
    "DedupSettings",
    "HttpSettings",
    "InfluxApi",
    "InfluxSettings",
    "LoggingSettings",
    "MqttClient",
    "MqttSettings",
    "NatsSettings",
    "PathSettings",
    "PrivacySettings",
    "ProcessorSettings",
    "RegistrySettings",
    "RetentionManagement",
    "RetentionSettings",
    "Settings",
    "SourceSettings",
    "SpoolSettings",
    "WebhookSettings",
    "duration_seconds",
    "load_settings",
]

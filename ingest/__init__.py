"""city-ingest: LoRaWAN sensor uplinks from MQTT to quality-flagged readings in InfluxDB."""

__all__ = ["__version__"]

__version__ = "0.1.0"

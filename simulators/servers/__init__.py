"""Real servers for tests, benchmarks and the demo: Mosquitto, InfluxDB 1.x, VictoriaMetrics,
a 3-node NATS JetStream cluster.

Each runs as a child process in its own directory on a free loopback port, with `host`,
`port`, `url`, `start()`, `stop()` (SIGTERM), `kill()` (SIGKILL), `restart()` (same port,
same data) and context-manager support. Waiting is `wait_until(predicate, timeout)`.
"""

from simulators.servers.http_client import HttpResponse, request
from simulators.servers.influxdb import InfluxV1
from simulators.servers.mosquitto import Mosquitto, render_test_config
from simulators.servers.nats import NatsCluster
from simulators.servers.polling import wait_until
from simulators.servers.process import ServerError, ServerProcess, free_port
from simulators.servers.victoria import VictoriaMetrics

__all__ = [
    "HttpResponse",
    "InfluxV1",
    "Mosquitto",
    "NatsCluster",
    "ServerError",
    "ServerProcess",
    "VictoriaMetrics",
    "free_port",
    "render_test_config",
    "request",
    "wait_until",
]

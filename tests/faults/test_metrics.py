"""What /metrics says once the service has nothing left to do."""

from __future__ import annotations

import pytest

from simulators.servers import wait_until
from tests.e2e import wait_for_accounting
from tests.faults.harness import City, metric

pytestmark = pytest.mark.faults


def test_in_flight_is_zero_once_everything_is_acknowledged(city: City) -> None:
    with city.service() as service:
        with city.publishing(3000, 49):
            pass
        wait_for_accounting(service, len(city.manifest))
        wait_until(
            lambda: metric(service, "city_ingest_in_flight") == 0,
            5,
            message="city_ingest_in_flight stayed above 0 with nothing left to acknowledge",
        )

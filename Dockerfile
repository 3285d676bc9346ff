# city-ingest service image: `docker compose build` (docker-compose.yml), or
#   docker build -t city-ingest . && docker run city-ingest check-config --config FILE
#
# The package is installed as CI installs it (`pip install -e '.[dev]'` in the Makefile), minus
# the editable mode and the dev extra: `pip install .` from pyproject.toml. tests/deploy checks
# that the two stay the same. Two stages, so no build tool or source tree is left in the image.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/city-ingest
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ingest ./ingest
COPY processors ./processors
COPY simulators ./simulators
RUN /opt/city-ingest/bin/pip install .

FROM python:3.11-slim
ENV PATH=/opt/city-ingest/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=build /opt/city-ingest /opt/city-ingest
# A system user without a login shell; the named volumes of docker-compose.yml start as copies
# of these directories, so they belong to it too.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/city-ingest \
        --shell /usr/sbin/nologin city-ingest \
    && mkdir -p /etc/city-ingest /var/lib/city-ingest/spool /var/lib/city-ingest/dead-letter \
        /var/lib/city-ingest/state \
    && chown -R city-ingest:city-ingest /var/lib/city-ingest
# Defaults for a bare `docker run`; docker-compose.yml mounts its own over them.
COPY config/decoders.toml config/devices.csv /etc/city-ingest/
COPY config/compose/city-ingest.toml /etc/city-ingest/city-ingest.toml
USER city-ingest
WORKDIR /var/lib/city-ingest
# /metrics, /healthz, /readyz (config/compose/city-ingest.toml: [http] listen)
EXPOSE 9108
# Ready = broker subscribed and InfluxDB writable (or spooling within limits); see docs/deploy.md.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:9108/readyz', timeout=4)"]
# SIGTERM (docker stop) drains: in-flight batches are written and acknowledged, then exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["city-ingest"]
CMD ["run", "--config", "/etc/city-ingest/city-ingest.toml"]

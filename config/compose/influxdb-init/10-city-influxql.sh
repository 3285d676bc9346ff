#!/bin/bash
# InfluxQL access to the `city` bucket, for Grafana's dashboards (config/grafana/).
#
# The influxdb:2.7 image runs the executable *.sh files of /docker-entrypoint-initdb.d once,
# when it initialises an empty volume (DOCKER_INFLUXDB_INIT_MODE=setup), after `influx setup`
# made the org, the bucket and the admin token. The influx CLI is then logged in as the admin,
# and DOCKER_INFLUXDB_INIT_BUCKET_ID names the bucket. This script adds:
#   1. a DBRP mapping: InfluxQL database `city`, retention policy `autogen` -> bucket `city`,
#      so that `SELECT ... FROM air` on /query (the InfluxDB 1.x API) reads the bucket;
#   2. a v1-API user `grafana` that may only read the bucket, with the password of the secret
#      file grafana_influxdb_password; Grafana's datasource logs in with it.
# To run it on an existing volume: docker compose exec influxdb bash \
#   /docker-entrypoint-initdb.d/10-city-influxql.sh   (after `export` of the two variables).
set -euo pipefail

bucket_id="${DOCKER_INFLUXDB_INIT_BUCKET_ID:?run by the influxdb image at initialisation}"
database="${CITY_INFLUXQL_DATABASE:-city}"
password_file="${GRAFANA_INFLUXDB_PASSWORD_FILE:-/run/secrets/grafana_influxdb_password}"

if [ ! -s "$password_file" ]; then
    echo "10-city-influxql.sh: $password_file is missing or empty; run 'make secrets'" >&2
    exit 1
fi

influx v1 dbrp create --bucket-id "$bucket_id" --db "$database" --rp autogen --default
influx v1 auth create --username grafana --password "$(cat "$password_file")" \
    --read-bucket "$bucket_id" --description "Grafana dashboards (read only)"
echo "10-city-influxql.sh: database '$database' maps to bucket $bucket_id; user grafana reads it"

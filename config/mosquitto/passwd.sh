#!/bin/sh
# Writes Mosquitto's password file from the MQTT secret files, then exits.
#
# docker-compose.yml runs it in the eclipse-mosquitto:2 container before the broker; the tests
# run it with Debian's mosquitto_passwd. Each user's password is the content of a secret file
# from `make secrets`; the file holds only salted hashes (mosquitto_passwd(1)) and lives on a
# tmpfs, so it is made anew at every start and a changed secret takes effect on a restart.
#
# Environment: SECRETS_DIR (default /run/secrets), PASSWD_FILE (default /mosquitto/auth/passwd).
set -eu

secrets_dir="${SECRETS_DIR:-/run/secrets}"
passwd_file="${PASSWD_FILE:-/mosquitto/auth/passwd}"

# user name : secret file name (the users of config/mosquitto/acl)
users="city-ingest:mqtt_ingest_password tts:mqtt_tts_password
chirpstack:mqtt_chirpstack_password kpn:mqtt_kpn_password simulator:mqtt_simulator_password"

umask 077
draft="${passwd_file}.new"
: > "$draft"
count=0
for entry in $users; do
    user="${entry%%:*}"
    secret="${secrets_dir}/${entry#*:}"
    if [ ! -s "$secret" ]; then
        echo "passwd.sh: no secret $secret; user $user cannot log in" >&2
        continue
    fi
    # -b takes the password as an argument: it is visible only inside this container, briefly
    mosquitto_passwd -b "$draft" "$user" "$(cat "$secret")"
    count=$((count + 1))
done
if [ "$count" -eq 0 ]; then
    echo "passwd.sh: no MQTT secret found in $secrets_dir; run 'make secrets'" >&2
    rm -f "$draft"
    exit 1
fi
# Mosquitto 2 drops to the mosquitto user right after reading its config, before it opens the
# password file: that user must own it (and may then read it again on a SIGHUP reload).
if id mosquitto >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    chown mosquitto:mosquitto "$draft" "$(dirname "$passwd_file")"
fi
mv "$draft" "$passwd_file"
echo "passwd.sh: $count MQTT users written to $passwd_file"

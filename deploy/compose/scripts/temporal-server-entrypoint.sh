#!/bin/sh
# Entrypoint of the `temporal` service: the server image reads its database password only from
# POSTGRES_PWD (docker/config_template*.yaml in temporalio/temporal), so it is loaded here from
# the compose secret that POSTGRES_PWD_FILE names, then the image's own start is run.
set -eu

POSTGRES_PWD="$(cat "${POSTGRES_PWD_FILE:?POSTGRES_PWD_FILE must name the database password file}")"
export POSTGRES_PWD
unset POSTGRES_PWD_FILE

# temporalio/server images run /etc/temporal/entrypoint.sh (it fills in BIND_ON_IP and
# TEMPORAL_BROADCAST_ADDRESS, then starts temporal-server); fall back to doing the same.
if [ -x /etc/temporal/entrypoint.sh ]; then
  exec /etc/temporal/entrypoint.sh "$@"
fi
own_ip="$(getent hosts "$(hostname)" | awk '{print $1; exit}')"
: "${BIND_ON_IP:=$own_ip}"
export BIND_ON_IP
if [ "$BIND_ON_IP" = "0.0.0.0" ] || [ "$BIND_ON_IP" = "::0" ]; then
  : "${TEMPORAL_BROADCAST_ADDRESS:=$own_ip}"
  export TEMPORAL_BROADCAST_ADDRESS
fi
exec temporal-server start "$@"

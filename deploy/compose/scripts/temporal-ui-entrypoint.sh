#!/bin/sh
# Entrypoint of the `temporal-ui` service: the UI server reads its OIDC client secret only from
# TEMPORAL_AUTH_CLIENT_SECRET (server/docker/config-template.yaml in temporalio/ui), so it is
# loaded here from the compose secret. TEMPORAL_AUTH_CLIENT_SECRET_FILE is this script's
# variable, not the UI's.
set -eu

TEMPORAL_AUTH_CLIENT_SECRET="$(cat "${TEMPORAL_AUTH_CLIENT_SECRET_FILE:?TEMPORAL_AUTH_CLIENT_SECRET_FILE must name the OIDC client secret file}")"
export TEMPORAL_AUTH_CLIENT_SECRET
unset TEMPORAL_AUTH_CLIENT_SECRET_FILE

# The image's entrypoint, relative to its working directory (/home/ui-server).
exec ./start-ui-server.sh "$@"

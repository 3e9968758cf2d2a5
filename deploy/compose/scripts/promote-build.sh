#!/bin/sh
# Release gate (service `confide-promote`, profile "release", Confide's image): replays every
# case that is open or was started since CONFIDE_REPLAY_SINCE with this build's code, and only
# if none diverges makes CONFIDE_BUILD_ID the current version of the worker deployment, so new
# cases start on it. Cases already running stay pinned to the build they started on
# (infra/versioning.py); keep that build's workers running (profile "drain") until they end.
set -eu

: "${CONFIDE_BUILD_ID:?CONFIDE_BUILD_ID is not set}"
: "${CONFIDE_REPLAY_SINCE:?set CONFIDE_REPLAY_SINCE=YYYY-MM-DD (UTC): cases started since then are replayed too}"

confide audit replay --all --since "$CONFIDE_REPLAY_SINCE"
temporal worker deployment set-current-version \
  --deployment-name "${CONFIDE_DEPLOYMENT_NAME:-confide}" \
  --build-id "$CONFIDE_BUILD_ID" \
  --namespace "${TEMPORAL_NAMESPACE:-confide}" \
  --yes
echo "Build ${CONFIDE_BUILD_ID} is current: new cases start on it."

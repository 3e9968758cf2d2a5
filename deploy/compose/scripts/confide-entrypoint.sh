#!/bin/sh
# Entrypoint of Confide's image (deploy/compose/Dockerfile). Confide reads its own secrets from
# files (CONFIDE_*_FILE), but two libraries it uses take theirs only from the environment:
#   TEMPORAL_API_KEY  the Temporal SDK and CLI (temporalio.envconfig): the token sent to the
#                     server as "Authorization: Bearer ..."; loaded from TEMPORAL_API_KEY_FILE;
#   PGPASSWORD        libpq (psycopg): the ledger database password, so CONFIDE_LEDGER_URL
#                     carries none; loaded from PGPASSWORD_FILE.
# The *_FILE names are this script's convention, not the libraries'. Then the command runs.
set -eu

load_from_file() {
  name=$1
  eval "file=\${${name}_FILE:-}"
  [ -n "$file" ] || return 0
  if [ ! -r "$file" ]; then
    echo "${name}_FILE names ${file}, which cannot be read." >&2
    exit 1
  fi
  value="$(cat "$file")"
  export "$name=$value"
  unset "${name}_FILE"
}

load_from_file TEMPORAL_API_KEY
load_from_file PGPASSWORD

exec "$@"

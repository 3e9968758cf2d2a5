#!/bin/sh
# One-shot job (service `temporal-schema`, image temporalio/admin-tools), in the shape of
# temporalio/samples-server compose/scripts/setup-postgres.sh: creates the `temporal` and
# `temporal_visibility` databases on temporal-db and brings both to the schema this Temporal
# release ships. Run on every `up`: a database that already exists is only updated
# (update-schema applies the versions it lacks and nothing else).
#
# The password is read from the compose secret (POSTGRES_PWD_FILE), never from the
# environment of the compose file; temporal-sql-tool takes it from SQL_PASSWORD.
set -eu

HOST="${POSTGRES_SEEDS:-temporal-db}"
PORT="${DB_PORT:-5432}"
USER="${POSTGRES_USER:-temporal}"
SCHEMA_DIR="${TEMPORAL_SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}"
SQL_PASSWORD="$(cat "${POSTGRES_PWD_FILE:?POSTGRES_PWD_FILE must name the database password file}")"
export SQL_PASSWORD

echo "Waiting for PostgreSQL at ${HOST}:${PORT}..."
attempt=0
until nc -z -w 5 "$HOST" "$PORT"; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 60 ]; then
    echo "PostgreSQL at ${HOST}:${PORT} did not answer in 2 minutes." >&2
    exit 1
  fi
  sleep 2
done

sql_tool() {
  temporal-sql-tool --plugin postgres12 --ep "$HOST" -u "$USER" -p "$PORT" "$@"
}

# setup-schema -v 0.0 only right after `create` succeeded: on an existing database it would
# set the recorded version back to 0.0, and update-schema would then replay every version.
setup_database() {
  db=$1
  versioned=$2
  if sql_tool --db "$db" create; then
    echo "Created database ${db}."
    sql_tool --db "$db" setup-schema -v 0.0
  else
    echo "Database ${db} exists: updating its schema only."
  fi
  sql_tool --db "$db" update-schema -d "${SCHEMA_DIR}/${versioned}/versioned"
}

setup_database "${DBNAME:-temporal}" temporal
setup_database "${VISIBILITY_DBNAME:-temporal_visibility}" visibility
echo "Temporal's schema is up to date."

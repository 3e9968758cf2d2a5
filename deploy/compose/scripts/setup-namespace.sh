#!/bin/sh
# One-shot job (service `temporal-namespace`, image temporalio/admin-tools): waits for the
# Temporal frontend, creates Confide's namespace with its retention, and registers Confide's
# search attributes in it. Safe to run again: an existing namespace gets the configured
# retention, and an attribute already registered is left as it is.
#
# It talks to the *internal* frontend (temporal:7236), which the server runs because
# USE_INTERNAL_FRONTEND is set: that listener is for the cluster's own callers and maps every
# request to system admin (no token), which creating a namespace and adding search attributes
# need. It is never published outside the compose network; people and Confide use the public
# frontend (temporal:7233), where the JWT authorizer applies.
#
# Retention (CONFIDE_NAMESPACE_RETENTION, default 720h = 30 days): how long Temporal keeps a
# closed case's history before deleting it. Confide's archive (`confide audit schedule`, every
# CONFIDE_ARCHIVE_EVERY_MINUTES, default 60) copies each closed run's history into the ledger
# database, where it is kept for the six years the records must be kept
# (deploy/production/README.md, "Schema and archive": keep retention longer than the interval,
# a day or more). 30 days leaves weeks for an archive outage to be noticed and repaired before
# any history is deleted unarchived, and lets the Web UI show a case for a month after it
# closes, without keeping every closed case in Temporal's database for years.
#
# The attributes are the list in workflows/search_attributes.py (deploy/production/README.md
# shows the same block). Types must match: workers and the API refuse to start, naming the
# command to run, if one is missing or has another type. PostgreSQL visibility holds at most
# 3 Bool, 3 Datetime, 3 KeywordList and 10 Keyword custom attributes per namespace.
set -eu

ADDRESS="${TEMPORAL_ADDRESS:-temporal:7236}"
NAMESPACE="${CONFIDE_NAMESPACE:-confide}"
RETENTION="${CONFIDE_NAMESPACE_RETENTION:-720h}"

echo "Waiting for the Temporal frontend at ${ADDRESS}..."
attempt=0
until temporal operator cluster health --address "$ADDRESS" >/dev/null 2>&1; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 60 ]; then
    echo "The Temporal frontend at ${ADDRESS} did not answer in 2 minutes." >&2
    exit 1
  fi
  sleep 2
done
echo "The Temporal frontend answers."

if temporal operator namespace describe --namespace "$NAMESPACE" --address "$ADDRESS" >/dev/null 2>&1; then
  echo "Namespace ${NAMESPACE} exists: setting its retention to ${RETENTION}."
  temporal operator namespace update --namespace "$NAMESPACE" --retention "$RETENTION" --address "$ADDRESS"
else
  echo "Creating namespace ${NAMESPACE} (retention ${RETENTION})."
  temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" \
    --description "Confide: confidentiality-exception cases" --address "$ADDRESS"
fi

# One attribute per call: `search-attribute create` takes a single type.
search_attribute() {
  if out=$(temporal operator search-attribute create --namespace "$NAMESPACE" --address "$ADDRESS" "$@" 2>&1); then
    echo "Registered $2 ($4)."
    return 0
  fi
  case "$out" in
    *"different type"*) echo "$out" >&2; return 1 ;;
    *[Aa]lready*) echo "$2 is already registered." ;;
    *) echo "$out" >&2; return 1 ;;
  esac
}

search_attribute --name ConfidePath --type Keyword
search_attribute --name ConfideStatus --type Keyword
search_attribute --name ConfideWaitingOn --type KeywordList
search_attribute --name ConfideDueAt --type Datetime
search_attribute --name ConfideClinic --type Keyword
search_attribute --name ConfideJurisdiction --type Keyword
search_attribute --name ConfideOverdue --type Bool
search_attribute --name ConfidePolicyUnverified --type Bool

temporal operator search-attribute list --namespace "$NAMESPACE" --address "$ADDRESS"
echo "Namespace ${NAMESPACE} is ready."

"""The contract's search attributes (DESIGN.md §3). Opaque values only: never PHI."""

from typing import Any

from temporalio.common import SearchAttributeKey

PATH = SearchAttributeKey.for_keyword("ConfidePath")
STATUS = SearchAttributeKey.for_keyword("ConfideStatus")
WAITING_ON = SearchAttributeKey.for_keyword_list("ConfideWaitingOn")
DUE_AT = SearchAttributeKey.for_datetime("ConfideDueAt")
CLINIC = SearchAttributeKey.for_keyword("ConfideClinic")
JURISDICTION = SearchAttributeKey.for_keyword("ConfideJurisdiction")
OVERDUE = SearchAttributeKey.for_bool("ConfideOverdue")
# Added to the contract's list: a case relying on a rule no source confirmed, for the
# privacy officer's filter (`ConfidePolicyUnverified = true`).
POLICY_UNVERIFIED = SearchAttributeKey.for_bool("ConfidePolicyUnverified")

ALL = [PATH, STATUS, WAITING_ON, DUE_AT, CLINIC, JURISDICTION, OVERDUE, POLICY_UNVERIFIED]

TYPE_NAMES: dict[SearchAttributeKey[Any], str] = {
    PATH: "Keyword",
    STATUS: "Keyword",
    WAITING_ON: "KeywordList",
    DUE_AT: "Datetime",
    CLINIC: "Keyword",
    JURISDICTION: "Keyword",
    OVERDUE: "Bool",
    POLICY_UNVERIFIED: "Bool",
}


class NotRegistered(SystemExit):
    """The namespace lacks attributes Confide writes: every workflow task of every case would
    fail on its first upsert, so worker and API refuse to start and say what to run."""


def register_command(namespace: str) -> str:
    """The `temporal` CLI command that registers every attribute (deploy/production/README.md
    shows it; tests/test_search_attributes.py checks the two agree)."""
    names = " \\\n  ".join(f"--name {key.name} --type {t}" for key, t in TYPE_NAMES.items())
    return f"temporal operator search-attribute create --namespace {namespace} \\\n  {names}"


async def check_registered(client, namespace: str) -> None:
    """Refuse to start against a namespace that lacks one of our attributes, or has it with
    another type. A server that cannot list them (the time-skipping test server) passes."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
    from temporalio.service import RPCError, RPCStatusCode

    try:
        existing = (
            await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=namespace)
            )
        ).custom_attributes
    except RPCError as e:
        if e.status == RPCStatusCode.UNIMPLEMENTED:
            return
        raise
    wrong = [
        f"{key.name} ({t})"
        for key, t in TYPE_NAMES.items()
        if existing.get(key.name) != IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{_proto_name(t)}")
    ]
    if wrong:
        raise NotRegistered(
            f"namespace {namespace} lacks search attributes {', '.join(wrong)}; register them "
            f"before starting Confide:\n{register_command(namespace)}"
        )


async def register(client, namespace: str = "default") -> None:
    """Register the contract's attributes on a server that lacks them (idempotent)."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import (
        AddSearchAttributesRequest,
        ListSearchAttributesRequest,
    )
    from temporalio.service import RPCError, RPCStatusCode

    try:
        existing = (
            await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=namespace)
            )
        ).custom_attributes
    except RPCError as e:
        # The Java time-skipping test server can add attributes but not list them.
        if e.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        existing = {}
    missing = {
        key.name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{_proto_name(t)}")
        for key, t in TYPE_NAMES.items()
        if key.name not in existing
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )


def _proto_name(type_name: str) -> str:
    return {"KeywordList": "KEYWORD_LIST", "Datetime": "DATETIME"}.get(type_name, type_name.upper())

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

"""A patient's authorization to disclose (45 CFR 164.508; POST /v1/authorizations, DESIGN.md §3).

Intake accepts an authorization that lacks required elements: a defective one is not dropped but
put on hold, and `problems` names each missing element by field and by the paragraph of
164.508(c) that requires it, so the requester can send a corrected one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from datetime import datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from domain.documents import RecordCategory
from domain.flags import Email, Jurisdiction, OpaqueKey
from domain.release import ReleaseAuthority

Text = Annotated[str, StringConstraints(max_length=400)]


class _Lenient(BaseModel):
    # Unknown fields are still refused (a misspelled field would otherwise read as "missing");
    # missing elements are accepted and named in `problems`.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, hide_input_in_errors=True)


class AuthorizedInformation(_Lenient):
    """164.508(c)(1)(i): a specific and meaningful description of the information."""

    model_config = ConfigDict(populate_by_name=True)
    from_: dt.date | None = Field(None, alias="from")
    to: dt.date | None = None
    categories: list[RecordCategory] = []
    psychotherapy_notes: bool = False

    @property
    def for_notes(self) -> bool:
        """Whether this authorization is for psychotherapy notes (flag or category)."""
        return self.psychotherapy_notes or RecordCategory.psychotherapy_note in self.categories


class AuthorizedRecipient(_Lenient):
    """164.508(c)(1)(iii): who may receive the information."""

    name: Text | None = None
    email: Email | None = None
    address: Text | None = None


class Signer(_Lenient):
    """164.508(c)(1)(vi): who signed; a personal representative also states their authority."""

    name: Text | None = None
    relationship: Annotated[str, StringConstraints(max_length=100)] = "self"
    authority: Text | None = None


class Statements(_Lenient):
    """164.508(c)(2): the statements the form must contain."""

    right_to_revoke: bool = False
    conditioning: bool = False
    redisclosure: bool = False


class AuthorizationPatient(_Lenient):
    """The patient by opaque reference, plus where a notice can reach them (optional)."""

    ref: OpaqueKey
    name: Text | None = None
    email: Email | None = None


class Authorization(_Lenient):
    """POST /v1/authorizations: the contract's field names."""

    clinic_id: OpaqueKey
    authorization_id: OpaqueKey
    jurisdiction: Jurisdiction
    patient: AuthorizationPatient
    information: AuthorizedInformation | None = None
    discloser: Text | None = None
    recipient: AuthorizedRecipient | None = None
    purpose: Annotated[str, StringConstraints(max_length=1000)] | None = None
    expires_at: dt.date | None = None
    expiry_event: Annotated[str, StringConstraints(max_length=400)] | None = None
    signed_by: Signer | None = None
    signed_at: dt.date | None = None
    statements: Statements = Statements()

    def digest(self) -> str:
        """A fingerprint of the whole body, to tell a re-sent authorization from another."""
        canonical = json.dumps(
            self.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def expires(self, timezone: str) -> datetime | None:
        """The end of the expiry date in the clinic's zone (a form says "valid until June 30")."""
        if self.expires_at is None:
            return None
        end = datetime.combine(self.expires_at, time(23, 59, 59), tzinfo=ZoneInfo(timezone))
        return end

    def authority(self) -> ReleaseAuthority:
        """What this authorization lets out beyond its named categories."""
        info = self.information or AuthorizedInformation()
        return ReleaseAuthority(
            psychotherapy_notes=None
            if info.for_notes
            else "a psychotherapy note: only a separate authorization for psychotherapy notes "
            "(164.508(a)(2))",
            part2=None
            if RecordCategory.sud_treatment in info.categories
            else "a Part 2 (substance-use) record: the authorization does not name "
            "substance-use records (42 CFR 2.31)",
        )

    def basis(self) -> str:
        """The legal basis a ledger row states."""
        signed = self.signed_at.isoformat() if self.signed_at else "undated"
        return (
            f"45 CFR 164.508 (the patient's authorization {self.authorization_id}, signed {signed})"
        )


def problems(auth: Authorization, today: dt.date) -> list[str]:
    """Every required element missing or wrong, each as "field: what 164.508 requires"."""
    out: list[str] = []
    info = auth.information
    if info is None or not info.categories or info.from_ is None or info.to is None:
        out.append(
            "information: a specific description of the information (record categories and "
            "the date range) (164.508(c)(1)(i))"
        )
    elif info.to < info.from_:
        out.append("information.to: before information.from")
    if info is not None and info.for_notes:
        others = [c for c in info.categories if c != RecordCategory.psychotherapy_note]
        if others:
            out.append(
                "information.categories: an authorization for psychotherapy notes may not be "
                "combined with any other authorization (164.508(b)(3)(ii)); send one for the "
                "notes and another for the rest"
            )
    if not auth.discloser:
        out.append("discloser: who may make the disclosure (164.508(c)(1)(ii))")
    if auth.recipient is None or not auth.recipient.name:
        out.append("recipient.name: who may receive the information (164.508(c)(1)(iii))")
    elif not (auth.recipient.email or auth.recipient.address):
        out.append("recipient: an e-mail or postal address to deliver the records to")
    if not auth.purpose:
        out.append("purpose: the purpose of each disclosure (164.508(c)(1)(iv))")
    if auth.expires_at is None and not auth.expiry_event:
        out.append("expires_at or expiry_event: an expiration date or event (164.508(c)(1)(v))")
    signer = auth.signed_by
    if signer is None or not signer.name:
        out.append("signed_by.name: the signature of the individual (164.508(c)(1)(vi))")
    elif signer.relationship.lower() != "self" and not signer.authority:
        out.append(
            "signed_by.authority: a personal representative's description of their authority "
            "to act for the individual (164.508(c)(1)(vi))"
        )
    if auth.signed_at is None:
        out.append("signed_at: the date of the signature (164.508(c)(1)(vi))")
    elif auth.signed_at > today:
        out.append("signed_at: is in the future")
    if auth.expires_at is not None:
        if auth.signed_at is not None and auth.expires_at < auth.signed_at:
            out.append("expires_at: before signed_at")
        elif auth.expires_at < today:
            out.append("expires_at: the authorization has already expired")
    st = auth.statements
    if not st.right_to_revoke:
        out.append(
            "statements.right_to_revoke: the right to revoke in writing and how (164.508(c)(2)(i))"
        )
    if not st.conditioning:
        out.append(
            "statements.conditioning: whether treatment or payment may be conditioned on "
            "signing (164.508(c)(2)(ii))"
        )
    if not st.redisclosure:
        out.append(
            "statements.redisclosure: that the recipient may redisclose the information "
            "(164.508(c)(2)(iii))"
        )
    return out


REVIEW_WITHIN = timedelta(days=2)

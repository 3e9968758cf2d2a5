"""The write-back pass (issue 15): every disclosure of a clinic with a FHIR source that is not
yet in its EHR goes there as an IHE BALP AuditEvent, with a Communication copy of the notice
for the chart where the EHR takes one; then the rows are noted as written (infra.fhir_writes).

Run by a Temporal Schedule (workflows/fhir_write_back.py), not by the cases: a case's history
gains nothing, an EHR that is down delays only the copies, and the ledger stays the record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from fhirpy.base.exceptions import OperationOutcome
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from audit.fhir_audit_events import audit_event
from audit.fhir_communications import notice_communication
from domain.clinic import ClinicDirectory
from domain.records import Disclosure
from infra.fhir_audit_writer import FhirWriteRefused, send_audit_events, send_communications
from infra.fhir_common import FLAG_PREFIX
from infra.fhir_ehr import Ehrs
from infra.fhir_writes import mark_written, unwritten
from infra.ledger_db import Ledger
from infra.smart_auth import SmartTokenRefused

log = structlog.get_logger()

# Rows written per round; a pass goes round until nothing is left.
BATCH = 100


class WriteBackPass(BaseModel):
    pass


class WriteBackOutcome(BaseModel):
    written: int = 0
    # AuditEvents the EHR did not take this pass (tried again by the next).
    not_taken: int = 0
    # Clinics whose EHR refused the Communication copies (their AuditEvents were written).
    copies_refused: list[str] = []


class FhirWriteBackActivities:
    def __init__(self, ledger: Ledger, ehrs: Ehrs, clinics: Callable[[], ClinicDirectory]) -> None:
        self._ledger = ledger
        self._ehrs = ehrs
        self._clinics = clinics

    @activity.defn(name="write_back_to_ehr")
    async def write_back_to_ehr(self, _: WriteBackPass) -> WriteBackOutcome:
        """Write every unwritten disclosure of every FHIR clinic into its EHR. One clinic's
        trouble does not keep the others waiting; one row the EHR will not take does not
        keep the rows after it waiting (it is tried again by the next pass)."""
        outcome = WriteBackOutcome()
        failures: list[str] = []
        refused = False
        for clinic_id in self._ehrs.clinic_ids():
            try:
                await self._clinic_pass(clinic_id, outcome)
            except FhirWriteRefused as e:
                refused = True
                failures.append(f"{clinic_id}: {e}")
            except SmartTokenRefused as e:
                failures.append(f"{clinic_id}: {e}")
            except Exception as e:
                # fhirpy's messages quote the EHR's answer, which can quote what was sent:
                # only the type leaves.
                log.warning(
                    "fhir write-back failed", clinic_id=clinic_id, error_type=type(e).__name__
                )
                failures.append(f"{clinic_id}: writing to the EHR failed ({type(e).__name__})")
        log.info(
            "fhir write-back pass",
            written=outcome.written,
            not_taken=outcome.not_taken,
            copies_refused=outcome.copies_refused,
        )
        if failures:
            # A missing scope is not retried now: the next scheduled pass tries again, once
            # it is granted. Anything else is retried a few times first.
            raise ApplicationError(
                "; ".join(failures),
                type="FhirWriteRefused" if refused else "FhirWriteFailed",
                non_retryable=refused,
            )
        return outcome

    async def _clinic_pass(self, clinic_id: str, outcome: WriteBackOutcome) -> None:
        ehr = self._ehrs.get(clinic_id)
        assert ehr is not None
        clinic = self._clinics().get(clinic_id)
        name = clinic.name if clinic else clinic_id
        smart = await asyncio.to_thread(ehr.smart)
        after = 0
        while rows := await asyncio.to_thread(
            unwritten, self._ledger.engine, clinic_id, BATCH, after
        ):
            after = rows[-1][0]
            done: list[tuple[int, Disclosure]] = []
            for ledger_id, d in rows:
                try:
                    await send_audit_events(ehr.source.base, smart, [audit_event(d, name)])
                except OperationOutcome:
                    # This row only (an AuditEvent the EHR finds invalid, or a passing
                    # error): logged by ledger id, left for the next pass.
                    log.warning("ehr did not take an audit event", ledger_id=ledger_id)
                    outcome.not_taken += 1
                    continue
                done.append((ledger_id, d))
            # Copies of the notices for the chart, for cases the EHR itself opened: only
            # their patient reference is surely the EHR's Patient id.
            from_ehr = [d for _, d in done if opened_from_ehr(d.case_id)]
            if from_ehr:
                copies = await send_communications(
                    ehr.source.base, smart, [notice_communication(d) for d in from_ehr]
                )
                if copies is None and clinic_id not in outcome.copies_refused:
                    outcome.copies_refused.append(clinic_id)
            await asyncio.to_thread(
                mark_written, self._ledger.engine, clinic_id, [i for i, _ in done]
            )
            outcome.written += len(done)
            activity.heartbeat(outcome.written)


def opened_from_ehr(case_id: str) -> bool:
    """Whether a case was opened from a Flag in the EHR (intake/fhir_flags.flag_key)."""
    return case_id.partition(".")[2].startswith(FLAG_PREFIX)

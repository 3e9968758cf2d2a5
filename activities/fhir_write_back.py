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
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from audit.fhir_audit_events import audit_event
from audit.fhir_communications import notice_communication
from domain.clinic import ClinicDirectory
from infra.fhir_audit_writer import FhirWriteRefused, send_audit_events, send_communications
from infra.fhir_ehr import Ehrs
from infra.fhir_writes import mark_written, unwritten
from infra.ledger_db import Ledger

log = structlog.get_logger()

# Rows written per round; a pass goes round until nothing is left.
BATCH = 100


class WriteBackPass(BaseModel):
    pass


class WriteBackOutcome(BaseModel):
    written: int = 0
    # Clinics whose EHR refused the Communication copies (their AuditEvents were written).
    copies_refused: list[str] = []


class FhirWriteBackActivities:
    def __init__(self, ledger: Ledger, ehrs: Ehrs, clinics: Callable[[], ClinicDirectory]) -> None:
        self._ledger = ledger
        self._ehrs = ehrs
        self._clinics = clinics

    @activity.defn(name="write_back_to_ehr")
    async def write_back_to_ehr(self, _: WriteBackPass) -> WriteBackOutcome:
        """Write every unwritten disclosure of every FHIR clinic into its EHR."""
        outcome = WriteBackOutcome()
        for clinic_id in self._ehrs.clinic_ids():
            ehr = self._ehrs.get(clinic_id)
            assert ehr is not None
            clinic = self._clinics().get(clinic_id)
            name = clinic.name if clinic else clinic_id
            while rows := await asyncio.to_thread(unwritten, self._ledger.engine, clinic_id, BATCH):
                smart = await asyncio.to_thread(ehr.smart)
                try:
                    await send_audit_events(
                        ehr.source.base, smart, [audit_event(d, name) for _, d in rows]
                    )
                except FhirWriteRefused as e:
                    # Not retried: the next scheduled pass tries again, once the scope is granted.
                    raise ApplicationError(
                        f"{clinic_id}: {e}", type="FhirWriteRefused", non_retryable=True
                    ) from None
                except Exception as e:
                    log.warning(
                        "fhir write-back failed", clinic_id=clinic_id, error_type=type(e).__name__
                    )
                    raise ApplicationError(
                        f"{clinic_id}: writing to the EHR failed ({type(e).__name__})",
                        type="FhirWriteFailed",
                    ) from None
                copies = await send_communications(
                    ehr.source.base, smart, [notice_communication(d) for _, d in rows]
                )
                if copies is None and clinic_id not in outcome.copies_refused:
                    outcome.copies_refused.append(clinic_id)
                await asyncio.to_thread(
                    mark_written, self._ledger.engine, clinic_id, [i for i, _ in rows]
                )
                outcome.written += len(rows)
                activity.heartbeat(outcome.written)
        log.info(
            "fhir write-back pass", written=outcome.written, copies_refused=outcome.copies_refused
        )
        return outcome

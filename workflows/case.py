"""The case: one per flagged session. Starts a child workflow per concern, aggregates status."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributePair
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from domain.case import (
        CaseCarry,
        CaseInput,
        CaseStatus,
        ConcernInput,
        ConcernStatus,
        Phase,
    )
    from domain.clinic import Clinic
    from domain.flags import ABUSE_KINDS, ConcernKind
    from domain.local_time import local
    from domain.tasks import TaskView, eligible_actors, example_actor
    from workflows import search_attributes as sa
    from workflows.abuse_report import AbuseReportWorkflow
    from workflows.duty_to_warn import DutyToWarnWorkflow

DUTY_TO_WARN_KINDS = {ConcernKind.threat_to_others, ConcernKind.self_harm}
FINAL = (Phase.closed, Phase.failed)
# A case of history version 3 continues as new once its run has this many events (and when the
# server suggests it): about eight months of a threat renewed every week.
CASE_RUN_EVENTS = 500


def concern_workflow_id(case_id: str, index: int, kind: str, suffix: str = "") -> str:
    """Child ids extend the case id: opaque, derived, no PHI."""
    return f"{case_id}.c{index}-{kind}{suffix}"


@workflow.defn
class CaseWorkflow:
    """One flagged session and all its concerns."""

    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        self.inp = inp
        # Keyed by the child's workflow id: an abuse concern has one child per duty.
        self.concerns: dict[str, ConcernStatus] = {}
        self.closed = False
        self._last_upsert: tuple | None = None
        if inp.history_version >= 3:
            # What intake set when it started the case (intake.cases.start_case): the first
            # publish then has nothing to upsert.
            self._last_upsert = ("open", False, inp.policy.unverified)
        # Version 3: the concern workflows not yet ended, by id.
        self._running: set[str] = set()
        if inp.carry is not None:  # a case continued as new
            self.concerns = {c.workflow_id: c for c in inp.carry.concerns}
            # A concern whose final signal the last run heard, but whose end it had not yet
            # seen on the handle, has ended: no further signal will come for it.
            self._running = {
                w
                for w in inp.carry.running
                if (c := self.concerns.get(w)) is None or c.phase not in FINAL
            }
            self._last_upsert = None  # the new run states its search attributes once

    @workflow.signal
    def concern_changed(self, status: ConcernStatus) -> None:
        """A concern's workflow reports its new state."""
        current = self.concerns.get(status.workflow_id)
        if current is None or status.revision >= current.revision:
            self.concerns[status.workflow_id] = status
            if self.inp.carry is not None and status.phase in FINAL:
                # A run continued as new has no handle on the concern: its final signal is
                # how it hears the concern ended (the first run waits on the handle instead).
                self._running.discard(status.workflow_id)
            self._publish()

    @workflow.query
    def tasks(self) -> list[TaskView]:
        """Open tasks of every concern, earliest deadline first (each names its workflow)."""
        return sorted((t for c in self._ordered() for t in c.tasks), key=lambda t: t.due_at)

    @workflow.query
    def status(self) -> CaseStatus:
        """Case state, deadlines, notifications and disclosures."""
        concerns = self._ordered()
        dues = [c.next_due for c in concerns if c.next_due]
        return CaseStatus(
            case_id=self.inp.case_id,
            clinic_id=self.inp.clinic.id,
            jurisdiction=self.inp.policy.jurisdiction,
            status=self._case_status(),
            policy_version=self.inp.policy.version,
            policy_unverified=self._unverified(),
            concerns=concerns,
            tasks=self.tasks(),
            notifications=[n for c in concerns for n in c.notifications],
            disclosures=[d for c in concerns for d in c.disclosures],
            overdue=self._overdue(),
            next_due=min(dues) if dues else None,
        )

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseStatus:
        """Start every concern's path and wait for all of them."""
        if inp.carry is not None:  # continued as new: the concerns run already
            return await self._continued()
        children = []
        for index, concern in enumerate(inp.flag.concerns, 1):
            base = ConcernInput(
                case_id=inp.case_id,
                index=index,
                flag=inp.flag,
                concern=concern,
                clinic=inp.clinic,
                policy=inp.policy,
                parent_workflow_id=workflow.info().workflow_id,
                history_version=inp.history_version,
            )
            runs: list[tuple[Any, ConcernInput, str]]
            if concern.kind in DUTY_TO_WARN_KINDS:
                runs = [(DutyToWarnWorkflow.run, base, "")]
            elif concern.kind in ABUSE_KINDS:
                # Every reporter has a personal duty for every victim.
                reporters = concern.reporters or [inp.flag.clinician.id]
                runs = [
                    (
                        AbuseReportWorkflow.run,
                        base.model_copy(update={"victim_index": v, "reporter": r}),
                        f"-v{v + 1}-{r}",
                    )
                    for v in range(len(concern.victims))
                    for r in reporters
                ]
            else:  # a kind the models accept but no path handles: fail loudly, never drop
                raise ApplicationError(
                    f"concern {index}: no path for kind {concern.kind.value}", non_retryable=True
                )
            for run, child_input, suffix in runs:
                children.append(
                    workflow.start_child_workflow(
                        run,
                        child_input,
                        id=concern_workflow_id(inp.case_id, index, concern.kind.value, suffix),
                        search_attributes=workflow.info().typed_search_attributes.updated(
                            SearchAttributePair(sa.PATH, concern.kind.value)
                        ),
                        static_summary=f"{concern.kind.value} · case {inp.case_id}",
                        # A mandated duty outlives its case: closing or terminating the case must
                        # never cancel a report (no one may block one).
                        parent_close_policy=ParentClosePolicy.ABANDON,
                    )
                )
        handles = await asyncio.gather(*children)
        self._publish()
        if inp.history_version >= 3:
            self._running = {h.id for h in handles}
            for h in handles:
                asyncio.create_task(self._until_ended(h))
            return await self._continued()
        # One concern failing must not fail the case or its other concerns.
        results = await asyncio.gather(*handles, return_exceptions=True)
        for handle, result in zip(handles, results, strict=True):
            self._ended(handle.id, result)
        return await self._close()

    async def _until_ended(self, handle: Any) -> None:
        try:
            result = await handle
        except Exception as e:  # noqa: BLE001 (one concern failing must not fail the case)
            # Exception only: a run that continues as new closes this coroutine (GeneratorExit),
            # and that is not the concern failing.
            result = e
        self._ended(handle.id, result)
        self._running.discard(handle.id)

    def _ended(self, workflow_id: str, result: Any) -> None:
        if isinstance(result, BaseException):
            last = self.concerns.get(workflow_id)
            if last is not None:
                self.concerns[workflow_id] = last.model_copy(update={"phase": Phase.failed})
            workflow.logger.error("concern workflow failed", extra={"workflow_id": workflow_id})
        else:
            self.concerns[result.workflow_id] = result

    async def _continued(self) -> CaseStatus:
        """History version 3: wait for every concern to end, continuing as new whenever this
        run's history has grown long (a concern renewed weekly for a year tells its case of
        every round; each run stays under CASE_RUN_EVENTS plus one signal's worth)."""
        if self.inp.carry is not None:
            self._publish()  # the new run's search attributes and Current Details, at once
        await workflow.wait_condition(lambda: not self._running or self._long())
        if self._running:
            await workflow.wait_condition(workflow.all_handlers_finished)
            workflow.continue_as_new(
                self.inp.model_copy(
                    update={
                        "carry": CaseCarry(concerns=self._ordered(), running=sorted(self._running))
                    }
                )
            )
        return await self._close()

    def _long(self) -> bool:
        info = workflow.info()
        return (
            info.get_current_history_length() >= CASE_RUN_EVENTS
            or info.is_continue_as_new_suggested()
        )

    async def _close(self) -> CaseStatus:
        self.closed = True
        self._publish()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()

    def _ordered(self) -> list[ConcernStatus]:
        return sorted(self.concerns.values(), key=lambda c: (c.index, c.workflow_id))

    def _unverified(self) -> bool:
        return self.inp.policy.unverified or any(
            c.policy_unverified for c in self.concerns.values()
        )

    def _case_status(self) -> str:
        if any(c.phase == Phase.failed for c in self.concerns.values()):
            return "needs_attention"
        if self.closed:
            return "closed"
        return "overdue" if self._overdue() else "open"

    def _overdue(self) -> bool:
        return any(c.overdue for c in self.concerns.values())

    def _publish(self) -> None:
        concerns = self._ordered()
        waiting = sorted({r.value for c in concerns for t in c.tasks for r in t.allowed_roles})
        dues = [c.next_due for c in concerns if c.next_due]
        status = self._case_status()
        if status == "open" and self.inp.history_version < 3:
            # Say which phases the open concerns are in (version 3 hears of phases only when
            # they end: the concern workflows carry their own ConfideStatus).
            status = (
                ",".join(sorted({c.phase.value for c in concerns if c.phase != Phase.closed}))
                or "open"
            )
        if self.inp.history_version >= 3:
            # Version 3: who is waited on and by when live on the concern workflows only, where
            # the work is done (a supervisor's list of waiting work showed every case twice);
            # the case says whether it is open, overdue, closed or needs attention.
            values: tuple = (status, self._overdue(), self._unverified())
            if values != self._last_upsert:
                self._last_upsert = values
                workflow.upsert_search_attributes(
                    [
                        sa.STATUS.value_set(status),
                        sa.OVERDUE.value_set(self._overdue()),
                        sa.POLICY_UNVERIFIED.value_set(self._unverified()),
                    ]
                )
        else:
            values = (
                status,
                tuple(waiting),
                min(dues) if dues else None,
                self._overdue(),
                self._unverified(),
            )
            # History version 2 upserts only a change (an upsert is an event in the history).
            if self.inp.history_version < 2 or values != self._last_upsert:
                self._last_upsert = values
                workflow.upsert_search_attributes(
                    [
                        sa.STATUS.value_set(status),
                        sa.WAITING_ON.value_set(waiting)
                        if waiting
                        else sa.WAITING_ON.value_unset(),
                        sa.DUE_AT.value_set(min(dues)) if dues else sa.DUE_AT.value_unset(),
                        sa.OVERDUE.value_set(self._overdue()),
                        sa.POLICY_UNVERIFIED.value_set(self._unverified()),
                    ]
                )
        lines = [
            f"## Case {self.inp.case_id} · {self.inp.policy.jurisdiction} · "
            f"policy {self.inp.policy.version}"
            + (" · **policy unverified**" if self._unverified() else ""),
            "",
        ]
        namespace = workflow.info().namespace
        for c in concerns:
            # Version 3 hears of a phase only when it is final: an open concern's phase is on
            # its own workflow page.
            phase = c.phase.value if self.inp.history_version < 3 or c.phase in FINAL else "open"
            # The concern's page, where its tasks are done: a path, so it holds whatever host
            # and port the UI is served on, opened in the whole window (the UI renders Current
            # Details in an iframe, where a plain markdown link would go nowhere).
            page = f"/namespaces/{namespace}/workflows/{c.workflow_id}"
            lines.append(
                f"- concern {c.index}, {c.kind.replace('_', ' ')}: **{phase.replace('_', ' ')}**"
                + (" — **OVERDUE**" if c.overdue else "")
                + f" → {_link(page, c.workflow_id)}"
            )
            for t in c.tasks:
                lines += _task_lines(t, _link(page, "the concern's page"), self.inp.clinic)
        workflow.set_current_details("\n".join(lines))


def _link(path: str, text: str) -> str:
    """A link in Current Details that opens in the whole window (ids only: nothing to escape)."""
    return f'<a href="{path}" target="_top">{text}</a>'


def _task_lines(task: TaskView, page: str, clinic: Clinic) -> list[str]:
    """An open task as the case page lists it: who, by when, and the answer to paste on the
    concern's page (with a roster id that may send it)."""
    actors = eligible_actors(task, clinic)
    example = dict(task.example)
    actor = example_actor(task, actors)
    if actor and example.get("actor", "").startswith("<"):
        example["actor"] = actor
    roles = " or ".join(r.value for r in task.allowed_roles)
    return [
        f"  - **{task.title}** (`{task.task_id}`, {roles}"
        + (f": {', '.join(actors)}" if actors else "")
        + f") due {local(task.due_at, clinic.timezone)}"
        + (" — **OVERDUE**" if task.overdue else ""),
        f"    open {page}, then More Actions → Send an Update, name `complete_task`, with:",
        "",
        "    ```json",
        *("    " + line for line in json.dumps(example, indent=1).splitlines()),
        "    ```",
    ]

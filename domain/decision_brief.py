"""What a supervisor reads before a release decision: the threat as reported, the clinician's
assessment and who made it, and whom each option would reach (the task's instructions give the
rule that permits a release).

Shown in the concern's Current Details (decoded through the codec: it names people) and kept as
the task's `document`, so the API and the `tasks` query carry the same brief. The Web UI renders
Current Details as markdown that passes raw HTML, so every text that came from a person (the
summary, the notes, names) is escaped: a summary holding markup must not run in the UI.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from pydantic import BaseModel

from domain.forms import RiskAssessmentForm, SelfHarmAssessmentForm
from domain.local_time import local
from domain.policy import ACTION_WORDS, Action


class Option(BaseModel):
    """One action the supervisor may approve, and who it would reach."""

    action: Action
    reaches: str


class ReleaseBrief(BaseModel):
    """Everything the decision rests on, gathered when the decision task opens."""

    summary: str
    assessment: RiskAssessmentForm | SelfHarmAssessmentForm
    assessor: str
    assessed_at: datetime | None
    timezone: str
    options: list[Option]

    def render(self) -> str:
        """Markdown: short sections, yes/no answers, times in the clinic's zone."""
        when = f" on {local(self.assessed_at, self.timezone)}" if self.assessed_at else ""
        lines = [
            "**What was reported:** " + escape(self.summary),
            "",
            f"**Assessment by {escape(self.assessor)}{when}:**",
            "",
            *(f"- {label}: {escape(answer)}" for label, answer in _answers(self.assessment)),
            "",
            "**Your options** (approve any of these actions, or decline):",
            "",
            *(
                f"- `{o.action.value}`: {ACTION_WORDS[o.action]} — {escape(o.reaches)}"
                for o in self.options
            ),
            "- decline: nothing is disclosed; give the reason, which stays on record.",
        ]
        return "\n".join(lines)


def _yes(value: bool | None) -> str:
    return "not recorded" if value is None else "yes" if value else "no"


def _answers(form: RiskAssessmentForm | SelfHarmAssessmentForm) -> list[tuple[str, str]]:
    """The assessment's answers, labelled as the clinician was asked them."""
    if isinstance(form, RiskAssessmentForm):
        rows = [
            ("Serious threat of physical violence", _yes(form.serious_threat)),
            ("Identifiable victim(s)", _yes(form.identifiable_victims)),
            ("Imminent", _yes(form.imminent)),
            ("Access to the means", _yes(form.means)),
            ("History of violence", _yes(form.history_of_violence)),
        ]
    else:
        rows = [
            ("Risk level", form.risk_level.value),
            ("Safety plan in place", _yes(form.safety_plan_in_place)),
            ("Means restricted", _yes(form.means_restricted)),
        ]
    if form.patient_consent is not None:
        rows.append(("Patient agreed to a disclosure", "yes (see the case)"))
    return rows + [("Notes", form.notes or "none")]

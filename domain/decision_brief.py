"""What a supervisor reads before a release decision: the threat as reported, the clinician's
assessment and who made it, and whom each option would reach (the task's instructions give the
rule that permits a release).

Whole, it is the task's `document` (the API and the `tasks` query) and the workflow's `brief`
query; without patient data, it is shown in the concern's Current Details (see `render`). The
Web UI renders Current Details as markdown that passes raw HTML, so every text that came from
a person is escaped: a summary holding markup must not run in the UI.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from pydantic import BaseModel

from domain.forms import RiskAssessmentForm, SelfHarmAssessmentForm
from domain.local_time import local
from domain.policy import ACTION_WORDS, Action


class Option(BaseModel):
    """One action the supervisor may approve, and who it would reach: by name (`reaches`), and
    in words that name no one (`reaches_unnamed`, e.g. "the 1 person at risk named in the
    flag"; an agency's name is not patient data)."""

    action: Action
    reaches: str
    reaches_unnamed: str


class ReleaseBrief(BaseModel):
    """Everything the decision rests on, gathered when the decision task opens."""

    summary: str
    assessment: RiskAssessmentForm | SelfHarmAssessmentForm
    assessor: str
    assessed_at: datetime | None
    timezone: str
    options: list[Option]

    def render(self, with_patient_data: bool = True) -> str:
        """Markdown: short sections, yes/no answers, times in the clinic's zone.

        Without patient data for Current Details: the Web UI renders that panel by loading a
        URL that carries its text (`/render?content=...`), so whatever it holds reaches the UI
        server's and any proxy's request logs. The report, the notes and the names stay in the
        `brief` query, which the browser decrypts through the codec and never puts in a URL.
        """
        when = f" on {local(self.assessed_at, self.timezone)}" if self.assessed_at else ""
        answers = _answers(self.assessment)
        if not with_patient_data:
            answers = [(label, answer) for label, answer in answers if label != NOTES]
        lines = (
            ["**What was reported:** " + escape(self.summary), ""]
            if with_patient_data
            else [
                "**What was reported, the clinician's notes and the names**: open the *Queries* "
                "tab, Query Type `brief`, Run Query (decrypted in your browser only).",
                "",
            ]
        )
        lines += [
            f"**Assessment by {escape(self.assessor)}{when}:**",
            "",
            *(f"- {label}: {escape(answer)}" for label, answer in answers),
            "",
            "**Your options** (approve any of these actions, or decline):",
            "",
            *(
                f"- `{o.action.value}`: {ACTION_WORDS[o.action]} — "
                + escape(o.reaches if with_patient_data else o.reaches_unnamed)
                for o in self.options
            ),
            "- decline: nothing is disclosed; give the reason, which stays on record.",
        ]
        return "\n".join(lines)

    def view(self) -> dict[str, object]:
        """The brief as the `brief` query returns it: JSON the Queries tab shows readably."""
        return {
            "what_was_reported": self.summary,
            "assessed_by": self.assessor,
            "assessed_at": local(self.assessed_at, self.timezone) if self.assessed_at else None,
            "assessment": dict(_answers(self.assessment)),
            "options": {
                o.action.value: f"{ACTION_WORDS[o.action]}: {o.reaches}" for o in self.options
            },
        }


NOTES = "Notes"


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
    return rows + [(NOTES, form.notes or "none")]

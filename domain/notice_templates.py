"""The words of Confide's e-mails: jinja2 templates, compiled once when this module is imported.

Notices are rendered inside workflow code, so the templates are strings here, not files: a
workflow reads no file at run time (tests/test_policy_store.py), and this module is imported
through the sandbox's pass-through (with `domain.notices`), so jinja2 and the compiled templates
are loaded once per worker process, not once per workflow run.

A template is written as wrapped prose and rendered as mail text (`reflow`): the lines of a
paragraph are joined into one line (the mail client wraps them; nothing can split a code or a
URL), a line that starts with a space is kept as written (a code, an address block, a list),
and paragraphs are separated by one blank line. No HTML: autoescape is off, and what people
wrote reaches the text as they wrote it.
"""

from __future__ import annotations

from typing import Any

from jinja2 import DictLoader, Environment, StrictUndefined, Template


def join_words(items: list[str] | tuple[str, ...], last: str = "and") -> str:
    """'a', 'a and b', 'a, b and c': a list as a sentence gives it."""
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


def no_stop(text: str) -> str:
    """A phrase without its closing full stop, to end a sentence of our own with one."""
    return text.strip().rstrip(".").rstrip()


def sentence(text: str) -> str:
    """A text as a sentence: a capital first letter and one full stop at the end."""
    text = no_stop(text)
    return f"{text[:1].upper()}{text[1:]}." if text else ""


SOURCES: dict[str, str] = {
    # -- the frame of every message to staff ---------------------------------------------------
    "staff": """\
{{ body }}
{% if links %}

Links:
{% for line in links %}
  {{ line }}
{% endfor %}
{% endif %}

This message is about case {{ case_id }} at {{ clinic.name }}. For privacy it names no patient:
the case itself holds the details, for those allowed to see them.
""",
    # Where a task is done: the same words in every task e-mail.
    "how": """\
{% set workflow = "the workflow " ~ workflow_id if workflow_id else "the case's workflow" %}
Where to do it: in the Temporal Web UI, open {{ workflow }}. Its Current Details, under User
Metadata, describe the task and give the answer ready to paste. Choose More Actions, then Send
an Update, enter the Update name complete_task, and send that answer with your own roster id as
the actor. The confide command line and the HTTP API take the same answer.
""",
    # -- tasks -----------------------------------------------------------------------------
    "task_due_soon": """\
Reminder: the task "{{ task.title }}" (task id {{ task.task_id }}) is due by {{ due }}, and it
has not been completed yet.

{{ who }}

{{ how }}
""",
    "task_overdue": """\
The task "{{ task.title }}" (task id {{ task.task_id }}) has been overdue since {{ due }}.
{% if escalated_to and may_act %}
Because it is overdue, it has been escalated: any {{ escalated_to }} on the clinic's roster may
now complete it as well.
{% elif escalated_to %}
Because it is overdue, it has been escalated to the {{ escalated_to }} for follow-up.
{% endif %}

{{ who }} Please complete it now if it is yours to do, or make sure that the person responsible
does.

{{ how }}
""",
    "task_resolved": """\
The overdue task "{{ task.title }}" (task id {{ task.task_id }}) was completed by
{{ completed_by }} on {{ completed_at }}.

Nothing more is needed from you on it, and the overdue reminders have stopped.
""",
    "approval_code": """\
{% set task = "task " ~ task_id %}
{% if title %}{% set task = 'the task "' ~ title ~ '" (task id ' ~ task_id ~ ")" %}{% endif %}
{% if release %}
You are asked to decide on a release of information on case {{ case_id }}: {{ task }}. This is
your one-time approval code for task {{ task_id }}:
{% else %}
You are asked to complete {{ task }} on case {{ case_id }}. Your answer is recorded under your
name, so it needs your code. This is your one-time approval code for task {{ task_id }}:
{% endif %}

    {{ code }}

{% if release %}
The decision is due by {{ due }}.
{% else %}
The task is due by {{ due }}.
{% endif %}
{% if choices_text %}

{{ choices_text }}
{% endif %}

{% set workflow = "the workflow " ~ workflow_id if workflow_id else "the case's workflow" %}
{% set roster_id = "your roster id (" ~ actor ~ ")" if actor else "your own roster id" %}
How to answer: in the Temporal Web UI, open {{ workflow }} and read
{{ "what the decision rests on" if release else "the task" }} in its Current Details, under
User Metadata, which also give the answers ready to paste. Then
choose More Actions, then Send an Update, enter the Update name complete_task, and send your
answer with {{ roster_id }} as the actor and this code as the code. The confide command line and
the HTTP API take the same answer.

The code works only for you and only for this task. Please do not forward this message or share
the code.
""",
    "task_locked": """\
The task "{{ task.title }}" (task id {{ task.task_id }}) on case {{ case_id }} is locked: it
received {{ tries }} wrong approval codes in a row, {{ "all " if single else "" }}sent as
{{ actors }}, the last at {{ last_at }}. Five wrong codes in a row are more than typing slips:
please find out who sent them, and why.

Nobody can complete the task until a privacy officer decides. To unlock it, complete the task
{{ unlock_task_id }} with the reason (what you found); your approval code for it comes in a
separate e-mail. The locked task's own deadline still runs: it is due by {{ due }}.

{{ how }}
""",
    "choices_actions": """\
Your choices:
  - Approve one or more of these actions:
{% for action in actions %}
      {{ action }}
{% endfor %}
  - Decline: nothing is disclosed, and your reason stays on record.
{% if ask_counsel %}
  - Ask counsel first: the decision waits for the advice, with the same deadline.
{% endif %}
""",
    "choices_documents": """\
Your choices:
{% set records = count ~ (" record" if count == 1 else " records") %}
  - Approve the release of the {{ records }} in the computed set, or of fewer of them.
    Nothing outside the set can be added; the task lists what was left out and why.
  - Decline: nothing is released, and your reason stays on record.
{% if ask_counsel %}
  - Ask counsel first: the decision waits for the advice, with the same deadline.
{% endif %}
""",
    # -- duty to warn or protect -------------------------------------------------------------
    "duty_triggered": """\
On case {{ case_id }}, {{ assessor }} completed the risk assessment, and the law requires
Confide to act on it. The legal basis is {{ legal_basis | no_stop }}.

The law requires these actions, and Confide has started them: {{ actions }}.

No decision is needed from you. You are told so that you can support the clinician and follow
the case; if an action cannot be completed, you and the privacy officer will be told.
""",
    "notice_undelivered": """\
{% if refused %}
The notice to {{ recipient }} on case {{ case_id }} has not been delivered. The mail server
refused it, and the clinician recorded that it could not be delivered another way either.
{% else %}
The clinician could not reach {{ recipient }} by telephone to give the notice on case
{{ case_id }}.
{% endif %}

The duty to warn or protect may therefore not be discharged. Please make sure that the notice
is given another way, by telephone, in person or through law enforcement, as soon as possible,
and that what was done is written in the clinical record. Confide has no further task for this
notice.
""",
    "action_not_done": """\
{{ actor }} recorded on case {{ case_id }} that the required action "{{ action }}" was not done.

The law requires it, so the duty may not be discharged. Please make sure that it is done as soon
as possible, or that the reason it cannot be done is written in the clinical record.
""",
    # -- agencies and people outside the clinic ----------------------------------------------
    "victim_warning": """\
Dear {{ victim.name }},

{{ clinic.name }} is contacting you because one of its patients, {{ patient.name }}, has
communicated a threat of physical violence against you. We are required or permitted by law to
warn you so that you can protect yourself.

What was communicated: {{ concern.summary }}

If you are in immediate danger, call 911. Law enforcement has been or will be notified where the
law requires it.

If you have questions, please reply to {{ clinic.reply_to }} and quote reference {{ case_id }}.
""",
    "agency_notice": """\
To {{ agency.name }}:

{{ clinic.name }} makes this confidential report in order to {{ purpose | no_stop }}.

{% set born = " (born " ~ birth_date ~ ")" if birth_date else "" %}
Our patient {{ patient.name }}{{ born }} has communicated the following:

{{ concern.summary | indent(2, first=True) }}

{% if victims %}
The following {{ "person is" if victims | length == 1 else "people are" }} at risk:
{% for v in victims %}
  - {{ v }}
{% endfor %}
{% else %}
No other identifiable person is named as at risk.
{% endif %}

This disclosure is made under {{ legal_basis | no_stop }}.

If you have questions, please contact {{ clinic.reply_to }} and quote reference {{ case_id }}.
""",
    "contact_notice": """\
Dear {{ contact.name }},

{{ clinic.name }} is contacting you because we believe {{ patient.name }} may be at serious and
imminent risk of harming themselves, and you may be able to help keep them safe.

If there is immediate danger, call 911 or the 988 Suicide & Crisis Lifeline.

Please contact {{ clinic.reply_to }} and quote reference {{ case_id }}.
""",
    # -- mandated reports of abuse -----------------------------------------------------------
    "mandated_report_duty": """\
You are a mandated reporter of {{ kind }} under {{ statute | no_stop }}.
{% if personal %}
The duty is yours personally: telling a supervisor does not discharge it, and no one may
approve or delay the report.
{% endif %}

{% if oral %}
Make the initial (oral) report {{ oral }}, that is by {{ oral_due }} at the latest.
{% else %}
Make the initial (oral) report immediately. The statute sets no number of hours; Confide's
deadline is {{ oral_due }}.
{% endif %}
{% set on_form = " on form " ~ form if form else "" %}
{% if written == "required" %}
Then send the written report{{ on_form }} {{ written_deadline }}{% if written_due %}, that is by
{{ written_due }} at the latest{% endif %}.
{% elif written == "if_requested" %}
A written report{{ on_form }} is needed only if the agency asks for one; then send it
{{ written_deadline }}.
{% endif %}

{% if agencies | length == 1 %}
The statute names this receiving agency: {{ agencies[0] | no_stop }}.
{% else %}
The statute names these receiving agencies: {{ agencies | join("; ") | no_stop }}.
{% endif %}
{% if contacts | length == 1 %}
The clinic's contact for it:
{% elif contacts %}
The clinic's contacts for them:
{% endif %}
{% if contacts %}
{% for c in contacts %}
  {{ c.name }}
{% if c.phone %}
    Telephone: {{ c.phone }}
{% endif %}
{% if c.address %}
    Address: {{ c.address }}
{% endif %}
{% if c.portal_url %}
    Online portal: {{ c.portal_url }}
{% endif %}
{% endfor %}
{% endif %}
{% if conditional %}

The statute adds this condition: {{ conditional | no_stop }}.
{% endif %}
{% if further %}

The duty does not end with this report: {{ further | no_stop }}.
{% endif %}
{% if unverified %}

Please note: part of this rule is not yet verified ({{ unverified }}). Confide applies a
conservative default, and the privacy officer will confirm the rule.
{% endif %}
""",
    "mandated_report_required": """\
{{ duty }}

Record each report on its task as soon as you have made it: only you can complete those tasks.
{{ how }}
""",
    "report_under_way": """\
{{ reporter }} must make a mandated report of {{ kind }} on case {{ case_id }}. The initial
(oral) report is due by {{ oral_due }}.

{% if personal %}
No approval is needed, and none is possible: the duty to report is the reporter's own, and no
one may make, approve or delay the report in the reporter's place.
{% else %}
The statute allows the report to be made through the person in charge; please follow the
clinic's reporting procedure.
{% endif %}

You are told so that you can support the reporter. Nothing waits on you; if the report becomes
overdue, you will be told again.
""",
    # -- the disclosure ledger ---------------------------------------------------------------
    "ledger_failing": """\
A disclosure made on case {{ case_id }} could not be written to the disclosure ledger. The
disclosure itself has been made; only its record is missing.

Confide tries again every hour and writes the record as soon as the ledger database accepts it.
Please check the ledger database now, or ask whoever runs it to, because every disclosure must
be on record for the patient's accounting of disclosures (45 CFR 164.528). While it keeps
failing, you will be told again once a day.
""",
    # -- a message given as sentences (staff_notice) -----------------------------------------
    "lines": """\
{% for line in lines %}
{{ line }}

{% endfor %}
""",
}

ENV = Environment(
    loader=DictLoader(SOURCES),
    autoescape=False,
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    # The sources never change in a running process: no up-to-date check on each use.
    auto_reload=False,
)
ENV.filters.update(join_words=join_words, no_stop=no_stop, sentence=sentence)

# Compiled once, here: rendering is a function call on a ready template.
TEMPLATES: dict[str, Template] = {name: ENV.get_template(name) for name in SOURCES}


def render(name: str, **context: Any) -> str:
    """One template rendered as mail text (see `reflow`)."""
    return reflow(TEMPLATES[name].render(**context))


def reflow(text: str) -> str:
    """Template text as mail text: each paragraph on one line, lines that start with a space
    kept as written, one blank line between paragraphs, and a final newline."""
    out: list[str] = []
    paragraph: list[str] = []

    def close() -> None:
        if paragraph:
            out.append(" ".join(paragraph))
            paragraph.clear()

    for line in text.splitlines():
        if not line.strip():
            close()
            if out and out[-1]:
                out.append("")
        elif line[0].isspace():
            close()
            out.append(line.rstrip())
        else:
            paragraph.append(line.strip())
    close()
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n"

"""The built-in records source: patients' documents, release packets and one-time download links
in tables beside the ledger (SQLite by default, PostgreSQL by URL).

A clinic with an EHR plugs in an adapter implementing `RecordsSource` instead; the packets and
links stay here either way, because they are what Confide itself produced and sent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from domain.documents import DocumentMeta, RecordCategory
from infra.ledger_db import _sqlite_pragmas, _utc

metadata = MetaData()

records = Table(
    "records",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("clinic_id", String(64), nullable=False),
    Column("patient_ref", String(64), nullable=False, index=True),
    Column("category", String(32), nullable=False),
    Column("date", Date, nullable=False),
    Column("author", String(64), nullable=False),
    Column("title", Text, nullable=False),
    Column("psychotherapy_note", Boolean, nullable=False),
    Column("part2", Boolean, nullable=False),
    Column("third_party", Boolean, nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content", LargeBinary, nullable=False),
)

packets = Table(
    "packets",
    metadata,
    Column("packet_id", String(300), primary_key=True),
    Column("case_id", String(200), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("pages", Integer, nullable=False),
    Column("pdf", LargeBinary, nullable=False),
)

packet_links = Table(
    "packet_links",
    metadata,
    # Only the token's hash: a database dump must not hand out working links.
    Column("token_sha256", String(64), primary_key=True),
    Column("packet_id", String(300), nullable=False, index=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
)

_META_FIELDS = [name for name in DocumentMeta.model_fields if name != "sha256"] + ["sha256"]


class DocumentNotFound(KeyError):
    """No such document in this clinic. The message names the id only (never the patient)."""

    def __init__(self, document_id: str) -> None:
        super().__init__(document_id)
        self.document_id = document_id

    def __str__(self) -> str:
        return f"document {self.document_id} not found"


class RecordsSource(Protocol):
    """What the release path needs from a patient's record: the interface an EHR adapter
    (FHIR, later) implements. `RecordsStore` is the built-in one."""

    def list_documents(self, clinic_id: str, patient_ref: str) -> list[DocumentMeta]:
        """Every document of one patient, metadata only, by date then id."""
        ...

    def fetch(self, clinic_id: str, document_id: str) -> tuple[DocumentMeta, bytes]:
        """One document and its bytes; `DocumentNotFound` if this clinic has no such id."""
        ...


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _utc_now() -> datetime:
    return datetime.now(UTC)


class RecordsStore:
    """Documents, packets and packet links in one database."""

    def __init__(self, url: str, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self.url = url
        # The clock decides link expiry; tests pass their own instead of sleeping.
        self._clock = clock
        # hide_parameters: a database error's message must not quote a row (it holds PHI).
        self.engine: Engine = create_engine(url, hide_parameters=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite

    def migrate(self) -> None:
        """Bring the database to the newest schema (Alembic; see infra/migrations)."""
        from infra.migrate import upgrade

        upgrade(self.engine)

    # -- documents ------------------------------------------------------------------------

    def list_documents(self, clinic_id: str, patient_ref: str) -> list[DocumentMeta]:
        """Every document of one patient, metadata only, ordered by date then id."""
        cols = [records.c[name] for name in _META_FIELDS]
        q = (
            select(*cols)
            .where(records.c.clinic_id == clinic_id, records.c.patient_ref == patient_ref)
            .order_by(records.c.date, records.c.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [DocumentMeta.model_validate(dict(r)) for r in rows]

    def fetch(self, clinic_id: str, document_id: str) -> tuple[DocumentMeta, bytes]:
        """One document and its bytes. Another clinic's document is as missing as no document:
        the error must not confirm that an id exists elsewhere."""
        q = select(records).where(records.c.id == document_id, records.c.clinic_id == clinic_id)
        with self.engine.connect() as conn:
            row = conn.execute(q).mappings().first()
        if row is None:
            raise DocumentNotFound(document_id)
        meta = DocumentMeta.model_validate({name: row[name] for name in _META_FIELDS})
        return meta, bytes(row["content"])

    def add(self, meta: DocumentMeta, content: bytes) -> bool:
        """Store one document; False when its id is already there (the first one stays).

        The recorded hash must be the content's: the manifest later vouches for it.
        """
        if meta.sha256 != _sha256(content):
            raise ValueError(f"document {meta.id}: sha256 does not match its content")
        stmt = (
            self._dialect.insert(records)
            .values(**meta.model_dump(mode="python"), content=content)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(records.c.id)
        )
        # RETURNING, not rowcount: psycopg 3 reports -1 for this statement.
        with self.engine.begin() as conn:
            return conn.execute(stmt).first() is not None

    def seed_demo(self, clinic_id: str = "demo-clinic", patient_ref: str = "P-301") -> int:
        """The sample patient's record (fake data): every category in each of 2023-2025.

        Idempotent: ids are stable, so a second call adds nothing. Returns how many it added.
        """
        added = 0
        for meta, content in demo_documents(clinic_id, patient_ref):
            added += self.add(meta, content)
        return added

    # -- packets --------------------------------------------------------------------------

    def save_packet(self, packet_id: str, case_id: str, pdf: bytes, pages: int) -> str:
        """Store a packet once and return its SHA-256. A second save with the same id keeps
        the first (a retried build must not replace what may already have been sent)."""
        stmt = (
            self._dialect.insert(packets)
            .values(
                packet_id=packet_id,
                case_id=case_id,
                created_at=_utc(self._clock()),
                sha256=_sha256(pdf),
                pages=pages,
                pdf=pdf,
            )
            .on_conflict_do_nothing(index_elements=["packet_id"])
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)
            return conn.execute(
                select(packets.c.sha256).where(packets.c.packet_id == packet_id)
            ).scalar_one()

    def packet(self, packet_id: str) -> bytes | None:
        """A packet's PDF, or None."""
        with self.engine.connect() as conn:
            pdf = conn.execute(
                select(packets.c.pdf).where(packets.c.packet_id == packet_id)
            ).scalar_one_or_none()
        return None if pdf is None else bytes(pdf)

    def packet_sha256(self, packet_id: str) -> str | None:
        """A packet's SHA-256 as stored when it was saved, or None."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(packets.c.sha256).where(packets.c.packet_id == packet_id)
            ).scalar_one_or_none()

    def packet_pages(self, packet_id: str) -> int | None:
        """A packet's page count, or None."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(packets.c.pages).where(packets.c.packet_id == packet_id)
            ).scalar_one_or_none()

    # -- one-time links -------------------------------------------------------------------

    def create_link(self, packet_id: str, ttl: timedelta) -> str:
        """A fresh one-time download token for a packet, valid for `ttl`.

        Only the token's SHA-256 is stored; the token itself goes to the recipient alone.
        """
        if ttl <= timedelta(0):
            raise ValueError("a link's ttl must be positive")
        token = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                packet_links.insert().values(
                    token_sha256=_sha256(token.encode()),
                    packet_id=packet_id,
                    expires_at=_utc(self._clock()) + ttl,
                    used_at=None,
                )
            )
        return token

    def downloaded(self, packet_id: str) -> bool:
        """Whether the packet was already fetched through a link (it downloads once)."""
        with self.engine.connect() as conn:
            hit = conn.execute(
                select(packet_links.c.token_sha256).where(
                    packet_links.c.packet_id == packet_id, packet_links.c.used_at.is_not(None)
                )
            ).first()
        return hit is not None

    def redeem(self, token: str) -> tuple[str, bytes] | None:
        """(packet_id, pdf) the first time an unexpired token is presented; None otherwise.

        One conditional UPDATE claims the link, so of two concurrent redeems only one sees
        its row come back: the other's WHERE no longer matches once the first has written.
        """
        now = _utc(self._clock())
        # A packet downloads once in all, not once per link: a link of a packet another link
        # already fetched is refused too.
        other = packet_links.alias("other")
        fetched_before = (
            select(other.c.token_sha256)
            .where(other.c.packet_id == packet_links.c.packet_id, other.c.used_at.is_not(None))
            .exists()
        )
        claim = (
            update(packet_links)
            .where(
                packet_links.c.token_sha256 == _sha256(token.encode()),
                packet_links.c.used_at.is_(None),
                packet_links.c.expires_at > now,
                ~fetched_before,
            )
            .values(used_at=now)
            .returning(packet_links.c.packet_id)
        )
        with self.engine.begin() as conn:
            packet_id = conn.execute(claim).scalar_one_or_none()
            if packet_id is None:
                return None
            pdf = conn.execute(
                select(packets.c.pdf).where(packets.c.packet_id == packet_id)
            ).scalar_one_or_none()
        # A link to a packet that is gone is spent all the same: nothing to hand out.
        return None if pdf is None else (packet_id, bytes(pdf))


# -- the demo record ----------------------------------------------------------------------
# Fake data for the sample patient of DESIGN.md §3 ("Jordan Example", born 1990-04-02): the
# texts read like the real thing so a packet looks like one, and name nobody real.

_PATIENT = "Jordan Example"
_DOB = "1990-04-02"
_SISTER = "Morgan Example"
_PARTNER = "Sam Okafor"


def _progress_note(
    when: dt.date, subjective: str, objective: str, assessment: str, plan: str, phq9: int
) -> str:
    return f"""PROGRESS NOTE - individual psychotherapy, 53 minutes (CPT 90837)
Patient: {_PATIENT} (DOB {_DOB})    Date of service: {when.isoformat()}    Clinician: Dr. Lee

SUBJECTIVE
{subjective}

OBJECTIVE
{objective} PHQ-9 today: {phq9}.

ASSESSMENT
{assessment}

PLAN
{plan}

Electronically signed by Dr. Lee, licensed psychologist, on {when.isoformat()}.
"""


_PROGRESS_NOTES: list[tuple[dt.date, bool, str, str, str, str, int]] = [
    (
        dt.date(2023, 2, 14),
        False,
        "Client reports ongoing difficulty falling asleep (about 90 minutes most nights) and "
        "rumination about a reorganisation at work. Describes feeling 'on edge' in team "
        "meetings and avoiding a supervisor after a critical performance review. Denies "
        "suicidal or homicidal ideation.",
        "Alert and oriented x4, casually dressed, good eye contact. Speech normal rate and "
        "volume. Mood 'stressed', affect anxious and congruent. Thought process linear.",
        "Generalized anxiety with work-related stressors; engaged and motivated. Sleep onset "
        "insomnia maintaining daytime irritability.",
        "Introduced the CBT model and a thought record. Sleep hygiene handout reviewed; client "
        "to keep a two-week sleep diary. Return in one week.",
        14,
    ),
    (
        dt.date(2023, 9, 19),
        False,
        "Client completed sleep diary for six weeks; sleep onset now about 40 minutes. Reports "
        "using thought records 'most days' and noticing catastrophic predictions before "
        "meetings. Had one argument with a coworker that 'got out of hand' verbally; no "
        "physical altercation.",
        "Calm, cooperative, appropriately groomed. Mood 'better than spring', affect "
        "euthymic with brief tearfulness when discussing the argument. Insight fair.",
        "Partial response to CBT for anxiety. Anger in work conflicts is emerging as a target; "
        "client is receptive to working on it.",
        "Begin anger log and time-out skill; role-play a repair conversation with the "
        "coworker next session. Continue weekly sessions.",
        10,
    ),
    (
        dt.date(2024, 1, 16),
        False,
        "Client returns after the holiday break. Reports increased drinking over the holidays "
        "(4-5 drinks on weekend nights) and two mornings late to work. Expresses worry about "
        "this and asks about options.",
        "Alert, mildly fatigued, cooperative. Mood 'low', affect constricted. No evidence of "
        "intoxication or withdrawal. Denies suicidal ideation, intent or plan.",
        "Anxiety symptoms stable; alcohol use has increased and is used to manage evening "
        "worry. Client is ambivalent but open to change.",
        "Motivational interviewing; decisional balance completed in session. Discussed referral "
        "to the clinic's substance-use program for an assessment; client agreed. Weekly "
        "sessions continue.",
        11,
    ),
    (
        dt.date(2024, 4, 9),
        True,
        f"Client spent much of the session on conflict with their sister, {_SISTER}, who has "
        "been staying with the client since March after a divorce. Client reports that Morgan "
        "'criticises everything' and that the arguments keep the client up at night. Client "
        "has reduced drinking to weekends only since starting the substance-use program.",
        "Alert and oriented, well groomed. Mood 'frustrated', affect irritable but modulated. "
        "Thought process goal-directed. No safety concerns voiced.",
        "Family stress is a current maintaining factor for anxiety and sleep disruption. "
        "Progress on alcohol use is encouraging.",
        "Practised an assertive request script for setting house rules with Morgan. Client will "
        "consider inviting the sister to a joint session. Continue weekly.",
        9,
    ),
    (
        dt.date(2024, 7, 23),
        False,
        "Client reports a good month: sister moved into her own apartment, sleep 'mostly fine', "
        "and one difficult meeting handled without leaving the room. Still notices tension "
        "before quarterly reviews.",
        "Relaxed posture, smiling at times. Mood 'pretty good', affect bright and full range. "
        "Speech normal. Insight and judgement good.",
        "Clear improvement in anxiety and anger management. Alcohol use reported at 0-2 drinks "
        "per week.",
        "Consolidate skills; begin relapse-prevention plan for work stress. Reduce to "
        "sessions every two weeks.",
        6,
    ),
    (
        dt.date(2024, 10, 29),
        False,
        "Client describes a setback after a reorganisation was announced: two nights of poor "
        "sleep and one evening of heavier drinking, which the client reported to the group "
        "counselor. Used the time-out skill in a tense call with a manager.",
        "Alert, cooperative, slightly restless. Mood 'anxious', affect congruent. No suicidal "
        "or homicidal ideation. Judgement intact.",
        "Lapse rather than relapse; coping skills largely holding under a new stressor.",
        "Reviewed the relapse-prevention plan and updated triggers. Return to weekly sessions "
        "for one month, then reassess.",
        8,
    ),
    (
        dt.date(2025, 3, 11),
        True,
        f"Client reports moving in with partner {_PARTNER} in February. Adjustment has gone "
        "well overall; some disagreements about finances. Client notices using 'I' statements "
        "with Sam and that arguments de-escalate faster than before.",
        "Well groomed, engaged, good eye contact. Mood 'settled', affect euthymic. Thought "
        "content without preoccupation. Denies suicidal ideation.",
        "Anxiety in remission per PHQ-9 and GAD-7; interpersonal skills generalising to home.",
        "Discussed tapering to monthly sessions; client agrees. Continue relapse-prevention plan.",
        4,
    ),
    (
        dt.date(2025, 8, 26),
        False,
        "Monthly check-in. Client reports steady sleep, no alcohol in the past two months, and "
        "a promotion to team lead. Mild anticipatory worry about leading meetings.",
        "Alert, relaxed, appropriately dressed. Mood 'good', affect full range. No safety "
        "concerns.",
        "Sustained remission. Remaining concern is performance anxiety in a new role, within "
        "normal limits.",
        "Brief rehearsal of meeting openers. Plan discharge review at the next session in "
        "November.",
        3,
    ),
]

# Dated on the sessions they reflect on (the progress notes of the same day).
_PROCESS_NOTES = {
    dt.date(
        2023, 2, 14
    ): "Process notes (kept separate from the record). Striking how quickly J. moved from "
    "the supervisor's review to their father's way of 'grading' them at the dinner table; "
    "they laughed it off, but the laugh came a beat too early. I noticed my own urge to "
    "reassure and held it.\n\nHypothesis: the anxiety at work carries an old fear of being "
    "found wanting. Worth returning to gently; not yet ready for interpretation.\n\n"
    "Countertransference: protective. Bring to supervision.",
    dt.date(
        2024, 1, 16
    ): "Process notes. The session turned when J. said 'I drink so I don't have to hear "
    "myself think.' Long silence afterwards, which I let stand. They then asked whether I "
    "was 'disappointed' in them - the grading theme again, now in the room with me.\n\n"
    "I named the pattern tentatively; J. agreed, then changed the subject to scheduling. "
    "Likely more than they could hold today.\n\nFor supervision: my pull to be the "
    "approving parent. Keep the frame steady; do not over-praise the progress in the "
    "program.",
    dt.date(
        2025, 8, 26
    ): "Process notes. J. talked about the promotion almost apologetically, as if success "
    "needed a permission slip. I wondered aloud who would be issuing it. They smiled and "
    "said 'probably still me.'\n\nThe internal critic seems less fused with the father's "
    "voice now; more of an ally with bad manners.\n\nThinking about termination: J. "
    "mentioned the ending twice without prompting. Start the conversation next time.",
}

_ASSESSMENTS = {
    2023: (
        dt.date(2023, 1, 24),
        "Intake assessment (biopsychosocial)",
        "INTAKE ASSESSMENT\nReason for referral: self-referred for anxiety, poor sleep and "
        "conflict at work.\n\nHistory: no prior psychiatric treatment. Grew up in a two-parent "
        "household; describes father as 'demanding'. Completed a business degree; works in "
        "logistics planning. Alcohol: 3-6 drinks per week; no drug use. No legal history.\n\n"
        "Screening: PHQ-9 = 16 (moderately severe), GAD-7 = 14 (moderate), AUDIT-C = 4. "
        "Columbia screen negative for suicidal ideation and behaviour.\n\nDiagnostic "
        "impression: F41.1 Generalized anxiety disorder; rule out F32.1 major depressive "
        "disorder, single episode, moderate. Recommended weekly CBT.",
    ),
    2024: (
        dt.date(2024, 2, 6),
        "Annual reassessment",
        "ANNUAL REASSESSMENT\nInterval history: twelve months of weekly CBT with partial "
        "response; increased alcohol use over the holiday period.\n\nScreening: PHQ-9 = 11, "
        "GAD-7 = 10, AUDIT = 12 (hazardous use). Columbia screen negative.\n\nImpression: "
        "F41.1 Generalized anxiety disorder, improving; F10.10 Alcohol use disorder, mild, "
        "newly identified. Referred to the clinic's substance-use program for concurrent "
        "treatment with the client's written consent.",
    ),
    2025: (
        dt.date(2025, 2, 4),
        "Annual reassessment",
        "ANNUAL REASSESSMENT\nInterval history: completed the intensive outpatient program in "
        "June 2024; continuing individual therapy.\n\nScreening: PHQ-9 = 5, GAD-7 = 4, "
        "AUDIT = 3. Columbia screen negative.\n\nImpression: F41.1 Generalized anxiety "
        "disorder, in partial remission; F10.10 Alcohol use disorder, mild, in early "
        "remission. Recommend tapering to monthly sessions.",
    ),
}

_TREATMENT_PLANS = {
    2023: (
        dt.date(2023, 2, 7),
        "dr-lee",
        "Initial treatment plan",
        "TREATMENT PLAN\nProblem 1: anxiety and worry interfering with work.\n  Goal: reduce "
        "GAD-7 below 10 within 6 months.\n  Interventions: weekly CBT, thought records, "
        "graded exposure to difficult meetings.\n\nProblem 2: sleep onset insomnia.\n  Goal: "
        "sleep onset under 30 minutes on 5 of 7 nights.\n  Interventions: sleep diary, "
        "stimulus control, sleep hygiene.\n\nClient participated in developing this plan "
        "and agrees with it. Review in 6 months.",
    ),
    2024: (
        dt.date(2024, 2, 13),
        "sup-kim",
        "Treatment plan review (supervisor co-signed)",
        "TREATMENT PLAN REVIEW\nProgress: anxiety goal partly met (GAD-7 14 -> 10). Sleep goal "
        "met.\n\nNew problem: hazardous alcohol use.\n  Goal: no more than 2 drinks per "
        "occasion and no weekday drinking within 3 months.\n  Interventions: concurrent "
        "substance-use program (intensive outpatient), motivational interviewing in "
        "individual sessions.\n\nReviewed with the treating clinician and co-signed by the "
        "clinical supervisor.",
    ),
    2025: (
        dt.date(2025, 2, 18),
        "dr-lee",
        "Treatment plan review",
        "TREATMENT PLAN REVIEW\nProgress: GAD-7 4, PHQ-9 5; alcohol goal met and sustained "
        "since July 2024.\n\nPlan: taper to monthly sessions; maintain relapse-prevention "
        "plan; discuss termination by end of 2025.\n\nClient agrees with the plan.",
    ),
}

_MEDICATIONS = {
    2023: (
        dt.date(2023, 3, 2),
        "MEDICATION LIST (as reported by client and primary care)\n"
        "- Sertraline 50 mg by mouth once daily (started 2023-02-20 by primary care)\n"
        "- Melatonin 3 mg at bedtime as needed (over the counter)\n\n"
        "Allergies: no known drug allergies.\n\nNotes: client reports mild nausea in the first "
        "week of sertraline, now resolved. Coordinating with the primary care physician.",
    ),
    2024: (
        dt.date(2024, 3, 5),
        "MEDICATION LIST (updated)\n"
        "- Sertraline 100 mg by mouth once daily (dose increased 2023-11 by primary care)\n"
        "- Naltrexone 50 mg by mouth once daily (started 2024-02 by the program physician)\n\n"
        "Allergies: no known drug allergies.\n\nNotes: melatonin discontinued. Client "
        "reports good adherence.",
    ),
    2025: (
        dt.date(2025, 4, 8),
        "MEDICATION LIST (updated)\n"
        "- Sertraline 50 mg by mouth once daily (taper begun 2025-03 by primary care)\n\n"
        "Allergies: no known drug allergies.\n\nNotes: naltrexone completed 2024-12. Client "
        "to report any return of anxiety or sleep disturbance during the taper.",
    ),
}

_LABS = {
    2023: (
        dt.date(2023, 3, 15),
        "Baseline laboratory results (from primary care)",
        "LABORATORY REPORT - copy received from primary care\n"
        "TSH: 2.1 mIU/L (reference 0.4-4.0)\n"
        "CBC: within normal limits\n"
        "Comprehensive metabolic panel: within normal limits\n\n"
        "Comment: thyroid function normal; no medical contributor to anxiety identified.",
    ),
    2024: (
        dt.date(2024, 2, 27),
        "Hepatic function panel (from primary care)",
        "LABORATORY REPORT - copy received from primary care\n"
        "ALT: 38 U/L (reference 7-56)\n"
        "AST: 31 U/L (reference 10-40)\n"
        "GGT: 62 U/L (reference 8-61) - slightly high\n\n"
        "Comment: baseline before naltrexone; repeat in 3 months.",
    ),
    2025: (
        dt.date(2025, 5, 20),
        "Annual laboratory results (from primary care)",
        "LABORATORY REPORT - copy received from primary care\n"
        "TSH: 1.8 mIU/L (reference 0.4-4.0)\n"
        "GGT: 29 U/L (reference 8-61)\n"
        "Vitamin D, 25-OH: 31 ng/mL (reference 30-100)\n\n"
        "Comment: liver enzymes normalised.",
    ),
}

_CORRESPONDENCE = {
    2023: (
        dt.date(2023, 4, 11),
        False,
        "Letter to primary care physician",
        "Dear Dr. Patel,\n\nWith the written authorization of our mutual patient, "
        f"{_PATIENT} (DOB {_DOB}), I am writing to coordinate care. I have seen the patient "
        "weekly since January for anxiety and insomnia using cognitive behavioural therapy. "
        "Early progress is encouraging.\n\nI understand you started sertraline in February; "
        "please let me know of any dose changes so I can watch for side effects in "
        "session.\n\nSincerely,\nDr. Lee, licensed psychologist\nDemo Clinic",
    ),
    2024: (
        dt.date(2024, 5, 2),
        True,
        "Letter to family member (with authorization)",
        f"Dear Ms. {_SISTER.split()[1]},\n\nYour sibling, {_PATIENT}, has authorized me to "
        "write to you about the joint session you asked about. I would be glad to meet with "
        f"both of you. {_SISTER.split()[0]}, the purpose would be to agree on how you two "
        "can talk through disagreements at home, not to review your sibling's treatment.\n\n"
        "Please call the front desk to arrange a time.\n\nSincerely,\nDr. Lee\nDemo Clinic",
    ),
    2025: (
        dt.date(2025, 6, 3),
        False,
        "Letter to employer (work accommodation)",
        "To whom it may concern,\n\nAt the request and with the written authorization of "
        f"{_PATIENT}, I confirm that the patient is under my care and attends monthly "
        "appointments. I recommend that these appointments be accommodated as a reasonable "
        "adjustment.\n\nNo further clinical information is disclosed in this letter.\n\n"
        "Sincerely,\nDr. Lee\nDemo Clinic",
    ),
}

_BILLING = {
    2023: (dt.date(2023, 12, 29), 46),
    2024: (dt.date(2024, 12, 30), 38),
    2025: (dt.date(2025, 9, 30), 14),
}

_SUD = {
    2023: (
        dt.date(2023, 11, 14),
        "sup-kim",
        "Substance-use screening (program intake)",
        "SUBSTANCE USE DISORDER PROGRAM - SCREENING\nThis record is protected by federal "
        "confidentiality rules (42 CFR Part 2).\n\nAUDIT = 9; reports 2-3 drinks on most "
        "weekday evenings to 'switch off', more at weekends. No withdrawal history. No other "
        "substances.\n\nDisposition: brief intervention delivered; client declined program "
        "enrolment at this time. Rescreen in 3 months.",
    ),
    2024: (
        dt.date(2024, 6, 18),
        "sup-kim",
        "Intensive outpatient program discharge summary",
        "SUBSTANCE USE DISORDER PROGRAM - DISCHARGE SUMMARY\nThis record is protected by "
        "federal confidentiality rules (42 CFR Part 2).\n\nAdmitted 2024-02-20 to the "
        "intensive outpatient program (3 evenings per week, 12 weeks). Attended 34 of 36 "
        "group sessions. Naltrexone prescribed by the program physician.\n\nOutcome: "
        "abstinent for the final 8 weeks; AUDIT 12 -> 4. Discharged to continuing care "
        "with monthly check-ins.",
    ),
    2025: (
        dt.date(2025, 1, 21),
        "dr-lee",
        "Continuing care note",
        "SUBSTANCE USE DISORDER PROGRAM - CONTINUING CARE\nThis record is protected by "
        "federal confidentiality rules (42 CFR Part 2).\n\nClient reports one lapse in "
        "October 2024, self-disclosed, and none since. Attends monthly alumni group. "
        "AUDIT = 3.\n\nPlan: close continuing care episode in June 2025 if stable.",
    ),
}


_STAFF = {"dr-lee": "Dr. Lee", "sup-kim": "Kim (clinical supervisor)"}
# Documents whose text already carries its own heading (note header, letterhead, statement).
_SELF_HEADED = {
    RecordCategory.progress_note,
    RecordCategory.correspondence,
    RecordCategory.billing,
}


def _billing_text(year: int, when: dt.date, sessions: int) -> str:
    fee = 180
    total = sessions * fee
    paid = round(total * 0.8)
    return (
        f"STATEMENT OF ACCOUNT - {year}\nDemo Clinic, 100 Example Street, Demo City, CA\n"
        f"Patient: {_PATIENT}    Statement date: {when.isoformat()}\n\n"
        f"Individual psychotherapy (CPT 90837) x {sessions} at ${fee}.00: ${total:,}.00\n"
        f"Insurance payments: ${paid:,}.00\n"
        f"Patient payments: ${total - paid:,}.00\n"
        "Balance due: $0.00\n\nThank you. Questions about this statement: "
        "billing@demo-clinic.test."
    )


def demo_documents(clinic_id: str, patient_ref: str) -> list[tuple[DocumentMeta, bytes]]:
    """The demo record: (metadata, content) for every document, in id order per category."""
    out: list[tuple[DocumentMeta, bytes]] = []
    counters: dict[tuple[int, RecordCategory], int] = {}

    def doc(
        category: RecordCategory,
        when: dt.date,
        author: str,
        title: str,
        text: str,
        *,
        third_party: bool = False,
    ) -> None:
        n = counters[(when.year, category)] = counters.get((when.year, category), 0) + 1
        if category not in _SELF_HEADED:
            text = (
                f"Demo Clinic - {title}\nPatient: {_PATIENT} (DOB {_DOB})    "
                f"Record: {patient_ref}\n\n{text}\n\n"
                f"Entered by {_STAFF[author]} on {when.isoformat()}.\n"
            )
        content = text.encode("utf-8")
        meta = DocumentMeta(
            id=f"{patient_ref}.doc-{when.year}-{category.value}-{n}",
            clinic_id=clinic_id,
            patient_ref=patient_ref,
            category=category,
            date=when,
            author=author,
            title=title,
            psychotherapy_note=category == RecordCategory.psychotherapy_note,
            part2=category == RecordCategory.sud_treatment,
            third_party=third_party,
            content_type="text/plain; charset=utf-8",
            sha256=_sha256(content),
        )
        out.append((meta, content))

    cat = RecordCategory
    for when, third, s, o, a, p, phq9 in _PROGRESS_NOTES:
        doc(
            cat.progress_note,
            when,
            "dr-lee",
            "Progress note",
            _progress_note(when, s, o, a, p, phq9),
            third_party=third,
        )
    for when, title, text in _ASSESSMENTS.values():
        doc(cat.assessment, when, "dr-lee", title, text)
    for when, text in _PROCESS_NOTES.items():
        doc(cat.psychotherapy_note, when, "dr-lee", "Psychotherapy note", text)
    for when, author, title, text in _TREATMENT_PLANS.values():
        doc(cat.treatment_plan, when, author, title, text)
    for when, text in _MEDICATIONS.values():
        doc(cat.medication, when, "dr-lee", "Medication list", text)
    for when, title, text in _LABS.values():
        doc(cat.lab, when, "dr-lee", title, text)
    for when, third, title, text in _CORRESPONDENCE.values():
        doc(cat.correspondence, when, "dr-lee", title, text, third_party=third)
    for year, (when, sessions) in _BILLING.items():
        doc(
            cat.billing,
            when,
            "dr-lee",
            f"Statement of account {year}",
            _billing_text(year, when, sessions),
        )
    for when, author, title, text in _SUD.values():
        doc(cat.sud_treatment, when, author, title, text)
    return out

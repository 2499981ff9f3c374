"""The demo data set behind `manage.py seed_demo`: a small content-safety shop in full swing.

Two teams, twelve people with one public demo password, a versioned policy taxonomy (with a
hierarchy in its second version) and a multi-choice schema, data requests in every state, six
projects spread over the lifecycle (all led by `lena`, the README's lead), about 340 items of
five modalities with generated media (demo.media: served by Quorum, no other host), and weeks of
history: annotators working at human pace (demo.history), phase moves, blockers opened and
resolved, milestones reached, agreement reports, audits and questions to the lead.

Every write goes through the services, in the order it happened, so the demo is valid by
construction and exercises the same rules as the product (phase guards, overlap, one annotation
per annotator and item). Every figure a page shows is computed from that history by the product's
own code: rollups, forecasts, risks (workbench.risks, synced each evening of the story),
agreement reports, the retrospective. Nothing is typed in but the plans (deadlines, milestones'
planned dates), the people and their words (reasons, questions, resolutions), and where a reason
quotes a figure, it quotes the report that was computed. The only direct writes are accounts
(the accounts app has no services) and teams, and the timestamps demo.history sets back to when
things happened. It all runs in one transaction: a failure leaves no rows behind (generated media
files stay: the same names get the same bytes). Running it again changes nothing: the policy
taxonomy schema is the marker that the demo is present.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from typing import Any, Protocol

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Count, F, Max
from django.urls import reverse
from django.utils import timezone

from accounts.models import Team, User
from annotation import services as annotation_services
from annotation.models import Annotation, Assignment, Flag, Item, LabelSchema
from annotation.selectors import schema_version_current
from core.errors import QuorumError
from demo import history, media
from projects import services as project_services
from projects.models import Blocker, DataRequest, Membership, Milestone, Project
from quality.models import AgreementReport, AuditSample, Review
from quality.services.audits import audit_sample_draw, review_record
from quality.services.reports import agreement_report_compute
from workbench.risks import project_risks_sync, risk_sweep
from workbench.rollups import rollup_refresh
from workbench.services.blockers import blocker_open, blocker_resolve
from workbench.services.datarequests import datarequest_accept, datarequest_create, datarequest_reject
from workbench.services.lifecycle import project_transition, project_update
from workbench.services.milestones import milestone_create, milestone_update
from workbench.services.progress import project_progress_refresh

DEMO_PASSWORD = "quorum-demo"
DEMO_URL = "http://127.0.0.1:8000/"
TAXONOMY_NAME = "Content policy taxonomy"
MULTIMODAL_SCHEMA_NAME = "Multimodal post signals"
XSS_TEXT = "<script>alert('xss')</script> lol check my profile for free stuff"

Role = User.Role
Phase = Project.Phase


class _Writer(Protocol):
    def write(self, text: str) -> Any: ...


# --- People -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoUser:
    username: str
    first_name: str
    last_name: str
    role: str
    team: str
    languages: tuple[str, ...] = ("en",)
    superuser: bool = False
    # How often the simulated annotator picks the true label (before item difficulty).
    accuracy: float = 0.9
    # Their pace: median seconds on a text item, and how much of a day's work they take on
    # (1.0: the project's usual items a day per annotator).
    median_seconds: float = 15.0
    stamina: float = 1.0


TEAMS = {"trust-ml": "Trust ML", "safety-ops": "Safety Operations"}

DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("admin", "Alex", "Admin", Role.LEAD, "safety-ops", ("en",), superuser=True),
    DemoUser("lena", "Lena", "Park", Role.LEAD, "safety-ops", ("en", "de")),
    DemoUser(
        "ana",
        "Ana",
        "García",
        Role.ANNOTATOR,
        "safety-ops",
        ("es", "en"),
        accuracy=0.96,
        median_seconds=12,
        stamina=1.3,
    ),
    DemoUser("ben", "Ben", "Okafor", Role.ANNOTATOR, "safety-ops", ("en", "es"), accuracy=0.93, median_seconds=17),
    DemoUser(
        "chen", "Chen", "Wei", Role.ANNOTATOR, "safety-ops", ("zh", "en"), accuracy=0.95, median_seconds=14, stamina=1.1
    ),
    # Fast and sloppy: the gold and audit figures single her out.
    DemoUser(
        "dara",
        "Dara",
        "Silva",
        Role.ANNOTATOR,
        "safety-ops",
        ("pt-BR", "es", "en"),
        accuracy=0.76,
        median_seconds=8,
        stamina=1.4,
    ),
    DemoUser(
        "emre",
        "Emre",
        "Yılmaz",
        Role.ANNOTATOR,
        "safety-ops",
        ("tr", "de", "en"),
        accuracy=0.91,
        median_seconds=22,
        stamina=0.7,
    ),
    DemoUser(
        "fatima", "Fatima", "Haddad", Role.ANNOTATOR, "safety-ops", ("ar", "fr", "en"), accuracy=0.95, median_seconds=15
    ),
    DemoUser("rita", "Rita", "Novak", Role.REVIEWER, "safety-ops", ("en", "es")),
    DemoUser("ravi", "Ravi", "Menon", Role.REVIEWER, "safety-ops", ("en", "hi")),
    DemoUser("maya", "Maya", "Cohen", Role.REQUESTER, "trust-ml", ("en",)),
    DemoUser("omar", "Omar", "Farouk", Role.REQUESTER, "trust-ml", ("en", "ar")),
)

# Where each role lands after signing in (accounts.views.home).
LANDING = {
    Role.LEAD: ("projects:portfolio", "project portfolio and request triage"),
    Role.REQUESTER: ("projects:request_list", "their team's data requests"),
    Role.ANNOTATOR: ("annotation:queue", "queue of projects to label"),
    Role.REVIEWER: ("annotation:queue", "queue of projects to review"),
}


@dataclass(frozen=True)
class SignIn:
    username: str
    password: str
    role: str
    lands_on: str


@dataclass
class DemoResult:
    created: bool
    sign_ins: list[SignIn]
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    url: str = DEMO_URL


# --- Label schemas ----------------------------------------------------------------------------

TAXONOMY_V1: list[dict[str, Any]] = [
    {
        "key": "safe",
        "name": "Safe",
        "severity": 0,
        "shortcut": "1",
        "description": "No policy applies. News reporting, criticism, counter-speech and dark humour "
        "without a real target are safe.",
    },
    {
        "key": "spam",
        "name": "Spam and scams",
        "severity": 1,
        "shortcut": "2",
        "description": "Unsolicited commercial content, engagement bait, phishing, fake giveaways.",
    },
    {
        "key": "hate",
        "name": "Hate",
        "severity": 3,
        "shortcut": "3",
        "description": "Attacks a group for a protected attribute: religion, ethnicity, nationality, "
        "gender, sexual orientation, disability.",
    },
    {
        "key": "harassment",
        "name": "Harassment",
        "severity": 2,
        "shortcut": "4",
        "description": "Targets a specific person with insults, humiliation or unwanted contact.",
    },
    {
        "key": "violence",
        "name": "Violence",
        "severity": 3,
        "shortcut": "5",
        "description": "Threatens, incites or glorifies violence, or depicts it.",
    },
    {
        "key": "adult",
        "name": "Adult content",
        "severity": 2,
        "shortcut": "6",
        "description": "Sexually explicit content or solicitation; nudity outside art, health or news.",
    },
    {
        "key": "self-harm",
        "name": "Self-harm",
        "severity": 4,
        "shortcut": "7",
        "description": "Expresses intent to self-harm, encourages it, or shares methods. Escalate at once.",
    },
]
TAXONOMY_V2: list[dict[str, Any]] = [
    *TAXONOMY_V1,
    {
        "key": "graphic-violence",
        "name": "Graphic violence",
        "parent": "violence",
        "severity": 3,
        "shortcut": "8",
        "description": "Shows or describes injury, blood or death in detail.",
    },
    {
        "key": "violent-threat",
        "name": "Violent threat",
        "parent": "violence",
        "severity": 4,
        "shortcut": "9",
        "description": "States an intent to hurt a specific person or place.",
    },
]
MULTIMODAL_LABELS: list[dict[str, Any]] = [
    {"key": "benign", "name": "Benign", "severity": 0, "shortcut": "1", "description": "Nothing to flag."},
    {"key": "spam", "name": "Spam", "severity": 1, "shortcut": "2", "description": "Ads, scams, engagement bait."},
    {
        "key": "hateful-symbol",
        "name": "Hateful symbol",
        "severity": 3,
        "shortcut": "3",
        "description": "A hate group's symbol, gesture or coded slogan in the image.",
    },
    {"key": "nudity", "name": "Nudity", "severity": 2, "shortcut": "4", "description": "Nudity or sexual content."},
    {
        "key": "violence-depicted",
        "name": "Violence depicted",
        "severity": 3,
        "shortcut": "5",
        "description": "The image shows violence or its aftermath.",
    },
    {
        "key": "self-harm-depicted",
        "name": "Self-harm depicted",
        "severity": 4,
        "shortcut": "6",
        "description": "The image shows self-harm or its tools in a harmful context.",
    },
    {
        "key": "harmful-combination",
        "name": "Harmful only in combination",
        "severity": 3,
        "shortcut": "7",
        "description": "Caption and image are harmless apart but harmful together (the classic hateful meme).",
    },
]

# Which wrong answers a tired or unsure annotator gives instead of the true label.
CONFUSIONS: dict[str, list[str]] = {
    "safe": ["spam", "harassment", "violence"],
    "spam": ["safe", "adult"],
    "hate": ["harassment", "safe"],
    "harassment": ["hate", "safe", "violent-threat"],
    "violence": ["graphic-violence", "violent-threat", "safe"],
    "graphic-violence": ["violence", "safe"],
    "violent-threat": ["violence", "harassment"],
    "adult": ["spam", "safe"],
    "self-harm": ["safe", "violence"],
    "benign": ["spam", "harmful-combination"],
    "hateful-symbol": ["harmful-combination", "benign"],
    "nudity": ["benign"],
    "violence-depicted": ["benign", "self-harm-depicted"],
    "self-harm-depicted": ["violence-depicted"],
    "harmful-combination": ["benign", "hateful-symbol"],
}

# --- Synthetic content ------------------------------------------------------------------------
# Mild on purpose: harmful content is only named in [brackets], never written out.

TEXTS: dict[str, dict[str, list[str]]] = {
    "en": {
        "safe": [
            "Does anyone have a good recipe for {food}? Hosting {n} people on Saturday.",
            "Our team finally won the league final, what a night!",
            "Reminder: the community garden cleanup is this Sunday at 10am, gloves provided.",
            "Just finished reading a great novel about {food} farmers. The ending got me.",
            "Can someone explain how compound interest works like I'm five?",
            "Photos from the {city} marathon are up, congrats to all {n} runners!",
            "Lost a grey cat near {city} station, answers to Miso. Please DM if seen.",
        ],
        "spam": [
            "Earn $5,000 a week from home!!! DM me 'RICH' or click [link removed]",
            "Get 10k followers for $9, instant delivery, link in bio",
            "Congratulations! You were selected for a free phone. Claim within {n} minutes: [suspicious link]",
            "Crypto signal group, 300% guaranteed returns, join before it closes [link removed]",
        ],
        "hate": [
            "[hateful remark about group X], they should all go back where they came from",
            "[dehumanising comparison of group Y to animals]",
            "Typical [group X], always [negative stereotype]. Can't trust any of them.",
            "[slur against group Z] people are ruining {city}",
        ],
        "harassment": [
            "@user{n} you are pathetic and everyone at school knows it",
            "[insult aimed at a named person], nobody wants you here, log off forever",
            "Look at this loser's profile picture [mocking a named person's appearance]",
            "@user{n} I will keep making new accounts until you quit [repeated unwanted contact]",
        ],
        "violence": [
            "People like that deserve [call to violence against protesters]",
            "[post glorifying a recent attack in {city}]",
        ],
        "graphic-violence": [
            "[graphic description of injuries after a street fight in {city}]",
            "[detailed description of an accident scene with visible wounds]",
        ],
        "violent-threat": [
            "If I see him at the rally tomorrow I'm going to [threat of violence]",
            "[explicit threat to hurt a named person at their workplace in {city}]",
        ],
        "adult": [
            "18+ only: [link to explicit content], DM for more",
            "[sexually explicit description]",
        ],
        "self-harm": [
            "I don't see the point anymore. [statement of self-harm intent]",
            "[asks others for methods of self-harm]",
        ],
    },
    "es": {
        "safe": [
            "¿Alguien sabe dónde comprar pan sin gluten en {city}?",
            "¡Qué partidazo anoche! Enhorabuena al equipo.",
            "Mañana hay mercadillo solidario en la plaza, ¡pasaos!",
        ],
        "spam": ["Gana 5.000 € al mes desde casa, escríbeme por privado [enlace eliminado]"],
        "hate": ["[comentario de odio contra el grupo X], que se vayan todos"],
        "harassment": ["@usuario{n} eres patético y todo el mundo lo sabe"],
        "violent-threat": ["[amenaza explícita contra una persona concreta en {city}]"],
        "self-harm": ["Ya no puedo más. [mensaje con intención de autolesión]"],
    },
}
# Hard cases: the true label is "safe" but a hurried annotator flags them.
AMBIGUOUS_EN = [
    "That final exam absolutely killed me",
    "This movie is so bad I want to strangle the director",
    "Reporting from {city}: police confirm three people injured in last night's attack.",
    "Quoting the abuse I got so you see what it's like: '[slur against group X]'. This has to stop.",
]
FOODS = ["lasagna", "ramen", "paella", "falafel", "pierogi", "jollof rice", "dumplings"]
CITIES = ["Lisbon", "Austin", "Nairobi", "Osaka", "Madrid", "Toronto", "Berlin"]
IMAGE_SCENES: dict[str, list[str]] = {
    "safe": ["a beach at sunset", "a birthday cake with candles", "a dog catching a frisbee", "a city skyline"],
    "spam": ["a flyer promising free gift cards with a QR code", "a fake giveaway screenshot"],
    "hate": ["a banner with [a hate group's slogan]", "a hand gesture associated with [hate group]"],
    "violence": ["a crowd fight outside a stadium", "a person brandishing [a weapon] at a camera"],
    "adult": ["[explicit photo, blurred in the queue]"],
    "self-harm": ["[image depicting self-harm, blurred in the queue]"],
}
MEME_CAPTIONS = {
    "benign": ["Monday mood", "When the code compiles on the first try", "Me waiting for the weekend"],
    "spam": ["FREE crypto for the first 100 followers!!! [link removed]"],
    "hateful-symbol": ["Proud of our heritage [coded hate slogan]"],
    "harmful-combination": ["Look how many showed up today [caption mocking a group, paired with an animal photo]"],
    "violence-depicted": ["This is what happens when you cross us"],
}

# --- The run ----------------------------------------------------------------------------------


@dataclass
class _Demo:
    """State shared by the steps of one run."""

    clock: history.Clock
    rng: random.Random
    out: _Writer | None
    users: dict[str, User] = field(default_factory=dict)
    schemas: dict[str, LabelSchema] = field(default_factory=dict)
    truth: dict[tuple[int, str], Any] = field(default_factory=dict)
    difficult: set[tuple[int, str]] = field(default_factory=set)
    # Projects whose first guideline leaves the hard cases open (annotators err more there).
    unclear: set[int] = field(default_factory=set)
    # When each annotator finished working on a given day (so two projects' sessions never overlap).
    busy: dict[tuple[str, date], datetime] = field(default_factory=dict)

    @property
    def today(self) -> date:
        return self.clock.today

    def say(self, line: str) -> None:
        if self.out is not None:
            self.out.write(line + "\n")

    def days(self, offset: int) -> date:
        return self.clock.day(offset)

    def at(self, offset: int, hour: int = 10, minute: int = 0):
        """Run the services inside as if on day `offset` (from today) at hh:mm UTC."""
        return self.clock.at(self.clock.moment(offset, hour, minute))


def demo_seed(
    *, stdout: _Writer | None = None, today: date | None = None, now: datetime | None = None, seed: int = 20251
) -> DemoResult:
    """Load the demo data set, all or nothing; when it is already present, change nothing.

    Returns the demo sign-ins (always) and the counts of what the database now holds. The story
    ends at `now` (default: the real now; `today` alone means 17:00 UTC that day): deadlines,
    milestones and weeks of history are laid out before it. `seed` fixes every random draw.
    """
    started = time.monotonic()
    if now is None:
        now = datetime.combine(today, dt_time(17, 0), tzinfo=UTC) if today is not None else timezone.now()
    demo = _Demo(clock=history.Clock(now=now), rng=random.Random(seed), out=stdout)
    with transaction.atomic():
        if LabelSchema.objects.filter(name=TAXONOMY_NAME).exists():
            demo.say("Demo data already present: nothing to do.")
            return DemoResult(created=False, sign_ins=_sign_ins(), counts=demo_counts())
        sign_ins = _users_create(demo)
        _schemas_create(demo)
        projects = _requests_create(demo)
        _image_eval_project(demo, projects["image"])
        _schema_hierarchy_add(demo)
        _text_training_project(demo, projects["text"])
        _multimodal_pilot_project(demo, projects["multimodal"])
        _video_audio_project(demo, projects["video"])
        _ocr_design_project(demo, projects["ocr"])
        _requirements_project(demo, projects["scam"])
        # The present: figures up to now, the latest reports, and the risks that hold now.
        rollup_refresh(now=now)
        for project in projects.values():
            project_progress_refresh(project_id=project.pk)
            history.leases_restamp(project=project)
            if project.annotations.exists():
                agreement_report_compute(project_id=project.pk, bootstrap=REPORT_BOOTSTRAP, seed=0)
        risk_sweep(now=now)
        counts = demo_counts()
    seconds = time.monotonic() - started
    demo.say(
        f"Done in {seconds:.1f} s: {counts['users']} users, {counts['projects']} projects, "
        f"{counts['items']} items, {counts['annotations']} annotations."
    )
    return DemoResult(created=True, sign_ins=sign_ins, counts=counts, seconds=seconds)


REPORT_BOOTSTRAP = 200
# The story's risk sweep runs every other evening (beat runs it every 15 minutes; each sweep
# reads gold accuracy afresh, the slowest part of the seed).
RISK_SYNC_DAYS = 2


def demo_counts() -> dict[str, int]:
    """What the database holds, in the figures the command reports."""
    counts = {
        "users": User.objects.count(),
        "projects": Project.objects.count(),
        "requests": DataRequest.objects.count(),
        "items": Item.objects.count(),
        "annotations": Annotation.objects.count(),
        "blockers": Blocker.objects.count(),
    }
    for phase, number in Project.objects.order_by().values_list("phase").annotate(n=Count("id")):
        counts[f"phase_{phase}"] = number
    return counts


def demo_sign_ins_table(result: DemoResult) -> str:
    """The sign-ins as a plain-text table, ready to print."""
    header = ("username", "password", "role", "lands on")
    rows = [header, *((s.username, s.password, s.role, s.lands_on) for s in result.sign_ins)]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = [
        "",
        f"Demo sign-ins. Every demo account uses the password {DEMO_PASSWORD!r}: it is a public demo",
        "password, so never load this data into a deployment others can reach.",
        "",
    ]
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[column]) for column, cell in enumerate(row[:3])) + "  " + row[3])
        if index == 0:
            lines.append("  ".join("-" * width for width in widths) + "  " + "-" * len(header[3]))
    lines += ["", f"Open {result.url} and sign in."]
    return "\n".join(lines)


def _sign_ins(preexisting: Iterable[str] = ()) -> list[SignIn]:
    kept = set(preexisting)
    rows = []
    for spec in DEMO_USERS:
        url_name, what = LANDING[spec.role]
        lands_on = f"{reverse(url_name)} ({what})"
        role = Role(spec.role).label
        if spec.superuser:
            role += ", superuser"
            lands_on += f"; Django admin at {reverse('admin:index')}"
        password = "(unchanged: the account existed before)" if spec.username in kept else DEMO_PASSWORD
        rows.append(SignIn(spec.username, password, role, lands_on))
    return rows


# --- Steps ------------------------------------------------------------------------------------


def _users_create(demo: _Demo) -> list[SignIn]:
    """Teams and the demo accounts. An account that already exists (say an `admin` made with
    createsuperuser) is reused as it is, provided its role fits."""
    teams = {slug: Team.objects.get_or_create(slug=slug, defaults={"name": name})[0] for slug, name in TEAMS.items()}
    # One hash for all: the password is the same and hashing it twelve times would take seconds.
    password_hash = make_password(DEMO_PASSWORD)
    preexisting = []
    for spec in DEMO_USERS:
        user = User.objects.filter(username=spec.username).first()
        if user is not None:
            if user.role != spec.role and not (spec.role == Role.LEAD and user.is_superuser):
                raise QuorumError(
                    f"user {spec.username!r} already exists as {user.role}; the demo needs a {spec.role} of that "
                    "name. Rename or delete that account, then run seed_demo again.",
                    field="username",
                )
            preexisting.append(spec.username)
        else:
            user = User.objects.create_user(
                username=spec.username,
                email=f"{spec.username}@demo.quorum.example",
                password=None,
                first_name=spec.first_name,
                last_name=spec.last_name,
                role=spec.role,
                team=teams[spec.team],
                languages=list(spec.languages),
                is_staff=spec.superuser,
                is_superuser=spec.superuser,
            )
            user.password = password_hash
            user.save(update_fields=["password"])
        demo.users[spec.username] = user
    demo.say(f"Teams: {', '.join(TEAMS.values())}; users: {len(DEMO_USERS)} ({len(preexisting)} existed already).")
    return _sign_ins(preexisting)


def _schemas_create(demo: _Demo) -> None:
    admin = demo.users["admin"]
    with demo.at(-50, 9):
        demo.schemas["taxonomy"] = annotation_services.schema_create(
            name=TAXONOMY_NAME,
            labels=TAXONOMY_V1,
            actor=admin,
            description="The platform's content policy, one label per item, ordered by severity.",
        )
        demo.schemas["multimodal"] = annotation_services.schema_create(
            name=MULTIMODAL_SCHEMA_NAME,
            labels=MULTIMODAL_LABELS,
            actor=admin,
            selection=LabelSchema.Selection.MULTI,
            description="Signals in a post made of a caption and an image; choose every one that applies.",
        )
    demo.say(f"Label schemas: {TAXONOMY_NAME!r} v1 (7 labels), {MULTIMODAL_SCHEMA_NAME!r} (multi-choice).")


def _schema_hierarchy_add(demo: _Demo) -> None:
    with demo.at(-29, 11):
        annotation_services.schema_version_create(
            schema=demo.schemas["taxonomy"],
            labels=TAXONOMY_V2,
            actor=demo.users["lena"],
            note="Split violence into graphic violence and violent threat (Trust ML asked for the finer classes).",
        )
    demo.say(f"{TAXONOMY_NAME!r} v2: violence → graphic-violence / violent-threat.")


# (key, filed on day, accepted on day): every project is led by lena, the README's lead.
REQUEST_DAYS = {
    "image": (-47, -45),
    "text": (-35, -33),
    "video": (-23, -21),
    "multimodal": (-14, -12),
    "ocr": (-10, -8),
    "scam": (-4, -2),
}


def _requests_create(demo: _Demo) -> dict[str, Project]:
    """Eight requests from Trust ML: six accepted (each becomes a project), one rejected, one waiting."""
    u, taxonomy = demo.users, demo.schemas["taxonomy"]
    specs: dict[str, dict[str, Any]] = {
        "text": {
            "requester": u["maya"],
            "title": "Hate & harassment classifier: EN/ES training set",
            "description": "Training data for the next comment classifier. Public forum posts reported by users.",
            "modality": "text",
            "languages": ["en", "es"],
            "regions": ["US", "ES", "MX"],
            "label_schema": taxonomy,
            "volume_total": 140,
            "volume_per_class": {"hate": 25, "harassment": 25, "safe": 50},
            "sampling_notes": "Oversample reported posts; keep 30% unreported as negatives.",
            "privacy_notes": "Usernames pseudonymised before import.",
            "deadline": demo.days(14),
            "min_alpha": 0.67,
            "min_gold_accuracy": 0.85,
            "priority": 3,
        },
        "image": {
            "requester": u["omar"],
            "title": "Image safety evaluation set Q3",
            "description": "Held-out evaluation set for the image safety model, stratified by policy.",
            "purpose": "evaluation",
            "modality": "image",
            "label_schema": taxonomy,
            "volume_total": 64,
            "deadline": demo.days(7),
            "min_alpha": 0.7,
            "min_gold_accuracy": 0.9,
            "priority": 4,
        },
        "multimodal": {
            "requester": u["maya"],
            "title": "Hateful memes: multimodal pilot",
            "description": "Does caption + image labeling work at our quality bar? 40-item pilot first.",
            "modality": "multimodal",
            "languages": ["en"],
            "label_schema": demo.schemas["multimodal"],
            "volume_total": 2000,
            "deadline": demo.days(45),
            "min_alpha": 0.6,
        },
        "video": {
            "requester": u["omar"],
            "title": "Violence in short videos and voice notes",
            "description": "Clips and voice notes for the violence detector.",
            "modality": "audio",
            "languages": ["en"],
            "label_schema": taxonomy,
            "volume_total": 600,
            "deadline": demo.days(30),
            "privacy_notes": "Contains faces and voices; retention must be cleared by legal first.",
        },
        "ocr": {
            "requester": u["maya"],
            "title": "Scam text in screenshots (OCR)",
            "modality": "ocr",
            "languages": ["en"],
            "proposed_labels": [
                {"key": "scam", "name": "Scam", "definition": "Asks for money, credentials or a click under a pretext"},
                {"key": "legit-promo", "name": "Legitimate promotion", "definition": "A real offer from a brand"},
                {"key": "other", "name": "Other", "definition": "Neither"},
            ],
            "volume_total": 1500,
            "deadline": demo.days(60),
        },
        "scam": {
            "requester": u["omar"],
            "title": "Fraudulent ads: evaluation set (EN, DE)",
            "purpose": "evaluation",
            "modality": "multimodal",
            "languages": ["en", "de"],
            "proposed_labels": [{"key": "fraud", "name": "Fraud"}, {"key": "ok", "name": "Not fraud"}],
            "volume_total": 500,
            "deadline": demo.days(75),
        },
    }
    projects: dict[str, Project] = {}
    for key, spec in specs.items():
        filed, accepted = REQUEST_DAYS[key]
        with demo.at(filed, 14, 5):
            data_request = datarequest_create(**spec, today=demo.days(filed))
        with demo.at(accepted, 9, 40):
            projects[key] = datarequest_accept(data_request=data_request, actor=u["admin"], lead=u["lena"])
    with demo.at(-16, 15, 20):
        rejected = datarequest_create(
            requester=u["omar"],
            title="Toxicity labels for a scraped forum dump",
            description="200k posts scraped from a third-party forum.",
            volume_total=200_000,
            deadline=demo.days(20),
            today=demo.days(-16),
        )
    with demo.at(-15, 11, 2):
        datarequest_reject(
            data_request=rejected,
            actor=u["lena"],
            reason="The source has no licence or consent basis. Re-file with the licensed corpus and a smaller "
            "first batch.",
        )
    with demo.at(-1, 16, 45):
        datarequest_create(
            requester=u["maya"],
            title="Self-harm escalation set: PT-BR",
            description="Posts from the Brazilian market where self-harm content is under-detected.",
            languages=["pt-BR"],
            label_schema=taxonomy,
            volume_total=800,
            volume_per_class={"self-harm": 300},
            deadline=demo.days(40),
            priority=4,
            privacy_notes="Graphic content: the wellness cap on graphic items per annotator per day applies.",
            today=demo.days(-1),
        )
    demo.say("Data requests: 8 (6 accepted into projects, all led by lena; 1 rejected, 1 waiting for triage).")
    return projects


# Project builders: each tells its project's story in time order, through the services.


def _move(demo: _Demo, project: Project, offset: int, to_phase: str, reason: str, hour: int = 10) -> Project:
    with demo.at(offset, hour, 15):
        project_transition(project=project, to_phase=to_phase, actor=project.lead, reason=reason)
    return Project.objects.get(pk=project.pk)  # with the moment it moved, as the clock set it


def _members(demo: _Demo, project: Project, offset: int, names: Iterable[str], role: str) -> None:
    with demo.at(offset, 9, 50):
        for name in names:
            project_services.membership_add(project=project, user=demo.users[name], role=role, actor=project.lead)


def _milestones(demo: _Demo, project: Project, offset: int, plan: Sequence[tuple[str, int]]) -> dict[str, Milestone]:
    """The lead's plan, made on day `offset`: (name, planned day offset). Reached dates are
    recorded later, when the story reaches them (_reached)."""
    with demo.at(offset, 11, 30):
        return {
            name: milestone_create(project=project, name=name, planned_date=demo.days(planned), actor=project.lead)
            for name, planned in plan
        }


def _reached(demo: _Demo, milestone: Milestone, moment: datetime) -> None:
    with demo.clock.at(moment):
        milestone_update(milestone=milestone, actual_date=moment.date(), actor=milestone.project.lead)


def _guideline(
    demo: _Demo, project: Project, offset: int, title: str, sections: Sequence[str], note: str = ""
) -> datetime:
    body = f"# {title}\n\n" + "\n\n".join(sections)
    moment = demo.clock.moment(offset, 16, 10)
    with demo.clock.at(moment):
        annotation_services.guideline_publish(project=project, body=body, actor=project.lead, note=note)
    return moment


def _items(demo: _Demo, project: Project, offset: int, batch_name: str, rows: list[dict[str, Any]]) -> list[Item]:
    """Add `rows` in one batch. Each row's `_truth` (and `_hard`) drive the simulated labels and
    never reach the database; rows marked `_gold` carry their truth as the gold label."""
    clean = []
    for row in rows:
        key = (project.pk, row["external_id"])
        demo.truth[key] = row["_truth"]
        if row.get("_hard"):
            demo.difficult.add(key)
        values = {k: v for k, v in row.items() if not k.startswith("_")}
        if row.get("_gold"):
            values["gold_label"] = row["_truth"]
        clean.append(values)
    with demo.at(offset, 8, 20):
        batch = annotation_services.batch_create(
            project=project, name=batch_name, actor=project.lead, source=f"{batch_name}.jsonl"
        )
        return annotation_services.items_add(batch=batch, rows=clean, actor=project.lead)


def _blocker(demo: _Demo, project: Project, moment: datetime, **fields: Any) -> Blocker:
    with demo.clock.at(moment):
        return blocker_open(project=project, **fields)


def _resolve(demo: _Demo, blocker: Blocker, moment: datetime, actor: User, resolution: str) -> None:
    with demo.clock.at(moment):
        blocker_resolve(blocker=blocker, actor=actor, resolution=resolution)


def _labels_simulate(demo: _Demo, item: Item, annotator: User, *, multi: bool, allowed: set[str]) -> list[str]:
    key = (item.project_id, item.external_id)
    truth = demo.truth[key]
    accuracy = SPECS[annotator.username].accuracy
    if item.project_id in demo.unclear and (key in demo.difficult or truth in {"hate", "harassment"}):
        accuracy *= 0.6  # the first guideline says nothing on hyperbole or quoted abuse
    elif key in demo.difficult:
        accuracy *= 0.8
    rng = demo.rng
    if not multi:
        if rng.random() < accuracy:
            return [truth]
        return [_confused(rng, truth, allowed)]
    chosen = list(truth)
    if rng.random() >= accuracy:
        if len(chosen) > 1 and rng.random() < 0.5:
            chosen.pop(rng.randrange(len(chosen)))
        else:
            swap = _confused(rng, chosen[0], allowed)
            chosen = [swap] if swap not in chosen else chosen
    return chosen


def _confused(rng: random.Random, truth: str, allowed: set[str]) -> str:
    """A plausible wrong answer: a label often confused with `truth`, else any other label."""
    options = [label for label in CONFUSIONS.get(truth, []) if label in allowed]
    return rng.choice(options or sorted(allowed - {truth}))


SPECS = {spec.username: spec for spec in DEMO_USERS}


def _work(
    demo: _Demo,
    project: Project,
    names: Sequence[str],
    *,
    per_day: float,
    first: int,
    last: int,
    slowness: float = 1.0,
    report_every: int = 3,
    until_done: bool = False,
    flag: Callable[[Assignment, User, datetime], None] | None = None,
    evening: Callable[[datetime], None] | None = None,
) -> tuple[int, datetime | None]:
    """Annotators at work on `project` from day `first` to day `last` (offsets, inclusive; 0 is
    today, worked until shortly before now). After each past day: the rollups catch up, progress
    is recounted, every RISK_SYNC_DAYS evenings the automatic risks are synced as of that evening, and every `report_every`
    days (and on the last day) an agreement report is computed over what exists by then;
    `evening(moment)` runs first (the lead's answers to the day's questions).
    `until_done` stops once every regular item is complete. Returns the annotations written and
    the moment the last item was completed (None if not)."""
    project = Project.objects.get(pk=project.pk)
    version = schema_version_current(schema_id=project.label_schema_id)
    allowed = set(version.labels.values_list("key", flat=True)) if version else set()
    multi = version is not None and version.schema.selection == LabelSchema.Selection.MULTI
    work = history.WorkDay(
        project=project,
        annotators=[demo.users[name] for name in names],
        paces={name: history.Pace(SPECS[name].median_seconds, 0.5, per_day * SPECS[name].stamina) for name in names},
        label=lambda item, person: _labels_simulate(demo, item, person, multi=multi, allowed=allowed),
        slowness=slowness,
        busy=demo.busy,
        flag=flag,
    )
    written, reported, completed_at = 0, 0, None
    for day in history.days(demo.days(first), demo.days(last)):
        written += history.work_day(demo.rng, demo.clock, work, day)
        open_slots = Item.objects.filter(
            project=project, is_gold=False, annotations_done__lt=F("required_annotations")
        ).exists()
        if day >= demo.today:
            break
        at_evening = datetime.combine(day, dt_time(19, 0), tzinfo=UTC)
        last_day = day == demo.days(last) or not open_slots
        if evening is not None:
            evening(at_evening)
        rollup_refresh(now=at_evening)
        with demo.clock.at(at_evening):
            project_progress_refresh(project_id=project.pk)
            if written > reported and (last_day or (day - demo.days(first)).days % report_every == report_every - 1):
                agreement_report_compute(project_id=project.pk, bootstrap=REPORT_BOOTSTRAP, seed=0)
                reported = written
            if last_day or (day - demo.days(first)).days % RISK_SYNC_DAYS == 0:
                project_risks_sync(project=Project.objects.get(pk=project.pk), now=at_evening)
        if until_done and not open_slots:
            completed_at = Annotation.objects.filter(project=project).aggregate(last=Max("submitted_at"))["last"]
            break
    # What the rollups of the next project's evenings must not stop at: everything so far.
    rollup_refresh(now=demo.clock.now)
    return written, completed_at


def _report_now(demo: _Demo, project: Project, moment: datetime):
    """An agreement report over the annotations so far, as computed at `moment`."""
    with demo.clock.at(moment):
        return agreement_report_compute(project_id=project.pk, bootstrap=REPORT_BOOTSTRAP, seed=0)


def _alpha(report) -> str:
    return "n/a" if report.alpha is None else f"{report.alpha:.2f}"


def _text_rows(demo: _Demo, *, count: int, prefix: str, mix: dict[str, int], languages: dict[str, int]) -> list[dict]:
    """Forum posts with a label mix (weights), languages (weights), a few hard cases and gold items."""
    rng = demo.rng
    rows = []
    for n in range(1, count + 1):
        language = rng.choices(list(languages), weights=list(languages.values()))[0]
        pool = TEXTS[language]
        labels = [label for label in mix if label in pool]
        truth = rng.choices(labels, weights=[mix[label] for label in labels])[0]
        hard = language == "en" and truth == "safe" and rng.random() < 0.25
        template = rng.choice(AMBIGUOUS_EN if hard else pool[truth])
        text = template.format(n=rng.randint(2, 400), food=rng.choice(FOODS), city=rng.choice(CITIES))
        reports = rng.choice([0, 0, 1, 1, 2, 3, 5, 12])
        rows.append(
            {
                "external_id": f"{prefix}-{n:04d}",
                "modality": "text",
                "text": text,
                "language": language,
                "metadata": {
                    "source": "user-reports" if reports else "random-sample",
                    "reports": reports,
                    "author": f"user_{rng.randint(1000, 9999)}",
                    "posted_at": demo.days(-rng.randint(40, 120)).isoformat(),
                },
                "is_graphic": truth in {"graphic-violence", "self-harm"},
                "priority": 5 if truth == "self-harm" else min(reports, 3),
                "required_annotations": 5 if hard else 3,
                "_truth": truth,
                "_hard": hard,
                "_gold": not hard and rng.random() < 0.08,
            }
        )
    return rows


def _top_confusion(report) -> str:
    pairs = (report.details or {}).get("confused_pairs") or []
    if not pairs:
        return "no label pair stood out"
    top = pairs[0]
    return f"{top['label_a']} and {top['label_b']} confused most ({top['share']:.0%} of the disagreement)"


def _image_eval_project(demo: _Demo, project: Project) -> None:
    """QA: every item fully annotated (under taxonomy v1) over a pilot and weeks of production;
    an audit drawn on entering QA, its reviews still coming in."""
    rng = demo.rng
    plan = _milestones(
        demo,
        project,
        -45,
        [
            ("Requirements signed off", -41),
            ("Guideline v1 published", -33),
            ("Pilot complete", -25),
            ("Production complete", -6),
            ("QA sign-off", 3),
            ("Delivery to Trust ML", 7),
        ],
    )
    annotators = ["ben", "chen", "dara", "emre", "fatima"]
    _members(demo, project, -44, annotators, Membership.Role.ANNOTATOR)
    _members(demo, project, -44, ["rita", "ravi"], Membership.Role.REVIEWER)
    project = _move(demo, project, -40, "design", "Stratified sample agreed with Trust ML")
    _reached(demo, plan["Requirements signed off"], project.phase_changed_at)
    published = _guideline(
        demo,
        project,
        -32,
        "Image safety: labeling guideline",
        [
            "## Scope\nOne label per image: the most severe policy it breaks, or safe.",
            "## Graphic media\nGraphic images are blurred until you reveal them. Past the daily cap of graphic "
            "items you get only non-graphic work. Take the breaks the page suggests.",
        ],
    )
    _reached(demo, plan["Guideline v1 published"], published)
    mix = {"safe": 50, "spam": 8, "hate": 10, "violence": 14, "adult": 10, "self-harm": 8}
    rows = []
    for n in range(1, 65):
        truth = rng.choices(list(mix), weights=list(mix.values()))[0]
        name = f"images/img-{n:04d}.png"
        rows.append(
            {
                "external_id": f"img-{n:04d}",
                "modality": "image",
                "image_url": media.image_file(name, width=480, height=300, label=truth),
                "metadata": {
                    "scene": f"[synthetic: {rng.choice(IMAGE_SCENES[truth])}]",
                    "width": 480,
                    "height": 300,
                    "stratum": truth,
                },
                "is_graphic": truth in {"violence", "self-harm", "adult"},
                "priority": 1 if truth != "safe" else 0,
                "_truth": truth,
                "_hard": truth == "safe" and rng.random() < 0.15,
                "_gold": rng.random() < 0.1,
            }
        )
    items = _items(demo, project, -31, "eval-images-q3", rows)
    project = _move(demo, project, -29, "pilot", "Guideline published; pilot on the first images")
    pilot, _ = _work(demo, project, ["ben", "chen", "fatima"], per_day=5, first=-29, last=-27, slowness=1.4)
    report = AgreementReport.objects.filter(project=project, scope="project").latest("computed_at")
    project = _move(
        demo,
        project,
        -26,
        "production",
        f"Pilot alpha {_alpha(report)} over {report.n_items} items (bar {project.min_alpha:.2f}); "
        f"{_top_confusion(report)}",
    )
    _reached(demo, plan["Pilot complete"], project.phase_changed_at)
    done, completed = _work(
        demo, project, annotators, per_day=2.6, first=-26, last=-2, slowness=1.4, report_every=4, until_done=True
    )
    if completed is not None:
        _reached(demo, plan["Production complete"], completed)
        qa_day = (completed.date() - demo.today).days + 1
        reason = f"Every item fully annotated ({pilot + done} annotations); audit starts"
    else:
        qa_day = -1
        reason = "Production time is up; the audit starts on what is annotated"
    project = _move(demo, project, qa_day, "qa", reason)
    _audit(demo, project, first=qa_day, share=0.2)
    demo.say(f"Project {project.name!r}: qa, {len(items)} image items, {pilot + done} annotations (taxonomy v1).")


def _audit(demo: _Demo, project: Project, *, first: int, share: float) -> None:
    """Draw the audit sample on day `first`; the reviewers work through it a few a day until
    yesterday, judging each annotation against the item's truth."""
    rng = demo.rng
    with demo.at(first, 11):
        samples = audit_sample_draw(project_id=project.pk, share=share, seed=7, actor=project.lead)
    reviewers = [demo.users["rita"], demo.users["ravi"]]
    queue = list(AuditSample.objects.filter(pk__in=[s.pk for s in samples]).select_related("annotation__item"))
    rng.shuffle(queue)
    causes = [choice for choice, _ in Review.ErrorCause.choices if choice != Review.ErrorCause.TOOL_PROBLEM]
    for day in history.days(demo.days(first), demo.days(-1)):
        if day.weekday() >= 5:
            continue
        for reviewer in reviewers:
            moment = datetime.combine(day, dt_time(10), tzinfo=UTC) + timedelta(minutes=rng.uniform(0, 300))
            for _ in range(rng.randint(1, 4)):  # audits come second to their own queue
                if not queue or moment >= demo.clock.now - timedelta(minutes=5):
                    break
                sample = queue.pop()
                annotation = sample.annotation
                truth = demo.truth[(project.pk, annotation.item.external_id)]
                right = sorted(truth if isinstance(truth, list) else [truth])
                with demo.clock.at(moment):
                    if sorted(annotation.labels) == right:
                        review_record(sample=sample, reviewer=reviewer, verdict=Review.Verdict.CORRECT)
                    else:
                        review_record(
                            sample=sample,
                            reviewer=reviewer,
                            verdict=Review.Verdict.INCORRECT,
                            correct_labels=right,
                            error_cause=rng.choice(causes),
                        )
                moment += timedelta(seconds=rng.lognormvariate(math.log(50), 0.5))


def _text_training_project(demo: _Demo, project: Project) -> None:
    """Production, over half annotated; a pilot whose agreement sent the guideline back for rework,
    an annotator's question and a staffing blocker resolved, questions to the lead on the way."""
    u, lena = demo.users, demo.users["lena"]
    plan = _milestones(
        demo,
        project,
        -33,
        [
            ("Requirements signed off with Trust ML", -30),
            ("Pilot complete (alpha ≥ 0.67)", -16),
            ("75% annotated", -1),
            ("Production complete", 9),
            ("Delivery v1 to Trust ML", 13),
        ],
    )
    everyone = ["ana", "ben", "chen", "dara", "emre", "fatima"]
    _members(demo, project, -32, everyone, Membership.Role.ANNOTATOR)
    _members(demo, project, -32, ["rita"], Membership.Role.REVIEWER)
    with demo.at(-32, 10):
        project_update(project=project, actor=lena, require_language_match=True)
    project = Project.objects.get(pk=project.pk)
    project = _move(demo, project, -30, "design", "Requirements agreed with Trust ML")
    _reached(demo, plan["Requirements signed off with Trust ML"], project.phase_changed_at)
    sections = [
        "## Scope\nPublic forum posts in English and Spanish. One label per post: the most severe that applies.",
        "## Hate vs harassment\nHate attacks a *group* for a protected attribute; harassment targets a *person*.",
        "## Violence\nUse **violent threat** when someone states an intent to hurt a specific target, "
        "**graphic violence** for detailed injury. Use plain **violence** only when neither fits.",
    ]
    _guideline(demo, project, -27, "Hate & harassment: labeling guideline", sections, note="First version")
    demo.unclear.add(project.pk)
    rows = _text_rows(
        demo,
        count=140,
        prefix="post",
        mix={
            "safe": 45,
            "spam": 12,
            "hate": 14,
            "harassment": 14,
            "violent-threat": 5,
            "graphic-violence": 3,
            "violence": 2,
            "adult": 3,
            "self-harm": 2,
        },
        languages={"en": 100, "es": 40},
    )
    rows[7].update(
        text=XSS_TEXT,
        language="en",
        metadata={"source": "user-reports", "reports": 4, "author": '"><img src=x onerror=alert(1)>'},
        is_graphic=False,
        priority=1,
        _truth="spam",
        _hard=False,
        _gold=False,
        required_annotations=3,
    )
    items = _items(demo, project, -26, "reported-posts-pilot", rows[:30])
    project = _move(demo, project, -25, "pilot", "Guideline v1 and schema ready for a pilot")
    question = _blocker(
        demo,
        project,
        demo.clock.moment(-24, 14, 20),
        actor=u["ana"],
        title="Guideline unclear on quoted slurs (counter-speech)",
        description="Posts that quote abuse in order to condemn it: hate or safe?",
        severity=Blocker.Severity.LOW,
        owner=lena,
    )
    first_pilot, _ = _work(demo, project, ["ana", "ben", "chen", "dara"], per_day=9, first=-25, last=-23)
    report = AgreementReport.objects.filter(project=project, scope="project").latest("computed_at")
    verdict = "under" if report.alpha is None or report.alpha < project.min_alpha else "barely over"
    project = _move(
        demo,
        project,
        -22,
        "design",
        f"Pilot alpha {_alpha(report)} is {verdict} the bar {project.min_alpha:.2f}; {_top_confusion(report)}: "
        "rework the guideline",
    )
    _guideline(
        demo,
        project,
        -21,
        "Hate & harassment: labeling guideline",
        [
            *sections,
            "## Quoted abuse\nA post quoting a slur to condemn or report it is **safe** (counter-speech).",
            "## Jokes\nHyperbole without a real target (\u201cthat exam killed me\u201d) is **safe**.",
        ],
        note="v2 after the pilot: counter-speech and hyperbole",
    )
    demo.unclear.discard(project.pk)
    _resolve(
        demo,
        question,
        demo.clock.moment(-21, 16, 40),
        lena,
        "Guideline v2 covers it: quoted abuse that condemns is safe.",
    )
    staffing = _blocker(
        demo,
        project,
        demo.clock.moment(-20, 9, 15),
        actor=lena,
        title="Not enough Spanish-speaking annotators for overlap 3",
        severity=Blocker.Severity.HIGH,
        owner=lena,
    )
    items += _items(demo, project, -20, "reported-posts-week-1", rows[30:])
    project = _move(demo, project, -19, "pilot", "Guideline v2 published; second pilot round")
    second_pilot, _ = _work(demo, project, everyone, per_day=5, first=-19, last=-18)
    _resolve(
        demo,
        staffing,
        demo.clock.moment(-18, 15, 30),
        lena,
        "Ben and Dara took Spanish items in the second pilot; three Spanish speakers now.",
    )
    report = AgreementReport.objects.filter(project=project, scope="project").latest("computed_at")
    project = _move(
        demo,
        project,
        -17,
        "production",
        f"Second pilot: alpha {_alpha(report)} over {report.n_items} items (bar {project.min_alpha:.2f})",
    )
    _reached(demo, plan["Pilot complete (alpha ≥ 0.67)"], project.phase_changed_at)
    questions = _Questions(demo, project)
    done, _ = _work(
        demo,
        project,
        everyone,
        per_day=2.2,
        first=-17,
        last=0,
        report_every=3,
        flag=questions.maybe_ask,
        evening=questions.answer_due,
    )
    project.refresh_from_db()
    if project.annotations_required and project.annotations_done / project.annotations_required >= 0.75:
        _reached(demo, plan["75% annotated"], demo.clock.moment(0, 9))
    # Two annotators are in the middle of an item right now.
    for name in ("ana", "chen"):
        history.next_item(demo.clock, project=project, annotator=u[name], moment=demo.clock.now - timedelta(minutes=2))
    total = first_pilot + second_pilot + done
    demo.say(f"Project {project.name!r}: production, {len(items)} text items (EN/ES), {total} annotations.")


class _Questions:
    """Annotators ask the lead about hard items now and then; she answers within hours, except
    one question that stays open (so the unanswered-question rule has something to find)."""

    def __init__(self, demo: _Demo, project: Project) -> None:
        self.demo, self.project = demo, project
        self.pending: list[tuple[Flag, datetime]] = []
        self.asked = 0

    def maybe_ask(self, assignment: Assignment, person: User, moment: datetime) -> None:
        demo = self.demo
        key = (self.project.pk, assignment.item.external_id)
        if self.asked >= 5 or key not in demo.difficult or demo.rng.random() >= 0.35:
            return
        with demo.clock.at(moment):
            flag = annotation_services.flag_raise(
                assignment=assignment,
                actor=person,
                question=f"Is {assignment.item.external_id} meant literally? I read it as hyperbole, not a threat.",
            )
        self.asked += 1
        if self.asked == 4:
            return  # this one slips through the lead's inbox and stays open
        answer = moment + timedelta(hours=demo.rng.lognormvariate(math.log(4), 0.7))
        if answer.time() > history.WORK_END:  # answered the next morning
            answer = datetime.combine(answer.date() + timedelta(days=1), dt_time(8, 40), tzinfo=UTC)
        self.pending.append((flag, answer))

    def answer_due(self, evening: datetime) -> None:
        due = [(flag, at) for flag, at in self.pending if at <= evening]
        for flag, at in due:
            with self.demo.clock.at(at):
                annotation_services.flag_answer(
                    flag=flag,
                    actor=self.project.lead,
                    answer="Hyperbole without a real target is safe (guideline v2, \u201cJokes\u201d).",
                )
        self.pending = [pair for pair in self.pending if pair[1] > evening]


def _multimodal_pilot_project(demo: _Demo, project: Project) -> None:
    """Pilot: caption + image posts, multi-choice labels, a pilot round under way for a week."""
    rng = demo.rng
    plan = _milestones(
        demo, project, -12, [("Requirements signed off", -12), ("Guideline v1", -8), ("Pilot readout", 4)]
    )
    annotators = ["ana", "emre", "fatima", "chen"]
    _members(demo, project, -11, annotators, Membership.Role.ANNOTATOR)
    _members(demo, project, -11, ["ravi"], Membership.Role.REVIEWER)
    project = _move(demo, project, -11, "design", "Scope: EN memes only for now")
    _reached(demo, plan["Requirements signed off"], project.phase_changed_at)
    published = _guideline(
        demo,
        project,
        -9,
        "Hateful memes: labeling guideline",
        ["## Read both\nJudge the caption and the image together; choose every signal that applies."],
    )
    _reached(demo, plan["Guideline v1"], published)
    combos = [
        ["benign"],
        ["benign"],
        ["benign"],
        ["spam"],
        ["hateful-symbol"],
        ["harmful-combination"],
        ["harmful-combination", "hateful-symbol"],
        ["violence-depicted"],
    ]
    rows = []
    for n in range(1, 41):
        truth = rng.choice(combos)
        caption = rng.choice(MEME_CAPTIONS[truth[0]])
        rows.append(
            {
                "external_id": f"meme-{n:04d}",
                "modality": "multimodal",
                "text": caption,
                "image_url": media.image_file(f"memes/meme-{n:04d}.png", width=400, height=400, label=truth[-1]),
                "language": "en",
                "metadata": {"source": "public-groups", "shares": rng.randint(0, 5000)},
                "is_graphic": "violence-depicted" in truth,
                "priority": 1 if truth != ["benign"] else 0,
                "_truth": truth,
                "_gold": n % 10 == 0,
            }
        )
    items = _items(demo, project, -9, "pilot-memes", rows)
    project = _move(demo, project, -8, "pilot", "40-item pilot with 4 annotators")
    done, _ = _work(demo, project, annotators, per_day=1.6, first=-8, last=0, slowness=2.0, report_every=3)
    demo.say(f"Project {project.name!r}: pilot, {len(items)} multimodal items, {done} pilot annotations.")


def _video_audio_project(demo: _Demo, project: Project) -> None:
    """On hold from design: the privacy review of the sources blocks it. The voice notes are in;
    the video clips wait for the review (and the demo draws no video: see demo.media)."""
    rng = demo.rng
    plan = _milestones(
        demo,
        project,
        -21,
        [("Requirements signed off", -20), ("Privacy review cleared", -5), ("Pilot start", 5)],
    )
    mix = {"safe": 40, "violence": 25, "graphic-violence": 15, "violent-threat": 20}
    scenes = {
        "safe": ["a street musician", "a cooking tutorial", "kids playing football"],
        "violence": ["a crowd pushing at a protest", "a staged fight in an action film"],
        "graphic-violence": ["[aftermath of a road accident]", "[street fight with visible injuries]"],
        "violent-threat": ["[man threatening a shop owner on the phone]", "[caller threatening a neighbour]"],
    }
    rows = []
    for n in range(1, 31):
        truth = rng.choices(list(mix), weights=list(mix.values()))[0]
        seconds = rng.randint(3, 9)
        rows.append(
            {
                "external_id": f"audio-{n:04d}",
                "modality": "audio",
                "audio_url": media.audio_file(f"audio/voice-note-{n:04d}.wav", seconds=seconds),
                "language": "en",
                "metadata": {"duration_s": seconds, "description": f"[synthetic: {rng.choice(scenes[truth])}]"},
                "is_graphic": truth == "graphic-violence",
                "priority": 2 if truth == "violent-threat" else 0,
                "_truth": truth,
                "_gold": rng.random() < 0.1,
            }
        )
    project = _move(demo, project, -19, "design", "Requirements signed off")
    _reached(demo, plan["Requirements signed off"], project.phase_changed_at)
    items = _items(demo, project, -17, "voice-notes", rows)
    _blocker(
        demo,
        project,
        demo.clock.moment(-16, 11, 5),
        actor=project.lead,
        title="Privacy review of the video sources is pending",
        description="Legal must clear retention of faces and voices (ticket LEG-2291) before anyone sees the clips.",
        severity=Blocker.Severity.HIGH,
        owner=project.lead,
    )
    project = _move(demo, project, -15, "on_hold", "Waiting for the privacy review (LEG-2291)")
    demo.say(f"Project {project.name!r}: on hold with an open blocker, {len(items)} voice notes.")


def _ocr_design_project(demo: _Demo, project: Project) -> None:
    """Design: screenshots with extracted text, no schema chosen yet (the request proposed labels)."""
    rng = demo.rng
    plan = _milestones(demo, project, -8, [("Requirements signed off", -6), ("Label schema agreed", 5)])
    texts = [
        ("scam", "Your account is locked. Verify now at secure-login-[redacted].example to avoid suspension"),
        ("scam", "You won a $500 gift card! Scan the QR code and enter your card number to claim"),
        ("scam", "URGENT: package held at customs, pay $1.99 fee here [link removed]"),
        ("legit-promo", "Summer sale: 20% off all running shoes this weekend, in store and online"),
        ("legit-promo", "New menu! Try our seasonal pumpkin soup, available until November"),
        ("other", "Meeting moved to 3pm, room 4B. Bring the quarterly numbers."),
        ("other", "Happy birthday Grandma! Love from all of us"),
    ]
    project = _move(demo, project, -6, "design", "Requirements signed off; drafting the schema")
    _reached(demo, plan["Requirements signed off"], project.phase_changed_at)
    rows = []
    for n in range(1, 41):
        truth, text = rng.choice(texts)
        rows.append(
            {
                "external_id": f"screenshot-{n:04d}",
                "modality": "ocr",
                "ocr_text": text,
                "image_url": media.image_file(
                    f"screenshots/screenshot-{n:04d}.png", width=240, height=400, label=truth, lines=6
                ),
                "language": "en",
                "metadata": {"ocr_engine": "synthetic", "confidence": round(rng.uniform(0.72, 0.99), 2)},
                "_truth": truth,
            }
        )
    items = _items(demo, project, -5, "screenshots-sample", rows)
    demo.say(f"Project {project.name!r}: design, {len(items)} OCR items.")


def _requirements_project(demo: _Demo, project: Project) -> None:
    """Requirements: just accepted, a workshop planned."""
    _milestones(demo, project, -2, [("Requirements workshop with Trust ML", 3)])
    demo.say(f"Project {project.name!r}: requirements, nothing labeled yet.")

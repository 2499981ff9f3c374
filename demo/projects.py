"""The demo data set behind `manage.py seed_demo`: a small content-safety shop in full swing.

Two teams, twelve people with one public demo password, a versioned policy taxonomy (with a
hierarchy in its second version) and a multi-choice schema, data requests in every state, six
projects spread over the lifecycle, milestones, blockers and risks, about 360 items of six
modalities and a few hundred simulated annotations with realistic agreement.

Every write goes through the services, so the demo is valid by construction and exercises the
same rules as the product (phase guards, overlap, one annotation per annotator and item). The only
direct writes are accounts (the accounts app has no services) and teams. It all runs in one
transaction: a failure leaves nothing behind. Running it again changes nothing: the policy
taxonomy schema is the marker that the demo is present.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from accounts.models import Team, User
from annotation import services as annotation_services
from annotation.models import Annotation, Item, LabelSchema
from annotation.selectors import schema_version_current
from core.errors import QuorumError
from projects import services as project_services
from projects.models import Blocker, DataRequest, Membership, Project
from quality.services.reports import agreement_report_compute
from workbench.services.blockers import blocker_open, blocker_resolve
from workbench.services.datarequests import datarequest_accept, datarequest_create, datarequest_reject
from workbench.services.lifecycle import project_transition
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


TEAMS = {"trust-ml": "Trust ML", "safety-ops": "Safety Operations"}

DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("admin", "Alex", "Admin", Role.LEAD, "safety-ops", ("en",), superuser=True),
    DemoUser("lena", "Lena", "Park", Role.LEAD, "safety-ops", ("en", "de")),
    DemoUser("ana", "Ana", "García", Role.ANNOTATOR, "safety-ops", ("es", "en"), accuracy=0.96),
    DemoUser("ben", "Ben", "Okafor", Role.ANNOTATOR, "safety-ops", ("en", "es"), accuracy=0.93),
    DemoUser("chen", "Chen", "Wei", Role.ANNOTATOR, "safety-ops", ("zh", "en"), accuracy=0.95),
    DemoUser("dara", "Dara", "Silva", Role.ANNOTATOR, "safety-ops", ("pt-BR", "es", "en"), accuracy=0.76),
    DemoUser("emre", "Emre", "Yılmaz", Role.ANNOTATOR, "safety-ops", ("tr", "de", "en"), accuracy=0.91),
    DemoUser("fatima", "Fatima", "Haddad", Role.ANNOTATOR, "safety-ops", ("ar", "fr", "en"), accuracy=0.95),
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

    today: date
    rng: random.Random
    out: _Writer | None
    users: dict[str, User] = field(default_factory=dict)
    schemas: dict[str, LabelSchema] = field(default_factory=dict)
    truth: dict[tuple[int, str], Any] = field(default_factory=dict)
    difficult: set[tuple[int, str]] = field(default_factory=set)

    def say(self, line: str) -> None:
        if self.out is not None:
            self.out.write(line + "\n")

    def days(self, offset: int) -> date:
        return self.today + timedelta(days=offset)


def demo_seed(*, stdout: _Writer | None = None, today: date | None = None, seed: int = 20251) -> DemoResult:
    """Load the demo data set, all or nothing; when it is already present, change nothing.

    Returns the demo sign-ins (always) and the counts of what the database now holds.
    `today` fixes the calendar (deadlines, milestones) and `seed` the simulated labels.
    """
    started = time.monotonic()
    demo = _Demo(today=today or timezone.localdate(), rng=random.Random(seed), out=stdout)
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
        for project in projects.values():
            project_progress_refresh(project_id=project.pk)
            if project.annotations.exists():
                # So the quality section has figures from the start (a lead can recompute them).
                agreement_report_compute(project_id=project.pk, bootstrap=200, seed=0)
        counts = demo_counts()
    seconds = time.monotonic() - started
    demo.say(
        f"Done in {seconds:.1f} s: {counts['users']} users, {counts['projects']} projects, "
        f"{counts['items']} items, {counts['annotations']} annotations."
    )
    return DemoResult(created=True, sign_ins=sign_ins, counts=counts, seconds=seconds)


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
    annotation_services.schema_version_create(
        schema=demo.schemas["taxonomy"],
        labels=TAXONOMY_V2,
        actor=demo.users["lena"],
        note="Split violence into graphic violence and violent threat (Trust ML asked for the finer classes).",
    )
    demo.say(f"{TAXONOMY_NAME!r} v2: violence → graphic-violence / violent-threat.")


def _requests_create(demo: _Demo) -> dict[str, Project]:
    """Eight requests from Trust ML: six accepted (each becomes a project), one rejected, one waiting."""
    u, taxonomy = demo.users, demo.schemas["taxonomy"]
    common = {"today": demo.today}
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
            "modality": "video",
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
    leads = {"text": "lena", "image": "admin", "multimodal": "lena", "video": "admin", "ocr": "lena", "scam": "admin"}
    for key, spec in specs.items():
        data_request = datarequest_create(**spec, **common)
        projects[key] = datarequest_accept(data_request=data_request, actor=u["admin"], lead=u[leads[key]])
    rejected = datarequest_create(
        requester=u["omar"],
        title="Toxicity labels for a scraped forum dump",
        description="200k posts scraped from a third-party forum.",
        volume_total=200_000,
        deadline=demo.days(20),
        **common,
    )
    datarequest_reject(
        data_request=rejected,
        actor=u["admin"],
        reason="The source has no licence or consent basis. Re-file with the licensed corpus and a smaller first batch.",
    )
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
        **common,
    )
    demo.say("Data requests: 8 (6 accepted into projects, 1 rejected, 1 waiting for triage).")
    return projects


# Project builders: each moves its project only through project_transition.


def _walk(project: Project, actor: User, moves: Sequence[tuple[str, str]]) -> Project:
    for to_phase, reason in moves:
        project = project_transition(project=project, to_phase=to_phase, actor=actor, reason=reason)
    return project


def _members(project: Project, actor: User, users: dict[str, User], names: Iterable[str], role: str) -> None:
    for name in names:
        project_services.membership_add(project=project, user=users[name], role=role, actor=actor)


def _milestones(demo: _Demo, project: Project, actor: User, plan: Sequence[tuple[str, int, int | None]]) -> None:
    """(name, planned day offset, reached day offset or None)."""
    for name, planned, reached in plan:
        milestone = milestone_create(project=project, name=name, planned_date=demo.days(planned), actor=actor)
        if reached is not None:
            milestone_update(milestone=milestone, actual_date=demo.days(reached), actor=actor)


def _guideline(project: Project, actor: User, title: str, sections: Sequence[str], note: str = "") -> None:
    body = f"# {title}\n\n" + "\n\n".join(sections)
    annotation_services.guideline_publish(project=project, body=body, actor=actor, note=note)


def _items(demo: _Demo, project: Project, actor: User, batch_name: str, rows: list[dict[str, Any]]) -> list[Item]:
    """Add `rows` in one batch. Each row's `_truth` (and `_hard`) drive the simulated labels and
    never reach the database; rows marked `_gold` carry their truth as the gold label."""
    batch = annotation_services.batch_create(
        project=project, name=batch_name, actor=actor, source=f"{batch_name}.jsonl"
    )
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
    return annotation_services.items_add(batch=batch, rows=clean, actor=actor)


def _labels_simulate(
    demo: _Demo, project: Project, item: Item, annotator: User, *, multi: bool, allowed: set[str]
) -> list[str]:
    key = (project.pk, item.external_id)
    truth = demo.truth[key]
    accuracy = next(spec.accuracy for spec in DEMO_USERS if spec.username == annotator.username)
    if key in demo.difficult:
        accuracy *= 0.7
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


def _annotate(
    demo: _Demo,
    project: Project,
    items: Sequence[Item],
    annotators: Sequence[str],
    *,
    fill: float,
    partial: float = 0.0,
    open_leases: int = 0,
    seconds: tuple[int, int] = (2, 40),
    multi: bool = False,
) -> int:
    """Simulate annotators working through `items` in queue order (highest priority first).

    The first `fill` share of items is finished: every slot answered, including the extra slot
    dynamic overlap adds when the first answers disagree. The next `partial` share gets some
    answers, and `open_leases` of those items keep one assignment in progress. Gold items sit
    outside the overlap (each annotator answers each once), so a few annotators answer them.
    Items go only to annotators who read their language; the services enforce the rest (one
    assignment per annotator and item, never more slots than the overlap).
    """
    rng = demo.rng
    people = [demo.users[name] for name in annotators]
    version = schema_version_current(schema_id=project.label_schema_id)
    allowed = set(version.labels.values_list("key", flat=True)) if version else set()
    queue = sorted(items, key=lambda i: (-i.priority, i.pk))
    full_count = round(len(queue) * fill)
    partial_count = round(len(queue) * partial)
    done = 0
    for index, item in enumerate(queue[: full_count + partial_count]):
        finish = index < full_count
        idle = [p for p in people if not item.language or item.language in p.languages]
        rng.shuffle(idle)
        if item.is_gold:
            wanted = rng.randint(min(2, len(idle)), len(idle)) if finish else 1
        elif not finish:
            wanted = rng.randint(1, item.required_annotations - 1)
        else:
            wanted = None  # until the item is complete
        answered = 0
        while idle and (answered < wanted if wanted is not None else item.annotations_done < item.required_annotations):
            annotator = idle.pop()
            assignment = annotation_services.assignment_create(item=item, annotator=annotator)
            annotation_services.annotation_submit(
                assignment=assignment,
                labels=_labels_simulate(demo, project, item, annotator, multi=multi, allowed=allowed),
                actor=annotator,
                time_spent_ms=rng.randint(seconds[0] * 1000, seconds[1] * 1000),
            )
            item.refresh_from_db(fields=["annotations_done", "required_annotations"])
            answered += 1
        done += answered
        if not finish and not item.is_gold and open_leases and idle:
            annotation_services.assignment_create(item=item, annotator=idle.pop())
            open_leases -= 1
    return done


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
                    "posted_at": demo.days(-rng.randint(1, 90)).isoformat(),
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


def _text_training_project(demo: _Demo, project: Project) -> None:
    """Production, about 60% annotated; guideline reworked after a pilot; blockers and a system risk."""
    u, lena = demo.users, demo.users["lena"]
    _milestones(
        demo,
        project,
        lena,
        [
            ("Requirements signed off with Trust ML", -30, -30),
            ("Pilot complete (alpha ≥ 0.67)", -16, -12),
            ("75% annotated", -1, None),
            ("Production complete", 9, None),
            ("Delivery v1 to Trust ML", 13, None),
        ],
    )
    _members(project, lena, u, ["ana", "ben", "chen", "dara", "emre", "fatima"], Membership.Role.ANNOTATOR)
    _members(project, lena, u, ["rita"], Membership.Role.REVIEWER)
    sections = [
        "## Scope\nPublic forum posts in English and Spanish. One label per post: the most severe that applies.",
        "## Hate vs harassment\nHate attacks a *group* for a protected attribute; harassment targets a *person*.",
        "## Violence\nUse **violent threat** when someone states an intent to hurt a specific target, "
        "**graphic violence** for detailed injury. Use plain **violence** only when neither fits.",
    ]
    _guideline(project, lena, "Hate & harassment: labeling guideline", sections, note="First version")
    project = _walk(
        project,
        lena,
        [("design", "Requirements agreed with Trust ML"), ("pilot", "Guideline v1 and schema ready for a pilot")],
    )
    question = blocker_open(
        project=project,
        actor=u["ana"],
        title="Guideline unclear on quoted slurs (counter-speech)",
        description="Posts that quote abuse in order to condemn it: hate or safe?",
        severity=Blocker.Severity.LOW,
        owner=lena,
    )
    project = _walk(project, lena, [("design", "Pilot alpha 0.48: hate and harassment confused; rework")])
    _guideline(
        project,
        lena,
        "Hate & harassment: labeling guideline",
        [
            *sections,
            "## Quoted abuse\nA post quoting a slur to condemn or report it is **safe** (counter-speech).",
            "## Jokes\nHyperbole without a real target (\u201cthat exam killed me\u201d) is **safe**.",
        ],
        note="v2 after the pilot: counter-speech and hyperbole",
    )
    blocker_resolve(
        blocker=question, actor=lena, resolution="Guideline v2 covers it: quoted abuse that condemns is safe."
    )
    staffing = blocker_open(
        project=project,
        actor=lena,
        title="Not enough Spanish-speaking annotators for overlap 3",
        severity=Blocker.Severity.HIGH,
        owner=lena,
    )
    blocker_resolve(
        blocker=staffing, actor=lena, resolution="Ben and Dara qualified in Spanish; three Spanish speakers now."
    )
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
    items = _items(demo, project, lena, "reported-posts-week-1", rows)
    project = _walk(
        project,
        lena,
        [
            ("pilot", "Guideline v2 published; second pilot round"),
            ("production", "Second pilot reached alpha 0.71; going to production"),
        ],
    )
    done = _annotate(
        demo,
        project,
        items,
        ["ana", "ben", "chen", "dara", "emre", "fatima"],
        fill=0.45,
        partial=0.12,
        open_leases=3,
        seconds=(2, 25),
    )
    blocker_open(
        project=project,
        actor=None,
        kind=Blocker.Kind.RISK,
        rule="forecast_after_deadline",
        title="Forecast finish is 4 days after the deadline",
        description="At the last 7 days' pace (~38 annotations a day) the remaining slots take 17 days; 13 remain.",
        severity=Blocker.Severity.HIGH,
    )
    demo.say(f"Project {project.name!r}: production, {len(items)} text items (EN/ES), {done} annotations.")


def _image_eval_project(demo: _Demo, project: Project) -> None:
    """QA: every item fully annotated (under taxonomy v1); a quality risk is open."""
    u, admin, rng = demo.users, demo.users["admin"], demo.rng
    _milestones(
        demo,
        project,
        admin,
        [
            ("Requirements signed off", -40, -41),
            ("Guideline v1 published", -33, -30),
            ("Pilot complete", -25, -24),
            ("Production complete", -6, -3),
            ("QA sign-off", 3, None),
            ("Delivery to Trust ML", 7, None),
        ],
    )
    annotators = ["ben", "chen", "dara", "emre", "fatima"]
    _members(project, admin, u, annotators, Membership.Role.ANNOTATOR)
    _members(project, admin, u, ["rita", "ravi"], Membership.Role.REVIEWER)
    _guideline(
        project,
        admin,
        "Image safety: labeling guideline",
        [
            "## Scope\nOne label per image: the most severe policy it breaks, or safe.",
            "## Graphic media\nGraphic images are blurred until you reveal them. Past the daily cap of graphic "
            "items you get only non-graphic work. Take the breaks the page suggests.",
        ],
    )
    mix = {"safe": 50, "spam": 8, "hate": 10, "violence": 14, "adult": 10, "self-harm": 8}
    rows = []
    for n in range(1, 65):
        truth = rng.choices(list(mix), weights=list(mix.values()))[0]
        rows.append(
            {
                "external_id": f"img-{n:04d}",
                "modality": "image",
                "image_url": f"https://picsum.photos/seed/quorum-img-{n}/640/400",
                "metadata": {
                    "scene": f"[synthetic: {rng.choice(IMAGE_SCENES[truth])}]",
                    "width": 640,
                    "height": 400,
                    "stratum": truth,
                },
                "is_graphic": truth in {"violence", "self-harm", "adult"},
                "priority": 1 if truth != "safe" else 0,
                "_truth": truth,
                "_hard": truth == "safe" and rng.random() < 0.15,
                "_gold": rng.random() < 0.1,
            }
        )
    items = _items(demo, project, admin, "eval-images-q3", rows)
    project = _walk(
        project,
        admin,
        [
            ("design", "Stratified sample agreed"),
            ("pilot", "Guideline published"),
            ("production", "Pilot alpha 0.74"),
        ],
    )
    done = _annotate(demo, project, items, annotators, fill=1.0, seconds=(3, 30))
    project = _walk(project, admin, [("qa", "Every item fully annotated; audit starts")])
    blocker_open(
        project=project,
        actor=admin,
        kind=Blocker.Kind.RISK,
        title="Dara's gold accuracy on images is under 75%",
        description="Audit her violence and adult labels before the delivery.",
        severity=Blocker.Severity.MEDIUM,
        owner=u["rita"],
    )
    quiet = blocker_open(
        project=project,
        actor=None,
        kind=Blocker.Kind.RISK,
        rule="no_active_annotators",
        title="No annotator active for 48 hours",
        severity=Blocker.Severity.MEDIUM,
    )
    blocker_resolve(blocker=quiet, actor=None, resolution="Annotators active again.")
    demo.say(f"Project {project.name!r}: qa, {len(items)} image items, {done} annotations (taxonomy v1).")


def _multimodal_pilot_project(demo: _Demo, project: Project) -> None:
    """Pilot: caption + image posts, multi-choice labels, a first pilot round annotated."""
    u, lena, rng = demo.users, demo.users["lena"], demo.rng
    _milestones(
        demo,
        project,
        lena,
        [("Requirements signed off", -12, -12), ("Guideline v1", -8, -9), ("Pilot readout", 4, None)],
    )
    annotators = ["ana", "emre", "fatima", "chen"]
    _members(project, lena, u, annotators, Membership.Role.ANNOTATOR)
    _members(project, lena, u, ["ravi"], Membership.Role.REVIEWER)
    _guideline(
        project,
        lena,
        "Hateful memes: labeling guideline",
        ["## Read both\nJudge the caption and the image together; choose every signal that applies."],
    )
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
                "image_url": f"https://picsum.photos/seed/quorum-meme-{n}/640/400",
                "language": "en",
                "metadata": {"source": "public-groups", "shares": rng.randint(0, 5000)},
                "is_graphic": "violence-depicted" in truth,
                "priority": 1 if truth != ["benign"] else 0,
                "_truth": truth,
                "_gold": n % 10 == 0,
            }
        )
    items = _items(demo, project, lena, "pilot-memes", rows)
    project = _walk(
        project, lena, [("design", "Scope: EN memes only for now"), ("pilot", "40-item pilot with 4 annotators")]
    )
    pilot = [item for item in items if item.external_id <= "meme-0012"]
    done = _annotate(demo, project, pilot, annotators, fill=1.0, seconds=(5, 40), multi=True)
    demo.say(f"Project {project.name!r}: pilot, {len(items)} multimodal items, {done} pilot annotations.")


def _video_audio_project(demo: _Demo, project: Project) -> None:
    """On hold from design: the privacy review of the sources blocks it."""
    admin, rng = demo.users["admin"], demo.rng
    _milestones(
        demo,
        project,
        admin,
        [("Requirements signed off", -20, -19), ("Privacy review cleared", -5, None), ("Pilot start", 5, None)],
    )
    mix = {"safe": 40, "violence": 25, "graphic-violence": 15, "violent-threat": 20}
    scenes = {
        "safe": ["a street musician", "a cooking tutorial", "kids playing football"],
        "violence": ["a crowd pushing at a protest", "a staged fight in an action film"],
        "graphic-violence": ["[aftermath of a road accident]", "[street fight with visible injuries]"],
        "violent-threat": ["[man threatening a shop owner on camera]", "[caller threatening a neighbour]"],
    }
    rows = []
    for n in range(1, 61):
        truth = rng.choices(list(mix), weights=list(mix.values()))[0]
        kind = "video" if n <= 30 else "audio"
        url = (
            f"https://example.org/media/video/clip-{n:04d}.mp4"
            if kind == "video"
            else f"https://example.org/media/audio/voice-note-{n:04d}.mp3"
        )
        rows.append(
            {
                "external_id": f"{kind}-{n:04d}",
                "modality": kind,
                f"{kind}_url": url,
                "language": "en",
                "metadata": {
                    "duration_s": rng.randint(6, 90),
                    "description": f"[synthetic: {rng.choice(scenes[truth])}]",
                },
                "is_graphic": truth == "graphic-violence",
                "priority": 2 if truth == "violent-threat" else 0,
                "_truth": truth,
                "_gold": rng.random() < 0.1,
            }
        )
    items = _items(demo, project, admin, "clips-and-voice-notes", rows)
    project = _walk(project, admin, [("design", "Requirements signed off")])
    blocker_open(
        project=project,
        actor=admin,
        title="Privacy review of the video sources is pending",
        description="Legal must clear retention of faces and voices (ticket LEG-2291) before anyone sees the clips.",
        severity=Blocker.Severity.HIGH,
        owner=admin,
    )
    project = _walk(project, admin, [("on_hold", "Waiting for the privacy review (LEG-2291)")])
    demo.say(f"Project {project.name!r}: on hold with an open blocker, {len(items)} video and audio items.")


def _ocr_design_project(demo: _Demo, project: Project) -> None:
    """Design: screenshots with extracted text, no schema chosen yet (the request proposed labels)."""
    lena, rng = demo.users["lena"], demo.rng
    _milestones(demo, project, lena, [("Requirements signed off", -6, -6), ("Label schema agreed", 5, None)])
    texts = [
        ("scam", "Your account is locked. Verify now at secure-login-[redacted].example to avoid suspension"),
        ("scam", "You won a $500 gift card! Scan the QR code and enter your card number to claim"),
        ("scam", "URGENT: package held at customs, pay $1.99 fee here [link removed]"),
        ("legit-promo", "Summer sale: 20% off all running shoes this weekend, in store and online"),
        ("legit-promo", "New menu! Try our seasonal pumpkin soup, available until November"),
        ("other", "Meeting moved to 3pm, room 4B. Bring the quarterly numbers."),
        ("other", "Happy birthday Grandma! Love from all of us"),
    ]
    rows = []
    for n in range(1, 41):
        truth, text = rng.choice(texts)
        rows.append(
            {
                "external_id": f"screenshot-{n:04d}",
                "modality": "ocr",
                "ocr_text": text,
                "image_url": f"https://picsum.photos/seed/quorum-ocr-{n}/480/800",
                "language": "en",
                "metadata": {"ocr_engine": "synthetic", "confidence": round(rng.uniform(0.72, 0.99), 2)},
                "_truth": truth,
            }
        )
    items = _items(demo, project, lena, "screenshots-sample", rows)
    project = _walk(project, lena, [("design", "Requirements signed off; drafting the schema")])
    demo.say(f"Project {project.name!r}: design, {len(items)} OCR items.")


def _requirements_project(demo: _Demo, project: Project) -> None:
    """Requirements: just accepted, a workshop planned."""
    _milestones(demo, project, demo.users["admin"], [("Requirements workshop with Trust ML", 3, None)])
    demo.say(f"Project {project.name!r}: requirements, nothing labeled yet.")

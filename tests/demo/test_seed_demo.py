from __future__ import annotations

import datetime as dt
import random
import shutil
import tempfile
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, F, Sum
from django.test import Client, TestCase, override_settings
from django.utils import timezone

from accounts.models import User
from annotation.models import Annotation, Assignment, Flag, Guideline, Item, LabelSchema
from delivery.models import Delivery
from demo import projects as demo
from demo.history import Clock
from projects import access
from projects.models import Activity, Blocker, DailyRollup, DataRequest, Milestone, PhaseTransition, Project
from quality.models import AgreementReport, AuditSample, Review
from tests.accounts.factories import PASSWORD, UserFactory
from workbench.retrospective import retrospective_get
from workbench.risks import RULES
from workbench.selectors import portfolio_figures

TODAY = dt.date(2026, 11, 22)


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def _counts() -> dict[str, int]:
    models = [User, DataRequest, Project, PhaseTransition, Milestone, Blocker, Activity, Guideline]
    models += [LabelSchema, Item, Assignment, Annotation, Delivery]
    return {model.__name__: model.objects.count() for model in models}


class SeedDemoTests(TestCase):
    """One seed shared by the class (it takes seconds); each test runs in its own savepoint."""

    @classmethod
    def setUpTestData(cls):
        # Class setup runs before the autouse settings fixture: use its fast hasher here too, and
        # a media folder of the class's own (the demo draws its images into MEDIA_ROOT).
        cls.media = tempfile.mkdtemp(prefix="quorum-demo-media-")
        cls.addClassCleanup(shutil.rmtree, cls.media, ignore_errors=True)
        with override_settings(
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"], MEDIA_ROOT=cls.media
        ):
            cls.output = _seed()

    def test_seed_demo_creates_people_requests_and_projects_in_every_phase(self):
        output = self.output

        roles = dict(User.objects.values_list("role").annotate(n=Count("id")))
        assert roles == {"lead": 2, "annotator": 6, "reviewer": 2, "requester": 2}
        admin = User.objects.get(username="admin")
        assert admin.is_staff and admin.is_superuser and admin.check_password(demo.DEMO_PASSWORD)
        assert User.objects.get(username="maya").team.name == "Trust ML"
        assert all(
            User.objects.get(username=name).languages for name in ["ana", "ben", "chen", "dara", "emre", "fatima"]
        )

        statuses = dict(DataRequest.objects.values_list("status").annotate(n=Count("id")))
        assert statuses == {"accepted": 6, "submitted": 1, "rejected": 1}
        assert DataRequest.objects.get(status="rejected").rejection_reason

        phases = dict(Project.objects.values_list("phase").annotate(n=Count("id")))
        assert phases == {phase: 1 for phase in ["requirements", "design", "pilot", "production", "qa", "on_hold"]}
        held = Project.objects.get(phase="on_hold")
        assert held.phase_before_hold == "design"
        assert held.blockers.open().filter(kind=Blocker.Kind.BLOCKER).exists()
        # Every risk was raised by the rules (workbench.risks), none written by hand.
        risks = Blocker.objects.filter(kind=Blocker.Kind.RISK)
        assert risks.exists()
        assert set(risks.values_list("rule", flat=True)) <= set(RULES)
        assert not risks.exclude(opened_by=None).exists()
        assert not Blocker.objects.filter(description__contains="~38").exists()
        assert Blocker.objects.filter(status="resolved").count() >= 2
        assert Milestone.objects.filter(actual_date__gt=F("planned_date")).exists()  # reached late
        assert Milestone.objects.filter(actual_date__isnull=True).exists()

        taxonomy = LabelSchema.objects.get(name=demo.TAXONOMY_NAME)
        v1, v2 = taxonomy.versions.order_by("number")
        assert [(label.key, label.shortcut) for label in v1.labels.all()] == [
            ("safe", "1"),
            ("spam", "2"),
            ("hate", "3"),
            ("harassment", "4"),
            ("violence", "5"),
            ("adult", "6"),
            ("self-harm", "7"),
        ]
        assert set(v2.labels.filter(parent__key="violence").values_list("key", flat=True)) == {
            "graphic-violence",
            "violent-threat",
        }
        assert LabelSchema.objects.get(name=demo.MULTIMODAL_SCHEMA_NAME).selection == "multi"

        assert "Demo sign-ins" in output and demo.DEMO_URL in output
        for name in ["admin", "lena", "ana", "rita", "maya"]:
            assert f"\n{name} " in output
        assert output.count(demo.DEMO_PASSWORD) >= 12

    def test_seed_demo_prints_the_address_make_demo_serves(self):
        """`make demo HOST=0.0.0.0 PORT=8080` passes its address; a second run adds nothing."""
        before = _counts()
        out = StringIO()
        call_command("seed_demo", "--url", "http://0.0.0.0:8080/", stdout=out)
        assert "Open http://0.0.0.0:8080/ and sign in." in out.getvalue()
        assert _counts() == before

    def test_seed_demo_records_every_phase_move(self):
        for project in Project.objects.all():
            moves = list(project.transitions.order_by("created_at", "id").values_list("from_phase", "to_phase"))
            phase = "requirements"
            for from_phase, to_phase in moves:
                assert from_phase == phase
                phase = to_phase
            assert phase == project.phase
        assert Activity.objects.filter(verb="project.transition").count() == PhaseTransition.objects.count()
        production = Project.objects.get(phase="production")
        assert ("pilot", "design") in set(production.transitions.values_list("from_phase", "to_phase"))  # rework

    def test_seed_demo_items_and_annotations_respect_overlap(self):
        assert Item.objects.count() >= 300
        modalities = set(Item.objects.values_list("modality", flat=True))
        assert modalities >= {"text", "image", "audio", "ocr", "multimodal"}
        assert Item.objects.filter(is_gold=True).count() >= 10
        assert Item.objects.filter(is_graphic=True).exists()
        assert Item.objects.filter(text=demo.XSS_TEXT).exists()

        # Regular items never get more annotations than their overlap (which dynamic overlap may
        # have grown); gold items sit outside the overlap. Nobody annotates an item twice.
        regular = Item.objects.filter(is_gold=False).annotate(n=Count("annotations"))
        assert not regular.filter(n__gt=F("required_annotations")).exists()
        assert not regular.exclude(n=F("annotations_done")).exists()
        assert Annotation.objects.filter(item__is_gold=True).exists()
        pairs = Annotation.objects.values("item", "annotator").annotate(n=Count("id")).filter(n__gt=1)
        assert not pairs.exists()
        assert Annotation.objects.count() >= 300
        assert not Annotation.objects.filter(time_spent_ms__lt=1500).exists()
        assert not Annotation.objects.filter(time_spent_ms__gt=360_000).exists()
        # Mostly agreement, some disagreement.
        labels_per_item: dict[int, set[tuple[str, ...]]] = {}
        for item_id, labels in Annotation.objects.values_list("item_id", "labels"):
            labels_per_item.setdefault(item_id, set()).add(tuple(labels))
        disagreeing = sum(len(labels) > 1 for labels in labels_per_item.values())
        assert 0 < disagreeing < len(labels_per_item) / 2
        # The QA project was labeled under taxonomy v1, the production project under v2.
        assert set(Annotation.objects.filter(project__phase="qa").values_list("schema_version__number", flat=True)) == {
            1
        }
        assert set(
            Annotation.objects.filter(project__phase="production").values_list("schema_version__number", flat=True)
        ) == {2}

        for project in Project.objects.exclude(phase="requirements"):
            assert project.progress_refreshed_at is not None
            # Progress counts regular items only: gold sits outside the overlap.
            assert project.items_total == project.items.filter(is_gold=False).count()
            assert project.annotations_done == project.annotations.filter(item__is_gold=False).count()
            assert project.items_completed <= project.items_total

    def test_seed_demo_computes_an_agreement_report_for_annotated_projects(self):
        annotated = Project.objects.filter(annotations__isnull=False).distinct()
        assert annotated.exists()
        for project in annotated:
            reports = AgreementReport.objects.filter(project=project, scope="project")
            assert reports.count() >= 2  # computed along the way, and once more now
            for report in reports:
                assert report.n_annotations > 0 and report.alpha is not None and -1 <= report.alpha <= 1

    def test_seed_demo_delivers_the_project_in_qa(self):
        delivery = Delivery.objects.get()
        assert delivery.project.phase == Project.Phase.QA and delivery.created_by == delivery.project.lead
        assert delivery.gate_passed or delivery.override_reason.startswith("Demo:")
        # The build runs on commit (at once in the embedded mode; here the test's transaction holds it).
        assert delivery.status == Delivery.Status.QUEUED
        assert "Delivery of 'Image safety evaluation set Q3'" in self.output

    # --- The figures the pages show are computed from a believable history -------------------

    def test_seed_demo_lena_leads_every_project(self):
        lena = User.objects.get(username="lena")
        assert set(Project.objects.values_list("lead", flat=True)) == {lena.pk}
        assert all(access.can_manage_project(lena, project) for project in Project.objects.all())
        assert Delivery.objects.get().project.lead == lena

    def test_seed_demo_annotations_span_weeks_at_human_pace(self):
        now = timezone.now()
        stamps = list(Annotation.objects.values_list("submitted_at", flat=True))
        assert min(stamps) <= now - dt.timedelta(days=21) and max(stamps) < now
        assert len({stamp.date() for stamp in stamps}) >= 20
        assert all(dt.time(8) <= stamp.astimezone(dt.UTC).time() <= dt.time(18, 40) for stamp in stamps)
        # Log-normal handling times around a quarter of a minute, and annotators at different speeds.
        times = sorted(Annotation.objects.values_list("time_spent_ms", flat=True))
        assert 6_000 < times[len(times) // 2] < 40_000 and times[-1] > 3 * times[len(times) // 2]
        medians = {}
        for name in ("dara", "emre"):
            own = sorted(Annotation.objects.filter(annotator__username=name).values_list("time_spent_ms", flat=True))
            medians[name] = own[len(own) // 2]
        assert medians["dara"] * 1.5 < medians["emre"]
        # Leases carry their historic moment too (the engine's auto_now_add is set back).
        assert not Assignment.objects.filter(leased_at__gt=F("expires_at")).exists()
        assert Assignment.objects.filter(status="active").count() == 2

    def test_seed_demo_throughput_forecast_and_risks_are_computed(self):
        today = timezone.now().date()
        production = Project.objects.get(phase="production")
        rows = portfolio_figures(projects=list(Project.objects.all()), today=today)
        figures = {project.pk: project for project in rows}
        assert figures[production.pk].throughput_7d > 0
        forecast = figures[production.pk].forecast
        assert forecast.finish is not None and forecast.rate > 0 and forecast.status != "unknown"
        counted = DailyRollup.objects.filter(project=production).aggregate(n=Sum("annotations"))["n"]
        assert counted == production.annotations.filter(item__is_gold=False).count()
        # The risks opened and closed over the weeks, by the rules, at the evenings they held.
        resolved = Blocker.objects.filter(kind="risk", status="resolved")
        assert resolved.exists()
        for risk in resolved:
            assert risk.resolved_by is None and risk.resolution.startswith("Closed by Quorum")
            assert risk.resolved_at - risk.opened_at >= dt.timedelta(hours=12)

    def test_seed_demo_retrospective_has_real_durations(self):
        for project in Project.objects.exclude(phase="requirements"):
            retro = retrospective_get(project=project)
            assert len(retro.phases) == project.transitions.count() + 1
            assert all(stay["days"] > 0 for stay in retro.phases), retro.phases
        production = retrospective_get(project=Project.objects.get(phase="production"))
        assert production.throughput["active_days"] >= 10 and production.throughput["median_seconds"] > 0
        assert len(production.alpha_trend) >= 4
        assert len({row["computed_at"].date() for row in production.alpha_trend}) >= 4
        # Phase moves spread over weeks, each recorded when it happened.
        moves = list(PhaseTransition.objects.order_by("created_at").values_list("created_at", flat=True))
        assert moves[-1] - moves[0] >= dt.timedelta(days=21)
        resolved = Blocker.objects.filter(status="resolved")
        assert resolved.exists()
        assert all(b.resolved_at - b.opened_at >= dt.timedelta(hours=1) for b in resolved)
        assert Blocker.objects.filter(kind="blocker", status="resolved", resolved_by__isnull=False).exists()
        reached = Milestone.objects.filter(actual_date__isnull=False)
        assert reached.count() >= 8 and all(m.actual_date < timezone.now().date() for m in reached)

    def test_seed_demo_reasons_quote_the_reports_that_were_computed(self):
        production = Project.objects.get(phase="production")
        rework = production.transitions.get(from_phase="pilot", to_phase="design")
        first = AgreementReport.objects.filter(project=production, scope="project").order_by("computed_at").first()
        assert first.computed_at < rework.created_at and f"Pilot alpha {first.alpha:.2f}" in rework.reason

    def test_seed_demo_audits_and_questions_happen_over_days(self):
        qa = Project.objects.get(phase="qa")
        samples = AuditSample.objects.filter(project=qa)
        reviews = Review.objects.filter(sample__project=qa)
        assert samples.exists() and 0 < reviews.count() < samples.count()  # the audit is still running
        assert all(review.created_at > review.sample.created_at for review in reviews.select_related("sample"))
        assert len({review.created_at.date() for review in reviews}) >= 2
        flags = Flag.objects.filter(project__phase="production")
        answered = flags.filter(status="answered")
        assert answered.exists() and all(f.answered_at > f.created_at for f in answered)
        assert flags.filter(status="open").exists()

    def test_seed_demo_media_is_served_by_quorum(self):
        urls = [url for row in Item.objects.values_list("image_url", "video_url", "audio_url") for url in row if url]
        assert len(urls) >= 150
        assert all(url.startswith("/media/demo/") for url in urls)
        client = Client()
        self.settings_media = override_settings(MEDIA_ROOT=self.media)
        self.settings_media.enable()
        self.addCleanup(self.settings_media.disable)
        for url, kind, magic in [
            (Item.objects.filter(modality="image").first().image_url, "image/png", b"\x89PNG\r\n\x1a\n"),
            (Item.objects.filter(modality="audio").first().audio_url, "audio/", b"RIFF"),
        ]:
            response = client.get(url)
            assert response.status_code == 200 and response["Content-Type"].startswith(kind)
            assert b"".join(response.streaming_content).startswith(magic)
        assert client.get("/media/demo/../db.sqlite3").status_code == 404
        assert client.get("/media/deliveries/1/1/manifest.json").status_code == 404

    def test_seed_demo_second_run_creates_nothing_and_still_prints_sign_ins(self):
        before = _counts()
        output = _seed()
        assert _counts() == before
        assert "already present" in output
        assert "Demo sign-ins" in output and "admin" in output and demo.DEMO_URL in output


@pytest.mark.django_db
def test_demo_seed_failure_leaves_nothing_behind(monkeypatch):
    def broken(demo_run, project):
        raise RuntimeError("disk full")

    monkeypatch.setattr(demo, "_image_eval_project", broken)  # after users, schemas and requests
    with pytest.raises(RuntimeError, match="disk full"):
        demo.demo_seed(today=TODAY)
    assert all(number == 0 for number in _counts().values())


@pytest.mark.django_db
def test_demo_users_reuse_an_existing_superuser_admin_and_keep_its_password():
    existing = UserFactory(username="admin", role=User.Role.ANNOTATOR, is_superuser=True, is_staff=True)
    run = demo._Demo(clock=Clock(now=dt.datetime(2026, 11, 22, 17, tzinfo=dt.UTC)), rng=random.Random(1), out=None)
    sign_ins = demo._users_create(run)
    assert run.users["admin"].pk == existing.pk
    existing.refresh_from_db()
    assert existing.check_password(PASSWORD) and existing.is_superuser
    assert "unchanged" in next(s.password for s in sign_ins if s.username == "admin")
    assert next(s.password for s in sign_ins if s.username == "lena") == demo.DEMO_PASSWORD
    assert User.objects.count() == len(demo.DEMO_USERS)


@pytest.mark.django_db
def test_seed_demo_refuses_a_demo_name_held_by_another_role():
    UserFactory(username="maya", role=User.Role.ANNOTATOR)
    with pytest.raises(CommandError, match="'maya' already exists as annotator"):
        _seed()
    assert Project.objects.count() == 0 and LabelSchema.objects.count() == 0
    assert not User.objects.filter(username="admin").exists()

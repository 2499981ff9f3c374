from __future__ import annotations

import datetime as dt
import random
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, F
from django.test import TestCase, override_settings

from accounts.models import User
from annotation.models import Annotation, Assignment, Guideline, Item, LabelSchema
from delivery.models import Delivery
from demo import projects as demo
from projects.models import Activity, Blocker, DataRequest, Milestone, PhaseTransition, Project
from tests.accounts.factories import PASSWORD, UserFactory

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
        # Class setup runs before the autouse settings fixture: use its fast hasher here too.
        with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
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
        system_risk = Blocker.objects.get(rule="forecast_after_deadline")
        assert system_risk.kind == "risk" and system_risk.opened_by is None and system_risk.status == "open"
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
        assert modalities >= {"text", "image", "video", "audio", "ocr", "multimodal"}
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
        assert not Annotation.objects.filter(time_spent_ms__lt=2000).exists()
        assert not Annotation.objects.filter(time_spent_ms__gt=40000).exists()
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
        from quality.models import AgreementReport

        annotated = Project.objects.filter(annotations__isnull=False).distinct()
        assert annotated.exists()
        for project in annotated:
            report = AgreementReport.objects.get(project=project, scope="project")
            assert report.n_annotations > 0 and report.alpha is not None and -1 <= report.alpha <= 1

    def test_seed_demo_delivers_the_project_in_qa(self):
        delivery = Delivery.objects.get()
        assert delivery.project.phase == Project.Phase.QA and delivery.created_by == delivery.project.lead
        assert delivery.gate_passed or delivery.override_reason.startswith("Demo:")
        # The build runs on commit (at once in the embedded mode; here the test's transaction holds it).
        assert delivery.status == Delivery.Status.QUEUED
        assert "Delivery of 'Image safety evaluation set Q3'" in self.output

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
    run = demo._Demo(today=TODAY, rng=random.Random(1), out=None)
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

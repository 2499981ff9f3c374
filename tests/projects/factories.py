from __future__ import annotations

import datetime as dt

import factory
from factory.django import DjangoModelFactory

from accounts.models import User
from projects.models import Blocker, DataRequest, Membership, Milestone, Project
from tests.accounts.factories import UserFactory


class DataRequestFactory(DjangoModelFactory):
    class Meta:
        model = DataRequest

    title = factory.Sequence(lambda n: f"Hate speech training set {n}")
    requester = factory.SubFactory(UserFactory, role=User.Role.REQUESTER)
    team = factory.LazyAttribute(lambda r: r.requester.team)
    volume_total = 1000
    deadline = factory.LazyFunction(lambda: dt.date.today() + dt.timedelta(days=30))  # noqa: DTZ011
    languages = factory.LazyFunction(lambda: ["en"])


class ProjectFactory(DjangoModelFactory):
    class Meta:
        model = Project
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Project {n}")
    lead = factory.SubFactory(UserFactory, role=User.Role.LEAD)
    deadline = factory.LazyFunction(lambda: dt.date.today() + dt.timedelta(days=45))  # noqa: DTZ011

    @factory.post_generation
    def lead_membership(obj, create, extracted, **kwargs):
        if create:
            Membership.objects.get_or_create(project=obj, user=obj.lead, role=Membership.Role.LEAD)


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.ANNOTATOR


class MilestoneFactory(DjangoModelFactory):
    class Meta:
        model = Milestone

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"Milestone {n}")
    planned_date = factory.LazyFunction(lambda: dt.date.today() + dt.timedelta(days=10))  # noqa: DTZ011


class BlockerFactory(DjangoModelFactory):
    class Meta:
        model = Blocker

    project = factory.SubFactory(ProjectFactory)
    title = factory.Sequence(lambda n: f"Blocker {n}")
    opened_by = factory.LazyAttribute(lambda b: b.project.lead)

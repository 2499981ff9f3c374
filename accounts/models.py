"""People and teams. Every other app depends on this one; it depends on none of them."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models


class Team(models.Model):
    """An algorithm team (requesters) or an operations team. Requesters see their team's requests."""

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=120, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A Quorum user. `role` is the primary role: it picks the landing page and the navigation.

    What a user may do on a project is decided by their project membership (projects.Membership);
    the primary role only adds the portfolio-wide powers of a lead (triage requests, create projects).
    """

    class Role(models.TextChoices):
        LEAD = "lead", "Project lead"
        ANNOTATOR = "annotator", "Annotator"
        REVIEWER = "reviewer", "Reviewer"
        REQUESTER = "requester", "Requester"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="members")
    languages = models.JSONField(default=list, blank=True, help_text="Language codes the person works in.")
    modalities = models.JSONField(
        default=list, blank=True, help_text="Modalities the person is qualified for; empty means all."
    )
    policy_areas = models.JSONField(
        default=list,
        blank=True,
        help_text="Policy areas the person is trained for (e.g. 'hate', 'self_harm'): shown to leads.",
    )
    # Wellness: a personal limit on graphic items a day, across projects, beside each project's cap.
    graphic_daily_cap = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="At most this many items tagged graphic a day, whatever the project allows (0: none at all). "
        "Empty: only the project's cap applies.",
    )

    @property
    def is_lead(self) -> bool:
        return self.is_superuser or self.role == self.Role.LEAD

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username

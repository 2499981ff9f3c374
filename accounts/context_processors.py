"""Navigation by role: the base layout shows the sections the signed-in user works in."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse


def navigation(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items: list[tuple[str, str]] = []
    if user.is_lead:
        items.append(("Portfolio", reverse("projects:portfolio")))
        items.append(("Requests", reverse("projects:request_list")))
    if user.role == user.Role.REQUESTER:
        items.append(("My requests", reverse("projects:request_list")))
    if user.role in (user.Role.ANNOTATOR, user.Role.REVIEWER) or user.is_superuser:
        items.append(("My queue", reverse("annotation:queue")))
        items.append(("My work", reverse("annotation:my_work")))
    if user.is_lead or user.role == user.Role.REQUESTER:
        items.append(("Deliveries", reverse("delivery:delivery_list")))
    if user.is_staff or user.is_superuser:
        items.append(("People", reverse("staff:users")))
        items.append(("Teams", reverse("staff:teams")))
    items.append(("API docs", reverse("api-docs")))
    if user.is_staff:
        items.append(("Sign-in locks", reverse("lockout_list")))
    return {"nav_items": items}

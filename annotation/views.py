"""Annotator and reviewer pages."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

# The queue lists projects, which only the projects app can read (annotation depends on it only
# through "projects.Project"); this interface module reads its selectors, the models never do.
from projects import selectors as project_selectors


@login_required
def queue(request: HttpRequest) -> HttpResponse:
    """The projects the user labels or reviews now; annotators and reviewers land here."""
    if request.user.role == request.user.Role.REQUESTER and not request.user.is_superuser:
        raise PermissionDenied("The queue is for annotators and reviewers.")
    context = {
        "annotate_projects": project_selectors.annotator_projects(user=request.user),
        "review_projects": project_selectors.reviewer_projects(user=request.user),
    }
    return render(request, "annotation/project_queue.html", context)

"""The annotator's acknowledgement of a new guideline version, from the task page.

When a lead publishes a guideline version mid-project, the task page shows what changed
(templates/annotation/_guideline_acknowledge.html) instead of the next item; posting here records
the acknowledgement (annotation.services.authoring.guideline_acknowledge) and shows the item.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from annotation.models import Guideline
from annotation.services.authoring import guideline_acknowledge
from annotation.views import _annotator_project, _task_response
from core.pages import service_attempt


@login_required
@require_POST
def task_acknowledge(request: HttpRequest, project_id: int) -> HttpResponse:
    """Acknowledge the guideline version the form names (the one in force), then the next item."""
    project = _annotator_project(request, project_id)
    try:
        guideline = Guideline.objects.get(project=project, pk=int(request.POST.get("guideline", "")))
    except (ValueError, Guideline.DoesNotExist):
        raise Http404("No such guideline version in this project.") from None
    if service_attempt(
        request, guideline_acknowledge, forbid_not_allowed=True, guideline=guideline, actor=request.user
    ):
        messages.success(request, f"Thank you: guideline v{guideline.version} acknowledged.")
    return _task_response(request, project) if request.htmx else redirect("annotation:task", project.pk)

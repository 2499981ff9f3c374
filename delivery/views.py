"""Pages of deliveries: the list, one delivery (manifest, files, evaluations), a file download,
and one evaluation's figures; and retrying a failed build or evaluation. Leads of the project and
the request's team see them; anything else is a 404. Every value from items, people or uploads is
autoescaped by the templates.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from core.errors import QuorumError
from core.pages import service_attempt
from delivery import policies, selectors
from delivery.models import Delivery, Evaluation
from delivery.services.build import delivery_retry
from delivery.services.evaluation import evaluation_retry
from delivery.services.storage import delivery_file_path
from projects import access


def _delivery_or_404(request: HttpRequest, pk: int) -> Delivery:
    try:
        return selectors.delivery_get(user=request.user, pk=pk)
    except Delivery.DoesNotExist as exc:
        raise Http404("No such delivery.") from exc


@login_required
@require_GET
def delivery_list(request: HttpRequest) -> HttpResponse:
    """Deliveries the user may see, newest first; `?project=<id>` narrows to one project's (an id
    that is not a number, or a project they may not see, gives an empty list, not an error page)."""
    deliveries = selectors.delivery_list(user=request.user)
    project = request.GET.get("project", "")
    if project:
        deliveries = deliveries.filter(project_id=int(project)) if project.isdigit() else deliveries.none()
    return render(request, "delivery/delivery_list.html", {"deliveries": deliveries[:200], "project_filter": project})


@login_required
@require_GET
@vary_on_headers("HX-Request")
def delivery_detail(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = _delivery_or_404(request, pk)
    if request.htmx:  # the status block polling itself while the build runs
        return render(request, "delivery/delivery_detail.html#status", {"delivery": delivery, "polled": True})
    evaluations = selectors.evaluation_list(user=request.user).filter(delivery=delivery)
    context = {
        "delivery": delivery,
        "evaluations": evaluations,
        "can_retry": access.can_manage_project(request.user, delivery.project),
    }
    return render(request, "delivery/delivery_detail.html", context)


@login_required
@require_POST
def delivery_retry_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Build a failed delivery again (leads of the project), then back to its page."""
    delivery = _delivery_or_404(request, pk)
    if service_attempt(request, delivery_retry, delivery=delivery, actor=request.user, forbid_not_allowed=True):
        messages.success(request, "The delivery is being built again.")
    return redirect(delivery.get_absolute_url())


@login_required
@require_GET
def delivery_file(request: HttpRequest, pk: int, name: str) -> FileResponse:
    delivery = _delivery_or_404(request, pk)
    try:
        path = delivery_file_path(delivery=delivery, name=name)
    except QuorumError as exc:
        raise Http404(exc.message) from exc
    return FileResponse(open(path, "rb"), as_attachment=True, filename=f"v{delivery.version}-{name}")


@login_required
@require_GET
def evaluation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    evaluation = _evaluation_or_404(request, pk)
    report = evaluation.report or {}
    confusion = report.get("confusion") or {"keys": [], "matrix": []}
    rows = list(zip(confusion["keys"], confusion["matrix"], strict=True))
    return render(
        request,
        "delivery/evaluation_detail.html",
        {
            "evaluation": evaluation,
            "report": report,
            "confusion_keys": confusion["keys"],
            "confusion_rows": rows,
            "can_retry": policies.can_retry_evaluation(request.user, evaluation),
        },
    )


def _evaluation_or_404(request: HttpRequest, pk: int) -> Evaluation:
    try:
        return selectors.evaluation_list(user=request.user).get(pk=pk)
    except Evaluation.DoesNotExist as exc:
        raise Http404("No such evaluation.") from exc


@login_required
@require_POST
def evaluation_retry_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Score a failed evaluation again (who uploaded it, or a lead), then back to its page."""
    evaluation = _evaluation_or_404(request, pk)
    if service_attempt(request, evaluation_retry, evaluation=evaluation, actor=request.user, forbid_not_allowed=True):
        messages.success(request, "The evaluation is being scored again.")
    return redirect(evaluation.get_absolute_url())

"""Pages of the quality engine: the lead's quality section (on the project page) and its recompute,
the job status block it polls, reinstating annotators paused by the gold bar, the root-cause page,
the reviewers' audit queue and their adjudication page.

Each handler checks the role through projects.access (or the reviewer's memberships), calls one
service or selector, and renders or redirects. Projects the user may not see are 404; a domain
refusal (QuorumError or ValidationError) becomes an error message, never a 500.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from annotation import selectors as annotation_selectors
from annotation.models import LabelSchema
from annotation.presenters import item_media_urls, item_metadata_rows, label_choices
from core.pages import service_attempt
from projects import access
from projects import services as project_services
from projects.models import Membership, Project
from quality.models import AuditSample, Consensus, QualityJob, Review
from quality.selectors import accuracy, gate, jobs, queues, reports
from quality.services.audits import audit_sample_draw_planned, audit_sample_plan, review_record
from quality.services.consensus import adjudication_record
from quality.services.jobs import quality_job_retry
from quality.services.reports import agreement_report_enqueue, project_alpha_compute

T = TypeVar("T")

AUDIT_PAGE = "quality/audit_queue.html"
# The letter each error cause prefers on the audit page. C, X, R and ? are the page's commands,
# and the labels' keys come first: a cause whose letter a label holds takes the next free letter
# of its name (audit_cause_choices).
CAUSE_KEYS = {
    Review.ErrorCause.GUIDELINE_GAP: "g",
    Review.ErrorCause.MISREAD_CONTENT: "m",
    Review.ErrorCause.CARELESS: "l",
    Review.ErrorCause.AMBIGUOUS_ITEM: "a",
    Review.ErrorCause.TOOL_PROBLEM: "t",
}
AUDIT_COMMAND_KEYS = frozenset({"c", "x", "r", "?"})


# --- Helpers ----------------------------------------------------------------------------------


def _project_or_404(request: HttpRequest, pk: int) -> Project:
    """The project if the user may see it; 404 otherwise, so other projects do not leak."""
    try:
        project = access.visible_projects(request.user).select_related("lead", "request", "label_schema").get(pk=pk)
    except Project.DoesNotExist:
        raise Http404("No such project.")
    if not access.can_view_project(request.user, project):
        raise Http404("No such project.")
    return project


def _lead_project(request: HttpRequest, pk: int) -> Project:
    project = _project_or_404(request, pk)
    if not access.can_manage_project(request.user, project):
        raise PermissionDenied("Only the project's lead sees its quality figures.")
    return project


# --- The lead's quality section (on the project page) ----------------------------------------


def quality_section_context(project: Project, *, gold: accuracy.GoldAccuracy | None = None) -> dict[str, Any]:
    """What templates/projects/_quality.html shows: the gate, the latest project-scope report,
    gold and audit accuracy headlines and the latest report job. The project page calls it for leads."""
    if gold is None:
        gold = accuracy.gold_accuracy_cached(project_id=project.pk)
    audit = accuracy.audit_accuracy(project_id=project.pk)
    report = reports.agreement_report_latest(project_id=project.pk)
    return {
        "gate": gate.quality_gate(
            project_id=project.pk,
            gold=gold,
            audit=audit,
            report=report,
            annotation_state=reports.project_annotation_state_for_page(project_id=project.pk, report=report),
        ),
        "report": report,
        "gold": gold.overall,
        "gold_watch": _gold_watch(project, gold),
        "audit": audit,
        "job": QualityJob.objects.filter(project=project, kind=QualityJob.Kind.AGREEMENT_REPORT).first(),
    }


def _gold_watch(project: Project, gold: accuracy.GoldAccuracy) -> list[dict[str, Any]]:
    """Annotators the lead should look at: flagged under the gold bar, or paused by it. A
    reinstated annotator is judged on their gold since, as the pausing sweep judges them."""
    memberships = Membership.objects.filter(project=project, role=Membership.Role.ANNOTATOR).select_related("user")
    paused, since = {}, {}
    for membership in memberships.filter(Q(paused_at__isnull=False) | Q(reinstated_at__isnull=False)):
        if membership.paused_at is not None:
            paused[membership.user_id] = membership
        elif membership.reinstated_at is not None:
            since[membership.user_id] = membership.reinstated_at
    if since and not gold.since_reinstatement:
        gold = accuracy.gold_accuracy_cached(project_id=project.pk, answered_after=since)
    rows = [{**row, "paused": paused.pop(row["annotator_id"], None)} for row in gold.annotators if row["flagged"]]
    # Paused, but no longer flagged on all of their gold (a reinstated window, say): still listed.
    rows += [
        {"annotator_id": user_id, "username": membership.user.username, "paused": membership, "n": None}
        for user_id, membership in paused.items()
    ]
    return rows


@login_required
@require_POST
def annotator_reinstate(request: HttpRequest, pk: int, user_pk: int) -> HttpResponse:
    """A lead gives an annotator paused by the gold bar work again; back to the quality section."""

    project = _lead_project(request, pk)
    annotator = Membership.objects.filter(project=project, user_id=user_pk, role=Membership.Role.ANNOTATOR).first()
    if annotator is None:
        raise Http404("No such annotator on this project.")
    done = service_attempt(
        request,
        project_services.annotator_reinstate,
        project=project,
        annotator=annotator.user,
        actor=request.user,
        note=request.POST.get("note", ""),
    )
    if done is not None:
        messages.success(request, f"{annotator.user.username} gets work again.")
    return redirect(f"{project.get_absolute_url()}#quality")


@login_required
@require_POST
def report_recompute(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue a project-scope agreement report. htmx gets the section back (with the job block
    polling until it finishes); without htmx, back to the project page."""
    project = _lead_project(request, pk)
    job = service_attempt(request, agreement_report_enqueue, project_id=project.pk, actor=request.user)
    if job is not None and not request.htmx:
        messages.success(request, "The agreement report is being computed.")
    if not request.htmx:
        return redirect(f"{project.get_absolute_url()}#quality")
    context = {"project": project, "quality": quality_section_context(project), "htmx_messages": True}
    return render(request, "projects/_quality.html", context)


@login_required
def alpha_now(request: HttpRequest, pk: int) -> HttpResponse:
    """Alpha over every annotation so far, for the quality section to load after the page (the
    page itself never reads annotations). Without htmx, the project page."""
    project = _lead_project(request, pk)
    if not request.htmx:
        return redirect(f"{project.get_absolute_url()}#quality")
    alpha = project_alpha_compute(project_id=project.pk)
    return render(request, "quality/_alpha_now.html", {"project": project, "alpha": alpha})


@login_required
def job_status(request: HttpRequest, pk: int, job_pk: int) -> HttpResponse:
    """A report job's block; htmx polls it while the job runs. Without htmx, the project page."""
    project = _lead_project(request, pk)
    try:
        status = jobs.quality_job_status(user=request.user, job_id=job_pk)
    except QualityJob.DoesNotExist:
        raise Http404("No such job.")
    job = QualityJob.objects.get(pk=status["id"])
    if job.project_id != project.pk:
        raise Http404("No such job.")
    if not request.htmx:
        return redirect(f"{project.get_absolute_url()}#quality")
    return render(request, "quality/_job.html", {"project": project, "job": job, "status": status})


@login_required
@require_POST
def job_retry(request: HttpRequest, pk: int, job_pk: int) -> HttpResponse:
    """Run a failed report job again. htmx gets the job block back (polling again); without htmx,
    back to the project page with a message."""
    project = _lead_project(request, pk)
    job = jobs.quality_job_list(user=request.user).filter(pk=job_pk, project=project).first()
    if job is None:
        raise Http404("No such job.")
    if service_attempt(request, quality_job_retry, job=job, actor=request.user, forbid_not_allowed=True):
        messages.success(request, "The agreement report is being computed again.")
    if not request.htmx:
        return redirect(f"{project.get_absolute_url()}#quality")
    job.refresh_from_db()
    return render(request, "quality/_job.html", {"project": project, "job": job, "htmx_messages": True})


# --- Root cause ------------------------------------------------------------------------------


@login_required
def root_cause(request: HttpRequest, pk: int) -> HttpResponse:
    """Where the disagreement comes from: per-label alpha, confused pairs, annotators, error causes
    and guideline versions (quality.selectors.gate.root_cause). Leads only."""
    project = _lead_project(request, pk)
    cause = gate.root_cause(project_id=project.pk)
    names = dict(Review.ErrorCause.choices)
    error_causes = [{**row, "label": names.get(row["cause"], row["cause"])} for row in cause.error_causes]
    return render(
        request, "quality/root_cause.html", {"project": project, "cause": cause, "error_causes": error_causes}
    )


# --- Drawing audit samples (leads) --------------------------------------------------------------

AUDIT_DRAW_PAGE = "quality/audit_draw.html"
AUDIT_SHARE_DEFAULT = 0.1


def _draw_input(data: Any) -> tuple[dict[str, Any], list[str]]:
    """The share and seed of the draw form, with an error naming the field for each bad one."""
    errors, share, seed = [], None, 0
    try:
        share = float(data.get("share", AUDIT_SHARE_DEFAULT))
        if not 0 < share <= 1:
            raise ValueError
    except (TypeError, ValueError):
        errors.append(f"share: {data.get('share')!r} is not a number above 0 and at most 1 (0.1 is 10%)")
        share = None
    try:
        seed = int(data.get("seed") or 0)
        if seed < 0:
            raise ValueError
    except (TypeError, ValueError):
        errors.append(f"seed: {data.get('seed')!r} is not a whole number, 0 or more")
    return {"share": share, "seed": seed}, errors


@login_required
@vary_on_headers("HX-Request")
@require_http_methods(["GET", "POST"])
def audit_draw(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: what a draw with this share would take, per stratum (htmx: the preview alone).
    POST: draw it, then back to the project's quality section with what was drawn."""
    project = _lead_project(request, pk)
    data = request.POST if request.method == "POST" else request.GET
    fields, errors = _draw_input(data)
    for error in errors:
        messages.error(request, error)
    if request.method == "POST" and not errors:
        done = service_attempt(request, audit_sample_draw_planned, project_id=project.pk, actor=request.user, **fields)
        if done is not None:
            plan, samples = done
            parts = ", ".join(f"{row['planned']} {row['name'].lower()}" for row in plan.strata if row["planned"])
            messages.success(
                request,
                f"Drew {len(samples)} audit sample{'s' if len(samples) != 1 else ''}"
                + (f": {parts}." if parts else "."),
            )
            return redirect(f"{project.get_absolute_url()}#quality")
    plan = None
    if not errors:
        plan = service_attempt(request, audit_sample_plan, project_id=project.pk, actor=request.user, **fields)
    context = {
        "project": project,
        "plan": plan,
        "share": data.get("share", AUDIT_SHARE_DEFAULT),
        "seed": fields["seed"],
    }
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, f"{AUDIT_DRAW_PAGE}#preview", context)
    return render(request, AUDIT_DRAW_PAGE, context)


# --- The reviewers' audit queue ------------------------------------------------------------------


def _require_reviewer(request: HttpRequest) -> None:
    if not access.can_use_audit_queue(request.user):
        raise PermissionDenied("The audit queue is for reviewers.")


@login_required
@vary_on_headers("HX-Request")
def audit_queue(request: HttpRequest) -> HttpResponse:
    """The reviewer's next pending audit sample, with its item and the annotator's labels."""
    _require_reviewer(request)
    return _audit_response(request)


@login_required
@require_http_methods(["POST"])
def audit_review(request: HttpRequest, sample_pk: int) -> HttpResponse:
    """Record a verdict on one sample, then the next sample (the audit area for htmx)."""
    _require_reviewer(request)
    sample = (
        AuditSample.objects.filter(pk=sample_pk, project_id__in=access.reviewed_project_ids(request.user))
        .select_related("project")
        .first()
    )
    if sample is None:
        raise Http404("No such audit sample.")
    posted = {
        "verdict": request.POST.get("verdict", ""),
        "correct_labels": request.POST.getlist("correct_labels"),
        "error_cause": request.POST.get("error_cause", ""),
        "note": request.POST.get("note", ""),
    }
    incorrect = posted["verdict"] == Review.Verdict.INCORRECT
    review = service_attempt(
        request,
        review_record,
        sample=sample,
        reviewer=request.user,
        verdict=posted["verdict"],
        correct_labels=posted["correct_labels"] if incorrect else None,
        error_cause=posted["error_cause"] if incorrect else "",
        note=posted["note"],
    )
    if review is not None:
        cause = f" ({review.get_error_cause_display()})" if review.error_cause else ""
        messages.success(request, f"Recorded: {review.get_verdict_display().lower()}{cause}.")
        if not request.htmx:
            return redirect("quality:audit_queue")
        return _audit_response(request)
    # Refused: the same sample again with the reason, and the reviewer's choices kept.
    return _audit_response(request, sample_pk=sample.pk, posted=posted)


def _audit_response(
    request: HttpRequest, *, sample_pk: int | None = None, posted: dict[str, Any] | None = None
) -> HttpResponse:
    queue = queues.audit_queue(reviewer=request.user)
    sample = None
    if sample_pk is not None:
        sample = queue.filter(pk=sample_pk).first()
    if sample is None or posted is None:
        posted = {}
    if sample is None:
        sample = queue.first()
    context: dict[str, Any] = {"sample": sample, "pending": queue.count(), "posted": posted}
    if sample is not None:
        context.update(_sample_context(sample, chosen=posted.get("correct_labels") or []))
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, f"{AUDIT_PAGE}#audit", context)
    return render(request, AUDIT_PAGE, context)


def audit_cause_choices(*, taken: set[str]) -> list[dict[str, str]]:
    """Each error cause with its readable name and the letter that picks it on the audit page:
    its CAUSE_KEYS letter, unless a label's key (`taken`) or a page command holds it; then the
    first free letter of its name; else the first free letter a-z; else none."""
    used = set(taken) | AUDIT_COMMAND_KEYS
    choices = []
    for value, label in Review.ErrorCause.choices:
        candidates = [CAUSE_KEYS[value], *label.lower(), *"abcdefghijklmnopqrstuvwxyz"]
        key = next((letter for letter in candidates if letter.isalpha() and letter not in used), "")
        used.add(key)
        choices.append({"value": value, "label": label, "key": key})
    return choices


def _sample_context(sample: AuditSample, *, chosen: list[str]) -> dict[str, Any]:
    annotation = sample.annotation
    version = annotation.schema_version
    labels = label_choices(annotation_selectors.schema_labels(version=version))
    names = {row["label"].key: row["label"].name for row in labels}
    return {
        "project": sample.project,
        "annotation": annotation,
        "item": annotation.item,
        "media": item_media_urls(annotation.item),
        "metadata": item_metadata_rows(annotation.item.metadata),
        "given": [{"key": key, "name": names.get(key, key)} for key in annotation.labels],
        "labels": labels,
        "chosen": chosen,
        "cause_keys": audit_cause_choices(taken={row["key"] for row in labels if row["key"]}),
        "multi": version.schema.selection == LabelSchema.Selection.MULTI,
    }


# --- Adjudication: the reviewers' final word on unsure items ------------------------------------

ADJUDICATION_PAGE = "quality/adjudication.html"
SKIPPED_KEY = "quality:adjudication_skipped"
SKIPPED_KEEP = 500  # the newest skips a reviewer's session remembers


def _require_adjudicator(request: HttpRequest) -> None:
    if not access.adjudicating_project_ids(request.user).exists():
        raise PermissionDenied("Adjudication is for the reviewers and leads of a project.")


@login_required
@vary_on_headers("HX-Request")
def adjudication_queue(request: HttpRequest) -> HttpResponse:
    """The reviewer's next item whose consensus is unsure or tied, with the votes and the labels."""
    _require_adjudicator(request)
    return _adjudication_response(request)


@login_required
@require_POST
def adjudication_settle(request: HttpRequest, item_pk: int) -> HttpResponse:
    """Record the final labels of one item (with the reason), then the next item."""
    _require_adjudicator(request)
    consensus = (
        Consensus.objects.filter(item_id=item_pk, project_id__in=access.adjudicating_project_ids(request.user))
        .select_related("item")
        .first()
    )
    if consensus is None:
        raise Http404("No such item to adjudicate.")
    adjudication = service_attempt(
        request,
        adjudication_record,
        item=consensus.item,
        reviewer=request.user,
        labels=request.POST.getlist("labels"),
        reason=request.POST.get("reason", ""),
    )
    if adjudication is not None:
        messages.success(request, f"Item {consensus.item.external_id} settled: {', '.join(adjudication.labels)}.")
        return _adjudication_done(request)
    if not request.htmx:
        return redirect("quality:adjudication_queue")
    return _adjudication_response(request, item_pk=consensus.item_id)


@login_required
@require_POST
def adjudication_skip(request: HttpRequest, item_pk: int) -> HttpResponse:
    """Leave an item for another reviewer (remembered for this session), then the next one."""
    _require_adjudicator(request)
    skipped = [pk for pk in request.session.get(SKIPPED_KEY, []) if pk != item_pk]
    request.session[SKIPPED_KEY] = [*skipped, item_pk][-SKIPPED_KEEP:]
    return _adjudication_done(request)


def _adjudication_done(request: HttpRequest) -> HttpResponse:
    if not request.htmx:
        return redirect("quality:adjudication_queue")
    return _adjudication_response(request)


def _adjudication_response(request: HttpRequest, *, item_pk: int | None = None) -> HttpResponse:
    skipped = request.session.get(SKIPPED_KEY, [])
    consensus, waiting = queues.adjudication_next(reviewer=request.user, skipped=skipped)
    if item_pk is not None:  # a refused verdict: the same item again, with the reason
        consensus = Consensus.objects.filter(item_id=item_pk).select_related("item", "project").first() or consensus
    context: dict[str, Any] = {"consensus": consensus, "waiting": waiting, "skipped": len(skipped)}
    if consensus is not None:
        context.update(_adjudication_context(consensus))
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, f"{ADJUDICATION_PAGE}#adjudication", context)
    return render(request, ADJUDICATION_PAGE, context)


def _adjudication_context(consensus: Any) -> dict[str, Any]:
    item = consensus.item
    version = annotation_selectors.schema_version_current(schema_id=consensus.project.label_schema_id)
    labels = label_choices(annotation_selectors.schema_labels(version=version)) if version else []
    names = {row["label"].key: row["label"].name for row in labels}
    total = sum(consensus.votes.values()) or 1
    votes = sorted(consensus.votes.items(), key=lambda pair: (-pair[1], pair[0]))
    return {
        "project": consensus.project,
        "item": item,
        "media": item_media_urls(item),
        "metadata": item_metadata_rows(item.metadata),
        "votes": [
            {"key": key, "name": names.get(key, key), "count": count, "share": count / total} for key, count in votes
        ],
        "proposed": [names.get(key, key) for key in consensus.labels],
        "annotations": [
            {**row, "names": [names.get(key, key) for key in row["labels"]]}
            for row in queues.adjudication_votes(consensus=consensus)
        ],
        "labels": labels,
        "multi": version is not None and version.schema.selection == LabelSchema.Selection.MULTI,
    }

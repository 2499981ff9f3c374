"""The lead's dashboard in Chromium: triage a request into a project, move it through the phases
(an illegal move refused with its reason), plan a milestone, open and resolve a blocker, and see
the charts drawn from the rollups."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import User
from projects.models import DailyRollup, Membership, Project
from quality.models import AgreementReport
from tests.accounts.factories import UserFactory
from tests.annotation.factories import BatchFactory, GuidelineFactory, ItemFactory, schema_with_labels
from tests.projects.factories import DataRequestFactory, ProjectFactory

pytestmark = pytest.mark.e2e

CHARTS = ["chart-burnup", "chart-throughput", "chart-quality", "chart-labels", "chart-milestones"]
# For each chart canvas: whether Chart.js made a chart on it, and how many pixels it painted.
CHARTS_DRAWN = """(ids) => ids.map((id) => {
  const canvas = document.getElementById(id);
  const chart = canvas && window.Chart ? window.Chart.getChart(canvas) : undefined;
  if (!chart) { return [id, false, 0]; }
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] !== 0) { painted += 1; } }
  return [id, true, painted];
})"""


def _seed_history(project: Project, annotator: User) -> None:
    """Two weeks of work as the rollups would hold it, and a few agreement reports."""
    today = timezone.now().date()
    for offset in range(1, 15):
        DailyRollup.objects.create(
            project=project, day=today - dt.timedelta(days=offset), annotations=90 + 7 * (offset % 4),
            items_completed=25 + offset % 5, gold_answered=10, gold_correct=8 + offset % 3,
            label_votes={"hate": 50, "safe": 30, "spam": 10},
        )  # fmt: skip
    for week in range(3):
        AgreementReport.objects.create(
            project=project, computed_at=timezone.now() - dt.timedelta(days=7 * (3 - week)), n_annotations=400,
            n_items=130, n_items_left_out=0, n_annotators=3, source_annotations=400, alpha=0.62 + 0.04 * week,
        )  # fmt: skip
    Project.objects.filter(pk=project.pk).update(
        items_total=600, items_completed=380, annotations_required=1800, annotations_done=1300
    )


def test_lead_triages_moves_phases_handles_a_blocker_and_sees_the_charts(
    page, live_server, transactional_db, browser_errors, artifacts_dir, sign_in
):
    lead = UserFactory(username="dana", first_name="Dana", last_name="Lead", role=User.Role.LEAD)
    annotator = UserFactory(username="ana", first_name="Ana", last_name="Annotator", role=User.Role.ANNOTATOR)
    schema = schema_with_labels(actor=lead)
    DataRequestFactory(
        title="Hate speech PT training set", label_schema=schema, volume_total=1000,
        volume_per_class={"hate": 500, "safe": 400, "spam": 100},
    )  # fmt: skip
    ProjectFactory(name="Spam ES", lead=lead, phase=Project.Phase.PILOT)
    sign_in(page, lead.username)

    # Triage: accept the request; its project opens in requirements.
    page.goto("/projects/")
    triage = page.locator(".card", has_text="Hate speech PT training set")
    triage.get_by_role("button", name="Accept and open a project").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hate speech PT training set")
    expect(page.get_by_role("status")).to_contain_text("Its project starts in requirements.")
    project = Project.objects.get(name="Hate speech PT training set")

    # Phases: design is fine; pilot is refused (no guideline yet) with the reason shown.
    page.get_by_role("button", name="Move to Design").click()
    expect(page.get_by_role("status")).to_have_text("The project is now in Design.")
    page.get_by_role("button", name="Move to Pilot").click()
    expect(page.get_by_role("alert")).to_contain_text("the project has no guideline")
    expect(page.locator(".page-header .badge").first).to_have_text("Design")

    GuidelineFactory(project=project, created_by=lead, version=1)
    Membership.objects.create(project=project, user=annotator, role=Membership.Role.ANNOTATOR)
    ItemFactory.create_batch(3, batch=BatchFactory(project=project, created_by=lead))
    page.get_by_role("button", name="Move to Pilot").click()
    expect(page.get_by_role("status")).to_have_text("The project is now in Pilot.")
    page.get_by_role("button", name="Move to Production").click()
    expect(page.get_by_role("status")).to_have_text("The project is now in Production.")

    # A milestone, planned from the page.
    milestones = page.locator("#milestones")
    milestones.get_by_text("Plan a milestone…").click()
    milestones.get_by_label("Name").fill("First delivery")
    milestones.get_by_label("Planned", exact=True).fill((timezone.now().date() + dt.timedelta(days=5)).isoformat())
    milestones.get_by_role("button", name="Plan").click()
    expect(page.get_by_role("status")).to_have_text("Planned “First delivery”.")

    # A blocker: opened, then resolved with a resolution; the time it took is shown.
    blockers = page.locator("#blockers")
    blockers.get_by_text("Open a blocker or risk…").click()
    blockers.get_by_label("Title").fill("Two annotators on leave")
    blockers.get_by_role("button", name="Open", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Opened blocker “Two annotators on leave”.")
    blockers = page.locator("#blockers")
    blockers.get_by_text("Resolve…").click()
    blockers.get_by_label("How was it resolved?").fill("Two more annotators joined.")
    blockers.get_by_role("button", name="Resolve").click()
    expect(page.get_by_role("status")).to_have_text("Resolved “Two annotators on leave”.")
    expect(page.locator("#blockers")).to_contain_text("Two more annotators joined.")
    expect(page.locator("#blockers")).to_contain_text("resolved in")

    # The charts, drawn by Chart.js from the rollups.
    _seed_history(project, annotator)
    page.reload()
    expect(page.locator("#chart-burnup")).to_be_visible()
    page.wait_for_function("() => window.quorumCharts && window.quorumCharts.burnup")
    drawn = page.evaluate(CHARTS_DRAWN, CHARTS)
    for chart_id, made, painted in drawn:
        assert made, f"{chart_id}: no Chart instance"
        assert painted > 500, f"{chart_id}: only {painted} pixels painted"
    expect(page.locator(".stat", has_text="Forecast finish")).to_contain_text("On track")
    page.screenshot(path=str(artifacts_dir / "dashboard-project.png"), full_page=True)

    page.goto("/projects/")
    row = page.locator("tr", has_text="Hate speech PT training set")
    expect(row).to_contain_text("Production")
    expect(row).to_contain_text("On track")
    page.get_by_label("Sort by").select_option("status")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#portfolio-table")).to_contain_text("Spam ES")
    page.screenshot(path=str(artifacts_dir / "dashboard-portfolio.png"), full_page=True)
    assert browser_errors == []

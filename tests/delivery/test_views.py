"""The read-only delivery pages: shown to the project's leads and the request's team, 404 to
others, with every value escaped."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from delivery.services.build import delivery_build, delivery_create
from delivery.services.evaluation import evaluation_create


def test_delivery_pages_escape_and_scope(
    client, labelled, lead, requester, annotator, django_capture_on_commit_callbacks
):
    labelled.project.min_gold_accuracy = 0.99
    labelled.project.save()
    with django_capture_on_commit_callbacks(execute=True):
        delivery = delivery_create(
            project=labelled.project, actor=lead, formats=["csv"], override_reason="<script>alert(1)</script>"
        )
    delivery.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        evaluation = evaluation_create(
            delivery=delivery,
            actor=requester,
            file=SimpleUploadedFile("m.csv", b"item_id,label\n<b>x</b>,safe\n"),
            name="<img src=x onerror=alert(1)>",
        )
    client.force_login(requester)
    page = client.get(delivery.get_absolute_url())
    assert page.status_code == 200
    html = page.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "train.csv" in html
    file_page = client.get(f"/deliveries/{delivery.pk}/files/train.csv")
    assert file_page.status_code == 200
    evaluation_page = client.get(evaluation.get_absolute_url())
    assert evaluation_page.status_code == 200
    assert "&lt;b&gt;x&lt;/b&gt;" in evaluation_page.content.decode()
    assert client.get("/deliveries/").status_code == 200
    client.force_login(annotator)
    assert client.get(delivery.get_absolute_url()).status_code == 404
    assert client.get(evaluation.get_absolute_url()).status_code == 404
    assert client.get(f"/deliveries/{delivery.pk}/files/train.csv").status_code == 404


def test_delivery_page_status_block_polls_while_building(client, labelled, lead, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        delivery = delivery_create(project=labelled.project, actor=lead, formats=["csv"])
    client.force_login(lead)
    block = client.get(delivery.get_absolute_url(), headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 2s"' in block and "<progress" in block and "<html" not in block
    delivery_build(delivery_id=delivery.pk)
    block = client.get(delivery.get_absolute_url(), headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in block and "Show the delivery" in block


def test_delivery_list_narrows_to_one_project(client, labelled, lead, django_capture_on_commit_callbacks):
    """The requester's project page links to `?project=<id>`: only that project's deliveries; a
    bad or foreign id is an empty list, not an error page."""
    with django_capture_on_commit_callbacks(execute=True):
        delivery = delivery_create(project=labelled.project, actor=lead, formats=["csv"], override_reason="test")
    client.force_login(lead)
    mine = client.get(f"/deliveries/?project={labelled.project.pk}").content.decode()
    assert delivery.get_absolute_url() in mine
    for other in (labelled.project.pk + 1000, "x1"):
        response = client.get(f"/deliveries/?project={other}")
        assert response.status_code == 200 and delivery.get_absolute_url() not in response.content.decode()

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from annotation.models import Item

pytestmark = pytest.mark.django_db


def test_import_items_command_imports_and_reports_progress(project, tmp_path, capsys):
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps({"external_id": f"c{i}", "text": f"post {i}"}) + "\n" for i in range(12)))
    call_command("import_items", str(project.pk), str(path), "--batch", "cli")
    out = capsys.readouterr().out
    assert "12 items imported from 12 rows." in out and "rows/s" in out
    assert Item.objects.filter(project=project, batch__name="cli").count() == 12


def test_import_items_command_fails_with_the_bad_rows(project, tmp_path, capsys):
    path = tmp_path / "items.csv"
    path.write_text("external_id,text,image_url\nok,hello,\nbad,,javascript:alert(1)\n")
    with pytest.raises(CommandError, match="1 of 2 rows are bad, so nothing was imported"):
        call_command("import_items", project.name, str(path), "--batch", "cli")
    assert "row 3, column image_url" in capsys.readouterr().err
    assert Item.objects.count() == 0


def test_import_items_command_names_a_missing_project(tmp_path, db):
    with pytest.raises(CommandError, match="project 'nope': no project"):
        call_command("import_items", "nope", str(tmp_path / "x.jsonl"), "--batch", "b")

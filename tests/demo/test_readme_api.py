"""The README's API snippets, run verbatim against a live server on the demo data.

The fenced `sh` blocks of README.md's "## The API" section are taken as they are; only the host
and port are changed to the live server's. They run in order in one bash (`set -euo pipefail`,
as a reader pastes them one after another), in a scratch folder that has the repository's
`docs/` (the snippets call docs/samples/predictions.py from the repository's folder). Each block
must exit 0, and what they download must be what it claims to be.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from delivery.models import Evaluation

ROOT = Path(__file__).resolve().parents[2]
README_HOST = "http://127.0.0.1:8000"


def api_blocks(readme: str) -> list[str]:
    """The shell blocks of the README's API section, in order."""
    start = readme.index("\n## The API\n")
    end = readme.index("\n## ", start + 1)
    return re.findall(r"```sh\n(.*?)```", readme[start:end], flags=re.S)


def test_readme_api_snippets_use_curl_f_python3_and_no_made_up_ids():
    blocks = api_blocks((ROOT / "README.md").read_text())
    assert len(blocks) >= 2
    text = "\n".join(blocks)
    calls = re.findall(r"\bcurl\b[^\n]*", text)
    assert calls and all(re.search(r"\bcurl -f", call) for call in calls), calls
    assert not re.search(r"\bpython\b(?!3)", text)
    # Ids come from the API's answers, never typed in.
    assert not re.search(r"/(requests|deliveries|evaluations)/\d", text)


@pytest.mark.django_db(transaction=True)
def test_readme_api_snippets_run_verbatim_against_the_demo(live_server, tmp_path):
    if shutil.which("curl") is None or shutil.which("python3") is None:
        pytest.fail("the README's snippets need curl and python3 on PATH")
    call_command("seed_demo", stdout=StringIO())
    blocks = [block.replace(README_HOST, live_server.url) for block in api_blocks((ROOT / "README.md").read_text())]
    work = tmp_path / "reader"
    work.mkdir()
    (work / "docs").symlink_to(ROOT / "docs")
    script = ["set -euo pipefail"]
    for number, block in enumerate(blocks, start=1):
        script += [f"echo '>>> block {number}'", block, f"echo '<<< block {number} exited 0'"]
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)], cwd=work, capture_output=True, text=True, timeout=180, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for number in range(1, len(blocks) + 1):
        assert f"<<< block {number} exited 0" in result.stdout, output

    manifest = json.loads((work / "manifest.json").read_text())
    files = {entry["name"]: entry for entry in manifest["files"]}
    eval_bytes = (work / "eval.jsonl").read_bytes()
    assert hashlib.sha256(eval_bytes).hexdigest() == files["eval.jsonl"]["sha256"]
    eval_rows = [json.loads(line) for line in eval_bytes.splitlines() if line.strip()]
    assert len(eval_rows) == files["eval.jsonl"]["rows"] > 0
    with (work / "predictions.csv").open(newline="") as handle:
        predictions = list(csv.DictReader(handle))
    assert {row["item_id"] for row in predictions} == {row["item_id"] for row in eval_rows}

    evaluation = Evaluation.objects.get()
    assert evaluation.status == Evaluation.Status.DONE and evaluation.rows_bad == 0
    assert evaluation.rows_read == len(eval_rows)
    assert f'"id":{evaluation.pk}' in result.stdout.replace(" ", "")  # the last snippet printed the report

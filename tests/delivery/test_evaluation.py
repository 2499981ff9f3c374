from __future__ import annotations

import numpy as np
import orjson
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from sklearn import metrics as sk

from core.errors import QuorumError
from delivery import metrics
from delivery.models import Evaluation
from delivery.services.build import delivery_build, delivery_create
from delivery.services.evaluation import evaluation_create
from delivery.services.storage import delivery_folder
from tests.delivery.conftest import KEYS


def test_metrics_equal_sklearn():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 5, size=500)
    predicted = np.where(rng.random(500) < 0.6, truth, rng.integers(0, 5, size=500))
    predicted[predicted == 4] = 3  # label 4 is never predicted: precision 0 by convention
    scores = rng.random(500)
    keys = ["a", "b", "c", "d", "e"]
    ours = metrics.classification_figures(truth, predicted, keys, scores=scores)
    precision, recall, f1, support = sk.precision_recall_fscore_support(
        truth, predicted, labels=range(5), zero_division=0
    )
    for code, row in enumerate(ours["labels"]):
        assert row["precision"] == pytest.approx(precision[code])
        assert row["recall"] == pytest.approx(recall[code])
        assert row["f1"] == pytest.approx(f1[code])
        assert row["support"] == support[code]
    for average in ("macro", "micro", "weighted"):
        p, r, f, _ = sk.precision_recall_fscore_support(truth, predicted, average=average, zero_division=0)
        assert ours[average] == pytest.approx({"precision": p, "recall": r, "f1": f})
    assert ours["accuracy"] == pytest.approx(sk.accuracy_score(truth, predicted))
    assert ours["confusion"]["matrix"] == sk.confusion_matrix(truth, predicted, labels=range(5)).tolist()
    for row in ours["thresholds"]:
        kept = scores >= row["threshold"]
        if kept.any():
            assert row["precision"] == pytest.approx(sk.accuracy_score(truth[kept], predicted[kept]))
        assert row["recall"] == pytest.approx((truth[kept] == predicted[kept]).sum() / len(truth))
        per_label_recall = sk.recall_score(
            truth, np.where(kept, predicted, -1), labels=range(5), average=None, zero_division=0
        )
        for code, key in enumerate(keys):
            assert row["labels"][key]["recall"] == pytest.approx(per_label_recall[code])


def _delivered(labelled, lead):
    delivery = delivery_create(project=labelled.project, actor=lead, formats=["jsonl"], eval_share=0.5)
    return delivery_build(delivery_id=delivery.pk)


def _eval_rows(delivery):
    path = delivery_folder(delivery) / "eval.jsonl"
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def _evaluate(delivery, requester, name, content, captured):
    with captured(execute=True):
        evaluation = evaluation_create(
            delivery=delivery, actor=requester, file=SimpleUploadedFile(name, content), name="model"
        )
    evaluation.refresh_from_db()
    return evaluation


def test_evaluation_figures_equal_sklearn_and_bad_rows_are_named(
    labelled, lead, requester, django_capture_on_commit_callbacks
):
    delivery = _delivered(labelled, lead)
    rows = _eval_rows(delivery)
    rng = np.random.default_rng(0)
    lines = ["item_id,label,score"]
    truth, predicted = [], []
    for row in rows[:-1]:
        guess = row["label"] if rng.random() < 0.7 else KEYS[int(rng.integers(5))]
        lines.append(f"{row['item_id']},{guess},{rng.random():.3f}")
        truth.append(row["label"])
        predicted.append(guess)
    train_item = next(item for item in labelled.truth if item not in {row["item_id"] for row in rows})
    lines += [
        "nope-1,safe,0.5",
        f"{train_item},safe,0.5",
        f"{rows[0]['item_id']},safe,0.5",
        f"{rows[-1]['item_id']},xx,0.5",
    ]
    evaluation = _evaluate(
        delivery, requester, "preds.csv", "\n".join(lines).encode(), django_capture_on_commit_callbacks
    )
    assert evaluation.status == Evaluation.Status.DONE, evaluation.error
    report = evaluation.report
    assert report["n"] == len(rows) - 1
    assert report["missing"] == 1
    assert report["accuracy"] == pytest.approx(sk.accuracy_score(truth, predicted))
    p, r, f, _ = sk.precision_recall_fscore_support(truth, predicted, average="macro", zero_division=0)
    assert report["macro"] == pytest.approx({"precision": p, "recall": r, "f1": f})
    n = len(rows)  # the header is row 1, the good predictions rows 2 to n
    assert evaluation.rows_bad == 4
    assert [(e["row"], e["column"]) for e in evaluation.errors] == [
        (n + 1, "item_id"),
        (n + 2, "item_id"),
        (n + 3, "item_id"),
        (n + 4, "label"),
    ]
    messages = " | ".join(e["message"] for e in evaluation.errors)
    assert "unknown item 'nope-1'" in messages
    assert "train split" in messages
    assert "second prediction" in messages
    assert "unknown label 'xx'" in messages
    assert len(report["thresholds"]) > 0


def test_evaluation_jsonl_and_uploads_compare(labelled, lead, requester, django_capture_on_commit_callbacks):
    delivery = _delivered(labelled, lead)
    rows = _eval_rows(delivery)
    perfect = b"\n".join(orjson.dumps({"item_id": row["item_id"], "label": row["label"]}) for row in rows)
    constant = b"\n".join(orjson.dumps({"item_id": row["item_id"], "label": "safe"}) for row in rows) + b"\n{oops\n"
    good = _evaluate(delivery, requester, "perfect.jsonl", perfect, django_capture_on_commit_callbacks)
    bad = _evaluate(delivery, requester, "constant.jsonl", constant, django_capture_on_commit_callbacks)
    assert good.report["accuracy"] == 1.0
    assert "thresholds" not in good.report
    assert bad.report["accuracy"] < 1.0
    assert bad.errors[0]["row"] == len(rows) + 1


def test_evaluation_refuses_other_files(labelled, lead, requester):
    delivery = _delivered(labelled, lead)
    with pytest.raises(QuorumError, match="csv"):
        evaluation_create(delivery=delivery, actor=requester, file=SimpleUploadedFile("p.xlsx", b"x"))


def test_a_label_with_no_examples_and_no_predictions_has_no_figures():
    # Label "c" never occurs: neither in the truth nor in the predictions.
    ours = metrics.classification_figures([0, 0, 1, 1], [0, 1, 1, 1], ["a", "b", "c"], scores=[0.9, 0.2, 0.8, 0.7])
    by_key = {row["key"]: row for row in ours["labels"]}
    assert by_key["c"] == {"key": "c", "precision": None, "recall": None, "f1": None, "support": 0, "predicted": 0}
    assert by_key["a"]["precision"] == 1.0 and by_key["a"]["recall"] == 0.5
    # Averages run over the labels that occur, as before (sklearn's macro over a and b).
    assert ours["macro"]["f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    top = ours["thresholds"][-1]  # 0.99: nothing kept
    assert top["kept"] == 0 and top["precision"] is None and top["labels"]["c"] == {"precision": None, "recall": None}
    assert top["labels"]["a"] == {"precision": 0.0, "recall": 0.0}  # a has examples: recall 0 is a real 0
    # Nothing at all: no averages either.
    empty = metrics.classification_figures([], [], ["a"])
    assert empty["macro"] == {"precision": None, "recall": None, "f1": None}
    assert empty["labels"][0]["f1"] is None


def test_evaluation_page_and_api_show_no_figure_for_an_absent_label(
    client, api_client, labelled, lead, requester, django_capture_on_commit_callbacks
):
    delivery = _delivered(labelled, lead)
    rows = [row for row in _eval_rows(delivery) if row["label"] != "violence"]
    content = "\n".join(["item_id,label", *(f"{row['item_id']},{row['label']}" for row in rows)]).encode()
    evaluation = _evaluate(delivery, requester, "no-violence.csv", content, django_capture_on_commit_callbacks)
    assert evaluation.status == Evaluation.Status.DONE, evaluation.error
    api_client.force_authenticate(user=requester)
    body = api_client.get(f"/api/v1/evaluations/{evaluation.pk}/").json()
    violence = next(row for row in body["report"]["labels"] if row["key"] == "violence")
    assert violence == {"key": "violence", "precision": None, "recall": None, "f1": None, "support": 0, "predicted": 0}
    safe = next(row for row in body["report"]["labels"] if row["key"] == "safe")
    assert safe["precision"] == safe["recall"] == safe["f1"] == 1.0
    client.force_login(requester)
    html = client.get(evaluation.get_absolute_url()).content.decode()
    table = html[html.index('id="evaluation-labels"') : html.index("</table>", html.index('id="evaluation-labels"'))]
    violence_row = table[table.index(">violence</th>") : table.index("</tr>", table.index(">violence</th>"))]
    assert violence_row.count('<td class="num">—</td>') == 3 and "0.000" not in violence_row
    safe_row = table[table.index(">safe</th>") : table.index("</tr>", table.index(">safe</th>"))]
    assert safe_row.count("1.000") == 3


def test_the_schema_says_an_unmeasured_figure_is_null(api_client, lead):
    api_client.force_authenticate(user=lead)
    schema = api_client.get("/api/v1/schema/", {"format": "json"}).json()
    report = schema["components"]["schemas"]["Evaluation"]["properties"]["report"]
    label = report["properties"]["labels"]["items"]["properties"]
    assert label["precision"]["nullable"] is True and "no examples and no predictions" in label["f1"]["description"]


def test_unreadable_prediction_rows_are_bad_rows_not_a_failed_evaluation(
    labelled, lead, requester, django_capture_on_commit_callbacks
):
    """A cell over the csv module's field limit is a bad row, by row (issue 15); the good
    predictions are still scored."""
    delivery = _delivered(labelled, lead)
    rows = _eval_rows(delivery)
    good = [f"{row['item_id']},{row['label']}".encode() for row in rows]
    lines = [b"item_id,label", *good, b'"' + b"x" * 200_000 + b'",safe']
    evaluation = _evaluate(delivery, requester, "preds.csv", b"\n".join(lines), django_capture_on_commit_callbacks)
    assert evaluation.status == Evaluation.Status.DONE, evaluation.error
    assert evaluation.report["n"] == len(rows) and evaluation.report["accuracy"] == 1.0
    n = len(rows) + 1
    assert [(e["row"], e["column"]) for e in evaluation.errors] == [(n + 1, "")]
    assert "not a readable CSV row (field larger than field limit" in evaluation.errors[0]["message"]

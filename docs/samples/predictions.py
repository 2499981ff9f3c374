"""A stand-in model for the README's evaluation snippet: predictions for a delivery's eval split.

    python3 docs/samples/predictions.py eval.jsonl > predictions.csv

Reads the delivered `eval.jsonl` (the items and their aggregated labels) and writes a predictions
CSV (`item_id,label,score`) the evaluations API accepts: the delivered label for about 80% of the
items, another label of the file for the rest, with a score. Deterministic (each item's draw
comes from its id), standard library only. Replace it with your model's output.
"""

import csv
import hashlib
import json
import sys


def main(path: str) -> None:
    with open(path, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    if not rows:
        sys.exit(f"{path}: no items: is it a delivery's eval.jsonl?")
    labels = sorted({row["label"] for row in rows if row.get("label")})
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["item_id", "label", "score"])
    for row in rows:
        draw = int.from_bytes(hashlib.sha256(row["item_id"].encode()).digest()[:4], "big") / 2**32
        label = row["label"]
        if draw >= 0.8 and len(labels) > 1:
            label = labels[(labels.index(label) + 1) % len(labels)]
        out.writerow([row["item_id"], label, f"{0.5 + draw / 2:.3f}"])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])

"""Where a delivery's files live: the deliveries folder, a done delivery's folder, the temporary
folders of build attempts, and the names of the files in them.

A build never leaves half a delivery: files are written into a temporary folder beside the final
one, and the folder is renamed into place in the transaction that marks the delivery done and
gives it its version (delivery.services.build). A build that dies leaves a temporary folder that
the next run removes before starting again.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings

from core.errors import QuorumError
from delivery.models import Delivery

TRAIN, EVAL = "train", "eval"
SPLITS = (TRAIN, EVAL)
INDEX_FILE = "_index.parquet"  # item ids, splits, labels and content hashes: for leakage and evaluation
MANIFEST_FILE = "manifest.json"


def delivery_root() -> Path:
    return Path(settings.MEDIA_ROOT) / "deliveries"


def delivery_folder(delivery: Delivery) -> Path:
    """The folder of a done delivery's files."""
    return Path(settings.MEDIA_ROOT) / delivery.path


def temp_folder(delivery: Delivery, attempt: str) -> Path:
    """One build attempt's own folder: two workers given the same delivery (a re-delivered task
    while the first still runs) never write into each other's files."""
    return delivery_root() / str(delivery.project_id) / f".build-{delivery.pk}-{attempt}"


def temp_folders_remove(delivery: Delivery) -> None:
    """Remove every attempt's folder of the delivery (killed builds', a losing concurrent build's)."""
    for folder in (delivery_root() / str(delivery.project_id)).glob(f".build-{delivery.pk}-*"):
        shutil.rmtree(folder, ignore_errors=True)


def delivery_file_path(*, delivery: Delivery, name: str) -> Path:
    """The path of one of a done delivery's files (a name in its manifest, or the manifest)."""
    if delivery.status != Delivery.Status.DONE:
        raise QuorumError(f"delivery {delivery.pk} is {delivery.status}, not done", field="status")
    names = {entry["name"] for entry in delivery.files} | {MANIFEST_FILE}
    if name not in names:
        raise QuorumError(f"delivery {delivery.pk} has no file {name!r}; it has {', '.join(sorted(names))}")
    return delivery_folder(delivery) / name

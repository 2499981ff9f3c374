"""manage.py import_items PROJECT FILE --batch NAME [--skip-bad-rows] [--as USER]"""

from __future__ import annotations

import os
import sys
import time

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from annotation import services
from annotation.models import ImportJob
from core.errors import QuorumError
from projects.models import Project


class Command(BaseCommand):
    help = "Import items from a CSV, JSON Lines or Parquet file into a project's batch, with a progress bar."

    def add_arguments(self, parser):
        parser.add_argument("project", help="Project id or exact name")
        parser.add_argument("file", help="Path to a .csv, .jsonl or .parquet file")
        parser.add_argument("--batch", required=True, help="Batch name (created if missing)")
        parser.add_argument("--skip-bad-rows", action="store_true", help="Import the good rows and report the bad ones")
        parser.add_argument(
            "--as", dest="username", help="Lead to record as the importer (default: the project's lead)"
        )
        parser.add_argument("--format", choices=ImportJob.Format.values, help="Override the format the file name says")

    def handle(self, *args, **options):
        project = self._project(options["project"])
        actor = User.objects.get(username=options["username"]) if options["username"] else project.lead
        path = options["file"]
        if not os.path.exists(path):
            raise CommandError(f"{path}: no such file")
        mode = ImportJob.Mode.SKIP_BAD_ROWS if options["skip_bad_rows"] else ImportJob.Mode.ALL_OR_NOTHING
        try:
            job = services.import_job_create(
                project=project,
                actor=actor,
                batch_name=options["batch"],
                source_path=path,
                mode=mode,
                fmt=options["format"],
            )
        except QuorumError as exc:
            raise CommandError(exc.message) from exc
        bar = _ProgressBar(self.stdout, total_bytes=os.path.getsize(path), path=path)
        job = services.import_job_run(job_id=job.pk, source_path=path, on_progress=bar.update)
        bar.finish()
        for error in job.errors[:20]:
            self.stderr.write(f"  {error['message']}")
        if job.rows_invalid > 20:
            self.stderr.write(f"  … and {job.rows_invalid - 20} more (full report: {job.error_report.name})")
        if job.status == ImportJob.Status.FAILED:
            raise CommandError(job.message)
        self.stdout.write(self.style.SUCCESS(job.message))

    def _project(self, value: str) -> Project:
        found = Project.objects.filter(pk=int(value)) if value.isdigit() else Project.objects.filter(name=value)
        project = found.select_related("lead").first()
        if project is None:
            raise CommandError(f"project {value!r}: no project with that id or name")
        return project


class _ProgressBar:
    """Rows read so far, with a rate. The total number of rows is unknown without a second pass."""

    def __init__(self, stream, *, total_bytes: int, path: str) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self.interactive = sys.stdout.isatty()
        self.rows = 0
        self.stream.write(f"Importing {path} ({total_bytes / 1e6:.1f} MB)")

    def update(self, rows: int) -> None:
        self.rows = rows
        elapsed = max(time.monotonic() - self.started, 1e-6)
        line = f"  {rows:>10,} rows  {rows / elapsed:>9,.0f} rows/s  {elapsed:6.1f} s"
        if self.interactive:
            self.stream.write("\r" + line, ending="")
            self.stream.flush()
        elif rows % 100_000 < 5000:
            self.stream.write(line)

    def finish(self) -> None:
        if self.interactive:
            self.stream.write("")

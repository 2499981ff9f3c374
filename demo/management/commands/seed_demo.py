"""`manage.py seed_demo`: load the content-safety demo data set (idempotent) and print the sign-ins."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from core.errors import QuorumError
from demo.delivery import demo_delivery_seed
from demo.projects import demo_seed, demo_sign_ins_table


class Command(BaseCommand):
    help = (
        "Load a demo: two teams, twelve people (password 'quorum-demo'), data requests, six projects across "
        "the lifecycle led by lena, ~340 items with generated media, and weeks of simulated history (annotations "
        "at human pace, phase moves, blockers, audits, reports). Running it again adds nothing."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--url",
            default=None,
            help="the address Quorum will serve on, printed with the sign-ins (make demo passes its HOST and PORT)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = demo_seed(stdout=self.stdout)
        except QuorumError as exc:
            raise CommandError(f"seed_demo: nothing was written: {exc.message}") from exc
        try:
            # A command may use the apps above projects; the delivery builds on the demo's data.
            demo_delivery_seed(stdout=self.stdout)
        except QuorumError as exc:
            raise CommandError(f"seed_demo: the demo data is in, but its delivery failed: {exc.message}") from exc
        if options["url"]:
            result = dataclasses.replace(result, url=options["url"])
        self.stdout.write(demo_sign_ins_table(result))

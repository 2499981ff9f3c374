"""What annotation tells the floors above it, which it may not import (docs/architecture.md).

`items_changed` is sent once the transaction that added or removed a project's items has
committed (an import, a batch deleted): the lead's side (workbench.receivers) refreshes the
project's progress figures in answer.
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent with project_id (int), after commit.
items_changed = Signal()

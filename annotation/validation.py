"""Validation of label definitions and item content. Pure functions: they take plain data and
raise QuorumError with what is wrong and where (row and column for files, index for lists)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from annotation.models import LABEL_KEY_RE, Modality
from core.errors import QuorumError

_label_key = re.compile(LABEL_KEY_RE)
MAX_TEXT_CHARS = 100_000
CONTENT_FIELDS = ("text", "image_url", "video_url", "audio_url", "ocr_text")
URL_FIELDS = ("image_url", "video_url", "audio_url")
# Keys the keyboard pages use for themselves, so no label may take them: the task page's S (skip),
# F (flag), G (guideline), the audit page's C (correct) and X (incorrect), adjudication's W
# (reason), and R (reveal media) and ? (the key list) everywhere.
RESERVED_SHORTCUTS = frozenset({"s", "f", "g", "r", "?", "c", "x", "w"})


def label_key_check(key: Any, *, where: str) -> str:
    if not isinstance(key, str) or not _label_key.match(key):
        raise QuorumError(
            f"{where}: {key!r} is not a valid label key (1-64 lowercase letters, digits, '_' or '-', "
            "starting with a letter or digit)",
            field=where,
        )
    return key


def label_definitions_clean(labels: Any) -> list[dict[str, Any]]:
    """Check a list of label definitions for a schema version and return them normalised.

    Each is {key, name, description?, parent?, severity? (0-4), shortcut? (one character),
    examples? (a list of short texts)}.
    Keys and shortcuts are unique; a parent names another key of the same list; no cycles.
    """
    if not isinstance(labels, list) or not labels:
        raise QuorumError("labels: give a non-empty list of labels", field="labels")
    cleaned: list[dict[str, Any]] = []
    keys: set[str] = set()
    shortcuts: dict[str, str] = {}
    for index, raw in enumerate(labels):
        where = f"labels[{index}]"
        if not isinstance(raw, Mapping):
            raise QuorumError(f"{where}: expected an object with key and name", field=where)
        unknown = set(raw) - {"key", "name", "description", "parent", "severity", "shortcut", "examples"}
        if unknown:
            raise QuorumError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}", field=where)
        key = label_key_check(raw.get("key"), where=f"{where}.key")
        if key in keys:
            raise QuorumError(f"{where}.key: {key!r} is used twice", field=f"{where}.key")
        keys.add(key)
        name = raw.get("name") or key
        if not isinstance(name, str) or len(name) > 120:
            raise QuorumError(f"{where}.name: give text of at most 120 characters", field=f"{where}.name")
        severity = raw.get("severity", 0)
        if not isinstance(severity, int) or isinstance(severity, bool) or not 0 <= severity <= 4:
            raise QuorumError(
                f"{where}.severity: {severity!r} is not a whole number from 0 to 4", field=f"{where}.severity"
            )
        shortcut = raw.get("shortcut") or ""
        if (
            not isinstance(shortcut, str)
            or len(shortcut) > 1
            or (shortcut and not shortcut.isprintable())
            or shortcut.isspace()
        ):
            raise QuorumError(f"{where}.shortcut: {shortcut!r} is not a single character", field=f"{where}.shortcut")
        shortcut = shortcut.lower()
        if shortcut in RESERVED_SHORTCUTS:
            raise QuorumError(
                f"{where}.shortcut: {shortcut!r} is reserved (S skips, F flags, G opens the guideline, "
                "C and X judge an audit, W writes an adjudication's reason, R reveals media, ? shows the keys)",
                field=f"{where}.shortcut",
            )
        if shortcut and shortcut in shortcuts:
            raise QuorumError(
                f"{where}.shortcut: {shortcut!r} is already the shortcut of {shortcuts[shortcut]!r}",
                field=f"{where}.shortcut",
            )
        if shortcut:
            shortcuts[shortcut] = key
        description = raw.get("description") or ""
        if not isinstance(description, str):
            raise QuorumError(f"{where}.description: give text", field=f"{where}.description")
        parent = raw.get("parent") or None
        if parent is not None and not isinstance(parent, str):
            raise QuorumError(f"{where}.parent: give the key of another label", field=f"{where}.parent")
        examples = _examples_clean(raw.get("examples"), where=f"{where}.examples")
        cleaned.append(
            {
                "key": key,
                "name": name,
                "description": description,
                "parent": parent,
                "severity": severity,
                "shortcut": shortcut,
                "examples": examples,
            }
        )
    parents = {label["key"]: label["parent"] for label in cleaned}
    for index, label in enumerate(cleaned):
        if label["parent"] is None:
            continue
        if label["parent"] not in keys:
            raise QuorumError(
                f"labels[{index}].parent: {label['parent']!r} is not a key in this schema",
                field=f"labels[{index}].parent",
            )
        seen = {label["key"]}
        node = label["parent"]
        while node is not None:
            if node in seen:
                raise QuorumError(
                    f"labels[{index}].parent: the hierarchy loops back to {node!r}", field=f"labels[{index}].parent"
                )
            seen.add(node)
            node = parents[node]
    return cleaned


MAX_EXAMPLES = 20
MAX_EXAMPLE_CHARS = 500


def _examples_clean(examples: Any, *, where: str) -> list[str]:
    """A label's examples: a list of up to MAX_EXAMPLES non-empty texts (blank ones dropped)."""
    if examples in (None, ""):
        return []
    if not isinstance(examples, list) or not all(isinstance(text, str) for text in examples):
        raise QuorumError(f"{where}: give a list of example texts", field=where)
    cleaned = [text.strip() for text in examples if text.strip()]
    if len(cleaned) > MAX_EXAMPLES:
        raise QuorumError(f"{where}: {len(cleaned)} examples, more than the {MAX_EXAMPLES} allowed", field=where)
    for position, text in enumerate(cleaned, start=1):
        if len(text) > MAX_EXAMPLE_CHARS:
            raise QuorumError(
                f"{where}: example {position} has {len(text)} characters, more than {MAX_EXAMPLE_CHARS}", field=where
            )
    return cleaned


def labels_chosen_check(
    chosen: Any, *, allowed: Iterable[str], multi: bool, where: str = "labels", none_option: bool = False
) -> list[str]:
    """Check the labels of an annotation (or a gold answer) against a schema version's keys.

    With `none_option` (multi-choice schemas that offer "none of these"), an empty list is a real
    answer: the annotator saw the item and no label applies."""
    if isinstance(chosen, str):
        chosen = [chosen]
    if isinstance(chosen, list) and not chosen and multi and none_option:
        return []
    if not isinstance(chosen, list) or not chosen:
        hint = ' (or "none of these")' if multi and none_option else ""
        raise QuorumError(f"{where}: choose at least one label{hint}", field=where)
    allowed_set = set(allowed)
    for key in chosen:
        if key not in allowed_set:
            raise QuorumError(f"{where}: {key!r} is not a label of this schema", field=where)
    if len(set(chosen)) != len(chosen):
        raise QuorumError(f"{where}: a label is chosen twice", field=where)
    if not multi and len(chosen) > 1:
        raise QuorumError(f"{where}: this schema is single-choice; choose exactly one label", field=where)
    return list(chosen)


def media_host_allowed(host: str | None) -> bool:
    """Whether media may come from `host` (settings.QUORUM_MEDIA_HOSTS: names as in ALLOWED_HOSTS,
    ".example.org" for it and its subdomains). Case-insensitive; a trailing dot is ignored."""
    if not host:
        return False
    host = host.lower().rstrip(".")
    for allowed in settings.QUORUM_MEDIA_HOSTS:
        allowed = allowed.lower().strip("[]")
        if host == allowed or (allowed.startswith(".") and (host == allowed[1:] or host.endswith(allowed))):
            return True
    return False


def media_url_check(url: str, *, where: str) -> str:
    """Only http(s) URLs with a host reach a page: no javascript:, data:, file: or relative URLs,
    except a path under Quorum's own MEDIA_URL (same origin: the demo's generated media); and only
    on an allowed media host, so no page makes browsers fetch from anywhere else."""
    if _own_media_path(url):
        return url
    parts = urlsplit(url)
    if parts.scheme.lower() not in settings.QUORUM_MEDIA_URL_SCHEMES or not parts.netloc:
        raise QuorumError(
            f"{where}: {url[:80]!r} is not an http(s) URL; media URLs must start with http:// or https://",
            field=where,
        )
    if len(url) > 2048:
        raise QuorumError(f"{where}: the URL is longer than 2048 characters", field=where)
    try:
        host = parts.hostname
    except ValueError:  # an unbalanced [ in the host
        host = None
    if not media_host_allowed(host):
        raise QuorumError(
            f"{where}: {url[:80]!r} is not on an allowed media host (QUORUM_MEDIA_HOSTS: "
            f"{', '.join(settings.QUORUM_MEDIA_HOSTS) or 'none'})",
            field=where,
        )
    return url


def _own_media_path(url: str) -> bool:
    """A root-relative path under MEDIA_URL ("/media/..."), with no way out of it: no "//" host,
    no backslash, no "." or ".." segment, no query or fragment."""
    prefix = settings.MEDIA_URL
    if not prefix.startswith("/") or prefix.startswith("//") or not url.startswith(prefix) or len(url) > 2048:
        return False
    rest = url[len(prefix) :]
    if not rest or any(char in rest for char in "\\?#%") or rest.startswith("/"):
        return False
    return all(segment not in ("", ".", "..") for segment in rest.split("/"))


def item_content_hash(values: Mapping[str, Any]) -> str:
    """A hash of the normalised content, for exact-duplicate checks (case and spacing folded).

    Fields are joined with NUL, which content never holds (rows with it are refused) and which,
    unlike the ASCII separators, str.split() does not take for white space.
    """
    joined = "\x00".join([str(values.get(field) or "") for field in CONTENT_FIELDS]).lower()
    return hashlib.sha256(" ".join(joined.split()).encode()).hexdigest()


_MODALITIES = frozenset(Modality.values)
_MODALITY_LIST = ", ".join(Modality.values)
_REQUIRED_CONTENT = {
    Modality.TEXT: ("text",),
    Modality.IMAGE: ("image_url",),
    Modality.VIDEO: ("video_url",),
    Modality.AUDIO: ("audio_url",),
    Modality.OCR: ("ocr_text",),
}
_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_STRIPPED = frozenset({"external_id", "image_url", "video_url", "audio_url", "modality", "language"})


class RowErrors(QuorumError):
    """Every bad column of one row. Its message, field and row are the first error's (so a caller
    that shows one error shows that one); `errors` holds them all, in column order."""

    def __init__(self, errors: list[QuorumError]) -> None:
        first = errors[0]
        super().__init__(first.message, field=first.field, row=first.row, code=first.code)
        self.errors = errors


# Limits on a value, so a row cannot hold what the database, the encoder or a page cannot take.
MAX_METADATA_CHARS = 100_000  # as JSON
MAX_JSON_DEPTH = 64
INT64 = (-(2**63), 2**63 - 1)


def _fail(row_number: int | None, column: str, message: str) -> QuorumError:
    prefix = f"row {row_number}, column {column}" if row_number is not None else column
    return QuorumError(f"{prefix}: {message}", field=column, row=row_number)


def _missing(value: Any) -> bool:
    """Empty in any of the ways files say it: None, "", NaN (pandas), an empty list."""
    return value is None or value == "" or value == [] or (isinstance(value, float) and value != value)


def _not_utf8(value: str) -> bool:
    """True when `value` holds a lone surrogate: a JSON escape such as \\ud800 without its pair, or
    a byte that was not UTF-8 (the readers decode with surrogateescape, so such bytes arrive as
    lone surrogates rather than stopping the file). PostgreSQL and the encoders refuse them."""
    if value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


_NOT_UTF8 = "is not valid UTF-8 text (a byte that is not UTF-8, or a lone surrogate such as \\ud800)"
_TEXT_TYPES = (str, int, float)


def _text(row: Mapping[str, Any], column: str, row_number: int | None) -> str:
    value = row.get(column)
    if value is None:
        return ""
    if value.__class__ is not str:
        if _missing(value):
            return ""
        # Numbers (a JSON or Parquet id such as 123) read as their text; anything else would be
        # stored as its Python repr, so it is refused.
        if not isinstance(value, _TEXT_TYPES) or isinstance(value, bool):
            raise _fail(row_number, column, f"is {_kind(value)}, not text")
        if isinstance(value, float) and value in (float("inf"), float("-inf")):
            raise _fail(row_number, column, f"{value!r} is not text")
        value = str(value)
    if not value:
        return ""
    if "\x00" in value:
        raise _fail(row_number, column, "contains a NUL character")
    if _not_utf8(value):
        raise _fail(row_number, column, _NOT_UTF8)
    return value.strip() if column in _STRIPPED else value


def _kind(value: Any) -> str:
    """How an error names a value's type: 'an object', 'a list', 'true or false', ..."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, bytes | bytearray):
        return "binary data"
    return f"a {type(value).__name__}"


def _metadata(row: Mapping[str, Any], row_number: int | None) -> dict[str, Any]:
    metadata = row.get("metadata")
    if _missing(metadata):
        return {}
    if isinstance(metadata, str):
        if len(metadata) > MAX_METADATA_CHARS:
            raise _fail(row_number, "metadata", f"longer than {MAX_METADATA_CHARS} characters")
        try:
            metadata = json.loads(metadata)  # exact integers, unlike orjson's floats past 64 bits
        except RecursionError:
            raise _fail(row_number, "metadata", f"is nested deeper than {MAX_JSON_DEPTH} levels") from None
        except ValueError:
            raise _fail(row_number, "metadata", "is not valid JSON") from None
    if not isinstance(metadata, dict):
        raise _fail(row_number, "metadata", "must be a JSON object")
    problem = json_value_problem(metadata)
    if problem:
        raise _fail(row_number, "metadata", problem)
    return metadata


def json_value_problem(value: Any, *, max_chars: int = MAX_METADATA_CHARS) -> str | None:
    """What makes a JSON value unstorable, or None: a NUL character (PostgreSQL's jsonb refuses
    it), a lone surrogate, an integer beyond 64 bits, nesting deeper than MAX_JSON_DEPTH, a
    non-finite number, more than `max_chars` characters as JSON. The answer names where, as a
    path (`metadata.a[2]`). Iterative, so no depth of nesting can exhaust the stack."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    size = 0
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"is nested deeper than {MAX_JSON_DEPTH} levels (at {_path(path)})"
        if isinstance(node, dict):
            size += 2 + 2 * len(node)
            for key, child in node.items():
                if not isinstance(key, str):
                    return f"has a key that is not text (at {_path(path)})"
                problem = _string_problem(key)
                if problem:
                    return f"{problem} in a key (at {_path(path)})"
                size += len(key) + 2
                stack.append((child, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(node, list | tuple):
            size += 2 + len(node)
            stack.extend((child, f"{path}[{index}]", depth + 1) for index, child in enumerate(node))
        elif isinstance(node, str):
            problem = _string_problem(node)
            if problem:
                return f"{problem} (at {_path(path)})"
            size += len(node) + 2
        elif isinstance(node, bool) or node is None:
            size += 4
        elif isinstance(node, int):
            if not INT64[0] <= node <= INT64[1]:
                return f"holds an integer beyond 64 bits (at {_path(path)})"
            size += 8
        elif isinstance(node, float):
            if node != node or node in (float("inf"), float("-inf")):
                return f"holds {node!r}, which JSON cannot carry (at {_path(path)})"
            size += 8
        else:
            return f"holds {_kind(node)}, which JSON cannot carry (at {_path(path)})"
        if size > max_chars:
            return f"longer than {max_chars} characters as JSON"
    return None


def _string_problem(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character"
    if _not_utf8(text):
        return "contains text that is not valid UTF-8 (a lone surrogate)"
    return None


def _path(path: str) -> str:
    return f"metadata.{path}" if path else "metadata"


def item_row_clean(
    row: Mapping[str, Any], *, row_number: int | None, label_keys: set[str] | None, multi: bool, default_overlap: int
) -> dict[str, Any]:
    """Check one incoming item (from a file row or an API body) and return the model fields.

    Errors say the row (when there is one) and the column; every bad column of the row is found,
    and raised together as RowErrors. This runs once per imported row, so it is written for
    speed: module-level helpers, no per-row closures or enum look-ups.
    """
    errors: list[QuorumError] = []
    try:
        external_id = _text(row, "external_id", row_number)
        if not external_id:
            raise _fail(row_number, "external_id", "missing: every item needs an external id")
        if len(external_id) > 200:
            raise _fail(row_number, "external_id", "longer than 200 characters")
    except QuorumError as exc:
        errors.append(exc)
        external_id = ""

    values: dict[str, Any] = {"external_id": external_id}
    has_content = False
    for column in CONTENT_FIELDS:
        try:
            value = _text(row, column, row_number)
            if value:
                has_content = True
                if column in URL_FIELDS:
                    try:
                        media_url_check(value, where=column)
                    except QuorumError as exc:
                        raise _fail(row_number, column, exc.message.split(": ", 1)[1]) from None
                elif len(value) > MAX_TEXT_CHARS:
                    raise _fail(row_number, column, f"longer than {MAX_TEXT_CHARS} characters")
        except QuorumError as exc:
            errors.append(exc)
            has_content = True  # it has content, only bad content
            value = ""
        values[column] = value
    if not has_content:
        errors.append(
            _fail(
                row_number,
                "text",
                "missing: the item has no content (text, image_url, video_url, audio_url or ocr_text)",
            )
        )

    try:
        modality = _text(row, "modality", row_number) or _infer_modality(values)
        if modality not in _MODALITIES:
            raise _fail(row_number, "modality", f"{modality!r} is not one of {_MODALITY_LIST}")
        if not errors:  # a content column already reported would be reported again as missing
            for column in _REQUIRED_CONTENT.get(modality, ()):
                if not values[column]:
                    raise _fail(row_number, column, f"missing: an item of modality {modality} needs {column}")
    except QuorumError as exc:
        errors.append(exc)
        modality = ""
    values["modality"] = modality

    try:
        values["metadata"] = _metadata(row, row_number)
    except QuorumError as exc:
        errors.append(exc)

    try:
        language = _text(row, "language", row_number)
        if language and not _LANGUAGE_RE.match(language):
            raise _fail(row_number, "language", f"{language!r} is not a language code such as 'en' or 'pt-BR'")
        values["language"] = language
    except QuorumError as exc:
        errors.append(exc)

    try:
        values["is_graphic"] = _bool_value(row.get("is_graphic"), row_number)
    except QuorumError as exc:
        errors.append(exc)
    try:
        values["priority"] = _int_value(
            row.get("priority"), row_number, "priority", default=0, low=-1_000_000, high=1_000_000
        )
    except QuorumError as exc:
        errors.append(exc)
    try:
        values["required_annotations"] = _int_value(
            row.get("required_annotations"),
            row_number,
            "required_annotations",
            default=default_overlap,
            low=1,
            high=50,
        )
    except QuorumError as exc:
        errors.append(exc)

    try:
        values["gold_labels"] = _gold_labels(row.get("gold_label"), row_number, label_keys, multi)
    except QuorumError as exc:
        errors.append(exc)
    if errors:
        raise RowErrors(errors)
    values["is_gold"] = values["gold_labels"] is not None
    values["content_hash"] = item_content_hash(values)
    return values


def _gold_labels(gold: Any, row_number: int | None, label_keys: set[str] | None, multi: bool) -> list[str] | None:
    if _missing(gold):
        return None
    if isinstance(gold, str):
        gold = [part.strip() for part in gold.split("|") if part.strip()]
    if label_keys is None:
        raise _fail(row_number, "gold_label", "the project has no label schema yet, so gold labels cannot be checked")
    if isinstance(gold, list) and not all(isinstance(key, str) for key in gold):
        raise _fail(row_number, "gold_label", "give label keys as text")
    try:
        return labels_chosen_check(gold, allowed=label_keys, multi=multi, where="gold_label")
    except QuorumError as exc:
        message = exc.message.split(": ", 1)[1].replace("is not a label", "is an unknown gold label, not a label")
        raise _fail(row_number, "gold_label", message) from None


def _infer_modality(values: Mapping[str, str]) -> str:
    present = [c for c in CONTENT_FIELDS if values.get(c)]
    if len(present) > 1:
        return Modality.MULTIMODAL
    return {
        "text": Modality.TEXT,
        "image_url": Modality.IMAGE,
        "video_url": Modality.VIDEO,
        "audio_url": Modality.AUDIO,
        "ocr_text": Modality.OCR,
    }.get(present[0] if present else "text", Modality.TEXT)


def _bool_value(value: Any, row_number: int | None) -> bool:
    if _missing(value):
        return False
    if isinstance(value, bool):
        return value
    if not isinstance(value, str | int | float):
        raise _fail(row_number, "is_graphic", f"is {_kind(value)}, not true or false")
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "y"}:
        return True
    if text in {"0", "false", "no", "n"}:
        return False
    raise _fail(row_number, "is_graphic", f"{value!r} is not true or false")


def _int_value(value: Any, row_number: int | None, column: str, *, default: int, low: int, high: int) -> int:
    if _missing(value):
        return default
    if isinstance(value, bool):  # JSON's true is an int to Python: refuse it, do not read it as 1
        raise _fail(row_number, column, f"{_json_name(value)} is not a whole number")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str | float):
        try:
            number = int(value)
            if isinstance(value, float) and number != value:
                raise ValueError
        except (ValueError, OverflowError):  # OverflowError: inf from a Parquet float column
            raise _fail(row_number, column, f"{_short(value)} is not a whole number") from None
    else:
        raise _fail(row_number, column, f"is {_kind(value)}, not a whole number")
    if not low <= number <= high:
        raise _fail(row_number, column, f"{_short(number)} is outside {low}..{high}")
    return number


def _json_name(value: bool) -> str:
    return "true" if value else "false"


def _short(value: Any) -> str:
    """A value for a message, cut to 40 characters (a 5,000-digit number stays readable)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


ITEM_COLUMNS = (
    "external_id",
    *CONTENT_FIELDS,
    "modality",
    "metadata",
    "language",
    "is_graphic",
    "priority",
    "required_annotations",
    "gold_label",
)
__all__ = [
    "ITEM_COLUMNS",
    "RowErrors",
    "item_row_clean",
    "json_value_problem",
    "label_definitions_clean",
    "labels_chosen_check",
    "media_url_check",
]

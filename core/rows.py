"""Model instances for rows the hot paths read with plain SQL."""

from __future__ import annotations

import functools
from typing import Any

from django.db import connection
from django.db.models.base import ModelState


def row_instance(model: type[Any], values: dict[str, Any]) -> Any:
    """An instance of `model` as the ORM loads a row of just these columns (attribute name →
    value); the others are deferred and load on first use. The hot path's rows: made as
    Model.from_db leaves them (a loaded, not adding, ModelState; the values in the instance's
    __dict__, where the field descriptors read them) without Model.__init__'s walk over every
    field and its pre_init/post_init signals, which no receiver listens to for these models (a
    test holds that). A tenth of the work loop's Python went to those walks."""
    if not _attnames(model).issuperset(values):
        raise ValueError(f"{model.__name__} has no column {sorted(set(values) - _attnames(model))}")
    instance = model.__new__(model)
    state = ModelState()
    state.adding, state.db = False, connection.alias
    instance._state = state
    instance.__dict__.update(values)
    return instance


@functools.cache
def _attnames(model: type[Any]) -> frozenset[str]:
    return frozenset(field.attname for field in model._meta.concrete_fields)

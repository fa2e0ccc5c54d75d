"""Fixtures for the seeds' formats: files written from the published shapes, and validators."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource

from statesync.formats import SCHEMAS

FIXTURES = Path(__file__).parent / "fixtures"


def _registry() -> Registry:
    resources = []
    for path in SCHEMAS.glob("*.schema.json"):
        doc = json.loads(path.read_text())
        resources.append((doc["$id"], Resource.from_contents(doc)))
        resources.append((path.name, Resource.from_contents(doc)))
    return Registry().with_resources(resources)


def validator(name: str) -> jsonschema.protocols.Validator:
    """A Draft 2020-12 validator for ``schemas/<name>.schema.json`` (with format checks)."""
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, registry=_registry(), format_checker=cls.FORMAT_CHECKER)


def assert_valid(name: str, doc: Any) -> None:
    errors = sorted(validator(name).iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


@pytest.fixture
def snapshot_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / "wassette-snapshot.json").read_text())
    return doc


@pytest.fixture
def state_doc() -> dict[str, Any]:
    import yaml

    doc: dict[str, Any] = yaml.safe_load((FIXTURES / "wassette-state.yaml").read_text())
    return doc

"""The vendored Pinterest schemas are exactly what `python -m dev.schema.vendor` makes of the shared ones."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from dev.schema.vendor import NAMES, SHARED_DIR, VENDORED_DIR, render, vendored

ANNOTATIONS = ("description", "examples", "x-source", "x-conversion-notes", "x-operation", "x-responses")


def _keys(node: object) -> set[str]:
    if isinstance(node, dict):
        return set(node).union(*(_keys(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_keys(value) for value in node))
    return set()


@pytest.mark.parametrize("name", NAMES)
def test_vendored_file_is_a_valid_2020_12_schema_without_annotations(name):
    schema = json.loads((VENDORED_DIR / name).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert not _keys(schema) & set(ANNOTATIONS)
    assert "c05b18971472342ebdf4bafc15fea8a91c78bf79" in schema["$comment"]


@pytest.mark.parametrize("name", NAMES)
def test_regenerating_from_shared_gives_the_committed_file(name):
    if not (SHARED_DIR / name).is_file():
        pytest.skip(f"the shared schemas are not beside the repository ({SHARED_DIR}); nothing to compare")
    shared = json.loads((SHARED_DIR / name).read_text(encoding="utf-8"))
    assert render(shared) == (VENDORED_DIR / name).read_text(encoding="utf-8")


def test_only_annotations_are_dropped():
    shared = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "description": "gone",
        "x-operation": {"description": "gone"},
        "properties": {"description": {"type": "string", "description": "gone", "examples": ["x"]}},
        "anyOf": [{"required": ["description"], "description": "gone"}],
        "enum": [{"description": "kept: a value, not a keyword"}],
    }
    result = vendored(shared)
    assert result["properties"] == {"description": {"type": "string"}}
    assert result["anyOf"] == [{"required": ["description"]}]
    assert result["enum"] == [{"description": "kept: a value, not a keyword"}]
    assert "description" not in result
    assert "x-operation" not in result
    assert list(result)[:2] == ["$schema", "$comment"]

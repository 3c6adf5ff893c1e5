"""Regenerate the vendored Pinterest schemas from the team's shared copies, annotations removed.

Run `python -m dev.schema.vendor` from the repository root; it needs `../shared/pinterest/`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

__all__ = ["NAMES", "SHARED_DIR", "VENDORED_DIR", "render", "vendored"]

VENDORED_DIR: Final = Path(__file__).resolve().parent
SHARED_DIR: Final = VENDORED_DIR.parents[1] / ".." / "shared" / "pinterest"
NAMES: Final = ("conversions-request.schema.json", "conversions-response.schema.json")

_COMMENT: Final = (
    "Vendored from pinterest/api-description v5.23.0 (commit c05b18971472342ebdf4bafc15fea8a91c78bf79, "
    "v5/openapi.json), converted to JSON Schema 2020-12; annotations removed. "
    "Regenerate with `python -m dev.schema.vendor`."
)
# Annotation keywords dropped everywhere; validation keywords are kept as they are.
_DROPPED: Final = frozenset({"description", "examples", "x-source", "x-conversion-notes"})
# Top-level provenance the validator never reads.
_DROPPED_AT_ROOT: Final = frozenset({"x-operation", "x-responses"})
# Keywords whose value maps names to subschemas, and those holding a subschema or a list of them.
_SCHEMA_MAPS: Final = frozenset({"$defs", "properties", "patternProperties", "dependentSchemas"})
_SCHEMA_VALUES: Final = frozenset(
    {"items", "additionalProperties", "not", "contains", "if", "then", "else", "propertyNames"}
)
_SCHEMA_LISTS: Final = frozenset({"anyOf", "allOf", "oneOf", "prefixItems"})


def _strip(schema: Any) -> Any:
    """Drop annotation keywords from one subschema, recursing only into subschema positions."""
    if not isinstance(schema, Mapping):
        return schema
    return {key: _strip_keyword(key, value) for key, value in schema.items() if key not in _DROPPED}


def _strip_keyword(key: str, value: Any) -> Any:
    if key in _SCHEMA_MAPS:
        return {name: _strip(sub) for name, sub in value.items()}
    if key in _SCHEMA_LISTS:
        return [_strip(sub) for sub in value]
    return _strip(value) if key in _SCHEMA_VALUES else value


def vendored(shared: Mapping[str, Any]) -> dict[str, Any]:
    """The vendored form of one shared schema: a `$comment` naming the source, no annotations."""
    body = {key: value for key, value in shared.items() if key not in _DROPPED_AT_ROOT}
    stripped = _strip(body)
    head = {key: stripped.pop(key) for key in ("$schema", "$id") if key in stripped}
    return {**head, "$comment": _COMMENT, **stripped}


def render(shared: Mapping[str, Any]) -> str:
    """The exact text of a vendored file."""
    return json.dumps(vendored(shared), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    """Rewrite every vendored file from `SHARED_DIR`."""
    if not SHARED_DIR.is_dir():
        print(f"no shared schemas at {SHARED_DIR}", file=sys.stderr)
        return 1
    for name in NAMES:
        shared = json.loads((SHARED_DIR / name).read_text(encoding="utf-8"))
        (VENDORED_DIR / name).write_text(render(shared), encoding="utf-8")
        print(f"wrote dev/schema/{name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

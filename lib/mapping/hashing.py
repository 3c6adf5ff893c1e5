"""SHA-256 for Pinterest's hashed user data, and the one test for "already a digest"."""

from __future__ import annotations

import hashlib
import re
from typing import Final

__all__ = ["is_sha256_hex", "sha256_hex"]

_SHA256_HEX: Final = re.compile(r"[0-9a-f]{64}", re.IGNORECASE)


def is_sha256_hex(value: str) -> bool:
    """Whether the value is a SHA-256 digest in hex, either case: 64 hex digits and nothing else."""
    return len(value) == 64 and _SHA256_HEX.fullmatch(value) is not None


def sha256_hex(value: str) -> str:
    """Lowercase hex SHA-256 of the value's UTF-8 bytes: 'a' -> 'ca978112…'."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()

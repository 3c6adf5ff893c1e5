"""lib.mapping.hashing: the SHA-256 primitive and the "already a digest" predicate."""

from __future__ import annotations

import hashlib
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib.mapping.hashing import is_sha256_hex, sha256_hex

EMPTY_DIGEST = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
HEX_DIGITS = st.sampled_from(string.hexdigits)  # 0-9, a-f and A-F
PROPERTY = settings(max_examples=200, deadline=None)


class TestSha256Hex:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("", EMPTY_DIGEST),
            ("jane.doe@example.com", hashlib.sha256(b"jane.doe@example.com").hexdigest()),
            ("josé", hashlib.sha256("josé".encode()).hexdigest()),
            ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ],
        ids=["empty", "email", "utf8-accent", "nist-abc"],
    )
    def test_digest(self, raw, expected):
        assert sha256_hex(raw) == expected

    def test_hashes_utf8_not_latin1(self):
        assert sha256_hex("é") != hashlib.sha256("é".encode("latin-1")).hexdigest()

    @PROPERTY
    @given(st.text())
    def test_output_is_lowercase_hex_digest(self, raw):
        digest = sha256_hex(raw)
        assert is_sha256_hex(digest)
        assert digest == digest.lower()


class TestIsSha256Hex:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            (EMPTY_DIGEST, True),
            (EMPTY_DIGEST.upper(), True),
            (EMPTY_DIGEST[:32] + EMPTY_DIGEST[32:].upper(), True),
            (EMPTY_DIGEST[:-1], False),
            (EMPTY_DIGEST + "0", False),
            (EMPTY_DIGEST[:-1] + "g", False),
            (EMPTY_DIGEST + "\n", False),
            (" " + EMPTY_DIGEST, False),
            ("", False),
            ("jane.doe@example.com", False),
        ],
        ids=[
            "lowercase",
            "uppercase",
            "mixed-case",
            "63-chars",
            "65-chars",
            "non-hex-char",
            "trailing-newline",
            "leading-space",
            "empty",
            "email",
        ],
    )
    def test_table(self, raw, expected):
        assert is_sha256_hex(raw) is expected

    @PROPERTY
    @given(st.text(HEX_DIGITS, min_size=64, max_size=64))
    def test_any_64_hex_digits_in_any_case(self, raw):
        assert is_sha256_hex(raw)

    @PROPERTY
    @given(st.text(HEX_DIGITS, max_size=130).filter(lambda raw: len(raw) != 64))
    def test_any_other_length_is_not_a_digest(self, raw):
        assert not is_sha256_hex(raw)

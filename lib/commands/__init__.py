"""Operator commands behind `python -m lib.cli`; not part of the deployed function."""

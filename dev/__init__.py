"""Local development aids: the Pinterest stand-in and its vendored schemas (not deployed)."""

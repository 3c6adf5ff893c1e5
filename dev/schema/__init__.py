"""Pinterest's Conversions API JSON Schemas, vendored for the stand-in and the tests."""

"""The Pinterest Conversions API forwarder library."""

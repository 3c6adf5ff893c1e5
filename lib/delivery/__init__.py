"""Delivery: one Pub/Sub push to Pinterest requests, dead letters and the ack decision (the I/O half)."""

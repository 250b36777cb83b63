"""Fault tests: the real Redis and PostgreSQL processes behind a live Hypercorn crash and return."""

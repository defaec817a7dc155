"""Metrics and log context."""

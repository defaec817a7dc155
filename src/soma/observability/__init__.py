"""Metrics and log context: what operators see of a running Soma."""

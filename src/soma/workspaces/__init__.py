"""Workspaces: each chat's files, kept in PostgreSQL, handed to the sandbox for a run and written back after it."""

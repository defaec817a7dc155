"""The agent's settings, stored in PostgreSQL and read on every turn."""

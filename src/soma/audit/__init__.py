"""The audit log: who did what administrative act, when; never a secret."""

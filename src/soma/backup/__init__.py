"""Backups: one consistent snapshot of Soma's durable state as a verifiable tar archive (docs/backup-format.md)."""

"""The conversation domain: sessions, messages, the event log and one turn. No HTTP, no queue runner."""

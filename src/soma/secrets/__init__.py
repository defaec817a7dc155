"""Secrets: where the SLM key and the tunnel token come from (Vault, a mounted file, the environment) and noticing when it changes."""

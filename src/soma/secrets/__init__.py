"""Secrets: where the SLM key comes from (Vault, a mounted file, the environment) and noticing when it changes."""

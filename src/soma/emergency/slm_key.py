"""Revoking the SLM key via Vault (runbook 5, step 4): delete its current KV v2 version, so no process can read it."""

from __future__ import annotations

from soma import config, errors
from soma.secrets import vault


def delete_current(settings: config.Settings) -> str:
    """Soft-delete the current version of the SLM key in Vault; says which. Again is harmless.

    A soft delete, not a destroy: an operator who finds the key was not leaked can undelete it.
    Processes that read it see it as revoked at their next reload (SOMA_SECRET_RELOAD_SECONDS).
    """
    if not settings.vault_addr:
        raise errors.SLMKeyNotInVault()
    client = vault.connect(settings)
    where = vault.slm_key_location(settings)
    current = vault.read(client, where)
    if current is None:
        return f"nothing is stored at {where} in Vault at {settings.vault_addr}; nothing to delete"
    if current.value is None:
        return f"already revoked: {current.gone}"
    client.secrets.kv.v2.delete_latest_version_of_secret(where.path, mount_point=where.mount)
    return (f"version {current.version} of {where} deleted in Vault at {settings.vault_addr} "
            f"(`bao kv undelete -mount={where.mount} -versions={current.version} {where.path}` brings it back)")  # fmt: skip

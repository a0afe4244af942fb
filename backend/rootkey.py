"""The root key's fingerprint, kept in the database: a process holding another key refuses to start.

Data sealed under a lost key cannot be read back; serving anyway would answer every household
read with a 500 and seal new rows under a second key beside the first.
"""

from __future__ import annotations

from piccolo.columns import Timestamptz, Varchar
from piccolo.table import Table

from backend.keys import Keys
from backend.settings import PREFIX, Settings, SettingsError

ROOT = "root"


class RootKey(Table):
    """One row: the fingerprint of the key that sealed this database's data (never the key)."""

    name = Varchar(length=16, primary_key=True)
    fingerprint = Varchar(length=64)
    recorded_at = Timestamptz()


async def require_root_key(settings: Settings, keys: Keys) -> None:
    """Record the key at its first use on this database; afterwards accept only that key."""
    if not await RootKey.table_exists():
        raise SettingsError(f"{PREFIX}DATABASE_URL: the database has no tables yet; run `anju migrate` first")
    recorded = await RootKey.select(RootKey.fingerprint).where(RootKey.name == ROOT).first()
    if recorded is None:
        # Only the first start writes: on SQLite a write waits for the one write lock, and a command
        # started beside a busy server timed out there. Two first starts: the first insert wins.
        await RootKey.insert(RootKey(name=ROOT, fingerprint=keys.fingerprint)).on_conflict(
            action="DO NOTHING"
        )
        recorded = await RootKey.select(RootKey.fingerprint).where(RootKey.name == ROOT).first()
    if recorded["fingerprint"] != keys.fingerprint:
        key = "ANJU_SECRET_KEY" if settings.secret_key else f"the key file {settings.var_dir}/secret.key"
        raise SettingsError(
            f"{key} is not the key this database's data was sealed with, so nothing sealed could be read. "
            f"Set {PREFIX}SECRET_KEY (or {PREFIX}VAR_DIR, the folder of secret.key) to the original key, "
            f"or point {PREFIX}DATABASE_URL at a database of this key"
        )

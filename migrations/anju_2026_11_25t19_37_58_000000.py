"""Seal what earlier versions kept in clear, then drop the plaintext columns.

Phones and key-person flags move into the sealed columns added by the previous migration (with the
app's own key, so run it with the app's settings); verified residencies keep their account only
where the account's phone is the one the person declared (an ID number alone never linked a home).
"""

import msgspec
from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-25T19:37:58:000000"
VERSION = "1.38.0"
DESCRIPTION = "seal residents' phones and key-person flags; link residencies to their own accounts"


class Person(Table, tablename="person", schema=None):
    pass


LINK_OWN_ACCOUNTS = """
UPDATE residency SET account = (
    SELECT a.id FROM account a JOIN person p ON p.id = a.person
    WHERE p.id = residency.person AND a.phone = p.phone
)
WHERE status = 'verified' AND account IS NULL
"""


async def _seal_existing() -> None:
    rows = await Person.raw("SELECT id, phone, key_person, key_category FROM person")
    if not rows:
        return  # a fresh database: no key needed
    from backend.keys import Keys
    from backend.settings import get_settings

    keys = Keys(get_settings().secret())
    for row in rows:
        flag = {"key_person": bool(row["key_person"]), "key_category": row["key_category"]}
        await Person.raw(
            "UPDATE person SET phone_sealed = {}, phone_hash = {}, key_sealed = {} WHERE id = {}",
            keys.seal(row["phone"]) if row["phone"] else "",
            keys.lookup_hash("phone", row["phone"]) if row["phone"] else "",
            keys.seal(msgspec.json.encode(flag).decode()),
            row["id"],
        )
    await Person.raw(LINK_OWN_ACCOUNTS)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="anju", description=DESCRIPTION)
    manager.add_raw(_seal_existing)
    for column in ("key_category", "key_person", "phone"):
        manager.drop_column(
            table_class_name="Person",
            tablename="person",
            column_name=column,
            db_column_name=column,
            schema=None,
        )
    return manager

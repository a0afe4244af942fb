from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-25T19:37:28:617671"
VERSION = "1.38.0"
DESCRIPTION = "account token version, refresh family sign-in method"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="anju", description=DESCRIPTION)

    manager.add_column(
        table_class_name="Account",
        tablename="account",
        column_name="token_version",
        db_column_name="token_version",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": 0,
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="RefreshToken",
        tablename="refresh_token",
        column_name="amr",
        db_column_name="amr",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 10,
            "default": "otp",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    return manager

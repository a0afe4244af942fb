from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from enum import Enum
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-26T07:04:17:431307"
VERSION = "1.38.0"
DESCRIPTION = ""


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="anju", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="Device",
        tablename="device",
        column_name="stream_url",
        db_column_name="stream_url",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 500,
            "default": "",
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

    manager.alter_column(
        table_class_name="Alarm",
        tablename="alarm",
        column_name="type",
        db_column_name="type",
        params={
            "choices": Enum(
                "AlarmType",
                {
                    "EMERGENCY": "emergency",
                    "HELP": "help",
                    "INTRUSION": "intrusion",
                    "CROWDING": "crowding",
                    "LOITERING": "loitering",
                    "LINE_CROSSING": "line_crossing",
                    "THROWN_OBJECT": "thrown_object",
                    "VIDEO_LOSS": "video_loss",
                    "OCCLUSION": "occlusion",
                    "SMOKE": "smoke",
                    "FIRE_DOOR_OPEN": "fire_door_open",
                    "WATER_LEAK": "water_leak",
                    "HYDRANT_PRESSURE": "hydrant_pressure",
                    "WATER_THRESHOLD": "water_threshold",
                    "ELECTRICITY_THRESHOLD": "electricity_threshold",
                    "GAS_THRESHOLD": "gas_threshold",
                    "DEVICE_OFFLINE": "device_offline",
                    "TAMPER": "tamper",
                    "LOW_BATTERY": "low_battery",
                    "WATCHED_VEHICLE": "watched_vehicle",
                    "TAG_WITHOUT_OWNER": "tag_without_owner",
                },
            )
        },
        old_params={
            "choices": Enum(
                "AlarmType",
                {
                    "EMERGENCY": "emergency",
                    "HELP": "help",
                    "INTRUSION": "intrusion",
                    "CROWDING": "crowding",
                    "LOITERING": "loitering",
                    "LINE_CROSSING": "line_crossing",
                    "THROWN_OBJECT": "thrown_object",
                    "VIDEO_LOSS": "video_loss",
                    "OCCLUSION": "occlusion",
                    "SMOKE": "smoke",
                    "FIRE_DOOR_OPEN": "fire_door_open",
                    "WATER_LEAK": "water_leak",
                    "HYDRANT_PRESSURE": "hydrant_pressure",
                    "WATER_THRESHOLD": "water_threshold",
                    "ELECTRICITY_THRESHOLD": "electricity_threshold",
                    "GAS_THRESHOLD": "gas_threshold",
                    "DEVICE_OFFLINE": "device_offline",
                    "TAMPER": "tamper",
                    "LOW_BATTERY": "low_battery",
                    "TAG_WITHOUT_OWNER": "tag_without_owner",
                },
            )
        },
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Alarm",
        tablename="alarm",
        column_name="category",
        db_column_name="category",
        params={
            "choices": Enum(
                "Category",
                {
                    "EMERGENCY": "emergency",
                    "PERIMETER": "perimeter",
                    "VIDEO": "video",
                    "FIRE": "fire",
                    "ENERGY": "energy",
                    "DEVICE": "device",
                    "VEHICLE": "vehicle",
                },
            )
        },
        old_params={
            "choices": Enum(
                "Category",
                {
                    "EMERGENCY": "emergency",
                    "PERIMETER": "perimeter",
                    "VIDEO": "video",
                    "FIRE": "fire",
                    "ENERGY": "energy",
                    "DEVICE": "device",
                },
            )
        },
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )

    return manager

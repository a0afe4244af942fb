"""One Piccolo app for every domain, so one migration history serves both engines."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from backend.access.tables import AccessGrant, AccessRecord, Door
from backend.accounts.tables import Account, Passkey, RefreshToken, StaffScope
from backend.audit.tables import AuditEntry
from backend.devices.tables import BridgeCounter, Device, DeviceEvent, Notification
from backend.doorplates.tables import Doorplate
from backend.registry.tables import (
    Address,
    Building,
    Community,
    District,
    Gate,
    House,
    Owner,
    Person,
    Residency,
    ResidencyCorrection,
    Unit,
)
from backend.rootkey import RootKey
from backend.visitors.tables import Visit, VisitorPass, VisitorPolicy

# backend/migrations links to the top-level folder, so the wheel ships the migrations inside the package.
MIGRATIONS = Path(__file__).resolve().parent / "migrations"

APP_CONFIG = AppConfig(
    app_name="anju",
    migrations_folder_path=str(MIGRATIONS),
    table_classes=[
        District,
        Community,
        Address,
        Gate,
        Building,
        Unit,
        House,
        Person,
        Residency,
        ResidencyCorrection,
        Owner,
        Account,
        StaffScope,
        Passkey,
        RefreshToken,
        Doorplate,
        AuditEntry,
        Device,
        DeviceEvent,
        BridgeCounter,
        Notification,
        Door,
        AccessGrant,
        AccessRecord,
        RootKey,
        VisitorPolicy,
        VisitorPass,
        Visit,
    ],
)

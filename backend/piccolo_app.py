"""One Piccolo app for every domain, so one migration history serves both engines."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from backend.access.tables import AccessGrant, AccessRecord, Door
from backend.accounts.tables import Account, Passkey, RefreshToken, StaffScope
from backend.alarms.tables import (
    Alarm,
    AlarmCondition,
    AlarmSignal,
    AlarmStep,
    ArmingRule,
    ButtonPairing,
    MeterUsage,
    PerimeterZone,
    SensorThreshold,
)
from backend.analytics.tables import Finding
from backend.audit.tables import AuditEntry
from backend.compliance.tables import ComplianceEntry
from backend.credentials.tables import Credential
from backend.devices.tables import BridgeCounter, Device, DeviceEvent, Notification
from backend.doorplates.tables import Doorplate
from backend.ebikes.tables import EBike
from backend.faces.tables import CaptureOutbox, FaceEnrolment, FaceGallery, FacePassage, FaceWatch
from backend.intercom.tables import IntercomCall
from backend.live.tables import LiveEvent, PushOutbox, PushSubscription
from backend.notices.tables import Notice, NoticeRead, NoticeReview
from backend.patrol.tables import (
    Checkpoint,
    CheckpointTag,
    PatrolFlag,
    PatrolRoute,
    PatrolRun,
    PatrolScan,
    PatrolShift,
)
from backend.probes.tables import Sighting
from backend.registry.tables import (
    Address,
    Building,
    Community,
    District,
    Gate,
    House,
    Organisation,
    Owner,
    Person,
    Residency,
    ResidencyCorrection,
    Unit,
)
from backend.rootkey import RootKey
from backend.services.tables import ServiceRequest, ServiceRequestEvent, ServiceRequestPhoto, ServiceTile
from backend.uplink.tables import UplinkRecord
from backend.vehicles.tables import Vehicle, VehiclePassage, WatchedPlate
from backend.video.tables import (
    Camera,
    CameraGroup,
    CameraGroupMember,
    CameraOnvif,
    InspectionCheck,
    InspectionRound,
    InspectionSchedule,
    InspectionSnapshot,
    Recorder,
)
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
        Organisation,
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
        Credential,
        RootKey,
        Notice,
        NoticeReview,
        NoticeRead,
        ServiceTile,
        ServiceRequest,
        ServiceRequestEvent,
        ServiceRequestPhoto,
        PatrolRoute,
        Checkpoint,
        CheckpointTag,
        PatrolShift,
        PatrolRun,
        PatrolScan,
        PatrolFlag,
        LiveEvent,
        PushOutbox,
        PushSubscription,
        PerimeterZone,
        ArmingRule,
        ButtonPairing,
        Alarm,
        AlarmStep,
        AlarmSignal,
        AlarmCondition,
        SensorThreshold,
        MeterUsage,
        VisitorPolicy,
        VisitorPass,
        Visit,
        FaceEnrolment,
        FaceGallery,
        FaceWatch,
        FacePassage,
        CaptureOutbox,
        Vehicle,
        VehiclePassage,
        WatchedPlate,
        EBike,
        Finding,
        Recorder,
        Camera,
        InspectionSchedule,
        InspectionRound,
        InspectionCheck,
        InspectionSnapshot,
        Sighting,
        CameraOnvif,
        IntercomCall,
        CameraGroup,
        CameraGroupMember,
        UplinkRecord,
        ComplianceEntry,
    ],
)

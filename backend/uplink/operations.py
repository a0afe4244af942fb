"""The community's daily work as rows of the data standard, owed in the transaction that records it.

``patrol`` (电子巡查系统): each checkpoint a guard scans on a run (``patrol_scan:{id}``); the run's
round is the patrol's start and end, the scan its arrival. A scan without the phone's position
carries its checkpoint's community's coordinates (DQJD, DQWD are required).

``notice_publish`` (信息发布系统): each notice once published (``notice:{id}``), now or when its
schedule falls due; published means shown in the residents' app and on the community's screens.

``resident_checkin`` (居民入住信息): each visitor pass once it admits its visitor (``visitor_pass:{id}``):
an invitation at once, a walk-in at once or on the household's confirmation. The table pairs a
resident (the household visited: who invited, else who confirmed, else its head) with the visitor
(访客 FK_XM, FK_SJHM), and names who entered the record (维护人员: the inviting resident or the guard).

``video_surveillance`` (视频监控系统): each snapshot taken on a video inspection round
(``inspection_check:{id}``), when the round ends; JKNR_TP refers to the stored snapshot.

Every function takes the ``Writer`` of the caller's transaction (``backend.db.writing``) and the
root keys (the outbox keeps rows sealed); a value we do not have is left out, so the standard's
check rejects the row with its reason.
"""

from __future__ import annotations

from typing import Any

from backend.accounts.tables import Account
from backend.devices.tables import Device
from backend.keys import Keys
from backend.notices.tables import NoticeKind
from backend.patrol.tables import PatrolScan
from backend.registry.enums import ResidencyStatus
from backend.registry.tables import Community, House, Person, Residency
from backend.uplink.mappings import moment, record_id
from backend.uplink.outbox import enqueue
from backend.uplink.rows import degrees, local_midnight
from backend.video.tables import AREA_NAMES, InspectionCheck, InspectionSnapshot
from backend.visitors.tables import PassKind, VisitorPass
from device_bridge.store import Writer

NOTICE_KINDS = {
    NoticeKind.GENERAL: "通知公告",
    NoticeKind.ACTIVITY: "社区活动",
    NoticeKind.PROPERTY: "物业通知",
    NoticeKind.SECURITY: "治安",
    NoticeKind.POLICE_ALERT: "警情通告",
    NoticeKind.POLICY: "政策宣传",
}
# 发布方式代码 (FB_FSDM, 2 characters): the standard publishes no codes; ours until the platform's.
APP_AND_SCREENS = "01"  # the residents' app and the community's screens
PUBLISHED = "已发布"
NOT_COMPOSITE = "0"  # 合成判断标识: a snapshot as the camera gave it
SNAPSHOT_PATH = "/api/video/checks/{}/snapshot"  # where the platform fetches JKNR_TP (the video API's route)
HEAD_OF_HOUSEHOLD = "0"  # YZGX 本人(户主)


async def patrol_scan(writer: Writer, keys: Keys, scan_id: int) -> str | None:
    s = (
        await PatrolScan.select(
            PatrolScan.all_columns(),
            PatrolScan.guard.name.as_alias("guard_name"),
            PatrolScan.run.round_start.as_alias("round_start"),
            PatrolScan.run.round_end.as_alias("round_end"),
            PatrolScan.run.community.as_alias("community"),
            PatrolScan.run.route.name.as_alias("route_name"),
            PatrolScan.run.shift.as_alias("shift"),
            PatrolScan.run.shift.name.as_alias("shift_name"),
            PatrolScan.checkpoint.name.as_alias("checkpoint_name"),
            PatrolScan.checkpoint.place.as_alias("place"),
            PatrolScan.run.community.code.as_alias("community_code"),
            PatrolScan.run.community.latitude.as_alias("community_latitude"),
            PatrolScan.run.community.longitude.as_alias("community_longitude"),
        )
        .where(PatrolScan.id == scan_id)
        .first()
    )
    located = s["latitude"] is not None and s["longitude"] is not None
    tag = "NFC" if s["by_nfc"] else "手机扫码"
    row = {
        "ID": record_id(s["community_code"], "patrol", scan_id),
        "XL_RQSJ": s["round_start"],
        "XL_RS": 1,
        "XLR_XM": s["guard_name"],
        "XLXL_MC": s["route_name"],
        "XL_DD": s["place"] or s["checkpoint_name"],
        "SJLY_MC": "安居",
        "XG_BS": f"checkpoint:{s['checkpoint']}",
        "XG_MC": s["checkpoint_name"],
        "SBMC": tag,
        "RY_LX": "保安",
        "CL_BM": f"shift:{s['shift']}",
        "CL_MC": s["shift_name"],
        "DD_RQSJ": s["at"],
        "KS_RQSJ": s["round_start"],
        "JS_RQSJ": s["round_end"],
        "CJ_RQSJ": s["at"],
        "XG_RQSJ": s["at"],
        "DQJD": degrees(s["longitude"] if located else s["community_longitude"]),
        "DQWD": degrees(s["latitude"] if located else s["community_latitude"]),
        "BJLX": "定点巡更",
    }
    return await enqueue(writer, keys, "patrol", f"patrol_scan:{scan_id}", s["community"], row)


async def notice_published(writer: Writer, keys: Keys, notice: dict[str, Any]) -> str | None:
    """``notice``: its row as published (id, community, kind, body, published_at, author)."""
    c = await Community.select(Community.code, Community.latitude, Community.longitude).where(
        Community.id == notice["community"]
    )
    author = await Account.select(Account.name).where(Account.id == notice["author"]).first()
    row = {
        "ID": record_id(c[0]["code"], "notice", notice["id"]),
        "FB_LX": NOTICE_KINDS.get(notice["kind"], notice["kind"]),
        "FB_NR": f"{notice['title']}\n{notice['body']}",
        "FB_RQSJ": moment(notice["published_at"]),
        "FB_FSDM": APP_AND_SCREENS,
        "FB_ZT": PUBLISHED,
        "DQJD": degrees(c[0]["longitude"]),
        "DQWD": degrees(c[0]["latitude"]),
        "FBR_XM": author["name"] if author else None,
    }
    return await enqueue(writer, keys, "notice_publish", f"notice:{notice['id']}", notice["community"], row)


async def visitor_admitted(writer: Writer, keys: Keys, pass_id: int) -> str | None:
    """A pass that now admits its visitor (ACTIVE), with its household's resident."""
    p = await VisitorPass.select().where(VisitorPass.id == pass_id).first()
    house = (
        await House.select(
            House.room_no,
            House.address.text.as_alias("address"),
            House.community.code.as_alias("community_code"),
            House.community.name.as_alias("community_name"),
            House.building.latitude.as_alias("latitude"),
            House.building.longitude.as_alias("longitude"),
        )
        .where(House.id == p["house"])
        .first()
    )
    maintainer = await Account.select(Account.name, Account.phone).where(Account.id == p["issued_by"]).first()
    host, person = await _host(keys, p)
    row = {
        "ID": record_id(house["community_code"], "visit", pass_id),
        "FANGWU_DZMC": house["address"],
        "LXFS": person.get("phone"),
        "YPZGXDM": host.get("relation"),
        "HJDZ_XZQHDM": person.get("hukou_region"),
        "HJDZ_DZMC": person.get("hukou_address"),
        "GJDM": person.get("nationality"),
        "XM": person.get("name"),
        "XBDM": person.get("gender"),
        "CYZJLXDM": person.get("id_type"),
        "ZJHM": person.get("id_number"),
        "MZDM": person.get("ethnicity"),
        "BLSJ": p["created_at"],
        "CSRQ": local_midnight(person.get("birth_date")),
        "SJHM": person.get("phone"),
        "JZSY": host.get("reason"),
        "RZ_RQSJ": local_midnight(host.get("start_date")),
        "WHRY_XM": maintainer["name"] if maintainer else None,
        "WHRY_LXFS": maintainer["phone"] if maintainer else None,
        "FK_XM": p["visitor_name"],
        "FK_SJHM": keys.unseal(p["phone_sealed"]) if p["phone_sealed"] else None,
        "XQ_BM": house["community_code"],
        "XQ_MC": house["community_name"],
        "FWSY_JYQK": "访客邀请" if p["kind"] == PassKind.INVITATION else "访客登记",
        "FW_RQSJ": p["valid_from"],
        "FWRY_XM": p["visitor_name"],
        "DQJD": degrees(house["longitude"]),
        "DQWD": degrees(house["latitude"]),
    }
    return await enqueue(writer, keys, "resident_checkin", f"visitor_pass:{pass_id}", p["community"], row)


async def _host(keys: Keys, visitor_pass: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The verified residency of the household visited, and its person (unsealed): the inviting
    resident's, else the confirming resident's, else its head's, else its earliest. ({}, {}): none."""
    residencies = (
        await Residency.select(
            Residency.relation, Residency.reason, Residency.start_date, Residency.account, Residency.person
        )
        .where((Residency.house == visitor_pass["house"]) & (Residency.status == ResidencyStatus.VERIFIED))
        .order_by(Residency.id)
    )
    if not residencies:
        return {}, {}
    by_account = {r["account"]: r for r in residencies if r["account"] is not None}
    heads = [r for r in residencies if r["relation"] == HEAD_OF_HOUSEHOLD]
    host = by_account.get(visitor_pass["issued_by"]) or by_account.get(visitor_pass["confirmed_by"])
    host = host or (heads or residencies)[0]
    person = await Person.select().where(Person.id == host["person"]).first()
    person["id_number"] = keys.unseal(person["id_number_encrypted"])
    person["phone"] = keys.unseal(person["phone_sealed"]) if person["phone_sealed"] else None
    return host, person


async def inspection_snapshots(writer: Writer, keys: Keys, round_id: int) -> None:
    """Each snapshot of an ended inspection round, with its camera and where its video is kept."""
    kept = (
        await InspectionSnapshot.select(InspectionSnapshot.check)
        .output(as_list=True)
        .where(InspectionSnapshot.check.round == round_id)
    )
    checks = await InspectionCheck.select(
        InspectionCheck.id,
        InspectionCheck.at,
        InspectionCheck.note,
        InspectionCheck.camera.area.as_alias("area"),
        InspectionCheck.camera.place.as_alias("place"),
        InspectionCheck.camera.channel.as_alias("channel"),
        InspectionCheck.camera.recorder.name.as_alias("recorder"),
        InspectionCheck.camera.community.as_alias("community"),
        InspectionCheck.camera.community.code.as_alias("community_code"),
        InspectionCheck.camera.community.street.as_alias("street"),
        InspectionCheck.round.ended_at.as_alias("ended_at"),
        InspectionCheck.camera.device.as_alias("device"),
    ).where(InspectionCheck.id.is_in(kept or [0]))
    devices = {
        d["id"]: d
        for d in await Device.select(
            Device.id, Device.code, Device.name, Device.latitude, Device.longitude
        ).where(Device.id.is_in([c["device"] for c in checks] or [0]))
    }
    for check in checks:
        device = devices.get(check["device"], {})
        snapshot = SNAPSHOT_PATH.format(check["id"])
        recorder = f"{check['recorder']}/通道{check['channel']}" if check["recorder"] else ""
        row = {
            "ID": record_id(check["community_code"], "inspection", check["id"]),
            "SBQY_MC": AREA_NAMES.get(check["area"]),
            "SBJD_MC": check["street"],
            "SB_DZ": check["place"] or device.get("name"),
            "LZ_KSSJ": check["at"],
            "LZ_JSSJ": check["at"],
            "JKNR_TP": snapshot,
            "CCFS_MC": "硬盘录像机" if recorder else None,
            "SB_BM": device.get("code"),
            "SBMC": device.get("name"),
            "DMT_LX": "image/jpeg",
            "DMT_MC": f"巡检截图{check['id']}",
            "CCLJ_MC": recorder or snapshot,
            "CC_RQSJ": check["ended_at"],
            "HC_PDBS": NOT_COMPOSITE,
            "ZP_RQSJ": check["at"],
            "TD_BM": str(check["channel"]) if check["channel"] is not None else None,
            "DQJD": degrees(device.get("longitude")),
            "DQWD": degrees(device.get("latitude")),
            "ZP_DZMC": snapshot,
        }
        await enqueue(
            writer, keys, "video_surveillance", f"inspection_check:{check['id']}", check["community"], row
        )

"""A device's number in the standard's short fields is translated, never truncated."""

from backend.uplink import standard
from backend.uplink.mappings import device_number


def test_a_code_that_fits_is_the_number_and_a_longer_one_becomes_the_community_and_id():
    assert device_number("420112001001", 7, "420112001001-gate1", 30) == "420112001001-gate1"
    long_code = "420112001001-north-gate-face-terminal-02"  # 40 bytes: over SB_BH's 30
    number = device_number("420112001001", 7, long_code, 30)
    assert number == "420112001001-D7" and number != long_code[:30]
    assert device_number("420112001001", 7, long_code, 40) == long_code  # SB_BM holds 40


def test_the_numbers_fit_their_fields_by_the_standards_own_check():
    widest = device_number("420112001001", 10**9, "设备" * 20, 30)
    assert len(widest.encode()) <= 30
    assert not [p for p in standard.check("door_access", {"SB_BH": widest}) if p.field == "SB_BH"]

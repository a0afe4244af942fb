"""Every required field of 一标三实对接信息 and 楼栋信息 has a source in the registry."""

import pytest

from backend.uplink import rows, standard


@pytest.mark.parametrize(
    ("key", "sources"), [("ybss", rows.YBSS_SOURCES), ("building", rows.BUILDING_SOURCES)]
)
def test_every_required_field_has_a_source(key, sources):
    table = standard.tables()[key]
    required = {f.name for f in table.fields if f.required}
    assert required - set(sources) == set()
    assert set(sources) <= {f.name for f in table.fields}  # no made-up field names
    assert all(source.strip() for source in sources.values())


def test_ybss_covers_every_field_it_can_and_names_the_dictionaries():
    assert set(standard.tables()["ybss"].fields[i].name for i in range(23)) <= set(rows.YBSS_SOURCES)
    for field in standard.tables()["ybss"].fields:
        if field.dictionary and field.name in rows.YBSS_SOURCES and field.dictionary not in ("YWLX",):
            assert field.dictionary in rows.YBSS_SOURCES[field.name], field.name

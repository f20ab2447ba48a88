"""Profile updates and life events: parsing JSON Lines, bad lines, applying events."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tests.support.factories import enterprise, schemas_for_tests
from zhida.errors import RowError, ZhidaError
from zhida.profiles.events import (
    CompanyRegistered,
    EventError,
    EventLog,
    Graduated,
    PatentGranted,
    ProfileUpdated,
    apply_event,
    parse_event,
    parse_events,
)
from zhida.profiles.schema import Audience, SchemaSet

USCC = "91330106MA2AX8W430"  # a valid 统一社会信用代码


def _write(tmp_path: Path, lines: list[str | dict[str, object]]) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines)
        + "\n",
        encoding="utf-8",
    )
    return path


def _error(line: str | dict[str, object]) -> str:
    with pytest.raises(EventError) as info:
        parse_event(line if isinstance(line, str) else json.dumps(line, ensure_ascii=False))
    return info.value.reason


# --------------------------------------------------------------------------- parsing


def test_each_event_type_parses(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [
            {
                "type": "profile.updated",
                "profile": "E1",
                "kind": "enterprise",
                "fields": {
                    "revenue": 120000000,
                    "employees": 35,
                    "established": "2019-05-01",
                    "high_tech": True,
                    "tax_credit": "a",
                },
            },
            {
                "type": "company.registered",
                "at": "2026-04-01T09:00:00+08:00",
                "profile": {
                    "id": "E9",
                    "uscc": USCC,
                    "name": "杭州新创科技有限公司",
                    "region": "330106",
                    "established": "2026-04-01",
                    "employees": 3,
                },
            },
            "",
            {"type": "patent.granted", "profile": "E1", "invention": True, "count": 2},
            {"type": "patent.granted", "profile": "E1", "invention": False},
            {"type": "graduated", "profile": "P1", "education": "硕士", "date": "2026-06-30"},
        ],
    )
    events, errors = parse_events(path)
    assert errors == []
    updated, registered, invention, utility, graduated = events
    assert updated == ProfileUpdated(
        "E1",
        Audience.ENTERPRISE,
        {
            "revenue": 120000000.0,
            "employees": 35,
            "established": dt.date(2019, 5, 1),
            "high_tech": True,
            "tax_credit": "A",
        },
        line=1,
    )
    assert type(updated.fields["revenue"]) is float and type(updated.fields["employees"]) is int
    assert isinstance(registered, CompanyRegistered)
    assert (registered.profile_id, registered.line, registered.at) == (
        "E9",
        2,
        "2026-04-01T09:00:00+08:00",
    )
    assert registered.profile["established"] == dt.date(2026, 4, 1)
    assert registered.profile["revenue"] is None  # every enterprise field, missing ones None
    assert set(registered.profile) == set(SchemaSet.builtin()["enterprise"].names())
    assert invention == PatentGranted("E1", True, 2, line=4)
    assert utility == PatentGranted("E1", False, 1, line=5)
    assert graduated == Graduated("P1", "硕士", dt.date(2026, 6, 30), line=6)
    assert [e.type for e in events] == [
        "profile.updated",
        "company.registered",
        "patent.granted",
        "patent.granted",
        "graduated",
    ]
    assert [e.kind for e in events] == [Audience.ENTERPRISE] * 4 + [Audience.CITIZEN]


def test_values_are_typed_as_the_readers_type_them() -> None:
    event = parse_event(
        {
            "type": "profile.updated",
            "profile": "E1",
            "kind": "enterprise",
            "fields": {
                "revenue": "1.5亿",
                "rd_expense": "800万",
                "employees": "12",
                "patents": 4.0,
                "high_tech": "是",
                "specialized_sme": 0,
                "business_scope": "  软件开发  ",
                "name": "",
                "industry": "c39",
                "invention_patents": None,
            },
        }
    )
    assert isinstance(event, ProfileUpdated)
    assert event.fields == {
        "revenue": 1.5e8,
        "rd_expense": 8e6,
        "employees": 12,
        "patents": 4,
        "high_tech": True,
        "specialized_sme": False,
        "business_scope": "软件开发",
        "name": None,
        "industry": "C39",
        "invention_patents": None,
    }
    tags = parse_event(
        {
            "type": "profile.updated",
            "profile": "E1",
            "kind": "enterprise",
            "fields": {"tags": "软件; 集成电路；"},
        },
        schemas_for_tests(),
    )
    assert isinstance(tags, ProfileUpdated) and tags.fields == {"tags": ["软件", "集成电路"]}
    tags = parse_event(
        {
            "type": "profile.updated",
            "profile": "E1",
            "kind": "enterprise",
            "fields": {"tags": ["a", " b ", ""]},
        },
        schemas_for_tests(),
    )
    assert isinstance(tags, ProfileUpdated) and tags.fields == {"tags": ["a", "b"]}
    citizen = parse_event(
        {
            "type": "profile.updated",
            "profile": 7,
            "kind": "Citizen",
            "fields": {"social_insurance_months": 24, "hukou_region": 330106},
        }
    )
    assert citizen == ProfileUpdated(
        "7", Audience.CITIZEN, {"social_insurance_months": 24, "hukou_region": "330106"}
    )


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object (a JSON array)"),
        ({"profile": "E1"}, "missing event type"),
        ({"type": "profile.update", "profile": "E1"}, "did you mean 'profile.updated'?"),
        ({"type": "patent.granted", "invention": True}, "missing 'profile'"),
        ({"type": "patent.granted", "profile": "", "invention": True}, "'profile' must be"),
        ({"type": "profile.updated", "profile": "E1", "fields": {"revenue": 1}}, "missing 'kind'"),
        (
            {"type": "profile.updated", "profile": "E1", "kind": "robot", "fields": {"revenue": 1}},
            "kind 'robot' is not enterprise or citizen",
        ),
        (
            {"type": "profile.updated", "profile": "E1", "kind": "enterprise", "fields": {}},
            "nothing to update",
        ),
        (
            {
                "type": "profile.updated",
                "profile": "E1",
                "kind": "enterprise",
                "fields": {"revenu": 1},
            },
            "'revenu' is not a field of enterprise profiles (did you mean 'revenue'?)",
        ),
        (
            {
                "type": "profile.updated",
                "profile": "E1",
                "kind": "citizen",
                "fields": {"revenue": 1},
            },
            "'revenue' is not a field of citizen profiles",
        ),
        (
            {
                "type": "profile.updated",
                "profile": "E1",
                "kind": "enterprise",
                "fields": {"employees": "many"},
            },
            "employees: 'many' is not an integer",
        ),
        (
            {
                "type": "profile.updated",
                "profile": "E1",
                "kind": "enterprise",
                "fields": {"employees": 3.5},
            },
            "employees: 3.5 is not an integer",
        ),
        (
            {
                "type": "profile.updated",
                "profile": "E1",
                "kind": "enterprise",
                "fields": {"revenue": True},
            },
            "revenue: true is not a number",
        ),
        (
            {
                "type": "profile.updated",
                "profile": "E1",
                "kind": "enterprise",
                "fields": {"revenue": [1]},
            },
            "revenue: expected a number, got a JSON array",
        ),
        (
            {
                "type": "profile.updated",
                "profile": "E1",
                "kind": "enterprise",
                "fields": {"high_tech": "maybe"},
            },
            "high_tech: 'maybe' is not a yes/no value",
        ),
        (
            {
                "type": "profile.updated",
                "profile": "E1",
                "kind": "enterprise",
                "fields": {"established": "2026-02-30"},
            },
            "established: '2026-02-30' is not a valid date (YYYY-MM-DD)",
        ),
        (
            {
                "type": "profile.updated",
                "profile": "E1",
                "kind": "enterprise",
                "fields": {"established": 20260201},
            },
            "is not a valid date",
        ),
        (
            {
                "type": "profile.updated",
                "profile": "E1",
                "kind": "enterprise",
                "fields": {"uscc": "91330106MA2AX8W43A"},
            },
            "uscc: '91330106MA2AX8W43A' is not a valid USCC",
        ),
        (
            {
                "type": "profile.updated",
                "profile": "E1",
                "kind": "enterprise",
                "fields": {"phone": "12345"},
            },
            "phone: a phone number is not a valid phone number",
        ),
        (
            {
                "type": "profile.updated",
                "profile": "E1",
                "kind": "enterprise",
                "fields": {"region": "3301"},
            },
            "region: '3301' is not a 6-digit region code",
        ),
        (
            {
                "type": "profile.updated",
                "profile": "E1",
                "kind": "enterprise",
                "fields": {"name": {"a": 1}},
            },
            "name: expected a string, got a JSON object",
        ),
        (
            {
                "type": "profile.updated",
                "profile": "E1",
                "kind": "enterprise",
                "fields": {"id": "E2"},
            },
            "the id of a profile cannot be updated",
        ),
        (
            {
                "type": "profile.updated",
                "profile": "E1",
                "kind": "enterprise",
                "fields": {"revenue": 1},
                "feilds": {},
            },
            "unknown key 'feilds' (did you mean 'fields'?)",
        ),
        ({"type": "company.registered", "profile": "E9"}, "must be the whole enterprise profile"),
        ({"type": "company.registered", "profile": {"name": "x"}}, "the profile has no id"),
        (
            {"type": "company.registered", "profile": {"id": "E9", "kind": "citizen"}},
            "a registered company is an enterprise",
        ),
        (
            {"type": "company.registered", "profile": {"id": "E9", "education": "硕士"}},
            "'education' is not a field of enterprise profiles",
        ),
        (
            {"type": "patent.granted", "profile": "E1", "invention": "yes"},
            "'invention' must be true or false",
        ),
        (
            {"type": "patent.granted", "profile": "E1", "invention": True, "count": 0},
            "'count' must be a positive integer",
        ),
        (
            {"type": "graduated", "profile": "P1", "education": "小学", "date": "2026-06-30"},
            "education '小学' is not one of 大专/本科/硕士/博士",
        ),
        (
            {"type": "graduated", "profile": "P1", "education": "硕士", "date": "2026/06/30"},
            "date '2026/06/30' is not a valid date",
        ),
        ({"type": "graduated", "profile": "P1", "education": "硕士"}, "missing 'date'"),
        (
            {
                "type": "graduated",
                "profile": "P1",
                "education": "硕士",
                "date": "2026-06-30",
                "at": 5,
            },
            "'at' must be a timestamp string",
        ),
        # issue 9.9: what PostgreSQL cannot store is a bad line, not a lost file
        (
            '{"type": "patent.granted", "profile": "E1", "invention": true, "count": '
            + "9" * 5000
            + "}",
            "an integer longer than Python's 4300 digits",
        ),
        ({"type": "patent.granted", "profile": "E" * 200, "invention": True}, "longer than 64"),
        (
            {"type": "company.registered", "profile": {"id": "E\u0000"}},
            "contains a control character",
        ),
        (
            {
                "type": "profile.updated",
                "profile": "E1",
                "kind": "enterprise",
                "fields": {"name": "甲\u0000"},
            },
            "name: contains a NUL character",
        ),
    ],
)
def test_bad_events_are_explained(line: str | dict[str, object], reason: str) -> None:
    assert reason in _error(line)


def test_bad_lines_are_reported_with_their_line_and_the_rest_go_on(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [
            {"type": "patent.granted", "profile": "E1", "invention": True},
            "not json at all",
            "",
            {"type": "graduate", "profile": "P1"},
            {
                "type": "profile.updated",
                "profile": "E2",
                "kind": "enterprise",
                "fields": {"established": "2019-13-01", "revenue": "lots"},
            },
            {"type": "graduated", "profile": "P1", "education": "本科", "date": "2026-06-30"},
        ],
    )
    events, errors = parse_events(path)
    assert [e.line for e in events] == [1, 6]
    assert [(e.line, e.profile_id) for e in errors] == [(2, None), (4, "P1"), (5, "E2")]
    assert all(isinstance(e, RowError) and e.file == str(path) for e in errors)
    assert "not valid JSON" in errors[0].reason
    assert "did you mean 'graduated'?" in errors[1].reason
    assert errors[2].reason == (
        "profile.updated: established: '2019-13-01' is not a valid date "
        "(YYYY-MM-DD); revenue: 'lots' is not a number"
    )
    assert str(errors[2]).startswith(f"{path}:5: error: profile.updated: established")


def test_unreadable_event_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ZhidaError, match="no such file"):
        parse_events(tmp_path / "missing.jsonl")
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(b'{"type": "graduated", "profile": "\xe9"}\n')
    with pytest.raises(ZhidaError, match="not UTF-8"):
        parse_events(bad)
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(
        b"\xef\xbb\xbf"
        + json.dumps({"type": "patent.granted", "profile": "E1", "invention": False}).encode()
        + b"\n"
    )
    events, errors = parse_events(bom)
    assert len(events) == 1 and errors == []


# --------------------------------------------------------------------------- applying


def test_profile_updated_changes_only_the_given_fields() -> None:
    before = enterprise(revenue=8e7, patents=2)
    event = parse_event(
        {
            "type": "profile.updated",
            "profile": "E1",
            "kind": "enterprise",
            "fields": {"revenue": 1.2e8, "patents": None},
        }
    )
    after = apply_event(before, event)
    assert after == {**before, "revenue": 1.2e8, "patents": None}
    assert before["revenue"] == 8e7  # the given profile is not changed


def test_company_registered_creates_a_profile_and_only_once() -> None:
    event = parse_event(
        {
            "type": "company.registered",
            "profile": {"id": "E9", "uscc": USCC.lower(), "revenue": "5000万"},
        }
    )
    profile = apply_event(None, event)
    assert (profile["id"], profile["uscc"], profile["revenue"]) == ("E9", USCC, 5e7)
    assert profile["established"] is None
    with pytest.raises(ZhidaError, match="already exists"):
        apply_event(profile, event)


def test_patent_granted_increments_counts() -> None:
    before = enterprise(patents=2, invention_patents=1)
    invention = apply_event(before, PatentGranted("E1", True, 2))
    assert (invention["patents"], invention["invention_patents"]) == (4, 3)
    utility = apply_event(before, PatentGranted("E1", False))
    assert (utility["patents"], utility["invention_patents"]) == (3, 1)
    assert type(utility["patents"]) is int
    # an unknown count stays unknown: the new total is not known
    unknown = apply_event(enterprise(patents=None, invention_patents=0), PatentGranted("E1", True))
    assert (unknown["patents"], unknown["invention_patents"]) == (None, 1)


def test_graduated_sets_education_and_date() -> None:
    before = {"id": "P1", "name": "张三", "education": "本科", "graduation_date": None}
    after = apply_event(
        before,
        parse_event(
            '{"type": "graduated", "profile": "P1", "education": "硕士", "date": "2026-06-30"}'
        ),
    )
    assert after == {
        "id": "P1",
        "name": "张三",
        "education": "硕士",
        "graduation_date": dt.date(2026, 6, 30),
    }


def test_update_events_need_an_existing_profile_of_their_kind() -> None:
    with pytest.raises(ZhidaError, match=r"patent\.granted: profile E1 does not exist"):
        apply_event(None, PatentGranted("E1", True))
    with pytest.raises(ZhidaError, match="graduated: profile P1 does not exist"):
        apply_event(None, Graduated("P1", "博士", dt.date(2026, 7, 1)))
    with pytest.raises(ZhidaError, match=r"profile\.updated: profile E1 does not exist"):
        apply_event(None, ProfileUpdated("E1", Audience.ENTERPRISE, {"revenue": 1.0}))
    with pytest.raises(ZhidaError, match="not E2"):
        apply_event({"id": "E2"}, PatentGranted("E1", True))
    with pytest.raises(ZhidaError, match="citizen profile"):
        apply_event({"id": "E1", "kind": "citizen"}, PatentGranted("E1", True))


def test_event_log_keeps_profiles_by_kind_and_id() -> None:
    log = EventLog()
    log.apply(parse_event({"type": "company.registered", "profile": {"id": "X1", "patents": 0}}))
    log.apply(PatentGranted("X1", False))
    assert log.profiles[(Audience.ENTERPRISE, "X1")]["patents"] == 1
    with pytest.raises(ZhidaError, match="does not exist"):  # a citizen X1 is another profile
        log.apply(ProfileUpdated("X1", Audience.CITIZEN, {"household_size": 3}))


def test_a_raw_id_number_given_as_id_hash_is_never_quoted_whole() -> None:
    with pytest.raises(EventError) as info:
        parse_event(
            {
                "type": "profile.updated",
                "profile": "C1",
                "kind": "citizen",
                "fields": {"id_hash": "330106199001011234"},
            }
        )
    assert "is not a hex digest" in str(info.value)
    assert "330106199001011234" not in str(info.value)

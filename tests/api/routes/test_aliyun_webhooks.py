"""Alibaba Cloud SMS receipts (the HTTP batch push of SmsReport) on real PostgreSQL:
the secret in the URL, the size limit, receipts by BizId, by OutId for rows found by a
lookup or left unsure, duplicates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.routes.test_webhooks import add_sent, kinds, make_app, snapshot, status_of
from tests.conftest import migrated_database
from tests.support.factories import notification
from tests.support.scratch import clear_sms_tables
from zhida.store.db import session_scope
from zhida.store.models import Notification

SECRET = "aliyun-report-secret-0123456789"
PATH = f"/webhooks/aliyun/report/{SECRET}"


@pytest.fixture(scope="module")
def module_pg(pg_admin_url: str) -> Iterator[str]:
    with migrated_database(pg_admin_url, "zhida_aliyun") as url:
        yield url


@pytest.fixture()
def url(module_pg: str) -> str:
    clear_sms_tables(module_pg)
    return module_pg


def client_for(url: str, **kw: Any) -> TestClient:
    return TestClient(make_app(url, aliyun_report_token=SECRET, **kw))


def report(
    biz_id: str, out_id: str = "", success: bool = True, code: str = "DELIVERED"
) -> dict[str, Any]:
    return {
        "phone_number": "13800000001",
        "send_time": "2026-12-02 10:00:00",
        "report_time": "2026-12-02 10:00:05",
        "success": success,
        "err_code": code,
        "err_msg": "用户接收成功" if success else "失败",
        "sms_size": "1",
        "biz_id": biz_id,
        "out_id": out_id,
    }


def push(client: TestClient, items: list[dict[str, Any]], path: str = PATH) -> Any:
    return client.post(
        path, content=json.dumps(items), headers={"Content-Type": "application/json"}
    )


def test_a_wrong_or_unset_secret_gets_403_and_changes_nothing(url: str) -> None:
    nid = add_sent(url, "900^0")
    before = snapshot(url)
    client = client_for(url)
    assert push(client, [report("900^0")], "/webhooks/aliyun/report/guess").status_code == 403
    unset = TestClient(make_app(url))
    assert push(unset, [report("900^0")], "/webhooks/aliyun/report/").status_code in (403, 404)
    assert push(unset, [report("900^0")], PATH).status_code == 403
    assert snapshot(url) == before and status_of(url, nid) == "sent"


def test_a_huge_or_malformed_body_is_refused(url: str) -> None:
    client = client_for(url)
    big = [report(str(k)) for k in range(2000)]
    assert push(client, big).status_code == 413
    assert client.post(PATH, content=b"{not json").status_code == 400
    assert client.post(PATH, content=b'{"biz_id": "1"}').status_code == 400


def test_reports_by_biz_id_and_duplicates(url: str) -> None:
    ok, bad = add_sent(url, "901^0"), add_sent(url, "902^0")
    client = client_for(url)
    answer = push(client, [report("901^0"), report("902^0", success=False, code="MK:0001")])
    assert answer.status_code == 200 and answer.json() == {"code": 0, "msg": "接收成功"}
    assert (status_of(url, ok), status_of(url, bad)) == ("delivered", "failed")
    assert push(client, [report("901^0"), report("902^0", success=True)]).status_code == 200
    assert (status_of(url, ok), status_of(url, bad)) == ("delivered", "failed")
    assert kinds(url) == ["delivered"]


def test_reports_by_out_id_for_found_and_unsure_rows(url: str) -> None:
    found = add_sent(url, "OUT_PLACEHOLDER")
    with session_scope(url) as s:
        row = s.get(Notification, found)
        assert row is not None
        row.provider_ref = f"OUT{found}"  # what a lookup recorded
        lost = notification(profile_id="E-lost", status="unsure", to="+8613800000002")
        s.add(lost)
        s.flush()
        lost_id = lost.id
    client = client_for(url)
    assert (
        push(client, [report("903^0", str(found)), report("904^0", str(lost_id))]).status_code
        == 200
    )
    assert status_of(url, found) == "delivered" and status_of(url, lost_id) == "delivered"
    with session_scope(url) as s:
        row = s.get(Notification, lost_id)
        assert row is not None and (row.provider_ref, row.provider) == ("904^0", "aliyun")

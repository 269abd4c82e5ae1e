"""Drives a live Telestate server through the Python client generated from openapi/openapi.json.

Run by scripts/clients.sh: `python clients/smoke.py BASE_URL USERNAME PASSWORD`, with the
generated package `telestate_client` on PYTHONPATH. Only the generated client talks to the
server: if the document and the server disagree (a missing field, an undocumented status,
a body the client cannot send), a step fails here. Each step says what it checks.
"""

import sys
import uuid

from telestate_client import AuthenticatedClient, Client
from telestate_client.api.audit import list_audit
from telestate_client.api.auth import login
from telestate_client.api.change_sets import get_change_set
from telestate_client.api.export import export_audit, export_numbers
from telestate_client.api.imports import apply_import, create_import, get_import
from telestate_client.api.lifecycle import (
    assign_number,
    release_number,
    reserve_number,
    unassign_number,
)
from telestate_client.api.locations import create_location, get_location
from telestate_client.api.numbers import get_number, list_numbers, number_history
from telestate_client.api.ranges import create_range, get_range
from telestate_client.api.services import create_service, get_service
from telestate_client.api.stats import get_stats
from telestate_client.models import (
    AssignRequest,
    AuditList,
    CreateImportFilesBody,
    ErrorBody,
    ErrorCode,
    ImportApplied,
    ImportPlan,
    Location,
    LoginRequest,
    LoginResponse,
    NewLocation,
    NewRange,
    NewService,
    Number,
    NumberList,
    NumberStatus,
    PlanStatus,
    Range,
    ReserveRequest,
    Service,
    ServiceKind,
    Stats,
    TargetKind,
    TargetRef,
)
from telestate_client.types import File, Unset

RANGE_SIZE = 120
PAGE = 50


def ok(response, expected_type, status=200):
    """The parsed answer of a call that must succeed with `status` and `expected_type`."""
    parsed = response.parsed
    if response.status_code != status or not isinstance(parsed, expected_type):
        raise AssertionError(
            f"expected {status} {expected_type.__name__}, got {response.status_code}: "
            f"{response.content[:500]!r}"
        )
    return parsed


def main(base_url: str, username: str, password: str) -> None:
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    token = ok(
        login.sync_detailed(client=anonymous, body=LoginRequest(username=username, password=password)),
        LoginResponse,
    ).access_token
    api = AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)
    tag = uuid.uuid4().hex[:8]

    # Location and range; both answer with an ETag.
    r = create_location.sync_detailed(client=api, body=NewLocation(name=f"Smoke {tag}", country="GB"))
    location = ok(r, Location, 201)
    assert r.headers.get("etag"), "create_location sends an ETag"
    r = get_location.sync_detailed(location.id, client=api)
    assert ok(r, Location).name == location.name and r.headers.get("etag")
    # A block of the Ofcom drama range, distinct per run so reruns on one database work.
    base = 442079460000 + int(tag, 16) % 8 * 120
    r = create_range.sync_detailed(
        client=api,
        body=NewRange(start=f"+{base}", end=f"+{base + RANGE_SIZE - 1}", location_id=location.id, tags=["smoke"]),
    )
    rng = ok(r, Range, 201)
    r = get_range.sync_detailed(rng.id, client=api)
    ok(r, Range)
    assert r.headers.get("etag"), "get_range sends an ETag"

    # List the range's numbers page by page, following next_cursor to the end.
    seen, cursor, pages = [], None, 0
    while True:
        kwargs = {"cursor": cursor} if cursor else {}
        page = ok(list_numbers.sync_detailed(client=api, range_=rng.id, limit=PAGE, **kwargs), NumberList)
        pages += 1
        seen += [n.number for n in page.items]
        # `assignment` is required-and-nullable: the key is always there.
        assert all(n.assignment is None for n in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == RANGE_SIZE == len(set(seen)), f"{len(seen)} numbers in {pages} pages"
    assert pages == (RANGE_SIZE + PAGE - 1) // PAGE, pages
    first, second = seen[0], seen[1]

    # A service, then assign with If-Match and Idempotency-Key; a retry gets the same answer.
    service = ok(
        create_service.sync_detailed(client=api, body=NewService(name=f"Smoke queue {tag}", kind=ServiceKind.CALL_QUEUE)),
        Service,
        201,
    )
    assert get_service.sync_detailed(service.id, client=api).headers.get("etag")
    r = get_number.sync_detailed(first, client=api)
    etag = r.headers["etag"]
    ok(r, Number)
    key = str(uuid.uuid4())
    assign = AssignRequest(target=TargetRef(kind=TargetKind.SERVICE, id=service.id))
    number = ok(assign_number.sync_detailed(first, client=api, body=assign, if_match=etag, idempotency_key=key), Number)
    assert number.status == NumberStatus.ASSIGNED and number.assignment.target.id == service.id
    again = ok(assign_number.sync_detailed(first, client=api, body=assign, if_match=etag, idempotency_key=key), Number)
    assert again.version == number.version, "the retry replays the first answer"
    # A stale If-Match is a typed 412 with the error envelope.
    stale = assign_number.sync_detailed(first, client=api, body=assign, if_match=etag)
    assert stale.status_code == 412 and isinstance(stale.parsed, ErrorBody), stale.content
    assert ErrorCode(stale.parsed.error.code) == ErrorCode.PRECONDITION_FAILED

    # Reserve, then release without a body; unassign without a body.
    reserved = ok(reserve_number.sync_detailed(second, client=api, body=ReserveRequest(reason="smoke")), Number)
    assert reserved.status == NumberStatus.RESERVED
    released = ok(release_number.sync_detailed(second, client=api), Number)
    assert released.status == NumberStatus.AVAILABLE and released.reservation is None
    unassigned = ok(unassign_number.sync_detailed(first, client=api), Number)
    assert unassigned.status in (NumberStatus.QUARANTINED, NumberStatus.AVAILABLE)
    assert unassigned.assignment is None

    history = ok(number_history.sync_detailed(first, client=api), AuditList)
    actions = [a.action for a in history.items]
    assert "number.assign" in actions and "number.unassign" in actions, actions

    # Export (CSV text), then import a change to one number: plan, apply, its change set.
    csv_text = ok(export_numbers.sync_detailed(client=api, range_=rng.id), File).payload.read().decode()
    assert csv_text.startswith("number,") and first in csv_text, csv_text[:200]
    third = seen[2]
    upload = f"number,description\n{third},smoke import {tag}\n".encode()
    # The multipart form plans too (not applied: the raw body below is).
    form = CreateImportFilesBody(file=File(payload=upload, file_name="smoke.csv", mime_type="text/csv"))
    ok(create_import.sync_detailed(client=api, body=form), ImportPlan, 201)
    plan = ok(
        create_import.sync_detailed(client=api, body=File(payload=upload), idempotency_key=str(uuid.uuid4())),
        ImportPlan,
        201,
    )
    assert plan.errors == [] and plan.summary.updates == 1, plan.to_dict()
    plan = ok(get_import.sync_detailed(plan.id, client=api), ImportPlan)
    assert plan.status == PlanStatus.PLANNED, plan.status
    applied = ok(apply_import.sync_detailed(plan.id, client=api, idempotency_key=str(uuid.uuid4())), ImportApplied)
    assert applied.status == PlanStatus.APPLIED
    change_set = ok(get_change_set.sync_detailed(applied.change_set_id, client=api), AuditList)
    assert [a.entity_id for a in change_set.items] == [third], change_set.to_dict()
    assert ok(get_number.sync_detailed(third, client=api), Number).description == f"smoke import {tag}"

    stats = ok(get_stats.sync_detailed(client=api), Stats)
    assert stats.totals.assigned >= 0 and isinstance(stats.days_until_exhausted, (float, type(None)))
    assert len(stats.daily) == 30, len(stats.daily)
    stats = ok(get_stats.sync_detailed(client=api, days=90), Stats)
    assert len(stats.daily) == 90 and stats.daily[-1].assignments >= 1, stats.daily[-1].to_dict()

    # Audit as JSON (typed before/after) and as CSV from its own operation.
    audit = ok(list_audit.sync_detailed(client=api, number=first, limit=10), AuditList)
    assert audit.items and all(not isinstance(a.after, Unset) for a in audit.items)
    audit_csv = ok(export_audit.sync_detailed(client=api, number=first), File).payload.read().decode()
    assert audit_csv.startswith("id,at,") and "number.assign" in audit_csv, audit_csv[:200]
    print(f"smoke: ok ({RANGE_SIZE} numbers in {pages} pages, {len(audit.items)} audit records)")


if __name__ == "__main__":
    main(*sys.argv[1:4])

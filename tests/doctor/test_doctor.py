"""`reconciler doctor` against the emulator, a scripted hostile server and scim2-server."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from scim_server import TOKEN, ScimServer
from support.cli import Run, run_against, run_inprocess
from support.hostile import (
    CLIENT_ID,
    SECRET,
    USERS,
    HostileServer,
    Request,
    Response,
    hostile_server,
    jwt,
    listing,
    page,
    user,
)

from reconciler.emulator import Emulator

CONTRACT = "reconciler/backends/planview/contract.py"
AUDIT = "/public/v1/audit"
# A JWT starts with a base64url JSON header: '{"' encodes as 'eyJ'.
JWT_LIKE = re.compile(r"eyJ[\w-]+\.[\w-]+")


def lines_of(run: Run, status: str) -> list[str]:
    return [line for line in run.stdout.splitlines() if line.startswith(status)]


def assert_no_token(run: Run) -> None:
    assert not JWT_LIKE.search(run.output), run.output


# --------------------------------------------------------------------------- emulator


def test_a_tenant_with_smaller_pages_works_with_a_note_and_nothing_is_written(
    emulator_factory: Callable[..., Emulator],
) -> None:
    emulator = emulator_factory(users=300, products=3, page_max={"users": 137})
    run = run_against(emulator, "doctor")
    assert run.code == 0, run.output
    notes = lines_of(run, "NOTE")
    assert any("users: page size: asked for 500, got 137 per page" in n for n in notes), notes
    assert any("read all 300 in 3 pages" in n for n in notes), notes
    assert not lines_of(run, "DIFFERS")
    assert "The tool can work with this tenant (1 note)." in run.stdout
    for expected in ("token:", "error body (404):", "rate-limit headers:", "audit event shape:",
                     "product fields:"):  # fmt: skip
        assert any(expected in line for line in lines_of(run, "OK")), (expected, run.stdout)
    assert_no_token(run)
    requests = emulator.stats()["requests"]
    writes = [r for r in requests if not r.startswith("GET ") and "oauth2/token" not in r]
    assert writes == [], requests


def test_json_report_lists_every_check_with_its_status(emulator: Emulator) -> None:
    run = run_against(emulator, "doctor", "--format", "json")
    assert run.code == 0, run.output
    report = json.loads(run.stdout)
    assert report["backend"] == "planview"
    assert report["usable"] is True
    by_name = {c["name"]: c for c in report["checks"]}
    assert by_name["token"]["status"] == "ok"
    assert by_name["users: page size"]["saw"].startswith("asked for 500, got 500")
    assert "X-Rate-Limit-Remaining" in by_name["rate-limit headers"]["saw"]
    assert "'NotFound'" in by_name["error body (404)"]["saw"]
    assert "actor {email, id, type}, action (" in by_name["audit event shape"]["saw"]
    assert_no_token(run)


# --------------------------------------------------------------------------- hostile


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with hostile_server() as server:
        server.routes[("GET", AUDIT)] = listing([])
        yield server


def run_hostile(server: HostileServer, *args: str) -> Run:
    run = run_inprocess({**server.env(), "NO_COLOR": "1"}, "doctor", *args)
    assert "Traceback" not in run.output, run.output
    assert SECRET not in run.output
    assert_no_token(run)
    assert server.writes() == []
    return run


def differs(run: Run) -> str:
    return "\n".join(
        line
        for index, line in enumerate(run.stdout.splitlines())
        if line.startswith("DIFFERS") or "to match it, change" in line
    )


def test_a_well_behaved_scripted_server_passes(hostile: HostileServer) -> None:
    run = run_hostile(hostile)
    assert run.code == 0, run.output


def test_a_page_without_resources_fails_naming_parse_page(hostile: HostileServer) -> None:
    def no_resources(request: Request) -> Response:
        return Response(200, {"startIndex": 1, "itemsPerPage": 500, "users": []},
                        {"X-Rate-Limit-Remaining": "9"})  # fmt: skip

    hostile.routes[("GET", USERS)] = no_resources
    run = run_hostile(hostile)
    assert run.code == 1, run.output
    found = differs(run)
    assert "users: paging envelope" in found
    assert "'Resources' must be a list" in found
    assert f"{CONTRACT}: parse_page" in found


def test_a_token_that_is_not_a_jwt_fails_naming_token_from_json(hostile: HostileServer) -> None:
    hostile.routes[("POST", "/io/v1/oauth2/token")] = lambda request: Response(
        200, {"id_token": "opaque-token-not-a-jwt", "token_type": "Bearer"}
    )
    run = run_hostile(hostile)
    assert run.code == 1, run.output
    found = differs(run)
    assert "not a JWT" in found
    assert f"{CONTRACT}: token_from_json" in found
    assert "opaque-token-not-a-jwt" not in run.output
    # nothing else is tried without a token
    assert hostile.count("GET", USERS) == 0


def test_a_token_without_exp_fails(hostile: HostileServer) -> None:
    hostile.routes[("POST", "/io/v1/oauth2/token")] = lambda request: Response(
        200, {"id_token": jwt({"sub": CLIENT_ID})}
    )
    run = run_hostile(hostile)
    assert run.code == 1
    assert "without an expiry" in differs(run)


def test_pages_larger_than_asked_fail_naming_the_listing(hostile: HostileServer) -> None:
    records = [user(i) for i in range(1, 4)]
    hostile.routes[("GET", USERS)] = lambda request: page(records, per_page=600)
    run = run_hostile(hostile)
    assert run.code == 1, run.output
    found = differs(run)
    assert "asked for 500, got itemsPerPage 600" in found
    assert f"{CONTRACT}: LIST_USERS (max_count)" in found


def test_a_404_without_an_error_code_fails_naming_error_from_json(
    hostile: HostileServer,
) -> None:
    records = [user(1)]
    hostile.routes[("GET", USERS)] = listing(records)
    hostile.routes[("GET", "/public/v1/user/u-1/audit")] = listing([])

    def plain_404(request: Request) -> Response:
        return Response(404, "Not Found", {"Content-Type": "text/plain"})

    # the doctor's id is random: answer every other user path with a bare 404
    routes = hostile.routes

    class AnyUser(dict[tuple[str, str], Any]):
        def get(self, key: Any, default: Any = None) -> Any:
            method, path = key
            if method == "GET" and path.startswith(USERS + "/reconciler-doctor-"):
                return plain_404
            return routes.get(key, default)

    hostile.routes = AnyUser(routes)
    run = run_hostile(hostile)
    assert run.code == 1, run.output
    found = differs(run)
    assert "HTTP 404 without an error code" in found
    assert f"{CONTRACT}: error_from_json" in found


def test_missing_rate_limit_headers_are_a_note(hostile: HostileServer) -> None:
    def bare(records: list[dict[str, Any]]) -> Callable[[Request], Response]:
        def answer(request: Request) -> Response:
            return Response(200, {"startIndex": 1, "itemsPerPage": request.page_count(),
                                  "Resources": records})  # fmt: skip

        return answer

    hostile.routes[("GET", USERS)] = bare([])
    hostile.routes[("GET", "/public/v1/product")] = bare([])
    hostile.routes[("GET", AUDIT)] = bare([])
    run = run_hostile(hostile)
    assert run.code == 0, run.output
    assert any("no X-Rate-Limit-Remaining" in line for line in lines_of(run, "NOTE")), run.stdout


# --------------------------------------------------------------------------- SCIM


def run_scim(server: ScimServer, *args: str) -> Run:
    env = {"SCIM_URL": server.url, "SCIM_TOKEN": TOKEN, "NO_COLOR": "1"}
    run = run_inprocess(env, "doctor", "--backend", "scim", *args)
    assert "Traceback" not in run.output, run.output
    assert TOKEN not in run.output
    return run


def test_scim_reports_the_service_provider_config_and_paging(scim: ScimServer) -> None:
    for index in range(3):
        scim.add_user(f"person{index}@example.com")
    scim.add_group("Engineering")
    run = run_scim(scim, "--format", "json")
    assert run.code == 0, run.output
    report = json.loads(run.stdout)
    by_name = {c["name"]: c for c in report["checks"]}
    assert by_name["patch"] == {"name": "patch", "status": "ok",
                                "saw": "supported: writes use PATCH", "fix_at": None}  # fmt: skip
    assert by_name["etag"]["status"] == "ok"
    assert "maxResults 1000" in by_name["filter"]["saw"]
    assert set(by_name) >= {"bulk", "sort", "authentication schemes"}
    assert by_name["users: page size"]["saw"].startswith("asked for 1000, got")
    assert "totalResults" in by_name["users: paging envelope"]["saw"]
    assert "groups: page size" in by_name


def test_scim_pages_are_asked_for_at_the_announced_maximum(scim_small_pages: ScimServer) -> None:
    for index in range(30):
        scim_small_pages.add_user(f"person{index}@example.com")
    run = run_scim(scim_small_pages)
    assert run.code == 0, run.output
    assert any("users: page size: asked for 25" in line for line in run.stdout.splitlines())

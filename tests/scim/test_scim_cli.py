"""The whole tool through its command line against a real, independent SCIM server.

Every command runs in this process as CI would run it: `RECONCILER_BACKEND=scim`, the
base URL in SCIM_URL and the bearer token in SCIM_TOKEN, no TTY. No run may print a
traceback or the token.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from dropping_proxy import dropping_proxy
from scim_server import TOKEN, ScimServer
from support.cli import Run, run_inprocess
from support.hostile import HostileServer, Request, Response, hostile_server

from reconciler.render.mdescape import md_text


def scim_env(url: str, token: str = TOKEN) -> dict[str, str]:
    return {
        "RECONCILER_BACKEND": "scim",
        "SCIM_URL": url,
        "SCIM_TOKEN": token,
        "NO_COLOR": "1",
    }


def cli(url: str, *args: str, token: str = TOKEN) -> Run:
    run = run_inprocess(scim_env(url, token), *args)
    assert "Traceback" not in run.output, run.output
    assert token not in run.output
    return run


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same retries, shorter back-off: keeps the 5xx scenarios quick without changing them."""
    import reconciler.backends.scim as scim_package

    real = scim_package.open_scim_backend

    def quick(settings: Any, **options: Any) -> Any:
        return real(replace(settings, backoff_base=0.01), **options)

    monkeypatch.setattr(scim_package, "open_scim_backend", quick)


@pytest.fixture(autouse=True)
def _workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # apply's journal goes under the working directory


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def journal_kinds(workdir: Path) -> list[str]:
    kinds = []
    for journal in sorted((workdir / ".reconciler").glob("journal-*.jsonl")):
        kinds += [json.loads(line)["kind"] for line in journal.read_text().splitlines()]
    return sorted(kinds)


# --------------------------------------------------------------------------- a tenant

DESIRED = """\
version: 1
settings:
  unmanagedUsers: {policy}
products:
  projects: {{name: Projects}}
  docs: {{name: Docs}}
users:
  - email: ann.lee@example.com      # renamed, leaves Projects, joins Docs
    firstName: Ann
    lastName: Lee-Smith
    products: [docs]
  - email: bob.ray@example.com      # the server has Bob.Ray@Example.com: no change
    firstName: Bob
    lastName: Ray
    products: [projects]
  - email: cat.day@example.com      # reactivated
    firstName: Cat
    lastName: Day
    products: [projects]
  - email: frank.new@example.com    # created, joins Projects
    firstName: Frank
    lastName: New
    products: [projects]
# dan.fox@example.com is not listed: deactivated (and out of Docs), or deleted
"""


class Tenant:
    """The scenario's starting point on the server, and raw access to check the end."""

    def __init__(self, server: ScimServer) -> None:
        self.server = server
        self.projects = server.add_group("Projects")
        self.docs = server.add_group("Docs")
        self.ann = server.add_user("ann.lee@example.com", "Ann", "Lee")
        self.bob = server.add_user("Bob.Ray@Example.com", "Bob", "Ray")
        self.cat = server.add_user("cat.day@example.com", "Cat", "Day", active=False)
        self.dan = server.add_user("dan.fox@example.com", "Dan", "Fox")
        for group, members in ((self.projects, (self.ann, self.bob, self.cat)),
                               (self.docs, (self.dan,))):  # fmt: skip
            resource = server.call("GET", f"/Groups/{group}").json()
            resource.pop("meta")
            resource["members"] = [{"value": m} for m in members]
            server.call("PUT", f"/Groups/{group}", resource)

    def by_name(self, user_name: str) -> list[dict[str, Any]]:
        return self.server.users_named(user_name)


def desired(tmp_path: Path, policy: str = "deactivate") -> Path:
    return write(tmp_path, f"desired-{policy}.yaml", DESIRED.format(policy=policy))


# --------------------------------------------------------------------------- plan and apply


@pytest.mark.parametrize("fixture", ["scim", "scim_no_patch"])
def test_every_change_kind_through_plan_and_apply(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    server: ScimServer = request.getfixturevalue(fixture)
    tenant = Tenant(server)
    path = desired(tmp_path)

    planned = cli(server.url, "plan", str(path), "--format", "json")
    assert planned.code == 0, planned.output
    counts = {k: n for k, n in json.loads(planned.stdout)["counts"].items() if n}
    assert counts == {
        "create": 1,
        "update": 1,
        "reactivate": 1,
        "deactivate": 1,
        "grant": 2,
        "revoke": 2,
    }
    # a case-only difference in an email is not a change
    assert "bob.ray" not in planned.stdout.casefold()

    applied = cli(server.url, "apply", str(path), "--auto-approve")
    assert applied.code == 0, applied.output
    assert "Apply complete: 8 succeeded, 0 failed, 0 skipped." in applied.stdout
    assert journal_kinds(tmp_path) == sorted(
        ["create", "update", "reactivate", "deactivate", "grant", "grant", "revoke", "revoke"]
    )

    ann = server.user(tenant.ann)
    assert ann["name"] == {"givenName": "Ann", "familyName": "Lee-Smith"}
    assert server.user(tenant.cat)["active"] is True
    assert server.user(tenant.dan)["active"] is False
    bob = server.user(tenant.bob)
    assert bob["userName"] == "Bob.Ray@Example.com"  # left as it was
    [frank] = tenant.by_name("frank.new@example.com")
    assert frank["name"] == {"givenName": "Frank", "familyName": "New"}
    assert frank["active"] is True
    assert server.group_members(tenant.projects) == {tenant.bob, tenant.cat, frank["id"]}
    assert server.group_members(tenant.docs) == {tenant.ann}

    again = cli(server.url, "plan", str(path), "--detailed-exitcode")
    assert again.code == 0, again.output
    assert "No changes" in again.stdout

    # delete needs the policy in the files and the flag on the command line
    deleting = desired(tmp_path, "delete")
    without_flag = cli(server.url, "plan", str(deleting), "--detailed-exitcode")
    assert without_flag.code == 0, without_flag.output  # dan is deactivated already
    deleted = cli(server.url, "apply", str(deleting), "--auto-approve", "--allow-delete")
    assert deleted.code == 0, deleted.output
    assert "Apply complete: 1 succeeded, 0 failed, 0 skipped." in deleted.stdout
    assert tenant.by_name("dan.fox@example.com") == []
    assert journal_kinds(tmp_path).count("delete") == 1
    final = cli(server.url, "plan", str(deleting), "--allow-delete", "--detailed-exitcode")
    assert final.code == 0, final.output


def test_plan_reads_at_the_paging_minimum(scim_small_pages: ScimServer, tmp_path: Path) -> None:
    server = scim_small_pages
    ids = [server.add_user(f"user{n:03d}@example.com", "User", str(n)) for n in range(60)]
    for n in range(25):
        server.add_group(f"Team {n:02d}")
    server.add_group("Everyone", members=tuple(ids))
    users = "".join(
        f"  - {{email: user{n:03d}@example.com, firstName: User, lastName: '{n}', "
        "products: [everyone]}\n"
        for n in range(60)
    )
    path = write(
        tmp_path,
        "paged.yaml",
        f"version: 1\nproducts:\n  everyone: {{name: Everyone}}\nusers:\n{users}",
    )

    planned = cli(server.url, "plan", str(path), "--detailed-exitcode")

    assert planned.code == 0, planned.output
    # /ServiceProviderConfig, then 60 users and 26 groups in pages of 25: the last page
    # of each listing is known to be the last from totalResults, no empty page after it
    minimum = 1 + 3 + 2
    assert planned.client_stats()["requests"] == minimum, planned.stderr


def test_a_create_whose_answer_is_lost_is_not_duplicated(scim: ScimServer, tmp_path: Path) -> None:
    group = scim.add_group("Projects")
    path = write(
        tmp_path,
        "new.yaml",
        "version: 1\nproducts:\n  projects: {name: Projects}\nusers:\n"
        "  - {email: Lost.Answer@example.com, firstName: Lost, lastName: Answer, "
        "products: [projects]}\n",
    )
    saved = cli(scim.url, "plan", str(path), "--out", "before.json")
    assert saved.code == 0, saved.output
    root = "/".join(scim.url.split("/")[:3])
    with dropping_proxy(root, "POST", "/Users") as proxy:
        applied = cli(proxy.url_for(scim.url), "apply", str(path), "--auto-approve")
        assert proxy.dropped == 1
        assert proxy.count("POST", "/Users") == 1  # read back by userName, not sent again
    assert applied.code == 0, applied.output
    [user] = scim.users_named("lost.answer@example.com")
    assert scim.group_members(group) == {user["id"]}

    # a re-run, and an apply of a plan saved before the create, make no second user
    again = cli(scim.url, "apply", str(path), "--auto-approve")
    assert again.code == 0, again.output
    assert "Nothing to apply" in again.stdout
    replayed = cli(scim.url, "apply", "--plan", "before.json", str(path))
    assert replayed.code == 1, replayed.output
    assert "a user with this email now exists" in replayed.stderr
    assert [u["id"] for u in scim.users_named("lost.answer@example.com")] == [user["id"]]


# --------------------------------------------------------------------------- refusals


def test_safety_blocks_a_plan_with_too_many_removals(scim: ScimServer, tmp_path: Path) -> None:
    Tenant(scim)
    text = DESIRED.format(policy="deactivate").replace(
        "  unmanagedUsers: deactivate\n",
        "  unmanagedUsers: deactivate\n  safety:\n    maxRemovals: 1\n",
    )
    path = write(tmp_path, "strict.yaml", text)
    before = scim.state()

    planned = cli(scim.url, "plan", str(path))
    applied = cli(scim.url, "apply", str(path), "--auto-approve")

    assert planned.code == 3, planned.output
    assert applied.code == 3, applied.output
    assert "--allow-removals 3" in planned.stdout + planned.stderr
    assert scim.state() == before
    assert not (tmp_path / ".reconciler").exists() or journal_kinds(tmp_path) == []


def test_a_stale_saved_plan_is_refused(scim: ScimServer, tmp_path: Path) -> None:
    tenant = Tenant(scim)
    path = desired(tmp_path)
    planned = cli(scim.url, "plan", str(path), "--out", "plan.json")
    assert planned.code == 0, planned.output
    scim.rename_user(tenant.ann, "ChangedElsewhere")
    before = scim.state()

    applied = cli(scim.url, "apply", "--plan", "plan.json", str(path))

    assert applied.code == 1, applied.output
    assert "plan is stale" in applied.stderr
    assert scim.state() == before


def test_role_and_password_required_are_refused_at_file_and_line(
    scim: ScimServer, tmp_path: Path
) -> None:
    scim.add_group("Projects")
    path = write(
        tmp_path,
        "roles.yaml",
        "version: 1\n"
        "products:\n"
        "  projects: {name: Projects}\n"
        "users:\n"
        "  - email: ann@example.com\n"
        "    firstName: Ann\n"
        "    lastName: Lee\n"
        "    role: Administrator\n"
        "  - email: bob@example.com\n"
        "    firstName: Bob\n"
        "    lastName: Ray\n"
        "    passwordRequired: true\n",
    )
    before = scim.state()
    for command in (("plan",), ("apply", "--auto-approve")):
        run = cli(scim.url, *command, str(path))
        assert run.code == 1, run.output
        assert "roles.yaml:5:5: ann@example.com sets role" in run.stderr
        assert "roles.yaml:9:5: bob@example.com sets passwordRequired" in run.stderr
        assert "scim backend does not manage" in run.stderr
    assert scim.state() == before


# --------------------------------------------------------------------------- export, drift


def test_export_round_trips_to_a_plan_without_changes(scim: ScimServer, tmp_path: Path) -> None:
    tenant = Tenant(scim)
    scim.add_group("Nobody's")  # a group without members is exported too

    exported = cli(scim.url, "export", "--out", "exported.yaml")

    assert exported.code == 0, exported.output
    text = (tmp_path / "exported.yaml").read_text()
    assert "role" not in text and "passwordRequired" not in text
    assert "Bob.Ray@Example.com" in text
    planned = cli(scim.url, "plan", "exported.yaml", "--detailed-exitcode")
    assert planned.code == 0, planned.output
    assert "No changes" in planned.stdout
    assert tenant.by_name("cat.day@example.com")[0]["active"] is False


def test_drift_names_the_user_and_the_difference_without_attribution(
    scim: ScimServer, tmp_path: Path
) -> None:
    tenant = Tenant(scim)
    path = desired(tmp_path)
    assert cli(scim.url, "apply", str(path), "--auto-approve").code == 0
    assert cli(scim.url, "drift", str(path)).code == 0
    scim.rename_user(tenant.ann, "Changed")

    drift = cli(scim.url, "drift", str(path))

    assert drift.code == 2, drift.output
    assert "ann.lee@example.com" in drift.stdout
    assert "lastName: Changed (desired: Lee-Smith)" in drift.stdout
    assert "no audit log" in drift.stdout
    assert "not attributed" in drift.stdout
    # the provider's meta.lastModified is the "when" a service without an audit log gives
    modified = scim.user(tenant.ann)["meta"]["lastModified"]
    assert f"last modified at {modified}" in drift.stdout
    as_json = cli(scim.url, "drift", str(path), "--format", "json")
    assert as_json.code == 2
    (user,) = json.loads(as_json.stdout)["users"]
    assert user["email"] == "ann.lee@example.com" and user["changed_at"] == modified
    markdown = cli(scim.url, "drift", str(path), "--format", "markdown")
    assert md_text(modified) in markdown.stdout


# --------------------------------------------------------------------------- bad answers

CONFIG = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
    "patch": {"supported": True},
    "etag": {"supported": False},
    "filter": {"supported": True, "maxResults": 2},
}
FIRST_PAGE = [
    {"id": "u1", "userName": "user1@example.com", "active": True},
    {"id": "u2", "userName": "user2@example.com", "active": True},
]
BAD_ANSWERS = {
    "missing Resources": (
        Response(200, {"totalResults": 3, "itemsPerPage": 2}),
        "has no 'Resources' although totalResults is 3",
    ),
    "itemsPerPage 0": (
        Response(200, {"totalResults": 5, "itemsPerPage": 0, "Resources": []}),
        "is empty (itemsPerPage 0) although totalResults is 5",
    ),
    "HTTP 500": (
        Response(500, {"status": "500", "detail": "boom"}),
        "the server failed (HTTP 500)",
    ),
}
COMMANDS = {
    "plan": ("plan", "desired.yaml"),
    "apply": ("apply", "desired.yaml", "--auto-approve"),
    "drift": ("drift", "desired.yaml"),
    "export": ("export",),
}


@pytest.fixture
def scripted() -> Iterator[HostileServer]:
    with hostile_server() as server:
        server.routes = {
            ("GET", "/ServiceProviderConfig"): lambda request: Response(200, CONFIG),
            ("GET", "/Users"): lambda request: Response(200, {"totalResults": 0}),
            ("GET", "/Groups"): lambda request: Response(200, {"totalResults": 0}),
        }
        yield server


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("answer", sorted(BAD_ANSWERS))
def test_bad_answers_end_every_command_with_exit_1(
    scripted: HostileServer, tmp_path: Path, command: str, answer: str
) -> None:
    write(
        tmp_path,
        "desired.yaml",
        "version: 1\nusers:\n  - {email: new@example.com, firstName: N, lastName: P}\n",
    )
    response, expected = BAD_ANSWERS[answer]

    def users(request: Request) -> Response:
        # the first page is sound (and full, so there is more); the next one is bad
        if request.page_start() == 1:
            return Response(200, {"totalResults": 5, "itemsPerPage": 2, "Resources": FIRST_PAGE})
        return response

    scripted.routes[("GET", "/Users")] = users

    run = cli(scripted.url, *COMMANDS[command])

    assert run.code == 1, run.output
    assert "Error" in run.stderr
    assert expected in run.stderr
    assert not any(r.method in ("POST", "PUT", "PATCH", "DELETE") for r in scripted.requests)
    assert not (tmp_path / ".reconciler").exists() or journal_kinds(tmp_path) == []

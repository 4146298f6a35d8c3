"""The harness's own arithmetic and measuring, which every figure in docs/benchmarks.md
rests on."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.generate import apply_scenario, export_document, make_tenant, plan_scenario  # noqa: E402
from bench.measure import run_process  # noqa: E402
from bench.paging import endpoint_of, minimum_plan_reads, pages_needed  # noqa: E402


def test_a_listing_that_fills_its_last_page_needs_one_empty_page_to_end() -> None:
    assert pages_needed(0, 500) == 1  # the empty first page ends it
    assert pages_needed(499, 500) == 1
    assert pages_needed(500, 500) == 2  # a full page cannot tell it is the last
    assert pages_needed(50_000, 500) == 101
    assert pages_needed(50_001, 500) == 101


def test_minimum_reads_count_every_listing_at_its_maximum_page_size() -> None:
    minimum = minimum_plan_reads(10_000, {"p-a": 1000, "p-b": 999}, 8)
    assert minimum == {
        "POST /io/v1/oauth2/token": 1,
        "GET /public/v1/user": 21,
        "GET /public/v1/product": 1,
        "GET /public/v1/product/{pid}/user": 2 + 1,
    }


def test_requests_are_grouped_by_endpoint_whatever_the_ids() -> None:
    assert endpoint_of("GET /public/v1/user?startIndex=501&count=500") == "GET /public/v1/user"
    assert endpoint_of("PATCH /public/v1/user/u-12ab") == "PATCH /public/v1/user/{id}"
    assert (
        endpoint_of("POST /public/v1/user/u-1/deactivate") == "POST /public/v1/user/{id}/deactivate"
    )
    assert endpoint_of("DELETE /public/v1/product/p-x/user/u-1") == (
        "DELETE /public/v1/product/{pid}/user/{userId}"
    )
    assert endpoint_of("GET /public/v1/product/{pid}/user") == "GET /public/v1/product/{pid}/user"


def test_peak_rss_and_exit_code_are_those_of_the_child() -> None:
    code = (
        "x = bytearray(150 * 1024 * 1024); x[::4096] = b'1' * len(x[::4096]); raise SystemExit(3)"
    )
    run = run_process([sys.executable, "-c", code])
    assert run.exit_code == 3
    assert run.peak_rss_mb >= 150


def test_a_child_past_its_timeout_is_stopped_and_reported() -> None:
    run = run_process([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert run.timed_out
    assert run.exit_code is None
    assert run.wall_seconds < 10


def test_tenants_have_eight_products_and_about_one_and_a_half_per_user() -> None:
    tenant = make_tenant(2000, seed=5)
    assert tenant == make_tenant(2000, seed=5)  # reproducible from the seed
    assert len(tenant["products"]) == 8
    held = sum(len(ids) for ids in tenant["provisioning"].values())
    assert 1.4 < held / 2000 < 1.6
    emails = [u["email"].casefold() for u in tenant["users"]]
    assert len(set(emails)) == len(emails)


def test_the_unchanged_export_lists_every_user_with_their_products() -> None:
    tenant = make_tenant(300, seed=1)
    doc = export_document(tenant)
    assert len(doc["users"]) == 300
    granted = sum(len(u.get("products", [])) for u in doc["users"])
    assert granted == sum(len(ids) for ids in tenant["provisioning"].values())


def test_scenarios_change_the_share_of_users_asked_for() -> None:
    tenant = make_tenant(5000, seed=2)
    plan = plan_scenario(tenant, 0.02, seed=3)
    changed_users = 100
    # Joiners bring their grants along, so there can be a few more changes than users.
    assert changed_users <= sum(plan.expected.values()) <= changed_users * 1.3
    apply = apply_scenario(tenant, 400, seed=4)
    assert sum(apply.expected.values()) == 400
    assert set(apply.expected) <= {"update", "grant", "create"}  # nothing taken away


def test_a_child_does_not_inherit_the_harness_memory_peak() -> None:
    """A child's ru_maxrss starts at its spawner's high-water mark; the harness holds
    whole tenants in memory, so it spawns through a small launcher."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from bench import measure;"
        "measure.start_launcher();"
        "big = bytearray(200 * 1024 * 1024); big[::4096] = b'1' * len(big[::4096]);"
        "run = measure.run_process([sys.executable, '-c', 'pass']);"
        "measure.stop_launcher(); print(run.peak_rss_mb)"
    )
    done = run_process([sys.executable, "-c", code, str(REPO)])
    assert done.exit_code == 0, done.stderr
    assert float(done.stdout) < 100


def test_the_profile_names_library_code_by_its_package_path() -> None:
    # A bare `encoder.py` could be mistaken for (and checked as) a file of this repository.
    import json.encoder

    import yaml.events

    from bench.profile import _where

    assert _where((json.encoder.__file__, 1, "iterencode")) == "json/encoder.py:iterencode"
    assert _where((yaml.events.__file__, 1, "__init__")) == "yaml/events.py:__init__"
    assert _where((str(REPO / "reconciler" / "model.py"), 1, "email_key")) == (
        "reconciler/model.py:email_key"
    )
    assert _where(("~", 0, "<built-in method builtins.len>")) == "<built-in method builtins.len>"

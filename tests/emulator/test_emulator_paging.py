"""Paging exactly as published: 1-based startIndex, capped count, shifting offsets."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from emulator_http import Api, error_of

from reconciler.emulator import Emulator

USERS = "/public/v1/user"


@pytest.fixture
def api_for(emulator_factory: Callable[..., Emulator]) -> Iterator[Callable[..., Api]]:
    clients: list[Api] = []

    def make(**config: object) -> Api:
        api = Api(emulator_factory(**config))
        clients.append(api)
        return api

    yield make
    for api in clients:
        api.close()


def test_empty_tenant_answers_an_empty_first_page(api_for: Callable[..., Api]) -> None:
    api = api_for(users=0, products=0)
    page = api.get(USERS).json()
    assert page == {"startIndex": 1, "itemsPerPage": 50, "Resources": []}
    assert api.get("/public/v1/product").json()["Resources"] == []


def test_exact_multiple_of_the_page_size_ends_with_an_empty_page(
    api_for: Callable[..., Api],
) -> None:
    api = api_for(users=20, products=1)
    first = api.get(USERS, startIndex=1, count=10).json()
    second = api.get(USERS, startIndex=11, count=10).json()
    third = api.get(USERS, startIndex=21, count=10).json()
    assert [len(p["Resources"]) for p in (first, second, third)] == [10, 10, 0]
    assert third["startIndex"] == 21 and third["itemsPerPage"] == 10
    everyone = api.all_pages(USERS, 10)
    assert [u["id"] for u in everyone] == [u["id"] for u in api.emulator.state()["users"]]


def test_short_last_page_is_shorter_than_items_per_page(api_for: Callable[..., Api]) -> None:
    api = api_for(users=23, products=1)
    last = api.get(USERS, startIndex=21, count=10).json()
    assert last["itemsPerPage"] == 10 and len(last["Resources"]) == 3


def test_count_above_the_maximum_is_capped_not_refused(api_for: Callable[..., Api]) -> None:
    api = api_for(users=30, products=2, page_max={"users": 12})
    page = api.get(USERS, count=1000).json()
    assert page["itemsPerPage"] == 12
    assert len(page["Resources"]) == 12
    assert api.get("/public/v1/product", count=5000).json()["itemsPerPage"] == 100
    api.emulator.configure(page_max={"/public/v1/product": 2})
    capped = api.get("/public/v1/product", count=5000).json()
    assert capped["itemsPerPage"] == 2 and len(capped["Resources"]) == 2


def test_default_page_sizes_follow_the_contract(api_for: Callable[..., Api]) -> None:
    api = api_for(users=60, products=3)
    assert api.get(USERS).json()["itemsPerPage"] == 50
    assert len(api.get(USERS).json()["Resources"]) == 50
    assert api.get(USERS, count=100000).json()["itemsPerPage"] == 500
    product = api.get("/public/v1/product").json()["Resources"][0]["id"]
    holders = api.get(f"/public/v1/product/{product}/user").json()
    assert holders["itemsPerPage"] == 100
    assert api.get("/public/v1/audit", count=999).json()["itemsPerPage"] == 200


def test_start_index_past_the_end_is_an_empty_page(api_for: Callable[..., Api]) -> None:
    api = api_for(users=5, products=1)
    page = api.get(USERS, startIndex=6).json()
    assert page["Resources"] == [] and page["startIndex"] == 6
    assert api.get(USERS, startIndex=10_000).json()["Resources"] == []


@pytest.mark.parametrize(
    "params", [{"startIndex": 0}, {"startIndex": "x"}, {"count": -1}, {"count": "ten"}]
)
def test_nonsense_paging_is_a_validation_error(
    api_for: Callable[..., Api], params: dict[str, object]
) -> None:
    api = api_for(users=3, products=1)
    assert error_of(api.get(USERS, **params)) == (400, "ValidationError")


def test_users_come_oldest_first_and_new_users_last(api_for: Callable[..., Api]) -> None:
    api = api_for(users=8, products=1)
    created = api.create_user("zz.newest@example.com")
    users = api.all_pages(USERS, 3)
    assert users[-1]["id"] == created["id"]
    stamps = [u["createdAt"] for u in users]
    assert stamps == sorted(stamps)


def test_offsets_shift_when_records_change_between_reads(api_for: Callable[..., Api]) -> None:
    api = api_for(users=10, products=1)
    first = api.get(USERS, startIndex=1, count=5).json()["Resources"]
    # Someone deletes a user on the first page: the second page now starts one later,
    # so the record that moved up onto page one is never seen by this reader.
    assert api.delete(f"/public/v1/user/{first[0]['id']}").status_code == 204
    second = api.get(USERS, startIndex=6, count=5).json()["Resources"]
    everyone = [u["id"] for u in api.emulator.state()["users"]]
    assert [u["id"] for u in second] == everyone[5:]
    skipped = everyone[4]
    assert skipped not in [u["id"] for u in first + second]


def test_email_filter_is_case_insensitive_and_exact(api_for: Callable[..., Api]) -> None:
    api = api_for(users=5, products=1)
    made = api.create_user("Mixed.Case@Example.com")
    found = api.get(USERS, filter='email eq "mixed.case@EXAMPLE.COM"').json()
    assert [u["id"] for u in found["Resources"]] == [made["id"]]
    assert found["Resources"][0]["email"] == "Mixed.Case@Example.com"
    assert api.get(USERS, filter='email eq "mixed.case@example"').json()["Resources"] == []
    assert api.get(USERS, filter='email eq "ixed.case@example.com"').json()["Resources"] == []


@pytest.mark.parametrize(
    "expression", ['userName eq "a@b.c"', 'email co "a"', "email eq a@b.c", ""]
)
def test_other_filters_are_refused(api_for: Callable[..., Api], expression: str) -> None:
    api = api_for(users=2, products=1)
    assert error_of(api.get(USERS, filter=expression)) == (400, "ValidationError")


def test_provisioning_and_audit_pages_follow_the_same_rules(api_for: Callable[..., Api]) -> None:
    api = api_for(users=40, products=2)
    state = api.emulator.state()
    for product_id, holders in state["provisioning"].items():
        listed = api.all_pages(f"/public/v1/product/{product_id}/user", 7)
        assert [p["userId"] for p in listed] == holders
    audit = api.all_pages("/public/v1/audit", 33)
    assert [e["id"] for e in audit] == [e["id"] for e in state["audit"]]

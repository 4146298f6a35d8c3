"""The emulator's answers conform to the OpenAPI description of the modelled API."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from emulator_http import Api
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from reconciler.emulator import Emulator

DOC_URI = "urn:planview-admin-api"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    text = (
        resources.files("reconciler.schemas")
        .joinpath("planview-admin-api.openapi.yaml")
        .read_text(encoding="utf-8")
    )
    return dict(yaml.safe_load(text))


def _follow(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Resolve a (non-schema) $ref such as #/components/responses/NotFound."""
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    for template, item in document["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return dict(item[method.lower()])
    raise AssertionError(f"{method} {path} is not in the OpenAPI document")


def check(document: dict[str, Any], reply: httpx.Response) -> None:
    request = reply.request
    operation = _operation(document, request.method, request.url.path)
    responses = operation["responses"]
    status = str(reply.status_code)
    declared = responses.get(status) or responses.get(status[0] + "XX")
    assert declared is not None, f"{request.method} {request.url.path} may not answer {status}"
    declared = _follow(document, declared)
    for name in declared.get("headers", {}):
        assert name in reply.headers, f"{status} of {request.url.path} lacks {name}"
    content = declared.get("content")
    if content is None:
        assert reply.content == b""
        return
    schema = content["application/json"]["schema"]
    registry = Registry().with_resource(DOC_URI, Resource(document, specification=DRAFT202012))
    pointer = schema.get("$ref")
    wrapped = {"$ref": DOC_URI + pointer} if pointer else schema
    validator = jsonschema.Draft202012Validator(
        wrapped, registry=registry, format_checker=jsonschema.FormatChecker()
    )
    errors = sorted(validator.iter_errors(reply.json()), key=lambda e: list(e.path))
    assert not errors, f"{request.method} {request.url.path} {status}: {errors[0].message}"


def test_the_document_is_an_openapi_3_1_description(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    assert not any(path.startswith("/_emulator") for path in document["paths"])
    assert "[modelled]" in document["info"]["description"]


def test_responses_conform_to_the_document(document: dict[str, Any], emulator_factory: Any) -> None:
    emulator: Emulator = emulator_factory(users=30, products=4, rate_limit_points=200)
    api = Api(emulator)
    replies: list[httpx.Response] = []

    def seen(reply: httpx.Response) -> httpx.Response:
        replies.append(reply)
        return reply

    with httpx.Client(base_url=emulator.url) as anonymous:
        grant = {"grant_type": "client_credentials"}
        auth = (emulator.client_id, emulator.client_secret)
        seen(anonymous.post("/io/v1/oauth2/token", data=grant, auth=auth))
        seen(anonymous.post("/io/v1/oauth2/token", data=grant, auth=("x", "y")))
        seen(anonymous.post("/io/v1/oauth2/token", data={"grant_type": "implicit"}, auth=auth))
        seen(anonymous.get("/public/v1/user"))
    users = seen(api.get("/public/v1/user", count=10)).json()["Resources"]
    seen(api.get("/public/v1/user", filter=f'email eq "{users[0]["email"]}"'))
    seen(api.get("/public/v1/user", filter="nonsense"))
    products = seen(api.get("/public/v1/product")).json()["Resources"]
    pid = products[0]["id"]
    seen(api.get(f"/public/v1/product/{pid}/user"))
    seen(api.get("/public/v1/product/p-nothing/user"))
    made = seen(
        api.post("/public/v1/user", {"email": "o@example.com", "firstName": "O", "lastName": "A"})
    ).json()
    seen(api.post("/public/v1/user", {"email": "O@example.com", "firstName": "O", "lastName": "A"}))
    seen(api.post("/public/v1/user", {"email": "nope"}))
    user = f"/public/v1/user/{made['id']}"
    seen(api.get(user))
    seen(api.get("/public/v1/user/u-nobody"))
    seen(api.patch(user, {"role": "Administrator"}))
    seen(api.post(f"/public/v1/product/{pid}/user", {"userId": made["id"]}))
    seen(api.post(f"/public/v1/product/{pid}/user", {"userId": made["id"]}))
    seen(api.delete(f"/public/v1/product/{pid}/user/{made['id']}"))
    seen(api.post(f"{user}/deactivate"))
    seen(api.post(f"/public/v1/product/{pid}/user", {"userId": made["id"]}))
    seen(api.post(f"{user}/reactivate"))
    seen(api.get(f"{user}/audit"))
    seen(api.get("/public/v1/audit", since="2026-01-01T00:00:00Z", count=200))
    seen(api.delete(user))
    emulator.configure(fault_5xx=1.0)
    seen(api.get("/public/v1/product"))
    emulator.configure(fault_5xx=0.0, rate_limit_points=1, rate_limit_window=60)
    seen(api.get("/public/v1/product"))
    seen(api.get("/public/v1/product"))
    statuses = {r.status_code for r in replies}
    assert {200, 201, 204, 400, 401, 404, 409, 429, 503} <= statuses
    for reply in replies:
        check(document, reply)


def test_the_check_catches_a_nonconforming_answer(document: dict[str, Any]) -> None:
    request = httpx.Request("GET", "http://127.0.0.1/public/v1/user/u-1")
    bad = httpx.Response(
        200,
        json={"id": "u-1", "email": "a@b.c", "status": "Sleeping"},
        headers={"X-Rate-Limit-Remaining": "5"},
        request=request,
    )
    with pytest.raises(AssertionError):
        check(document, bad)

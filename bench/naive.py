"""The reconciler an IT admin would write in an afternoon without this tool.

It is the baseline of the benchmark, so it is written the obvious way on purpose,
with the libraries such a person reaches for first, and nothing clever:

- `yaml.safe_load` each file, then `jsonschema.validate` the whole document against
  the project's own schema;
- one `httpx.Client` (keep-alive, as httpx's docs recommend), pages read one after
  another with each endpoint's *default* page size: the admin follows the paging
  example of the API page and does not tune `count`;
- `DeepDiff` over the whole desired and live states, both shaped as
  `{email: {field: value, "products": [sorted aliases]}}`;
- writes one after another; on 429 it sleeps `Retry-After` and tries again.

It handles the subset of the desired-state format the benchmark generates (users,
products aliased by name or id, groups, `unmanagedUsers: deactivate|ignore`), which
is what a hand-written script covers too. It prints one line per change and, last, a
JSON summary line the harness reads.

    PLANVIEW_ADMIN_CLIENT_SECRET=... python bench/naive.py plan  --url URL --client-id ID FILE...
    PLANVIEW_ADMIN_CLIENT_SECRET=... python bench/naive.py apply --url URL --client-id ID FILE...
    python bench/naive.py validate FILE...
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import yaml
from deepdiff import DeepDiff

SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "desired-state.schema.json"
FIELDS = ("firstName", "lastName", "role", "passwordRequired", "active")


# --------------------------------------------------------------------------- desired


def load_desired(files: list[str]) -> dict[str, Any]:
    schema = json.loads(SCHEMA.read_text())
    merged: dict[str, Any] = {"settings": {}, "products": {}, "groups": {}, "users": []}
    for name in files:
        with open(name, encoding="utf-8") as handle:
            doc = yaml.safe_load(handle)
        jsonschema.validate(doc, schema)
        merged["settings"].update(doc.get("settings") or {})
        merged["products"].update(doc.get("products") or {})
        merged["groups"].update(doc.get("groups") or {})
        merged["users"].extend(doc.get("users") or [])
    return merged


def desired_view(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    groups = {name: g.get("products", []) for name, g in doc["groups"].items()}
    view = {}
    for user in doc["users"]:
        products = set(user.get("products", []))
        for group in user.get("groups", []):
            products.update(groups[group])
        view[user["email"].lower()] = {
            "email": user["email"],
            "firstName": user["firstName"],
            "lastName": user["lastName"],
            "role": user.get("role", "User"),
            "passwordRequired": user.get("passwordRequired", False),
            "active": user.get("active", True),
            "products": sorted(products),
        }
    return view


# --------------------------------------------------------------------------- API


class Api:
    def __init__(self, url: str, client_id: str, secret: str):
        self.http = httpx.Client(base_url=url, timeout=60)
        self.requests = 0
        self.throttled = 0
        response = self.http.post(
            "/io/v1/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, secret),
        )
        response.raise_for_status()
        self.requests += 1
        self.http.headers["Authorization"] = "Bearer " + response.json()["id_token"]

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        while True:
            response = self.http.request(method, path, **kwargs)
            self.requests += 1
            if response.status_code == 429:
                self.throttled += 1
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            response.raise_for_status()
            return response

    def list_all(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        start = 1
        while True:
            page = self.call("GET", path, params={"startIndex": start}).json()
            items.extend(page["Resources"])
            if not page["Resources"] or len(page["Resources"]) < page["itemsPerPage"]:
                return items
            start += page["itemsPerPage"]


def live_view(
    api: Api, doc: dict[str, Any]
) -> tuple[dict[str, dict[str, Any]], dict[str, str], dict[str, str]]:
    users = api.list_all("/public/v1/user")
    products = api.list_all("/public/v1/product")
    alias_to_pid = {}
    for alias, ref in doc["products"].items():
        match = [p for p in products if p["id"] == ref.get("id") or p["name"] == ref.get("name")]
        if not match:
            raise SystemExit(f"product {alias} not found")
        alias_to_pid[alias] = match[0]["id"]
    held: dict[str, list[str]] = {u["id"]: [] for u in users}
    for alias, pid in alias_to_pid.items():
        for row in api.list_all(f"/public/v1/product/{pid}/user"):
            held.setdefault(row["userId"], []).append(alias)
    view = {}
    ids = {}
    for user in users:
        key = user["email"].lower()
        ids[key] = user["id"]
        view[key] = {
            "email": user["email"],
            "firstName": user["firstName"],
            "lastName": user["lastName"],
            "role": user["role"],
            "passwordRequired": user["passwordRequired"],
            "active": user["status"] != "Deactivated",
            "products": sorted(held.get(user["id"], [])),
        }
    return view, ids, alias_to_pid


# --------------------------------------------------------------------------- diff


def changes_from(
    desired: dict[str, dict[str, Any]],
    live: dict[str, dict[str, Any]],
    policy: str,
) -> list[tuple[str, str, Any]]:
    # Emails are compared lower-cased, but DeepDiff would still see a case change in
    # the "email" value: compare without it.
    strip = lambda view: {k: {f: v for f, v in r.items() if f != "email"} for k, r in view.items()}  # noqa: E731
    diff = DeepDiff(strip(live), strip(desired))
    touched = set()
    for report in diff.tree.values():
        for level in report:
            touched.add(level.path(output_format="list")[0])
    changes: list[tuple[str, str, Any]] = []
    for key in sorted(touched):
        want, have = desired.get(key), live.get(key)
        if have is None:
            changes.append(("create", key, None))
            changes.extend(("grant", key, alias) for alias in want["products"])
            continue
        if want is None:
            if policy == "deactivate" and have["active"]:
                changes.append(("deactivate", key, None))
            continue
        fields = {f: want[f] for f in FIELDS[:4] if want[f] != have[f]}
        if fields:
            changes.append(("update", key, fields))
        if want["active"] != have["active"]:
            changes.append(("reactivate" if want["active"] else "deactivate", key, None))
        changes.extend(("revoke", key, a) for a in set(have["products"]) - set(want["products"]))
        changes.extend(("grant", key, a) for a in set(want["products"]) - set(have["products"]))
    return changes


def apply_changes(
    api: Api,
    changes: list[tuple[str, str, Any]],
    desired: dict[str, dict[str, Any]],
    ids: dict[str, str],
    alias_to_pid: dict[str, str],
) -> None:
    for kind, key, arg in changes:
        if kind == "create":
            want = desired[key]
            body = {f: want[f] for f in ("email", *FIELDS[:4])}
            ids[key] = api.call("POST", "/public/v1/user", json=body).json()["id"]
        elif kind == "update":
            api.call("PATCH", f"/public/v1/user/{ids[key]}", json=arg)
        elif kind in ("deactivate", "reactivate"):
            api.call("POST", f"/public/v1/user/{ids[key]}/{kind}")
        elif kind == "grant":
            api.call(
                "POST", f"/public/v1/product/{alias_to_pid[arg]}/user", json={"userId": ids[key]}
            )
        elif kind == "revoke":
            api.call("DELETE", f"/public/v1/product/{alias_to_pid[arg]}/user/{ids[key]}")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["validate", "plan", "apply"])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--url")
    parser.add_argument("--client-id")
    args = parser.parse_args(argv)

    doc = load_desired(args.files)
    desired = desired_view(doc)
    if args.command == "validate":
        print(json.dumps({"users": len(desired)}))
        return 0

    api = Api(args.url, args.client_id, os.environ["PLANVIEW_ADMIN_CLIENT_SECRET"])
    live, ids, alias_to_pid = live_view(api, doc)
    policy = doc["settings"].get("unmanagedUsers", "deactivate")
    changes = changes_from(desired, live, policy)
    for kind, key, arg in changes:
        print(kind, key, "" if arg is None else arg)
    if args.command == "apply":
        apply_changes(api, changes, desired, ids, alias_to_pid)
    summary = {
        "changes": dict(Counter(kind for kind, _, _ in changes)),
        "requests": api.requests,
        "throttled": api.throttled,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

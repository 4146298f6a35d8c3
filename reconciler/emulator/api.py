"""The modelled Planview Admin API and the /_emulator/ admin routes, transport-free.

`Application.handle` turns one parsed request into a `Reply`; the HTTP layer only
moves bytes. Everything runs on the server's event-loop thread, so nothing here locks.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from reconciler.emulator.config import (
    RUNTIME_SETTINGS,
    EmulatorConfig,
    page_limits,
    validate_settings,
)
from reconciler.emulator.faults import Fault, FaultPlan
from reconciler.emulator.generate import generate
from reconciler.emulator.limits import RateWindow
from reconciler.emulator.stats import Stats
from reconciler.emulator.tenant import Actor, ApiFailure, Tenant, parse_iso, validation
from reconciler.emulator.tokens import TokenIssuer

TOKEN_PATH = "/io/v1/oauth2/token"
API_PREFIX = "/public/v1/"
ADMIN_PREFIX = "/_emulator/"
# SCIM-style: the value is a quoted string in which a backslash escapes the next
# character (the client escapes `\` and `"`). The OpenAPI description declares the same
# grammar as the parameter's pattern; keep the two in step.
# Letter classes rather than re.IGNORECASE, which would also take U+0131 for "i".
_FILTER = re.compile(r'[Ee][Mm][Aa][Ii][Ll] +[Ee][Qq] +"((?:[^"\\]|\\[\s\S])*)"')
_UNESCAPE = re.compile(r"\\([\s\S])")
_INTEGER = re.compile(r"-?[0-9]+")


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    # "before"/"after": drop the connection with a reset instead of answering.
    reset: str | None = None


def dump(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_reply(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Reply:
    return Reply(status, dump(payload), headers or [])


def failure_reply(exc: ApiFailure) -> Reply:
    return json_reply(exc.status, exc.body())


# ---------------------------------------------------------------------- routing

Handler = Callable[["Application", "Request"], Reply]


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    params: list[str]

    def json(self) -> Any:
        if not self.body:
            raise validation("A JSON request body is required.")
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise validation("The request body is not valid JSON.") from None

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None


def _match(path: str) -> tuple[str, list[str]] | None:
    """(template, parameters) of an API path under /public/v1/."""
    parts = [unquote(p) for p in path[len(API_PREFIX) :].split("/")]
    n = len(parts)
    head = parts[0]
    if head == "user":
        if n == 1:
            return "/user", []
        if n == 2 and parts[1]:
            return "/user/{id}", [parts[1]]
        if n == 3 and parts[1] and parts[2] in ("deactivate", "reactivate", "audit"):
            return "/user/{id}/" + parts[2], [parts[1]]
    elif head == "audit" and n == 1:
        return "/audit", []
    elif head == "product":
        if n == 1:
            return "/product", []
        if n == 3 and parts[1] and parts[2] == "user":
            return "/product/{pid}/user", [parts[1]]
        if n == 4 and parts[1] and parts[2] == "user" and parts[3]:
            return "/product/{pid}/user/{userId}", [parts[1], parts[3]]
    return None


WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})


class Application:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.client_id = config.client_id
        self.client_secret = config.client_secret
        self.admin_from_anywhere = config.admin_from_anywhere
        self.tokens = TokenIssuer("planview-admin-emulator")
        self.token_lifetime = float(config.token_lifetime)
        self.rate = RateWindow(
            config.rate_limit_points,
            config.rate_limit_window,
            second_consumer=config.second_consumer_points,
        )
        self.faults = FaultPlan(
            rate_5xx=config.fault_5xx,
            reset_before=config.fault_reset_before,
            reset_after=config.fault_reset_after,
            latency=config.latency,
            jitter=config.jitter,
            seed=config.fault_seed,
        )
        self.limits = page_limits(config.page_max)
        self.stats = Stats()
        self.client_actor: Actor = {"type": "client", "id": config.client_id, "email": None}
        if config.state is not None:
            self.tenant = Tenant.from_state(config.state, id_seed=config.seed)
        else:
            self.tenant = generate(config.users, config.products, config.seed)

    # ------------------------------------------------------------------ settings

    def settings(self) -> dict[str, Any]:
        return {
            "rate_limit_points": self.rate.points,
            "rate_limit_window": self.rate.window,
            "second_consumer_points": self.rate.second_consumer,
            "page_max": {name: maximum for name, (_, maximum) in self.limits.items()},
            "latency": self.faults.latency,
            "jitter": self.faults.jitter,
            "token_lifetime": self.token_lifetime,
            "fault_5xx": self.faults.rate_5xx,
            "fault_reset_before": self.faults.reset_before,
            "fault_reset_after": self.faults.reset_after,
            "fault_seed": self.config.fault_seed,
        }

    def configure(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(settings) - RUNTIME_SETTINGS)
        if unknown:
            raise ValueError(
                f"cannot change {', '.join(unknown)} at run time; "
                f"settable: {', '.join(sorted(RUNTIME_SETTINGS))}"
            )
        merged = {**self.settings(), **settings}
        if "page_max" in settings:
            merged["page_max"] = settings["page_max"]
        validate_settings(merged)
        if {"rate_limit_points", "rate_limit_window", "second_consumer_points"} & set(settings):
            self.rate.reset(
                merged["rate_limit_points"],
                merged["rate_limit_window"],
                merged["second_consumer_points"],
            )
        if "page_max" in settings:
            self.limits = page_limits(merged["page_max"])
        self.token_lifetime = float(merged["token_lifetime"])
        self.faults.rate_5xx = float(merged["fault_5xx"])
        self.faults.reset_before = float(merged["fault_reset_before"])
        self.faults.reset_after = float(merged["fault_reset_after"])
        self.faults.latency = float(merged["latency"])
        self.faults.jitter = float(merged["jitter"])
        if "fault_seed" in settings:
            self.config.fault_seed = int(settings["fault_seed"])
            self.faults.reseed(self.config.fault_seed)
        return self.settings()

    # ------------------------------------------------------------------ entry

    def delay_for(self, path: str) -> float:
        """Added latency: the modelled API is slow, the admin routes are not."""
        if path.startswith(ADMIN_PREFIX):
            return 0.0
        return self.faults.delay()

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes, loopback: bool
    ) -> Reply:
        path, _, query_string = target.partition("?")
        if path.startswith(API_PREFIX):
            return self._api(method, path, query_string, headers, body)
        if path == TOKEN_PATH:
            return self._token(method, headers, body)
        if path.startswith(ADMIN_PREFIX):
            if not (loopback or self.admin_from_anywhere):
                return failure_reply(
                    ApiFailure(403, "Forbidden", "The /_emulator/ routes answer loopback only.")
                )
            request = Request(method, path, _query(query_string), headers, body, [])
            try:
                return self._admin(request)
            except ApiFailure as exc:
                return failure_reply(exc)
        return failure_reply(ApiFailure(404, "NotFound", f"No route for {path}."))

    # ------------------------------------------------------------------ token

    def _token(self, method: str, headers: Mapping[str, str], body: bytes) -> Reply:
        self.stats.requests[f"{method} {TOKEN_PATH}"] += 1
        if method != "POST":
            return self._count(_method_not_allowed(method, TOKEN_PATH, ("POST",)))
        if not self._basic_auth_ok(headers.get("authorization", "")):
            return self._count(
                json_reply(
                    401,
                    {"error": "invalid_client"},
                    [("WWW-Authenticate", 'Basic realm="planview-admin"')],
                )
            )
        form = parse_qs(body.decode("latin-1"), keep_blank_values=True)
        if form.get("grant_type") != ["client_credentials"]:
            return self._count(json_reply(400, {"error": "unsupported_grant_type"}))
        token, _exp = self.tokens.issue(self.client_id, self.token_lifetime)
        self.stats.tokens_issued += 1
        remaining = self.rate.remaining()
        self.stats.sent_remaining(remaining)
        payload = {
            "id_token": token,
            "token_type": "Bearer",
            "expires_in": max(1, round(self.token_lifetime)),
        }
        return self._count(
            json_reply(
                200,
                payload,
                [("X-Rate-Limit-Remaining", str(remaining)), ("Cache-Control", "no-store")],
            )
        )

    def _basic_auth_ok(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        client_id, sep, secret = decoded.partition(":")
        return bool(sep) and hmac.compare_digest(
            f"{client_id}:{secret}".encode(), f"{self.client_id}:{self.client_secret}".encode()
        )

    # ------------------------------------------------------------------ API

    def _api(
        self, method: str, path: str, query_string: str, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        matched = _match(path)
        template = API_PREFIX[:-1] + (matched[0] if matched else "/{unknown}")
        self.stats.requests[f"{method} {template}"] += 1
        allowed, remaining, retry_after = self.rate.take()
        if not allowed:
            self.stats.rate_limited += 1
            reply = failure_reply(
                ApiFailure(
                    429,
                    "TooManyRequests",
                    f"The customer's rate limit is spent; retry in {retry_after} s.",
                )
            )
            reply.headers += [("Retry-After", str(retry_after)), ("X-Rate-Limit-Remaining", "0")]
            return self._count(reply)
        rate_header = ("X-Rate-Limit-Remaining", str(remaining))
        fault = self.faults.draw(method in WRITES)
        if fault is Fault.SERVER_ERROR:
            self.stats.faults["5xx"] += 1
            reply = failure_reply(
                ApiFailure(503, "ServerError", "The service is temporarily unavailable.")
            )
        elif fault is Fault.RESET_BEFORE:
            self.stats.faults["reset_before"] += 1
            return Reply(0, reset="before")
        else:
            reply = self._dispatch(method, path, query_string, headers, body, matched)
            if fault is Fault.RESET_AFTER:
                self.stats.faults["reset_after"] += 1
                return Reply(0, reset="after")
        reply.headers.append(rate_header)
        self.stats.sent_remaining(remaining)
        return self._count(reply)

    def _count(self, reply: Reply) -> Reply:
        self.stats.responses[reply.status] += 1
        return reply

    def _dispatch(
        self,
        method: str,
        path: str,
        query_string: str,
        headers: Mapping[str, str],
        body: bytes,
        matched: tuple[str, list[str]] | None,
    ) -> Reply:
        try:
            if not self._bearer_ok(headers.get("authorization", "")):
                raise ApiFailure(
                    401, "Unauthorized", "The bearer token is missing, unknown or expired."
                )
            if matched is None:
                raise ApiFailure(404, "NotFound", f"No API route for {path}.")
            template, params = matched
            handler = _API_ROUTES.get((method, template))
            if handler is None:
                return _method_not_allowed(method, API_PREFIX[:-1] + template, _ALLOWED[template])
            return handler(self, Request(method, path, _query(query_string), headers, body, params))
        except ApiFailure as exc:
            return failure_reply(exc)

    def _bearer_ok(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and self.tokens.verify(token.strip()) is not None

    def _page(self, request: Request, endpoint: str, records: list[Any], skip: int = 0) -> Reply:
        """One page of `records[skip:]`, sliced without copying the rest."""
        start, count = self._paging(request, endpoint)
        first = skip + start - 1
        page = records[first : first + count]
        return json_reply(200, {"startIndex": start, "itemsPerPage": count, "Resources": page})

    def _paging(self, request: Request, endpoint: str) -> tuple[int, int]:
        default, maximum = self.limits[endpoint]
        start = _int_arg(request, "startIndex", 1, minimum=1)
        count = _int_arg(request, "count", default, minimum=0)
        return start, min(count, maximum)

    # -- users

    def list_users(self, request: Request) -> Reply:
        expression = request.arg("filter")
        if expression is None:
            return self._page(request, "users", self.tenant.users.values())
        match = _FILTER.fullmatch(expression)
        if match is None:
            raise validation('Only filter=email eq "<address>" is supported.')
        found = self.tenant.user_by_email(_UNESCAPE.sub(r"\1", match.group(1)))
        return self._page(request, "users", [found] if found else [])

    def get_user(self, request: Request) -> Reply:
        return json_reply(200, self.tenant.user(request.params[0]))

    def create_user(self, request: Request) -> Reply:
        return json_reply(201, self.tenant.create_user(request.json(), self.client_actor))

    def patch_user(self, request: Request) -> Reply:
        user_id = request.params[0]
        self.tenant.user(user_id)
        return json_reply(200, self.tenant.update_user(user_id, request.json(), self.client_actor))

    def deactivate_user(self, request: Request) -> Reply:
        return json_reply(200, self.tenant.deactivate_user(request.params[0], self.client_actor))

    def reactivate_user(self, request: Request) -> Reply:
        return json_reply(200, self.tenant.reactivate_user(request.params[0], self.client_actor))

    def delete_user(self, request: Request) -> Reply:
        self.tenant.delete_user(request.params[0], self.client_actor)
        return Reply(204)

    def user_audit(self, request: Request) -> Reply:
        user_id = request.params[0]
        self.tenant.user(user_id)
        return self._page(request, "user_audit", self.tenant.user_audit.get(user_id, []))

    def customer_audit(self, request: Request) -> Reply:
        since_text = request.arg("since")
        since = None
        if since_text is not None:
            try:
                since = float(int(parse_iso(since_text)))
            except ValueError:
                raise validation(f"since is not an ISO-8601 timestamp: {since_text!r}.") from None
            # Events carry whole seconds, so the whole second of `since` is included:
            # better to show an event twice than to hide one.
        return self._page(request, "audit", self.tenant.audit, self.tenant.audit_since(since))

    # -- products

    def list_products(self, request: Request) -> Reply:
        return self._page(request, "products", self.tenant.products.values())

    def list_product_users(self, request: Request) -> Reply:
        holders = self.tenant.provisioned(request.params[0])
        start, count = self._paging(request, "product_users")
        users = self.tenant.users
        page = [
            {"userId": user_id, "email": users.get(user_id)["email"]}  # type: ignore[index]
            for user_id in holders.slice(start - 1, count)
        ]
        return json_reply(200, {"startIndex": start, "itemsPerPage": count, "Resources": page})

    def grant(self, request: Request) -> Reply:
        product_id = request.params[0]
        self.tenant.product(product_id)
        return json_reply(201, self.tenant.grant(product_id, request.json(), self.client_actor))

    def revoke(self, request: Request) -> Reply:
        product_id, user_id = request.params
        self.tenant.revoke(product_id, user_id, self.client_actor)
        return Reply(204)

    # ------------------------------------------------------------------ admin

    def _admin(self, request: Request) -> Reply:
        route = (request.method, request.path.rstrip("/"))
        if route == ("GET", "/_emulator/state"):
            return json_reply(200, self.tenant.to_state())
        if route == ("PUT", "/_emulator/state"):
            self.load_state(request.json())
            return json_reply(
                200, {"users": len(self.tenant.users), "products": len(self.tenant.products)}
            )
        if route == ("POST", "/_emulator/out-of-band"):
            body = request.json()
            if not isinstance(body, dict):
                raise validation("The request body must be a JSON object with an op.")
            return json_reply(200, self.out_of_band(body))
        if route == ("GET", "/_emulator/stats"):
            return json_reply(200, self.stats.to_dict())
        if route == ("DELETE", "/_emulator/stats"):
            self.stats.reset()
            return Reply(204)
        if route == ("GET", "/_emulator/config"):
            return json_reply(200, self.settings())
        if route == ("PUT", "/_emulator/config"):
            body = request.json()
            if not isinstance(body, dict):
                raise validation("The request body must be a JSON object of settings.")
            try:
                return json_reply(200, self.configure(body))
            except ValueError as exc:
                raise validation(str(exc)) from None
        if route == ("POST", "/_emulator/revoke-tokens"):
            self.tokens.rotate()
            return Reply(204)
        raise ApiFailure(404, "NotFound", f"No emulator route {request.method} {request.path}.")

    def load_state(self, state: Any) -> None:
        """Replace the tenant with a full state, or with one generated from a seed spec."""
        if isinstance(state, dict) and "seed" in state:
            extra = sorted(set(state) - {"users", "products", "seed"})
            if extra:
                raise validation(f"A seed spec takes users, products and seed only; got {extra}.")
            spec = {"users": state.get("users", 25), "products": state.get("products", 5)}
            for name, value in (*spec.items(), ("seed", state["seed"])):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise validation(f"{name} must be a non-negative integer.")
            self.tenant = generate(spec["users"], spec["products"], state["seed"])
        else:
            self.tenant = Tenant.from_state(state, id_seed=self.config.seed)

    def out_of_band(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A change made outside the reconciler: by default by a person in the web UI
        (audit actor type `user`); `actor` may name an API client or the service itself
        (see `Tenant.acting_as`)."""
        body = {_CAMEL.get(key, key): value for key, value in body.items()}
        op = body.pop("op", None)
        tenant = self.tenant
        actor = tenant.acting_as(body.pop("actor", None))

        def user_id() -> str:
            if "userId" in body:
                return str(body.pop("userId"))
            if "email" in body:
                email = body.pop("email")
                found = tenant.user_by_email(str(email))
                if found is None:
                    raise ApiFailure(404, "NotFound", f"No user with email {email!r}.")
                return str(found["id"])
            raise validation(f"op {op!r} needs userId or email.")

        def product_id() -> str:
            if "productId" not in body:
                raise validation(f"op {op!r} needs productId.")
            return str(body.pop("productId"))

        def done() -> None:
            if body:
                raise validation(f"op {op!r} does not take {', '.join(sorted(body))}.")

        if op == "create":
            status = body.pop("status", "Pending")
            if status not in ("Active", "Pending"):
                raise validation("status of a new user must be Active or Pending.")
            return tenant.create_user(body, actor, status=status)
        if op == "update":
            target = user_id()
            if "newEmail" in body:
                body["email"] = body.pop("newEmail")
            return tenant.update_user(target, body, actor, editable=(*_EDITABLE, "email"))
        if op in ("deactivate", "reactivate", "delete", "sign-in"):
            target = user_id()
            done()
            if op == "deactivate":
                return tenant.deactivate_user(target, actor)
            if op == "reactivate":
                return tenant.reactivate_user(target, actor)
            if op == "sign-in":
                return tenant.sign_in(target)
            user = tenant.user(target)
            tenant.delete_user(target, actor)
            return {"userId": target, "email": user["email"], "deleted": True}
        if op in ("provision", "deprovision"):
            target, product = user_id(), product_id()
            done()
            if op == "provision":
                return tenant.grant(product, {"userId": target}, actor)
            user = tenant.user(target)
            tenant.revoke(product, target, actor)
            return {"userId": target, "email": user["email"], "productId": product}
        ops = "create, update, deactivate, reactivate, delete, provision, deprovision, sign-in"
        raise validation(f"Unknown op {op!r}; one of: {ops}.")


_EDITABLE = ("firstName", "lastName", "role", "passwordRequired")
_CAMEL = {
    "user_id": "userId",
    "product_id": "productId",
    "first_name": "firstName",
    "last_name": "lastName",
    "password_required": "passwordRequired",
    "new_email": "newEmail",
}

_API_ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "/user"): Application.list_users,
    ("POST", "/user"): Application.create_user,
    ("GET", "/user/{id}"): Application.get_user,
    ("PATCH", "/user/{id}"): Application.patch_user,
    ("DELETE", "/user/{id}"): Application.delete_user,
    ("POST", "/user/{id}/deactivate"): Application.deactivate_user,
    ("POST", "/user/{id}/reactivate"): Application.reactivate_user,
    ("GET", "/user/{id}/audit"): Application.user_audit,
    ("GET", "/audit"): Application.customer_audit,
    ("GET", "/product"): Application.list_products,
    ("GET", "/product/{pid}/user"): Application.list_product_users,
    ("POST", "/product/{pid}/user"): Application.grant,
    ("DELETE", "/product/{pid}/user/{userId}"): Application.revoke,
}
# The methods of each path, for the Allow header of a 405 (RFC 9110, 15.5.6).
_ALLOWED: dict[str, tuple[str, ...]] = {
    template: tuple(sorted(m for m, t in _API_ROUTES if t == template))
    for _, template in _API_ROUTES
}


def _query(query_string: str) -> dict[str, list[str]]:
    return parse_qs(query_string, keep_blank_values=True) if query_string else {}


def _int_arg(request: Request, name: str, default: int, *, minimum: int) -> int:
    text = request.arg(name)
    if text is None:
        return default
    # int() would also take " 5", "+5", "1_0" and other scripts' digits.
    if not _INTEGER.fullmatch(text):
        raise validation(f"{name} must be an integer, got {text!r}.")
    value = int(text)
    if value < minimum:
        raise validation(f"{name} must be at least {minimum}, got {value}.")
    return value


def _method_not_allowed(method: str, path: str, allowed: tuple[str, ...]) -> Reply:
    reply = failure_reply(
        ApiFailure(
            405,
            "MethodNotAllowed",
            f"{method} is not allowed on {path}; use {', '.join(allowed)}.",
        )
    )
    reply.headers.append(("Allow", ", ".join(allowed)))
    return reply

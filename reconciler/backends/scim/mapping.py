"""SCIM resources <-> the neutral model, and what the provider says it supports.

| neutral                    | SCIM (RFC 7643)                                        |
|----------------------------|--------------------------------------------------------|
| user email (identity)      | `userName`, compared case-insensitively; written also  |
|                            | as the primary `work` entry of `emails` on create      |
| first_name / last_name     | `name.givenName` / `name.familyName`                   |
| status active/deactivated  | `active` true/false                                    |
| updated_at                 | `meta.lastModified`                                    |
| product                    | a Group (`displayName` is its name)                    |
| provisioned to a product   | a direct member (`members[].value`) of the Group       |

Every malformed record raises `Malformed` with what is wrong; callers turn it into a
`TransportError` naming the endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.backends.base import NewUser
from reconciler.backends.capabilities import Capabilities
from reconciler.backends.scim.settings import MAX_PAGE_SIZE
from reconciler.errors import PlanError
from reconciler.model import LiveProduct, LiveUser

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

# Neutral field -> the PATCH path of the SCIM attribute it is stored in.
FIELD_PATHS: dict[str, str] = {"first_name": "name.givenName", "last_name": "name.familyName"}
# Asked for on every user read and write so the answer always carries what LiveUser
# needs (a PATCH with `attributes` must answer 200 with the resource, RFC 7644 §3.5.2).
USER_ATTRIBUTES = "userName,name,emails,active,meta"
# The default page size when the provider does not announce filter.maxResults.
DEFAULT_PAGE_SIZE = 100

# Neutral fields that have no SCIM core attribute: refused, never silently dropped.
UNSUPPORTED_FIELDS: dict[str, str] = {"role": "role", "password_required": "passwordRequired"}
# The role value a NewUser carries when the desired state sets none.
NEUTRAL_DEFAULT_ROLE = "User"


class Malformed(ValueError):
    """A SCIM resource or message that does not have the shape RFC 7643/7644 give it."""


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """What /ServiceProviderConfig announces, reduced to what this backend acts on."""

    patch: bool
    etag: bool
    filter: bool
    page_size: int

    def capabilities(self) -> Capabilities:
        return Capabilities(
            name="scim",
            managed_fields=frozenset(FIELD_PATHS),
            roles=(),
            privileged_role=None,
            has_audit_log=False,
            deactivate_revokes_access=False,
            grant_requires_active=False,
            supports_delete=True,
            max_page_size=self.page_size,
        )


def provider_config(body: Any) -> ProviderConfig:
    if not isinstance(body, dict):
        raise Malformed("the ServiceProviderConfig is not a JSON object")

    def supported(feature: str) -> bool:
        section = body.get(feature)
        # Absent or unreadable: take the feature as unsupported, the safe reading.
        return isinstance(section, dict) and section.get("supported") is True

    sizes = [
        _positive_int(body.get("filter"), "maxResults"),
        _positive_int(body.get("pagination"), "maxPageSize"),  # RFC 9865
    ]
    announced = [size for size in sizes if size is not None]
    page_size = min(announced) if announced else DEFAULT_PAGE_SIZE
    return ProviderConfig(
        patch=supported("patch"),
        etag=supported("etag"),
        filter=supported("filter"),
        page_size=min(page_size, MAX_PAGE_SIZE),
    )


def _positive_int(section: Any, key: str) -> int | None:
    if not isinstance(section, dict):
        return None
    value = section.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return None
    return value


# --------------------------------------------------------------------------- users


def resource_id(resource: Any) -> str:
    if not isinstance(resource, dict):
        raise Malformed("a resource is not a JSON object")
    value = resource.get("id")
    if not isinstance(value, str) or not value:
        raise Malformed("a resource has no 'id'")
    return value


def version_of(resource: Mapping[str, Any]) -> str | None:
    meta = resource.get("meta")
    version = meta.get("version") if isinstance(meta, dict) else None
    return version if isinstance(version, str) and version else None


def user_from_scim(resource: Any) -> LiveUser:
    user_id = resource_id(resource)
    user_name = resource.get("userName")
    if not isinstance(user_name, str) or not user_name:
        raise Malformed(f"user {user_id} has no 'userName'")
    name = resource.get("name")
    if name is not None and not isinstance(name, dict):
        raise Malformed(f"user {user_id}: 'name' is not an object")
    name = name or {}
    active = resource.get("active", True)  # RFC 7643: absent means the server has no say
    if not isinstance(active, bool):
        raise Malformed(f"user {user_id}: 'active' is not true or false")
    meta = resource.get("meta")
    modified = meta.get("lastModified") if isinstance(meta, dict) else None
    return LiveUser(
        id=user_id,
        email=user_name,
        first_name=_text(name.get("givenName"), user_id, "name.givenName"),
        last_name=_text(name.get("familyName"), user_id, "name.familyName"),
        role="",  # SCIM core has no roles (Capabilities.roles is empty)
        password_required=False,
        status="active" if active else "deactivated",
        updated_at=modified if isinstance(modified, str) else None,
    )


def _text(value: Any, user_id: str, attribute: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Malformed(f"user {user_id}: '{attribute}' is not a string")
    return value


def new_user_resource(user: NewUser) -> dict[str, Any]:
    return {
        "schemas": [USER_SCHEMA],
        "userName": user.email,
        "name": {"givenName": user.first_name, "familyName": user.last_name},
        "emails": [{"value": user.email, "type": "work", "primary": True}],
        "active": True,
    }


def refuse_unsupported(fields: Mapping[str, Any], *, creating: bool) -> None:
    """`role` and `password_required` have no SCIM core attribute: saying nothing about
    them is fine, asking for a value is an error rather than a silent no-op."""
    asked = []
    for name, label in UNSUPPORTED_FIELDS.items():
        if fields.get(name) is None:  # not asked for (the core leaves unmanaged fields unset)
            continue
        neutral_default = NEUTRAL_DEFAULT_ROLE if name == "role" else False
        if creating and fields[name] == neutral_default:
            continue
        asked.append(label)
    unknown = sorted(set(fields) - set(FIELD_PATHS) - set(UNSUPPORTED_FIELDS))
    if asked:
        raise PlanError(
            f"The SCIM backend cannot set {' or '.join(asked)}: "
            f"{'they are' if len(asked) > 1 else 'it is'} not a SCIM core attribute "
            "(RFC 7643). Remove it from the desired state for a SCIM target."
        )
    if unknown:
        raise PlanError(f"The SCIM backend does not manage the field(s) {', '.join(unknown)}.")


def user_matches(user: LiveUser, wanted: NewUser) -> bool:
    """Whether an existing user is what a create asked for (a conflict that is success)."""
    return (user.first_name, user.last_name) == (wanted.first_name, wanted.last_name)


def user_field_ops(fields: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {"op": "replace", "path": FIELD_PATHS[name], "value": value}
        for name, value in fields.items()
        if name in FIELD_PATHS
    ]


def active_ops(active: bool) -> list[dict[str, Any]]:
    return [{"op": "replace", "path": "active", "value": active}]


def patch_message(operations: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schemas": [PATCH_SCHEMA], "Operations": operations}


def apply_to_resource(resource: Mapping[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """The whole resource with `replace` operations applied, for a PUT (providers
    without PATCH). Only the paths this backend writes are supported."""
    updated = writable_copy(resource)
    for op in ops:
        path: str = op["path"]
        if "." in path:
            parent, child = path.split(".", 1)
            section = updated.get(parent)
            section = dict(section) if isinstance(section, dict) else {}
            section[child] = op["value"]
            updated[parent] = section
        else:
            updated[path] = op["value"]
    return updated


def writable_copy(resource: Mapping[str, Any]) -> dict[str, Any]:
    """The resource without `meta` (read-only, RFC 7643 §3.1), ready to PUT back."""
    return {key: value for key, value in resource.items() if key != "meta"}


def user_name_filter(email: str) -> str:
    """`userName eq "..."`: the value is a JSON string (RFC 7644 §3.4.2.2), so quotes
    and backslashes in it are escaped and cannot end the filter early."""
    return f"userName eq {json.dumps(email, ensure_ascii=False)}"


# --------------------------------------------------------------------------- groups


def group_from_scim(resource: Any) -> LiveProduct:
    group_id = resource_id(resource)
    name = resource.get("displayName")
    if not isinstance(name, str) or not name:
        raise Malformed(f"group {group_id} has no 'displayName'")
    return LiveProduct(id=group_id, name=name, type="Group")


def member_ids(resource: Any) -> frozenset[str]:
    """Direct user members. An absent `members` is an empty one (RFC 7643 §2.5); nested
    groups are members too, but their users are not provisioned to this group."""
    group_id = resource_id(resource)
    members = resource.get("members")
    if members is None:
        return frozenset()
    if not isinstance(members, list):
        raise Malformed(f"group {group_id}: 'members' is not a list")
    found = set()
    for member in members:
        value = member.get("value") if isinstance(member, dict) else None
        if not isinstance(value, str) or not value:
            raise Malformed(f"group {group_id}: a member has no 'value'")
        if str(member.get("type", "User")).casefold() == "group":
            continue
        found.add(value)
    return frozenset(found)


def member_filter_path(user_id: str) -> str:
    return f"members[value eq {json.dumps(user_id, ensure_ascii=False)}]"


def with_member(resource: Mapping[str, Any], user_id: str, present: bool) -> dict[str, Any]:
    """The group, ready to PUT, with `user_id` added to or removed from its members."""
    updated = writable_copy(resource)
    members = [m for m in updated.get("members") or [] if isinstance(m, dict)]
    members = [m for m in members if m.get("value") != user_id]
    if present:
        members.append({"value": user_id})
    updated["members"] = members
    return updated

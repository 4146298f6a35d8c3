"""The desired state's digest: saved plans pin it, so its value may never change."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from reconciler.model import DesiredState, DesiredUser, Settings
from reconciler.validate import digest, load_desired
from reconciler.validate.build import _user_rows_json, _user_rows_json_plain

FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_the_digest_of_a_committed_file_is_what_saved_plans_pinned() -> None:
    # Values computed before the users' rows got their faster encoder: a plan saved
    # with `--expect-digest` from these files must still match.
    assert (
        load_desired([FIXTURES / "e2e" / "desired.yaml"]).digest
        == "0825179796d0e34cb4945df68a77033a9e4544cd76423d52dfa8e3fa1d30f206"
    )
    assert (
        load_desired([FIXTURES / "desired" / "good" / "team"]).digest
        == "5174534757b754d698187a1b421cdd775626e8d3c4def127591b566c7c917c0d"
    )


def _user(email: str, **fields: object) -> DesiredUser:
    values: dict[str, object] = {"first_name": "Ann", "last_name": "Lee", **fields}
    return DesiredUser(email, **values)  # type: ignore[arg-type]


def test_rows_are_written_exactly_as_the_canonical_json() -> None:
    shared = frozenset({"b", "a"})
    users = (
        _user("Zoe@Example.com", role="Administrator", products=shared),
        _user("ann@example.com", products=shared, active=False),
        _user("é\"\\\t\u2028@example.com", first_name="Ünïcode \U0001f600", last_name="x\x00y"),
        _user("STRASSE@example.com", first_name="Straße", password_required=True),
        _user("a@example.com", products=frozenset({"zeta", "Alpha", "ä"})),
        _user("b@example.com", products=frozenset({"zeta", "Alpha", "ä"})),
    )
    assert _user_rows_json(users) == _user_rows_json_plain(users)
    assert _user_rows_json(()) == _user_rows_json_plain(()) == "[]"


def test_users_sharing_an_email_in_a_state_built_in_code_keep_the_canonical_order() -> None:
    # Validation refuses such a file, but `digest` is public and ordering by the
    # folded email alone would leave these two in their given order.
    users = (_user("a@example.com", first_name="Zed"), _user("A@example.com", first_name="Amy"))
    assert _user_rows_json(users) == _user_rows_json_plain(users)
    assert _user_rows_json(users[::-1]) == _user_rows_json_plain(users)


def test_values_of_other_types_are_encoded_as_the_canonical_json_does() -> None:
    users = (_user("a@example.com", password_required=0), _user("b@example.com", role=None))
    assert _user_rows_json(users) == _user_rows_json_plain(users)
    state = DesiredState(settings=Settings(), products={}, groups={}, users=users)
    assert digest(state) == digest(replace(state, users=users[::-1]))

"""Fuzzing the loader and validator through `load_desired` on real files: whatever
the files hold, the answer is a DesiredState or an InputError whose every diagnostic
points into a file that was given. Nothing else may escape.

Bounded by the `fuzz-ci` profile (see conftest.py); `fuzz-long` hunts longer.
"""

from __future__ import annotations

import os
import string
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import event, given, settings
from hypothesis import strategies as st

from reconciler.errors import InputError
from reconciler.model import email_key
from reconciler.validate import load_desired
from reconciler.validate.schema_check import is_email

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "fuzz-ci")

# Characters that make trouble: homoglyphs of Latin letters, case-folding specials,
# invisible and direction-changing characters, and YAML's own punctuation.
LOOKALIKES = (
    # Cyrillic and Greek letters that look Latin
    "\u0430\u0435\u043e\u0440\u0441\u0445\u0410\u0415\u041e\u0420\u0421\u0425"
    "\u0456\u0458\u0455\u0501\u0261\u1d0b\u041a\u039a\u0391\u039f"
    # letters whose case folding is more than one letter, or lands on ASCII
    "\u00df\u1e9e\u017f\ufb00\u0130\u0131\u212a"
    # invisible and direction-changing characters
    "\u200b\u200d\u202e\ufeff\u00a0"
)
YAML_PUNCTUATION = ":#&*!|>'\"%@`{}[],-?"
email_chars = st.sampled_from(string.ascii_letters + string.digits + "._+-" + LOOKALIKES)
local_parts = st.text(email_chars, min_size=1, max_size=20)
domains = st.sampled_from(["example.com", "Example.COM", "ex\u0430mple.com", "example.com.", "x.y"])
emails = st.builds(lambda local, domain: f"{local}@{domain}", local_parts, domains)
names = st.one_of(
    st.text(min_size=0, max_size=20),
    st.text(st.sampled_from(LOOKALIKES + YAML_PUNCTUATION + " "), max_size=12),
    st.integers(min_value=0, max_value=300).map(lambda n: "N" * n),  # around maxLength 100
)
aliases = st.sampled_from(["agileplace", "portfolios", "missing", "Bad Alias", ""])
users = st.fixed_dictionaries(
    {"email": st.one_of(emails, st.integers(), st.none())},
    optional={
        "firstName": names,
        "lastName": names,
        "role": st.sampled_from(["User", "Administrator", "admin", None]),
        "passwordRequired": st.one_of(st.booleans(), st.sampled_from(["yes", "no", 1])),
        "active": st.one_of(st.booleans(), st.sampled_from(["off"])),
        "products": st.lists(aliases, max_size=3),
        "groups": st.lists(st.sampled_from(["eng", "nobody"]), max_size=2),
        "extra": st.just(1),
    },
)
settings_blocks = st.fixed_dictionaries(
    {},
    optional={
        "unmanagedUsers": st.sampled_from(["deactivate", "ignore", "delete", "remove"]),
        "protectedUsers": st.lists(st.one_of(emails, st.sampled_from(["*@x.y", "[", "*"]))),
        "scope": st.fixed_dictionaries({"emailDomains": st.lists(domains, max_size=3)}),
        "safety": st.fixed_dictionaries(
            {"maxRemovals": st.one_of(st.integers(-5, 50), st.sampled_from(["10%", "x%", "150%"]))}
        ),
    },
)
documents = st.fixed_dictionaries(
    {"version": st.sampled_from([1, 1, 1, 2, "1"])},
    optional={
        "settings": settings_blocks,
        "products": st.dictionaries(
            aliases, st.fixed_dictionaries({"id": st.sampled_from(["p-ap", "p-pf", 7])}), max_size=3
        ),
        "groups": st.dictionaries(
            st.sampled_from(["eng", "ops"]),
            st.fixed_dictionaries({"products": st.lists(aliases, max_size=3)}),
            max_size=2,
        ),
        "users": st.lists(users, max_size=6),
    },
)


def check(files: dict[str, bytes]) -> Any:
    """Write `files` into a fresh folder and load it: a state, or a clean InputError."""
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for name, data in files.items():
            path = Path(folder) / name
            path.write_bytes(data)
            paths.append(str(path))
        try:
            return load_desired([folder])
        except InputError as error:
            assert error.diagnostics, "an InputError with nothing in it"
            for diagnostic in error.diagnostics:
                assert diagnostic.message.strip()
                if diagnostic.pos is not None:
                    assert diagnostic.pos.file in paths
                    assert diagnostic.pos.line >= 1 and diagnostic.pos.col >= 1
            assert str(error)  # the message the CLI prints renders
            return error


@settings(settings.get_profile(PROFILE))
@given(st.lists(documents, min_size=1, max_size=3), st.booleans())
def test_generated_documents_load_or_fail_cleanly(docs: list[Any], flow: bool) -> None:
    files = {
        f"part{n}.yaml": yaml.safe_dump(doc, default_flow_style=flow, allow_unicode=True).encode()
        for n, doc in enumerate(docs)
    }
    result = check(files)
    event("valid" if not isinstance(result, InputError) else "refused")
    if not isinstance(result, InputError):
        keys = [email_key(u.email) for u in result.users]
        assert len(keys) == len(set(keys)), "two users with one identity got through"


@settings(settings.get_profile(PROFILE))
@given(st.lists(documents, min_size=1, max_size=2), st.data())
def test_documents_cut_or_spliced_anywhere_fail_cleanly(docs: list[Any], data: Any) -> None:
    text = "".join(yaml.safe_dump(d, allow_unicode=True) for d in docs).encode()
    cut = data.draw(st.integers(0, len(text)))
    insert = data.draw(st.binary(max_size=8) | st.sampled_from([b"\t", b"\xff", b"&a *a"]))
    check({"cut.yaml": text[:cut] + insert + text[cut:]})


@settings(settings.get_profile(PROFILE))
@given(emails, emails)
def test_two_emails_are_one_user_exactly_when_their_keys_match(first: str, second: str) -> None:
    doc = {
        "version": 1,
        "users": [
            {"email": first, "firstName": "A", "lastName": "One"},
            {"email": second, "firstName": "B", "lastName": "Two"},
        ],
    }
    result = check({"pair.yaml": yaml.safe_dump(doc, allow_unicode=True).encode()})
    event("refused" if isinstance(result, InputError) else "two users")
    if isinstance(result, InputError):
        duplicate = any("is already listed" in d.message for d in result.diagnostics)
        assert duplicate == (email_key(first) == email_key(second) and is_email(first)), result
        return
    assert email_key(first) != email_key(second)
    assert len(result.users) == 2

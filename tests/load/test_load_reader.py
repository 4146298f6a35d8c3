"""The YAML reader: plain values, positions of every node, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.load import expand_paths, format_path, load_files, read_document, reader
from reconciler.model import SourcePos


def read(text: str) -> tuple[object, list[str], object]:
    document, problems = read_document("f.yaml", text.encode("utf-8"))
    return document.value, [str(p) for p in problems], document


def test_values_are_plain_and_json_shaped() -> None:
    value, problems, _ = read(
        "a: 1\nb: 1.5\nc: yes\nd: ~\ne: 'x'\nf: 2024-01-02\ng: [1, two]\nh: {k: v}\ni: 0x1f\n"
    )
    assert problems == []
    assert value == {
        "a": 1,
        "b": 1.5,
        "c": True,
        "d": None,
        "e": "x",
        # JSON has no dates: a date stays the text that was written
        "f": "2024-01-02",
        "g": [1, "two"],
        "h": {"k": "v"},
        "i": 31,
    }


def test_every_node_knows_its_line_and_column() -> None:
    _, _, document = read(
        "version: 1\nusers:\n  - email: a@example.com\n    groups:\n      - eng\n      - pmo\n"
    )
    assert document.pos(("users", 0)) == SourcePos("f.yaml", 3, 5)
    assert document.pos(("users", 0, "email")) == SourcePos("f.yaml", 3, 12)
    assert document.pos(("users", 0, "email"), key=True) == SourcePos("f.yaml", 3, 5)
    assert document.pos(("users", 0, "groups", 1)) == SourcePos("f.yaml", 6, 9)
    # a path that does not exist points at the nearest node that does
    assert document.pos(("users", 0, "lastName")) == SourcePos("f.yaml", 3, 5)
    assert document.pos(()) == SourcePos("f.yaml", 1, 1)


def test_root_position_is_where_the_content_starts() -> None:
    _, _, document = read("# comment\n\n- a\n")
    assert document.pos(()) == SourcePos("f.yaml", 3, 1)


def test_duplicate_keys_are_refused_naming_the_first() -> None:
    _, problems, _ = read("a: 1\nb: 2\na: 3\n")
    assert problems == [
        "f.yaml:3:1: duplicate key 'a' (first defined on line 1); "
        "YAML would silently keep only the last one"
    ]


def test_merge_keys_work_and_explicit_keys_win() -> None:
    value, problems, document = read("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n  z: 4\n")
    assert problems == []
    assert value["other"] == {"x": 1, "y": 3, "z": 4}
    # the merged key points at where it was written: in the anchored mapping
    assert document.pos(("other", "x")) == SourcePos("f.yaml", 1, 14)
    assert document.pos(("other", "y")) == SourcePos("f.yaml", 4, 6)


def test_aliases_are_shared_not_copied() -> None:
    value, problems, _ = read("a: &x [1, 2]\nb: *x\n")
    assert problems == []
    assert value["a"] is value["b"]


def test_alias_bomb_fails_fast_with_little_memory() -> None:
    import tracemalloc

    levels = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 30))
    text = "l0: &l0 [lol]\n" + levels
    tracemalloc.start()
    _, problems, document = read(text)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert document.value is None
    assert len(problems) == 1 and "aliases expand to far more data" in problems[0]
    assert peak < 5 * 2**20


def test_legitimate_alias_use_on_every_user_is_allowed() -> None:
    users = "".join(f"  - {{<<: *d, email: u{i}@example.com}}\n" for i in range(2000))
    value, problems, _ = read(
        "defaults: &d {firstName: A, lastName: B, role: User}\nusers:\n" + users
    )
    assert problems == []
    assert len(value["users"]) == 2000


def test_a_non_string_key_is_refused() -> None:
    _, problems, _ = read("yes: 1\n")
    assert problems == [
        "f.yaml:1:1: a key must be a string, not True (read as bool); put it in quotes"
    ]


def test_nesting_is_bounded() -> None:
    depth = reader.MAX_DEPTH + 5
    _, problems, document = read("[" * depth + "]" * depth)
    assert document.value is None
    assert "nested more than" in problems[0]


def test_uses_the_c_parser_when_available() -> None:
    import yaml

    if yaml.__with_libyaml__:
        assert reader._Loader is yaml.CSafeLoader


def test_format_path() -> None:
    assert format_path(("users", 3, "email")) == "users[3].email"
    assert format_path(("products", "agile place")) == "products['agile place']"
    assert format_path(()) == ""


def test_directories_are_walked_in_sorted_order_skipping_hidden(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / ".git").mkdir()
    for name in ("b/2.yml", "b/1.yaml", "a.yaml", "z.txt", ".git/x.yaml", ".hidden.yaml"):
        (tmp_path / name).write_text("version: 1\n", encoding="utf-8")
    files, problems = expand_paths([tmp_path])
    assert problems == []
    assert [Path(f).relative_to(tmp_path).as_posix() for f in files] == [
        "a.yaml",
        "b/1.yaml",
        "b/2.yml",
    ]


def test_a_file_named_twice_is_read_once(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("version: 1\n", encoding="utf-8")
    documents, problems = load_files([path, tmp_path])
    assert problems == []
    assert [d.file for d in documents] == [str(path)]


def test_a_utf8_bom_is_accepted() -> None:
    document, problems = read_document("f.yaml", b"\xef\xbb\xbfversion: 1\n")
    assert problems == []
    assert document.value == {"version": 1}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"# only a comment\n", "no content"),
        (b"a: 1\n---\nb: 2\n", "more than one YAML document"),
        (b"a: \xff\n", "not valid UTF-8"),
        (b"a: !!python/name:os.system x\n", "is not allowed"),
        (b"a: [1\n", "invalid YAML"),
    ],
)
def test_refusals_are_diagnostics_not_exceptions(data: bytes, message: str) -> None:
    _, problems = read_document("f.yaml", data)
    assert problems and message in problems[0].message
    assert problems[0].pos is not None and problems[0].pos.file == "f.yaml"


def test_pure_python_parser_fallback_reads_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where PyYAML was built without libyaml the reader falls back to the pure parser."""
    import yaml

    text = (Path(__file__).parents[2] / "examples" / "basic" / "users.yaml").read_bytes()
    fast, fast_problems = read_document("f.yaml", text)
    monkeypatch.setattr(reader, "_Loader", yaml.SafeLoader)
    pure, pure_problems = read_document("f.yaml", text)
    assert fast_problems == pure_problems == []
    assert pure.value == fast.value
    assert pure.pos(("users", 1, "groups", 0)) == fast.pos(("users", 1, "groups", 0))
    _, problems = read_document("f.yaml", b"a: 1\na: 2\n")
    assert str(problems[0]).startswith("f.yaml:2:1: duplicate key 'a'")

"""Snapshot contents (ignore rules, ids) and view-path parsing, on a real temp directory."""

from __future__ import annotations

import pytest

from argus.errors import NotFound, PathRefused
from argus.files import snapshot
from argus.files.confine import Area, View
from argus.files.sizes import fmt_bytes, parse_bytes


def test_ignore_rules_nested_gitignore_negation_and_always_skipped(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    (tmp_path / "__pycache__").mkdir()
    for rel in ("keep.py", "x.log", "important.log", "a/y.tmp", "a/b/z.py", "a/b/drop.bin",
                ".git/HEAD", "__pycache__/m.pyc", "build/out.o"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    (tmp_path / ".gitignore").write_text("*.log\n!important.log\nbuild/\n")
    (tmp_path / ".argusignore").write_text("*.tmp\n")
    (tmp_path / "a" / "b" / ".gitignore").write_text("*.bin\n")
    (tmp_path / "link.py").symlink_to(tmp_path / "keep.py")
    rels = [i.rel for i in snapshot.collect(tmp_path)]
    assert rels == [".argusignore", ".gitignore", "a/b/.gitignore", "a/b/z.py", "important.log",
                    "keep.py"]


def test_the_id_depends_on_content_names_and_the_executable_bit_only(tmp_path):
    (tmp_path / "t.py").write_text("x")
    first = snapshot.snapshot_id(snapshot.collect(tmp_path))
    (tmp_path / "t.py").touch()  # a new mtime: same snapshot
    assert snapshot.snapshot_id(snapshot.collect(tmp_path)) == first
    (tmp_path / "t.py").chmod(0o755)
    assert snapshot.snapshot_id(snapshot.collect(tmp_path)) != first


def test_view_paths(tmp_path):
    (tmp_path / "ws").mkdir()
    view = View({"": Area(tmp_path / "ws")})
    assert view.parse("/a/./b//c").parts == ("a", "b", "c")
    assert view.parse("/../../etc", strict=False).parts == ("etc",)
    with pytest.raises(PathRefused, match="contains '..'"):
        view.parse("a/../../b")
    with pytest.raises(NotFound, match="no team"):
        view.parse("/team/x")


def test_sizes():
    assert parse_bytes("500G") == 500 * 2**30 and parse_bytes("10MB") == 10**7
    assert parse_bytes("1.5TiB") == int(1.5 * 2**40) and parse_bytes("4096") == 4096
    assert fmt_bytes(5 * 2**20) == "5.0 MiB" and fmt_bytes(None) == "unlimited"

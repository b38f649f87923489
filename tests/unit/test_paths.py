"""The path policy on its own: roots, '..', symlinks, registered shared paths."""

from __future__ import annotations

import os

import pytest

from argus.services.paths import allowed_roots, check_path, realpath


def test_registered_shared_path_and_code_dir_are_allowed(tmp_path):
    shared = tmp_path / "shared"
    datasets = tmp_path / "datasets"
    roots = allowed_roots(shared, "alice", "red", [datasets])
    for ok in (shared / "users/alice/x", shared / "teams/red/y", shared / "code/verl",
               datasets / "gsm8k/train.parquet"):
        assert check_path("f", str(ok), roots) is None, ok
    for bad in (shared / "users/alicex/x", shared / "teams/blue", shared / "users", tmp_path):
        issue = check_path("f", str(bad), roots)
        assert issue is not None and issue.path == "f" and "outside" in issue.message, bad


def test_symlink_into_an_allowed_root_is_fine_and_out_of_it_refused(tmp_path):
    shared = tmp_path / "shared"
    (shared / "users/alice").mkdir(parents=True)
    (shared / "teams/red").mkdir(parents=True)
    os.symlink(shared / "teams/red", shared / "users/alice/team")
    os.symlink(tmp_path, shared / "users/alice/up")
    roots = allowed_roots(shared, "alice", "red", [])
    assert check_path("code", str(shared / "users/alice/team"), roots) is None
    issue = check_path("code", str(shared / "users/alice/up"), roots)
    assert issue is not None and "symlink" in issue.message


def test_dotdot_is_refused_even_when_it_stays_inside(tmp_path):
    roots = allowed_roots(tmp_path, "alice", None, [])
    issue = check_path("code", f"{tmp_path}/users/alice/a/../b", roots)
    assert issue is not None and "'..'" in issue.message


def test_realpath_answers_as_os_path_realpath(tmp_path, monkeypatch):
    """The C library's realpath(3) where it answers, os.path.realpath elsewhere: always the same."""
    root = tmp_path / "r"
    (root / "dir/sub").mkdir(parents=True)
    (root / "file").write_text("x")
    (root / "ünï cödé").mkdir()
    os.symlink(root / "dir", root / "abs")  # absolute target
    os.symlink("dir/sub", root / "rel")  # relative target
    os.symlink("../../dir", root / "dir/sub/up")  # a target with '..'
    os.symlink("abs", root / "chain")  # a link to a link
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    os.symlink(root / "missing", root / "dangling")
    cases = ["dir", "dir/sub", "file", "ünï cödé", "abs", "abs/sub", "rel", "rel/up", "rel/up/sub/",
             "chain/sub", "dir//sub", "dir/./sub", "loop1", "loop1/x", "dangling", "dangling/x",
             "missing", "missing/x/y", "file/x", "abs/missing", ""]
    for case in cases:
        value = f"{root}/{case}"
        assert realpath(value) == os.path.realpath(value), case
    answered_by_c = []
    real_realpath = os.path.realpath
    monkeypatch.setattr(os.path, "realpath", lambda v: answered_by_c.append(v) or real_realpath(v))
    assert realpath(f"{root}/rel/up/sub") == str(root / "dir/sub")
    assert realpath(f"{root}/missing") == str(root / "missing")
    assert answered_by_c == [f"{root}/missing"]  # the existing path took the C library's answer


def test_realpath_never_hands_a_nul_to_c(tmp_path):
    """C would read "/a\\0/b" as "/a": a value with a NUL goes to os.path.realpath, which refuses it."""
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError):
        realpath(f"{tmp_path}/a\0/../../etc")

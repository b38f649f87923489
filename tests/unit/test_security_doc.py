"""docs/security.md shows the permission table exactly as argus/authz.py defines it."""

from __future__ import annotations

from pathlib import Path

from argus.authz import markdown_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def test_security_doc_has_the_permission_table():
    assert markdown_table() in DOC.read_text(), (
        "docs/security.md is out of date: paste argus.authz.markdown_table() into it")

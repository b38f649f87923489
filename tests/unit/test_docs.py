"""Docs that match: every setting is documented, the README's commands exist."""

from pathlib import Path

from argus.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def test_every_setting_is_documented():
    doc = (REPO / "docs" / "settings.md").read_text()
    missing = [f"ARGUS_{name.upper()}" for name in Settings.model_fields
               if f"`ARGUS_{name.upper()}`" not in doc]
    assert missing == [], f"add to docs/settings.md: {missing}"


def test_readme_quick_start_has_the_two_commands():
    readme = (REPO / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "make demo" in quick and "make test" in quick

"""deploy/prometheus: promtool checks the config and the rules and runs the rules' unit tests
(deploy/prometheus/tests/); every alert has a runbook section and a test; the dashboards are
valid Grafana JSON whose queries name only metrics Argus exports (the live scrape test in
tests/integration/test_observability.py checks those names against a real scrape)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PROM = REPO / "deploy" / "prometheus"
DASHBOARDS = REPO / "deploy" / "grafana" / "dashboards"
NAME = re.compile(r"\b(argus_[a-z0-9_]+)")

promtool = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(promtool is None, reason="promtool missing: `make promtool` installs "
                                    "Debian's prometheus package")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120, cwd=REPO)


@needs_promtool
def test_promtool_checks_the_config_and_the_rules() -> None:
    config = run("check", "config", str(PROM / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr
    rules = run("check", "rules", *map(str, sorted((PROM / "rules").glob("*.yml"))))
    assert rules.returncode == 0, rules.stdout + rules.stderr


@needs_promtool
def test_promtool_rule_unit_tests_pass() -> None:
    result = run("test", "rules", *map(str, sorted((PROM / "tests").glob("*.yml"))))
    assert result.returncode == 0, result.stdout + result.stderr


def alerts() -> list[dict]:
    return [rule for path in sorted((PROM / "rules").glob("*.yml"))
            for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"] if "alert" in rule]


def test_every_alert_is_tested_and_has_a_runbook_entry() -> None:
    tested = {t["alertname"] for path in (PROM / "tests").glob("*.yml")
              for case in yaml.safe_load(path.read_text())["tests"] for t in case.get("alert_rule_test", [])
              if t.get("exp_alerts")}
    runbook = (REPO / "docs" / "operations.md").read_text()
    for rule in alerts():
        assert rule["alert"] in tested, f"{rule['alert']} has no promtool test that fires it"
        anchor = rule["annotations"]["runbook"].split("#", 1)[1]
        assert f"### {rule['alert']}" in runbook and anchor == rule["alert"].lower()


def dashboard_queries() -> dict[str, list[str]]:
    found = {}
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        exprs = [t["expr"] for panel in board["panels"] for t in panel.get("targets", [])]
        exprs += [v["definition"] for v in board["templating"]["list"] if v.get("definition")]
        found[path.stem] = exprs
    return found


def test_the_four_dashboards_are_grafana_json_with_queries() -> None:
    boards = dashboard_queries()
    assert set(boards) == {"cluster-overview", "queue-quotas", "task", "gpu-health"}
    for name, exprs in boards.items():
        board = json.loads((DASHBOARDS / f"{name}.json").read_text())
        assert board["uid"].startswith("argus-") and board["panels"] and all(exprs), name
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), f"{name}: panel ids repeat"


def metric_names() -> set[str]:
    """Every argus_* series name a dashboard or a rule uses (histogram suffixes folded)."""
    text = "\n".join(e for exprs in dashboard_queries().values() for e in exprs)
    text += "\n".join(rule["expr"] for rule in alerts())
    return {re.sub(r"_(bucket|count|sum)$", "", n) for n in NAME.findall(text)}


def test_dashboards_and_rules_name_metrics_documented_in_observability_md() -> None:
    doc = (REPO / "docs" / "observability.md").read_text()
    missing = sorted(n for n in metric_names() if f"`{n}" not in doc)
    assert missing == [], f"document these in docs/observability.md: {missing}"

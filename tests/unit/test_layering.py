"""The layering is enforced, not hoped for: api | head | worker → argus → taskspec."""

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_import_linter_contract_holds():
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint), "--config", str(REPO / "pyproject.toml")], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def imports_of(package: str) -> set[str]:
    found = set()
    for path in (REPO / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_taskspec_is_pure():
    allowed_third_party = {"pydantic", "yaml"}
    project = {"argus", "api", "head", "worker", "ray", "sqlalchemy", "fastapi", "hydra", "omegaconf"}
    assert not (imports_of("taskspec") & project)
    assert allowed_third_party & imports_of("taskspec")


def test_only_the_adapter_imports_ray():
    offenders = [str(p.relative_to(REPO)) for pkg in ("argus", "api", "head", "worker", "taskspec")
                 for p in (REPO / pkg).rglob("*.py")
                 if p.name != "ray_adapter.py" and any(
                     (isinstance(n, ast.Import) and any(a.name.split(".")[0] == "ray" for a in n.names))
                     or (isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "ray")
                     for n in ast.walk(ast.parse(p.read_text())))]
    assert offenders == []


def test_scheduling_is_pure():
    """argus.scheduling imports only the standard library, itself, the typed settings and the two
    pure vocabularies it decides in: the state machine and the termination reasons."""
    allowed = {"argus.scheduling", "argus.settings", "argus.states", "argus.termination"}
    offenders = []
    for path in (REPO / "argus" / "scheduling").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top == "__future__":
                    continue
                if not any(name == a or name.startswith(a + ".") for a in allowed):
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []


def test_control_plane_contracts_are_declared():
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    forbidden = {c["source_modules"][0]: set(c["forbidden_modules"]) for c in contracts if c["type"] == "forbidden"}
    assert {"argus.db", "argus.control", "argus.services", "ray", "sqlalchemy"} <= forbidden["argus.scheduling"]
    assert "argus.control" in forbidden["argus.services"]
    assert "argus.control" in forbidden["api.routers"]
    assert any(c["type"] == "layers" and c.get("containers") == ["argus"]
               and c["layers"] == ["control", "services", "scheduling"] for c in contracts)

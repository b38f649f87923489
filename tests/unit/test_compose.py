"""deploy/docker-compose.yml: its structure, and every command and path it names exists here.

No Docker engine runs on the test machines, so this is what we can check without one.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import click
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "deploy" / "docker-compose.yml"


ARGUS_SERVICES = {"head", "worker", "server"}
MONITORING = {"prometheus", "grafana"}


def load() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def argus_services() -> dict:
    return {name: svc for name, svc in load()["services"].items() if name in ARGUS_SERVICES}


def test_services_volume_and_health_checks() -> None:
    doc = load()
    assert set(doc["services"]) == ARGUS_SERVICES | MONITORING
    assert "shared" in doc["volumes"], "a named volume stands in for GPFS"
    for name, svc in argus_services().items():
        assert "healthcheck" in svc, f"{name} has no health check"
        mounts = [v.split(":")[0] for v in svc["volumes"]]
        assert "shared" in mounts, f"{name} does not mount the shared volume"
        assert svc["environment"]["ARGUS_SHARED_ROOT"] == "${ARGUS_SHARED_MOUNT:-/shared}"
    assert "container_name" not in doc["services"]["worker"], "workers must scale (--scale worker=N)"
    assert "ports" not in doc["services"]["worker"]


def test_build_paths_exist() -> None:
    build = load()["services"]["head"]["build"]
    context = (COMPOSE.parent / build["context"]).resolve()
    dockerfile = context / build["dockerfile"]
    assert dockerfile.is_file()
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (context / src).exists(), f"{dockerfile} copies {src}, which does not exist"


def _resolve(module: str, words: list[str]) -> click.Command:
    mod = importlib.import_module(f"{module}.cli" if module in {"head", "worker"} else f"{module}.__main__")
    group = next(v for v in vars(mod).values() if isinstance(v, click.Group))
    command: click.Command = group
    for word in words:
        if word.startswith("-"):
            break
        assert isinstance(command, click.Group), f"{module} {words}: {word!r} is not a subcommand"
        command = command.commands[word]
    return command


def test_every_command_exists_with_its_options() -> None:
    entrypoint = (REPO / "docker" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["python", "-m"]' in entrypoint
    services = argus_services()
    argvs = [svc["command"] for svc in services.values()]
    argvs += [svc["healthcheck"]["test"][3:] for svc in services.values()
              if svc["healthcheck"]["test"][1:3] == ["python", "-m"]]
    for argv in argvs:
        module, words = argv[0], argv[1:]
        command = _resolve(module, words)
        known = {opt for p in command.params for opt in getattr(p, "opts", [])}
        for word in words:
            if word.startswith("--"):
                assert word in known, f"{argv}: {command.name} has no option {word}"


def test_environment_names_are_settings() -> None:
    from argus.settings import Settings

    fields = {f"ARGUS_{name.upper()}" for name in Settings.model_fields}
    for svc in argus_services().values():
        for key in svc["environment"]:
            assert key in fields, f"{key} is not an Argus setting"
    assert re.search(r"docker compose .* --scale worker=", COMPOSE.read_text())


def test_prometheus_and_grafana_mount_what_exists_and_scrape_the_argus_services() -> None:
    doc = load()
    for name in MONITORING:
        svc = doc["services"][name]
        assert "healthcheck" in svc and all(p.startswith("127.0.0.1:") for p in svc["ports"])
        for volume in svc["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), f"{name} mounts {source}, which does not exist"
    scrape = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]
    jobs = {job["job_name"]: job for job in scrape}
    assert jobs["argus-server"]["static_configs"][0]["targets"] == [f"server:{doc['services']['server']['environment']['ARGUS_PORT']}"]
    worker_cmd = doc["services"]["worker"]["command"]
    port = worker_cmd[worker_cmd.index("--metrics-port") + 1]
    assert jobs["argus-workers"]["dns_sd_configs"][0] == {"names": ["worker"], "type": "A", "port": int(port),
                                                          "refresh_interval": "30s"}
    datasource = yaml.safe_load((REPO / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
                                .read_text())["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((REPO / "deploy" / "grafana" / "provisioning" / "dashboards" / "argus.yml")
                              .read_text())["providers"][0]
    assert any(v.endswith(":" + provider["options"]["path"] + ":ro") for v in doc["services"]["grafana"]["volumes"])

"""`talon serve`: serve the nightly deployment from one box, as declared in flows/prefect.yaml.

The temporary server Prefect starts on its own cannot run schedules; serving needs a real
server (`prefect server start`) and PREFECT_API_URL pointing at it.
"""
from __future__ import annotations

from pathlib import Path

import yaml

PROJECT_FILE = Path(__file__).with_name("prefect.yaml")


def deployment_spec(project_file: Path = PROJECT_FILE, name: str = "nightly") -> dict:
    spec = yaml.safe_load(Path(project_file).read_text(encoding="utf-8"))
    for dep in spec.get("deployments", []):
        if dep.get("name") == name:
            return dep
    raise KeyError(f"no deployment named {name!r} in {project_file}")


def build_deployment(spec: dict, parameters: dict | None = None, cron: str | None = None,
                     timezone: str | None = None):
    from prefect.schedules import Cron

    from flows.nightly import nightly_flow

    params = {**spec.get("parameters", {}), **(parameters or {})}
    schedules = [Cron(cron or s["cron"], timezone=timezone or s.get("timezone"),
                      active=s.get("active", True)) for s in spec.get("schedules", [])]
    if cron and not schedules:
        schedules = [Cron(cron, timezone=timezone)]
    return nightly_flow.to_deployment(name=spec["name"], description=spec.get("description"),
                                      tags=spec.get("tags"), parameters=params,
                                      schedules=schedules)


def serve(parameters: dict | None = None, cron: str | None = None, timezone: str | None = None,
          project_file: Path = PROJECT_FILE) -> None:
    from prefect import serve as prefect_serve

    deployment = build_deployment(deployment_spec(project_file), parameters, cron, timezone)
    prefect_serve(deployment, print_starting_message=True)

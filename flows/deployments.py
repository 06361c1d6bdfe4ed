"""`newsmerge serve`: the deployments of prefect.yaml, served from one process.

`prefect deploy --all` plus `prefect worker start` is the way to run newsmerge with a work pool;
on a single machine `serve_deployments()` runs the very same deployments (names, schedules,
parameters, tags, concurrency, read from prefect.yaml so the two never drift apart) with
`prefect.serve`: no work pool, no worker, each run in a subprocess of this one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from newsmerge.config import ROOT

PREFECT_YAML = ROOT / "prefect.yaml"
FLOW_ENTRYPOINT = "flows.pipeline.news_pipeline"


def deployment_specs(path: str | Path = PREFECT_YAML) -> list[dict[str, Any]]:
    """The `deployments:` entries of prefect.yaml (YAML anchors resolved)."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    specs = raw.get("deployments") or []
    for spec in specs:
        if spec.get("entrypoint") != FLOW_ENTRYPOINT:
            raise ValueError(
                f"{path}: deployment {spec.get('name')!r}: newsmerge serves only "
                f"{FLOW_ENTRYPOINT}, not {spec.get('entrypoint')!r}"
            )
    return specs


def _schedules(spec: dict[str, Any]) -> list[Any]:
    from prefect.schedules import Cron, Interval, RRule

    out = []
    for s in spec.get("schedules") or []:
        common = {"active": s.get("active", True)}
        if s.get("parameters"):
            common["parameters"] = s["parameters"]
        if "cron" in s:
            out.append(Cron(s["cron"], timezone=s.get("timezone"), **common))
        elif "interval" in s:
            out.append(Interval(s["interval"], timezone=s.get("timezone"), **common))
        elif "rrule" in s:
            out.append(RRule(s["rrule"], timezone=s.get("timezone"), **common))
        else:
            what = "a schedule needs cron, interval or rrule"
            raise ValueError(f"deployment {spec['name']!r}: {what}")
    return out


def build_deployments(
    names: Sequence[str] | None = None, path: str | Path = PREFECT_YAML
) -> list[Any]:
    """RunnerDeployments of `news-pipeline` for the prefect.yaml entries (all, or `names`)."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig
    from prefect.types.entrypoint import EntrypointType

    from flows.pipeline import news_pipeline

    specs = deployment_specs(path)
    known = [s["name"] for s in specs]
    if names:
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise ValueError(
                f"no deployment named {', '.join(unknown)} in {path} "
                f"(there are: {', '.join(known)})"
            )
        specs = [s for s in specs if s["name"] in names]
    deployments = []
    for spec in specs:
        limit = spec.get("concurrency_limit")
        if isinstance(limit, dict):
            limit = ConcurrencyLimitConfig(**limit)
        deployments.append(
            news_pipeline.to_deployment(
                name=spec["name"],
                description=spec.get("description"),
                tags=spec.get("tags"),
                parameters=spec.get("parameters") or {},
                schedules=_schedules(spec),
                concurrency_limit=limit,
                entrypoint_type=EntrypointType.MODULE_PATH,
            )
        )
    return deployments


def serve_deployments(
    names: Sequence[str] | None = None,
    *,
    limit: int | None = None,
    path: str | Path = PREFECT_YAML,
) -> None:
    """Serve the deployments until interrupted (Ctrl-C or SIGTERM); blocks.

    Schedules are paused when it stops, and resumed when it serves again.
    """
    from prefect import serve

    serve(*build_deployments(names, path), limit=limit)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m flows.deployments", description=__doc__)
    p.add_argument("names", nargs="*", help="deployment names (default: all in prefect.yaml)")
    p.add_argument("--limit", type=int, help="most flow runs at once")
    args = p.parse_args(argv)
    from newsmerge.cli import _prefect_env

    _prefect_env()
    serve_deployments(args.names or None, limit=args.limit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

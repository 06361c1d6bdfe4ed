"""`newsmerge serve` and `newsmerge export`: registered on the CLI's subparsers by `newsmerge.cli`.

from newsmerge.commands import add_export, add_serve
add_serve(sub); add_export(sub)
"""

from __future__ import annotations

import argparse


def cmd_serve(args: argparse.Namespace) -> int:
    from newsmerge.cli import _prefect_env

    _prefect_env()
    from flows.deployments import serve_deployments

    names = [n.strip() for n in args.deployments.split(",")] if args.deployments else None
    serve_deployments(names, limit=args.limit)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from newsmerge.analysis import export

    outlets = [o.strip() for o in args.outlets.split(",")] if args.outlets else None
    for path in export(
        args.directory,
        fmt=args.format,
        store=args.store,
        since=args.since,
        until=args.until,
        outlets=outlets,
    ):
        print(path)
    return 0


def add_serve(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    serve = sub.add_parser(
        "serve",
        help="serve the prefect.yaml deployments (poll on its schedule, backfill on demand) "
        "from this process, without a work pool or worker",
        description="Runs news-pipeline/poll on its schedule and news-pipeline/backfill when "
        "asked (prefect deployment run 'news-pipeline/backfill' -p replay=...), until Ctrl-C. "
        "Needs a Prefect server: PREFECT_API_URL=http://127.0.0.1:4200/api.",
    )
    serve.add_argument(
        "--deployments",
        metavar="NAMES",
        help="comma-separated deployment names (default: all in prefect.yaml)",
    )
    serve.add_argument("--limit", type=int, help="most flow runs at once (default: no limit)")
    serve.set_defaults(func=cmd_serve)
    return serve


def add_export(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    export = sub.add_parser(
        "export",
        help="write the stories, articles and credits frames to DIR as parquet or csv",
    )
    export.add_argument("directory", metavar="DIR")
    export.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    export.add_argument("--store", help="SQLAlchemy store URL (default: config's [store] url)")
    export.add_argument("--since", help="stories updated at or after (ISO date or time, UTC)")
    export.add_argument("--until", help="stories updated at or before (ISO date or time, UTC)")
    export.add_argument("--outlets", help="comma-separated outlet names")
    export.set_defaults(func=cmd_export)
    return export

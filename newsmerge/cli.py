"""`newsmerge`: run, serve and export the pipeline; merge one story; evaluate dedup and merger.

Prefect reads its settings when first imported, so the safe defaults for a local run
(no telemetry, a patient embedded server) are set here before anything imports it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

PREFECT_DEFAULTS = {
    # Analytics at server start races its own SQLite database ("database is locked").
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    # The embedded server needs ~10 s to become healthy on 2 cores; the default is tighter.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_LOGGING_LEVEL": "WARNING",
}


def _prefect_env(verbose: bool = False) -> None:
    if verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)


def _table(rows: list[list], header: list[str]) -> str:
    """A plain-text table: numbers right-aligned, text left-aligned."""
    cols = list(zip(header, *rows, strict=True))
    widths = [max(len(str(x)) for x in col) for col in cols]
    numeric = [all(isinstance(x, int) for x in col[1:]) and len(col) > 1 for col in cols]
    align = [">" if n else "<" for n in numeric]
    fmt = "  ".join(f"{{:{a}{w}}}" for a, w in zip(align, widths, strict=True))
    lines = [fmt.format(*header), *(fmt.format(*map(str, r)) for r in rows)]
    return "\n".join(line.rstrip() for line in lines)


def cmd_run(args: argparse.Namespace) -> int:
    _prefect_env(args.verbose)
    from flows.pipeline import news_pipeline
    from newsmerge.pipeline import AllOutletsFailed
    from newsmerge.store import Store

    outlets = [o.strip() for o in args.outlets.split(",")] if args.outlets else None
    try:
        summary = news_pipeline(
            outlets=outlets, replay=args.replay, store_url=args.store, config_path=args.config
        )
    except AllOutletsFailed as exc:
        print(f"newsmerge: {exc}", file=sys.stderr)
        if not args.replay:
            print(
                "newsmerge: no outlet could be reached; to run offline from the recordings: "
                "newsmerge run --replay seeds/captures/2026-08-13",
                file=sys.stderr,
            )
        return 1
    rows = [
        [
            r.outlet,
            r.seen,
            r.new,
            r.updated,
            r.unchanged,
            r.not_modified,
            r.failed_feeds + r.failed_items,
        ]
        for r in summary.outlets
    ]
    print(_table(rows, ["outlet", "seen", "new", "updated", "unchanged", "304", "failed"]))
    for r in summary.outlets:
        if r.backing_off:
            print(
                f"  ~ {r.outlet}: {r.backing_off} failing feed(s) not tried this run, backing off"
                " (`newsmerge status` shows the next try)"
            )
        for err in r.errors[: args.errors]:
            print(f"  ! {r.outlet}: {err}")
        if len(r.errors) > args.errors:
            print(f"  ! {r.outlet}: … {len(r.errors) - args.errors} more errors")
    t = summary.totals
    print(
        f"\nstories: {summary.stories.assigned} articles assigned, "
        f"{summary.stories.new_stories} new stories; composites built: "
        f"{len(summary.composites_built)}; store: {t.get('articles', 0)} articles, "
        f"{t.get('stories', 0)} stories, {t.get('composites', 0)} composites"
    )
    from newsmerge.config import load_config

    store_url = load_config(args.config, store_url=args.store).store_url
    with Store(store_url) as store:
        top = store.composites()[: args.top]
    for c in top:
        print(f"\n=== {c['headline']} ({len(c['outlets'])} outlets, {c['n_articles']} articles)")
        print(c["text"])
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Each feed's health: last status, last success, failures in a row, next try, last error."""
    from newsmerge.config import load_config
    from newsmerge.pipeline import next_attempt
    from newsmerge.store import Store

    config = load_config(args.config, store_url=args.store)
    with Store(config.store_url) as store:
        states = store.feed_states()
        counts = store.counts()
        window = window_deciders(store, config)

    def when(t) -> str:
        return t.strftime("%Y-%m-%d %H:%M") if t else "-"

    rows = []
    for outlet in config.outlets:
        for url in outlet.feeds:
            st = states.get(url)
            if st is None:
                rows.append([outlet.name, url, "never polled", "-", 0, "now", ""])
                continue
            due = next_attempt(st, outlet.polling)
            rows.append(
                [
                    outlet.name,
                    url,
                    st.last_status or "-",
                    when(st.last_success),
                    st.consecutive_failures,
                    when(due) if due else "next run",
                    (st.last_error or "")[:60],
                ]
            )
    header = ["outlet", "feed", "status", "last success", "failures", "next try", "last error"]
    print(_table(rows, header))
    print(
        f"\nstore {config.store_url}: {counts['articles']} articles, {counts['stories']} stories, "
        f"{counts['composites']} composites"
    )
    if window:
        print(window)
    return 1 if any(r[4] for r in rows) and args.check else 0


def window_deciders(store, config) -> str:
    """`status`'s line when the open window was decided by another version than today's."""
    from newsmerge.pipeline import dedup_settings, open_window, stale_window

    settings = dedup_settings(config)
    return stale_window(open_window(store, settings)[1], settings)


def cmd_restory(args: argparse.Namespace) -> int:
    """Decide the open window's stories again with today's code and encoder, then rebuild the
    composites of the stories that changed."""
    from newsmerge.config import load_config
    from newsmerge.pipeline import build_composites, dedup_settings, redecide_window

    config = load_config(args.config, store_url=args.store)
    settings = dedup_settings(config)
    report = redecide_window(config.store_url, settings)
    if not report.redecided:
        print("restory: no assigned articles in the store")
        return 0
    built = build_composites(config.store_url, report.changed_stories, settings.encoder)
    print(
        f"restory: {report.redecided} articles since {report.since:%Y-%m-%d %H:%M} decided "
        f"again, {report.moved} moved; {len(report.changed_stories)} stories changed, "
        f"{len(report.removed_stories)} removed; composites rebuilt: {len(built)}"
    )
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from dedup.merge import run_merge_cli

    print(run_merge_cli(args.path, args.format, args.encoder))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from dedup.evaluate import base_settings, run_story_evaluation

    if args.what == "stories":
        return run_story_evaluation(args)
    if args.settings or args.grid or args.half != "all":
        raise ValueError("--set, --grid and --half apply to `newsmerge evaluate stories`")
    from dedup.merge.evaluate import evaluate_merge, render_merge_report

    # the merger runs on the encoder the pipeline would give it: --encoder, else the config's
    encoder = base_settings(args.config, args.encoder, ()).get("encoder", "auto")
    result = evaluate_merge(args.path, encoder=encoder)
    print(json.dumps(result, indent=2) if args.json else render_merge_report(result))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
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


def add_encoder_option(parser: argparse.ArgumentParser, default: str | None = "auto") -> None:
    """`--encoder`, shared by `merge` and `evaluate`: the choices of dedup.embeddings."""
    from dedup.embeddings import encoder_choice

    parser.add_argument(
        "--encoder",
        type=encoder_choice,
        default=default,
        help="sentence encoder; auto uses it when the embeddings extra is installed (stories: "
        "the news-tuned MiniLM, the merger: the facts-tuned MPNet), mpnet-base-v2-news MPNet's "
        "story model, minilm-l6-v2 the stock model, "
        "none keeps the lexical scores",
    )


def add_story_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose what a story evaluation runs under, shared by `newsmerge
    evaluate stories` and `python -m dedup.evaluate` so both mean the same thing (here, not in
    dedup.evaluate, so that building this parser does not import the models)."""
    parser.add_argument(
        "--config",
        help="config file whose [dedup] table sets the settings, as the pipeline runs them "
        "(default: config/outlets.toml when present)",
    )
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one [dedup] setting, e.g. --set embedding_edge=0.65 (repeatable)",
    )
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="score every combination of these [dedup] values, one row each, and name the "
        "best, e.g. --grid embedding_weight=0.4,0.5 --grid embedding_edge=0.6,0.65",
    )
    parser.add_argument(
        "--half",
        choices=("even", "odd", "all"),
        default="all",
        help="score one seeded half of the stories: the half a `dedup.finetune --half` run "
        "did not train on (default: all)",
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="newsmerge", description="One credited story per event, from many outlets."
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log progress and per-item errors")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the news-pipeline flow once and print its stories")
    run.add_argument(
        "--replay",
        metavar="CAPTURE",
        help="serve a recorded capture (e.g. seeds/captures/2026-08-13) instead of the web",
    )
    run.add_argument("--outlets", help="comma-separated outlet names (default: all in config)")
    run.add_argument("--store", help="SQLAlchemy store URL (default: config's [store] url)")
    run.add_argument("--config", help="config file (default: config/outlets.toml)")
    run.add_argument("--top", type=int, default=1, help="how many composites to print")
    run.add_argument("--errors", type=int, default=3, help="errors to print per outlet")
    run.set_defaults(func=cmd_run)

    status = sub.add_parser("status", help="show each feed's health and the store's size")
    status.add_argument("--store", help="SQLAlchemy store URL (default: config's [store] url)")
    status.add_argument("--config", help="config file (default: config/outlets.toml)")
    status.add_argument("--check", action="store_true", help="exit 1 when any feed is failing")
    status.set_defaults(func=cmd_status)

    restory = sub.add_parser(
        "restory",
        help="decide the open window's stories again (after an upgrade or a settings change)",
        description="Memberships are decided once, when an article arrives. After upgrading "
        "newsmerge or changing [dedup], this decides the articles of the open window "
        "([dedup] window_days before the newest) again with today's code and settings, "
        "moves those that now belong elsewhere, and rebuilds the changed composites. "
        "`newsmerge status` says when the window was decided by another version.",
    )
    restory.add_argument("--store", help="SQLAlchemy store URL (default: config's [store] url)")
    restory.add_argument("--config", help="config file (default: config/outlets.toml)")
    restory.set_defaults(func=cmd_restory)

    merge = sub.add_parser("merge", help="print the composite of one story's articles")
    merge.add_argument("path", help="JSON Lines: {id, outlet, title, text, published, url}")
    merge.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    add_encoder_option(merge)
    merge.set_defaults(func=cmd_merge)

    ev = sub.add_parser("evaluate", help="measure story detection or the merger on labeled data")
    ev.add_argument("what", choices=["stories", "merge"])
    ev.add_argument("path", help="JSON Lines: {id, outlet, title, text, published, cluster_id}")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    add_encoder_option(ev, default=None)  # None: the config's [dedup] encoder, else auto
    add_story_arguments(ev)
    ev.set_defaults(func=cmd_evaluate)

    add_serve(sub)
    add_export(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Per-item problems (a missing page, a 404 feed) are in the run summary; the log shows them
    # as they happen with -v.
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from newsmerge.config import ConfigError

    try:
        return args.func(args)
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        print(f"newsmerge: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""`pingpipe demo`: weeks of the demo app's pings into `up`, then the daily cycle for each of their days."""

from __future__ import annotations

import datetime as dt
import sys
import time

import click

from pingpipe import utc
from pingpipe.reason import one_line
from pingpipe.up.demo import DemoConfig
from pingpipe.up.target import Target

from .target import on_target

ACTIVE_USERS = "pingpipe_demo.active_users"


class Progress:
    """One line that updates in place on a terminal; elsewhere (a log, a test) only its last state."""

    def __init__(self):
        self.tty = sys.stderr.isatty()
        self.text = ""
        self.shown = 0.0

    def show(self, text: str, force: bool = False) -> None:
        self.text = text
        if self.tty and (force or time.monotonic() - self.shown > 0.1):
            self.shown = time.monotonic()
            click.echo("\r" + text + " " * 10, nl=False, err=True)

    def done(self, text: str | None = None) -> None:
        text = text or self.text
        click.echo(("\r" if self.tty else "") + text + (" " * 10 if self.tty else ""), err=True)
        self.text = ""


def _day(value) -> dt.date:
    """A UTC day from a query's timestamp: a datetime (the warehouse opened here) or its text (from `up`)."""
    if isinstance(value, dt.datetime):
        return utc.day_of(value)
    return dt.date.fromisoformat(str(value)[:10])


@click.command("demo")
@on_target()
@click.option(
    "--days", default=DemoConfig.days, show_default=True, type=click.IntRange(1, 366), help="Days of history: the days before today (UTC)."
)
@click.option(
    "--clients", default=DemoConfig.clients, show_default=True, type=click.IntRange(1, 100_000), help="Installations of the demo app."
)
@click.option(
    "--seed",
    default=DemoConfig.seed,
    show_default=True,
    type=int,
    help="Another seed, another history (the same seed on the same day: the same pings, so counted duplicates).",
)
@click.option("--no-cycles", is_flag=True, help="Only send: leave the daily cycle (stable and derived tables) to you.")
@click.option(
    "--cycles-only",
    is_flag=True,
    help="Send nothing: run the daily cycle for each day the demo's pings in the warehouse cover "
    "(after `up` loaded what an earlier `pingpipe demo` queued).",
)
def demo(target, days, clients, seed, no_cycles, cycles_only):
    """Send weeks of the demo app's pings (pingpipe-demo) into `pingpipe up`, then make its derived tables.

    Built from the app's metrics.yaml and pings.yaml: a few hundred clients on three channels and a
    few versions, their baseline, metrics, events, hello and health pings spread over the days,
    a few pings the decoder refuses, a few sent twice, and a deletion request. Each is queued as the
    edge would have queued it on its day (its submission_timestamp in the past), and decoded and
    loaded by `up` like any ping. With `up` running on DATA, the demo waits for it to load them,
    then runs the daily cycle for each day (dedupe, shred, derived tables): `pingpipe query "SELECT
    * FROM pingpipe_demo.active_users"` then has every day. Without it, the pings wait in DATA/queue
    for the next `pingpipe up --data DATA`; run `pingpipe demo --cycles-only` once it has loaded them.
    """
    if no_cycles and cycles_only:
        raise click.UsageError("--no-cycles and --cycles-only exclude each other")
    progress = Progress()
    data = target.data
    if cycles_only:
        first, last = _demo_days(target)
        _cycles(target, [first + dt.timedelta(days=i) for i in range((last - first).days + 1)], progress)
        _show_active_users(target, first, last)
        return
    from pingpipe.private import private_folder
    from pingpipe.schemas import glean_builtin
    from pingpipe.schemas.definitions import load
    from pingpipe.schemas.glean import app_namespace
    from pingpipe.schemas.registry import default_root
    from pingpipe.up.demo import history, summary
    from pingpipe.up.demo_queue import DemoRefused, queue_history, wait_loaded, writer_mark

    try:
        sdk = glean_builtin.source().version
    except glean_builtin.BuiltinsUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    config = DemoConfig(days=days, clients=clients, seed=seed, sdk_version=sdk)
    found = load(default_root())
    app = found.apps.get(app_namespace(config.app_id))
    if app is None:
        raise click.ClickException(
            f"the demo app's definitions are missing from {default_root()}/apps: "
            f"{'; '.join(found.problems.values()) or 'reinstall pingpipe'}"
        )
    today = utc.today()
    day_list = config.day_list(today)
    progress.show(f"making {days} days of {config.app_id} for {clients} clients…", force=True)
    submissions = history(app, config, today)
    kinds = summary(submissions)
    progress.done(
        f"{len(submissions)} submissions from {day_list[0]} to {day_list[-1]}: " + ", ".join(f"{n} {kind}" for kind, n in kinds.items())
    )

    queue = data / "queue"
    private_folder(data)  # raw payloads in its queue: the owner's alone, as `up` keeps it
    running = target.running()
    before = (target.ask("GET", "/status") or {}).get("committed", {}) if running else {}
    mark = writer_mark()
    try:
        queued = queue_history(submissions, queue, progress=lambda n, total: progress.show(f"queued {n}/{total} into {queue}"))
    except DemoRefused as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot queue into {queue}: {exc.strerror or exc}") from None
    progress.done(f"queued {queued} submissions into {queue}")
    if not running:
        click.echo(
            f"`pingpipe up` is not running on {data}: they load when it starts "
            f"(pingpipe up --data {data}); then `pingpipe demo --data {data} --cycles-only` makes "
            f"the derived tables for {day_list[0]} to {day_list[-1]}."
        )
        return
    start = time.monotonic()
    try:
        loaded = wait_loaded(queue, mark, target.running, progress=lambda left: progress.show(f"up is loading: {left} segment(s) to go"))
    except TimeoutError as exc:
        raise click.ClickException(str(exc)) from None
    if not loaded:
        raise click.ClickException(
            f"`pingpipe up` stopped before loading everything: the rest loads at its next "
            f"start, then run `pingpipe demo --data {data} --cycles-only`"
        )
    after = (target.ask("GET", "/status") or {}).get("committed", {})
    diff = {k: after.get(k, 0) - before.get(k, 0) for k in ("rows", "errors", "duplicates")}
    progress.done(
        f"up loaded them in {time.monotonic() - start:.1f} s: {diff['rows']} rows, {diff['errors']} error rows, "
        f"{diff['duplicates']} duplicates"
    )
    if no_cycles:
        click.echo(f"next: `pingpipe demo --data {data} --cycles-only` (or `pingpipe cycle --date D` for each day)")
        return
    _cycles(target, day_list, progress)
    _show_active_users(target, day_list[0], day_list[-1])


def _demo_days(target: Target) -> tuple[dt.date, dt.date]:
    """The first and last day of the demo's baseline pings in the warehouse, yesterday at most."""
    sql = "SELECT min(submission_timestamp) AS first, max(submission_timestamp) AS last FROM pingpipe_demo_live.baseline_v1"
    result = _query(target, sql, "no pingpipe-demo pings in the warehouse: run `pingpipe demo` first")
    first, last = result["rows"][0] if result["rows"] else (None, None)
    if first is None:
        raise click.ClickException(
            f"no pingpipe-demo baseline pings in {target.data}: run `pingpipe demo --data {target.data}` "
            "(with `up` running, or start `up` to load what it queued)"
        )
    return _day(first), min(_day(last), utc.yesterday())


def _query(target: Target, sql: str, missing: str) -> dict:
    from pingpipe.up import tasks
    from pingpipe.up.warehouse import QueryError

    try:
        return tasks.query(target, sql)
    except QueryError as exc:
        raise click.ClickException(f"{missing} ({one_line(exc)})") from None


def _cycles(target: Target, days: list[dt.date], progress: Progress) -> None:
    """The daily cycle for each day, oldest first: through the running `up`, else on the warehouse itself."""
    from pingpipe.up import tasks

    failed: list[str] = []

    def shown(i, total, day, report):
        failed.extend((report.get("etl") or {}).get("failed", {}).values())
        progress.show(f"daily cycle {i}/{total}: {day}")

    start = time.monotonic()
    tasks.cycles(target, days, progress=shown)
    progress.done(f"daily cycle for {days[0]} to {days[-1]} ({len(days)} days) in {time.monotonic() - start:.1f} s")
    for message in dict.fromkeys(failed):
        click.echo(f"error: {message}", err=True)
    if failed:
        sys.exit(1)


def _show_active_users(target: Target, first: dt.date, last: dt.date) -> None:
    from pingpipe.up import warehouse

    sql = (
        f"SELECT submission_date, sum(dau) AS dau, sum(wau) AS wau, sum(mau) AS mau FROM {ACTIVE_USERS} "
        f"WHERE submission_date BETWEEN DATE '{first}' AND DATE '{last}' GROUP BY submission_date ORDER BY submission_date"
    )
    result = _query(target, sql, f"no {ACTIVE_USERS}")
    data = target.data
    click.echo(f"{ACTIVE_USERS}, all channels and countries:")
    click.echo(warehouse.format_table(result))
    click.echo(f"""next:
  pingpipe query --data {data} "SELECT * FROM {ACTIVE_USERS} ORDER BY submission_date, channel"
  pingpipe lineage {ACTIVE_USERS}      # where those numbers come from
  pingpipe status --data {data}        # every table, the error rows by type, and the dictionary's link""")

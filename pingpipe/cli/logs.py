"""`pingpipe logs ingest`: server logs (Glean server-side events) into the queue `pingpipe up` loads."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from .up import DATA_HELP


@click.group("logs")
def logs():
    """Usage logs: Glean server-side events written as mozlog lines, or Cloud Logging LogEntries."""


@logs.command("ingest")
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True, dir_okay=False, path_type=Path))
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=Path("pingpipe-data"), show_default=True,
              envvar="PINGPIPE_DATA", help=DATA_HELP)
@click.option("--follow", is_flag=True, help="Keep reading the files as they grow (Ctrl-C to stop).")
def ingest(files, data, follow):
    """Queue the Glean server events in FILES (or - for stdin) for `pingpipe up` to load.

    Mozlog lines of Type glean-server-event and LogEntry JSON become submissions, as Mozilla's
    decoder makes them (ParseLogEntry); a line that is neither becomes an error row; mozlog lines
    of other Types are skipped and counted. What is queued loads exactly once, now if `up` runs
    on DATA, else at its next start. With --follow, where each file was read up to is kept in
    DATA/logs-offsets.json, so a restart goes on where it stopped.
    """
    from pingpipe.logs.ingest import IngestConfig, run

    missing = [str(f) for f in files if str(f) != "-" and not f.is_file()]
    if missing:
        raise click.BadParameter(f"no such file: {', '.join(missing)}", param_hint="FILES")
    if follow and any(str(f) == "-" for f in files):
        raise click.BadParameter("--follow reads files; stdin is read to its end anyway", param_hint="--follow")
    data.mkdir(parents=True, exist_ok=True)
    config = IngestConfig(queue=data / "queue", follow=follow, offsets=data / "logs-offsets.json" if follow else None)
    try:
        totals = asyncio.run(run(list(files), config))
    except KeyboardInterrupt:
        click.echo("stopped: what was counted is queued", err=True)
        return
    except OSError as exc:
        raise click.ClickException(f"cannot queue into {config.queue}: {exc.strerror or exc}") from None
    skipped = sum(totals.skipped.values())
    click.echo(f"queued {totals.queued} line(s) into {config.queue}" + (f"; skipped {skipped}:" if skipped else ""))
    for reason, n in totals.skipped.most_common():
        click.echo(f"  {n}: {reason}")

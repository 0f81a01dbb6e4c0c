"""`pingpipe logs ingest`: server logs (Glean server-side events) into the queue `pingpipe up` loads."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import click

from pingpipe.logs.ingest import IngestConfig
from pingpipe.private import private_folder

from .target import data_option


@click.group("logs")
def logs():
    """Usage logs: Glean server-side events written as mozlog lines, or Cloud Logging LogEntries."""


@logs.command("ingest")
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True, dir_okay=False, path_type=Path))
@data_option()
@click.option("--follow", is_flag=True, help="Keep reading the files as they grow (Ctrl-C to stop).")
@click.option(
    "--service",
    default=None,
    metavar="NAME",
    help="Load plain mozlog lines of this service (not Glean) into NAME_logs_live.<Type>, one table per Type.",
)
@click.option(
    "--policy",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="With --service: the YAML naming Fields to drop, to hash and to give columns (default: only IP and "
    "e-mail addresses out, everywhere).",
)
@click.option(
    "--hash-key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    envvar="PINGPIPE_LOGS_HASH_KEY_FILE",
    help="With --service: the key for the policy's keyed hashes. Keep it outside the warehouse.",
)
@click.option(
    "--max-line-bytes",
    default=IngestConfig.max_line_bytes,
    show_default=True,
    type=click.IntRange(min=1),
    help="A longer line becomes an error row of its first bytes, with its length (never read whole).",
)
def ingest(files, data, follow, service, policy, hash_key_file, max_line_bytes):
    """Queue the Glean server events in FILES (or - for stdin) for `pingpipe up` to load.

    Mozlog lines of Type glean-server-event and LogEntry JSON become submissions, as Mozilla's
    decoder makes them (ParseLogEntry); a line that is neither becomes an error row; mozlog lines
    of other Types are skipped and counted. With --service, every mozlog line becomes a row of
    its Type's table instead, with identifiers stripped by the policy before it is queued. What is
    queued loads exactly once, now if `up` runs on DATA, else at its next start. With --follow, where
    each file was read up to is kept in DATA/logs-offsets.json, so a restart goes on where it
    stopped; Ctrl-C or SIGTERM stops it, once what it read is queued.
    """
    from pingpipe.logs.ingest import run
    from pingpipe.logs.records import dataset_of

    convert = service_converter(service, policy, hash_key_file)
    missing = [str(f) for f in files if str(f) != "-" and not f.is_file()]
    if missing:
        raise click.BadParameter(f"no such file: {', '.join(missing)}", param_hint="FILES")
    if follow and any(str(f) == "-" for f in files):
        raise click.BadParameter("--follow reads files; stdin is read to its end anyway", param_hint="--follow")
    private_folder(data)
    config = IngestConfig(
        queue=data / "queue", follow=follow, offsets=data / "logs-offsets.json" if follow else None, max_line_bytes=max_line_bytes
    )
    if convert is not None:
        config.convert = convert
    try:
        totals = asyncio.run(until_stopped(list(files), config) if follow else run(list(files), config))
    except KeyboardInterrupt:
        click.echo("stopped: what was counted is queued", err=True)
        return
    except OSError as exc:
        raise click.ClickException(f"cannot queue into {config.queue}: {exc.strerror or exc}") from None
    skipped = sum(totals.skipped.values())
    into = f" (service {service}: tables {dataset_of(service)}.<Type>)" if service else ""
    click.echo(f"queued {totals.queued} line(s) into {config.queue}{into}" + (f"; skipped {skipped} line(s):" if skipped else ""))
    for reason, n in totals.skipped.most_common():
        click.echo(f"  {n} × {reason}")


async def until_stopped(files: list[Path], config: IngestConfig):
    """Follow until Ctrl-C or SIGTERM (a service manager's stop), then end as a read to the end does:
    the last lines queued, the offsets written, the totals said. Set here rather than inherited: a
    process started in the background or under nohup has Ctrl-C ignored, and would never stop."""
    from pingpipe.logs.ingest import run

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return await run(files, config, stop)


def service_converter(service: str | None, policy: Path | None, hash_key_file: Path | None):
    """The line converter for --service (None for Glean server events); a policy that cannot apply is one line."""
    from pingpipe.logs import mozlog
    from pingpipe.logs.policy import PolicyError, load
    from pingpipe.logs.records import service_problem

    if service is None:
        if policy or hash_key_file:
            raise click.UsageError("--policy and --hash-key-file go with --service")
        return None
    problem = service_problem(service)
    if problem:  # never a name quietly changed: two services' rows would share a table
        raise click.BadParameter(problem, param_hint="--service")
    try:
        rules = load(policy)
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from None
    key = hash_key_file.read_bytes().strip() if hash_key_file else None
    if rules.hash and not key:
        raise click.UsageError(f"the policy hashes {', '.join(sorted(rules.hash))}: give --hash-key-file")
    return mozlog.service_message(service, rules, key)

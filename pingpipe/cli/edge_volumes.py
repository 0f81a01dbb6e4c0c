"""`pingpipe edge-volumes`: drain the spool volumes an edge StatefulSet left behind, then delete them."""

from __future__ import annotations

import logging
import os
import time

import click

from pingpipe.edge.volumes import VolumeConfig
from pingpipe.logformat import FORMAT_ENV

D = VolumeConfig()


@click.command("edge-volumes")
@click.option("--namespace", default=D.namespace, show_default=True, help="The edge StatefulSet's namespace.")
@click.option("--statefulset", default=D.statefulset, show_default=True, help="The edge StatefulSet.")
@click.option(
    "--delay-seconds",
    type=click.FloatRange(min=0),
    default=D.delay_seconds,
    show_default=True,
    help="How long a volume beyond the replicas stays unused before its drain (an autoscaler may take it back).",
)
@click.option("--every-seconds", type=click.FloatRange(min=1), default=D.every_seconds, show_default=True, help="Between two looks.")
@click.option("--once", is_flag=True, help="One look, then exit (a volume is drained only once it has waited --delay-seconds).")
@click.option("--dry-run", is_flag=True, help="Say what would be done; change nothing.")
@click.option("--api-url", default=None, help="The Kubernetes API (default: the pod's own cluster, as its service account).")
def edge_volumes(namespace, statefulset, delay_seconds, every_seconds, once, dry_run, api_url):
    """Watch the edge StatefulSet's spool volumes: one beyond the replicas and unused gets a drain Job
    (the edge's own pod running `pingpipe edge --drain` on it); once that Job succeeded, the volume
    is deleted. A failed drain keeps its volume (deploy/kubernetes/edge-volumes.yaml)."""
    from pingpipe.edge.kube import Kube, KubeError
    from pingpipe.edge.volumes import look

    config = VolumeConfig(namespace, statefulset, delay_seconds, every_seconds)
    try:
        kube = Kube(api_url) if api_url else Kube.in_cluster()
    except KubeError as exc:
        raise click.ClickException(str(exc)) from None
    log = logging.getLogger("pingpipe.edge-volumes")
    log.setLevel(logging.INFO)

    def say(line: str, level: int = logging.INFO) -> None:
        """A record for Cloud Logging with --log-format json, else a line (stderr for a warning)."""
        if os.environ.get(FORMAT_ENV) == "json":
            log.log(level, line)
        else:
            click.echo(line, err=level >= logging.WARNING)

    detached: dict[str, float] = {}
    while True:
        try:
            actions = look(kube, config, detached, time.monotonic(), dry_run)
        except KubeError as exc:
            if once:
                raise click.ClickException(str(exc)) from None
            say(f"{exc} (trying again)", logging.WARNING)
            actions = []
        for a in actions:
            say(f"{'would ' if dry_run else ''}{a.verb} {a.name}: {a.why}")
        if once:
            return
        time.sleep(every_seconds)

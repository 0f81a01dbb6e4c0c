"""Running the edge: uvicorn (httptools + uvloop), one process or several behind one port.

uvicorn runs with EdgeProtocol (protocol.py), which answers `/submit` without the ASGI round trip.
`python -m pingpipe.edge.server` runs the edge whose configuration is in PINGPIPE_EDGE_CONFIG_JSON:
how `pingpipe up` starts it, from an EdgeConfig object rather than command-line text.
"""

from __future__ import annotations

import asyncio
import os
import resource
import tempfile

import uvicorn

from pingpipe.gctune import tune_gc

from .app import build_publisher, create_app
from .config import CONFIG_ENV, EdgeConfig, config_from_json, config_to_json
from .metrics import METRICS_DIR_ENV, serve
from .protocol import EdgeProtocol
from .tls import TLSEdgeProtocol


def app_from_env():
    """uvicorn worker factory: each worker process builds its own app (and its own segments)."""
    tune_gc()
    return create_app(config_from_json(os.environ[CONFIG_ENV]))


def raise_open_file_limit() -> int:
    """Raise the soft open-file limit to the hard one, and return it.

    Idle connections each hold a descriptor; the protocol turns connections away before the
    queue's reserve (EdgeConfig.fd_reserve), so the higher the limit, the more clients fit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):  # e.g. macOS, where the hard limit can be RLIM_INFINITY
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def run(config: EdgeConfig) -> None:
    config.check()
    raise_open_file_limit()  # before uvicorn starts: worker processes inherit it
    # proxy_headers off: remote_addr must be the peer the edge saw (X-Forwarded-For is kept as
    # its own attribute for the decoder's geo lookup), and the rewrite costs time per request.
    # HTTPS is served by the edge's own front (tls.py), not uvicorn's ssl options, so that the
    # handshake has a deadline and the descriptor reserve: both request paths run over it.
    http = TLSEdgeProtocol if config.tls_cert is not None else EdgeProtocol
    common = dict(
        host=config.host,
        port=config.port,
        loop="uvloop",
        http=http,
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_keep_alive=config.keep_alive_timeout,
        timeout_graceful_shutdown=config.shutdown_drain_seconds,  # then the flush: deploy/kubernetes/edge.yaml sizes the grace period
        proxy_headers=False,
        server_header=False,
    )
    tune_gc()
    if config.workers == 1:
        app = create_app(config)
        if config.metrics_port:
            serve(config.metrics_port, config.host, app.metrics.registry)
        uvicorn.run(app, **common)
        return
    os.environ.setdefault(METRICS_DIR_ENV, tempfile.mkdtemp(prefix="pingpipe-edge-metrics-"))
    os.environ[CONFIG_ENV] = config_to_json(config)
    if config.metrics_port:
        serve(config.metrics_port, config.host)
    uvicorn.run("pingpipe.edge.server:app_from_env", factory=True, workers=config.workers, **common)


def drain(config: EdgeConfig, progress=None) -> int:
    """Republish a spool volume left by an edge that is gone to Pub/Sub, until it is empty, and
    return how many messages; serve nothing. Pub/Sub down: it waits and retries."""
    from .publish.pubsub import PubSubPublisher

    config.check()
    if not config.uses_pubsub:
        raise ValueError("draining a spool needs Pub/Sub: --pubsub-project and --route-table")
    publisher = build_publisher(config, None)
    assert isinstance(publisher, PubSubPublisher)
    try:
        return asyncio.run(publisher.drain(progress))
    finally:
        publisher.client.stop()


if __name__ == "__main__":  # pragma: no cover - `pingpipe up` runs the edge this way, in its own process
    from pingpipe.parent import die_with_parent_named

    die_with_parent_named()  # with `up`: it dies when `up` does, even by kill -9
    run(config_from_json(os.environ[CONFIG_ENV]))

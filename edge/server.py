"""Running the edge: uvicorn (httptools + uvloop), one process or several behind one port.

uvicorn runs with EdgeProtocol (protocol.py), which answers `/submit` without the ASGI round trip.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import tempfile
from pathlib import Path

import uvicorn

from pingpipe.gctune import tune_gc

from .app import create_app
from .config import EdgeConfig, Route
from .metrics import serve
from .protocol import EdgeProtocol

_ENV = "PINGPIPE_EDGE_CONFIG_JSON"


def _to_json(config: EdgeConfig) -> str:
    data = dataclasses.asdict(config)
    data["queue_dir"] = str(config.queue_dir) if config.queue_dir else None
    data["version_file"] = str(config.version_file) if config.version_file else None
    return json.dumps(data)


def _from_json(text: str) -> EdgeConfig:
    data = json.loads(text)
    data["queue_dir"] = Path(data["queue_dir"]) if data["queue_dir"] else None
    data["version_file"] = Path(data["version_file"]) if data["version_file"] else None
    data["routes"] = tuple(Route(r["pattern"], r["topic"], tuple(r["methods"])) for r in data["routes"])
    data["metadata_headers"] = tuple(data["metadata_headers"])
    return EdgeConfig(**data)


def app_from_env():
    """uvicorn worker factory: each worker process builds its own app (and its own segments)."""
    tune_gc()
    return create_app(_from_json(os.environ[_ENV]))


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
    common = dict(host=config.host, port=config.port, loop="uvloop", http=EdgeProtocol, lifespan="on",
                  log_level="warning", access_log=False, timeout_keep_alive=config.keep_alive_timeout, proxy_headers=False,
                  server_header=False)
    tune_gc()
    if config.workers == 1:
        app = create_app(config)
        if config.metrics_port:
            serve(config.metrics_port, config.host, app.metrics.registry)
        uvicorn.run(app, **common)
        return
    os.environ.setdefault("PINGPIPE_EDGE_METRICS_DIR", tempfile.mkdtemp(prefix="pingpipe-edge-metrics-"))
    os.environ[_ENV] = _to_json(config)
    if config.metrics_port:
        serve(config.metrics_port, config.host)
    uvicorn.run("pingpipe.edge.server:app_from_env", factory=True, workers=config.workers, **common)

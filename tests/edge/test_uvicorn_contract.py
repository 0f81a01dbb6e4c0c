"""What edge/protocol.py takes from uvicorn's HttpToolsProtocol, stated once. uvicorn does not
promise these (most are private); pyproject pins the tested range, and this test fails loudly, by
name, on the first release that moves one of them, before any request could go wrong."""

from __future__ import annotations

import asyncio
import inspect

from uvicorn.config import Config
from uvicorn.protocols.http import httptools_impl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from pingpipe.edge.protocol import EdgeProtocol

# method -> its parameters (after self), as EdgeProtocol overrides or calls them
METHODS = {
    "__init__": ["config", "server_state", "app_state", "_loop"],
    "connection_made": ["transport"],
    "data_received": ["data"],
    "connection_lost": ["exc"],
    "on_message_begin": [],
    "on_url": ["url"],
    "on_header": ["name", "value"],
    "on_headers_complete": [],
    "on_body": ["body"],
    "on_message_complete": [],
    "on_response_complete": [],
    "shutdown": [],
    "_start_asgi_task": ["cycle", "app"],
    "_unset_keepalive_if_required": [],
    "timeout_keep_alive_handler": [],
    "handle_websocket_upgrade": [],
    "_should_upgrade": [],
    "_unsupported_upgrade_warning": [],
}
# attributes a protocol has once built and connected
ATTRIBUTES = [
    "app",
    "loop",
    "logger",
    "parser",
    "server_state",
    "connections",
    "timeout_keep_alive",
    "transport",
    "flow",
    "client",
    "scope",
    "url",
    "headers",
    "expect_100_continue",
    "cycle",
    "timeout_keep_alive_task",
]


def test_the_methods_edge_protocol_relies_on_keep_their_signatures():
    for name, params in METHODS.items():
        method = getattr(HttpToolsProtocol, name, None)
        assert method is not None, f"uvicorn's HttpToolsProtocol has no {name}: edge/protocol.py needs it"
        assert list(inspect.signature(method).parameters)[1:] == params, f"{name}'s parameters changed"


def test_a_connected_protocol_has_the_attributes_edge_protocol_uses():
    class Transport(asyncio.Transport):
        def get_extra_info(self, name, default=None):
            return {"peername": ("127.0.0.1", 1), "sockname": ("127.0.0.1", 2)}.get(name, default)

        def is_closing(self):
            return False

    loop = asyncio.new_event_loop()
    try:
        config = Config(app=lambda scope, receive, send: None, http=EdgeProtocol)
        config.load()
        protocol = HttpToolsProtocol(config, ServerState(), {}, _loop=loop)
        protocol.connection_made(Transport())
        protocol.on_message_begin()
        missing = [name for name in ATTRIBUTES if not hasattr(protocol, name)]
        assert not missing, f"uvicorn's protocol no longer has {missing}: edge/protocol.py uses them"
        assert hasattr(protocol.server_state, "default_headers") and hasattr(protocol.server_state, "total_requests")
        assert {200, 400, 408, 413, 431, 503, 507} <= set(httptools_impl.STATUS_LINE)
    finally:
        loop.close()

"""Clients of the running `pingpipe up`'s admin port (admin.py serves it): find it by its state file,
ask it, and read its answer. Apart from the server so that `query`, `status` and the other clients
start without loading the web framework the server runs on."""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

import orjson

from . import warehouse

STATE_FILE = "up.json"
TOKEN_HEADER = "X-Pingpipe-Token"
MAX_SQL_BYTES = 1024 * 1024


def read_state(data: Path) -> dict | None:
    """The running `up`'s state file, if its process is alive."""
    try:
        state = orjson.loads((data / STATE_FILE).read_bytes())
        os.kill(int(state["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return None
    return state


class NotRunning(Exception):
    pass


class AdminError(warehouse.QueryError):
    """The running `up` could not be asked, or its answer read; the message is one line for the user."""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _error_of(body: bytes, fallback: str) -> str:
    try:
        error = orjson.loads(body).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        error = None
    return str(error) if error else fallback


def call(data: Path, method: str, path: str, body: bytes | None = None, timeout: float = 300.0) -> dict:
    """Ask the running `up` (NotRunning if there is none); raises QueryError for a query it refused,
    AdminError (a QueryError too) for anything else that went wrong between us."""
    if body is not None and len(body) > MAX_SQL_BYTES:
        raise warehouse.QueryError(f"query too long: {len(body)} bytes, at most {MAX_SQL_BYTES}")
    state = read_state(data)
    if state is None:
        raise NotRunning(str(data))
    where = f"the running pingpipe up (pid {state.get('pid')}, admin port {state.get('admin_port')})"
    try:
        url = f"http://127.0.0.1:{int(state['admin_port'])}{path}"
    except (KeyError, TypeError, ValueError):
        raise AdminError(f"{data / STATE_FILE} names no admin port") from None
    headers = {TOKEN_HEADER: str(state.get("admin_token", "")), "Content-Type": "text/plain; charset=utf-8"}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = response.read()
    except urllib.error.HTTPError as exc:
        message = _error_of(exc.read(), f"HTTP {exc.code} {exc.reason}")
        if exc.code == 400:  # the query's own fault: DuckDB's message, as it wrote it
            raise warehouse.QueryError(message) from None
        raise AdminError(_one_line(f"{where} refused: {message}")) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ConnectionRefusedError):
            raise NotRunning(str(exc)) from None
        raise AdminError(_one_line(f"{where} did not answer: {exc.reason}")) from None
    except (OSError, http.client.HTTPException) as exc:  # reset, timed out, closed without an answer
        raise AdminError(_one_line(f"{where} did not answer: {exc!r}")) from None
    try:
        return orjson.loads(answer)
    except orjson.JSONDecodeError:
        raise AdminError(f"{where} answered something that is not JSON ({len(answer)} bytes)") from None

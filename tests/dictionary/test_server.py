"""The dictionary's server on its own (a UIServer on the registry's site, asked over real sockets):
the Gate before every route, the router's answers to what a browser on the page never sends, a page
that fails, and close(). The link, the cookie and a foreign Host through a running `up` are in
test_browser.py."""

from __future__ import annotations

import http.client
import threading
import time

import pytest

from pingpipe.dictionary import catalog
from pingpipe.dictionary.pages import Site
from pingpipe.dictionary.server import UIServer
from pingpipe.schemas.registry import Registry
from tests.helpers import wait_until


def broken_figures(tables):
    raise RuntimeError("the warehouse went away")


@pytest.fixture(scope="module")
def dictionary():
    return catalog.for_registry(Registry.load(None), None)


@pytest.fixture
def ui(dictionary):
    server = UIServer(Site(dictionary, figures=broken_figures))
    server.start()
    yield server
    server.close()


def get(ui, path: str, method: str = "GET", cookie: bool = True, **headers) -> tuple[int, http.client.HTTPMessage, bytes]:
    if cookie:
        headers.setdefault("Cookie", f"pingpipe_ui={ui.token}")
    conn = http.client.HTTPConnection("127.0.0.1", ui.port, timeout=10)
    try:
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def test_every_path_and_method_is_behind_the_host_and_token_checks(ui):
    for method in ("GET", "HEAD", "POST", "DELETE"):
        for path in ("/", "/nope/", "/static/style.css", "/debug/"):
            assert get(ui, path, method, cookie=False)[0] == 403, (method, path)
            assert get(ui, path, method, Host=f"localhost:{ui.port + 1}")[0] == 403, (method, path)


def test_a_method_other_than_get_or_head_is_405_with_the_pages_headers(ui):
    status, headers, body = get(ui, "/", "POST")
    assert status == 405 and set(headers["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Cache-Control"] == "no-store"


def test_head_answers_what_get_would_without_the_body(ui):
    status, got, body = get(ui, "/static/style.css")
    head_status, head, nothing = get(ui, "/static/style.css", "HEAD")
    assert (status, head_status) == (200, 200) and nothing == b"" and body
    assert head["Content-Length"] == got["Content-Length"] == str(len(body)) and head["Content-Type"] == "text/css"


def test_an_unknown_page_is_the_sites_404_page(ui):
    status, headers, body = get(ui, "/apps/no-such-app/")
    assert status == 404 and headers["Content-Type"] == "text/html; charset=utf-8" and b"no-such-app" in body


def test_a_page_that_fails_is_500_and_the_next_page_is_served(ui):
    status, headers, body = get(ui, "/tables/")  # reads the figures, which fail
    assert status == 500 and b"the warehouse went away" in body and headers["Content-Type"] == "text/plain; charset=utf-8"
    assert get(ui, "/static/style.css")[0] == 200


def test_the_link_keeps_the_path_as_it_was_sent(ui):
    status, headers, _ = get(ui, f"/apps/a%2Fb/?token={ui.token}", cookie=False)
    assert status == 303 and headers["Location"] == "/apps/a%2Fb/"


def test_pages_keep_their_connection_alive(ui):
    conn = http.client.HTTPConnection("127.0.0.1", ui.port, timeout=10)
    try:
        for _ in range(3):
            conn.request("GET", "/static/style.css", headers={"Cookie": f"pingpipe_ui={ui.token}"})
            response = conn.getresponse()
            assert response.status == 200 and response.read() and not response.will_close
    finally:
        conn.close()


def test_close_stops_serving_at_once_and_leaves_no_thread_behind(dictionary):
    before = set(threading.enumerate())
    ui = UIServer(Site(dictionary))
    ui.start()
    try:
        assert get(ui, "/")[0] == 200
        started = time.monotonic()
        ui.close()
        assert time.monotonic() - started < 2
        with pytest.raises(ConnectionRefusedError):
            get(ui, "/")
        assert wait_until(lambda: set(threading.enumerate()) <= before, timeout=5)
    finally:
        ui.close()

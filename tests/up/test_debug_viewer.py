"""The debug viewer of a running `up` (issue 39): only tags a Glean SDK can send are kept, and the
viewer's memory is bounded by the options `up` takes; the pings themselves always load."""

from __future__ import annotations

import html
import http.client
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

from pingpipe.up import client
from tests.helpers import free_port
from tests.up.test_query import HELLO

pytestmark = pytest.mark.system


def post_tagged(port: int, tag: str) -> str:
    """POST a valid hello ping with `X-Debug-ID: tag`; its document id."""
    doc_id = str(uuid.uuid4())
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("POST", f"/submit/pingpipe-demo/hello/1/{doc_id}")
    for name, value in (("Content-Type", "application/json"), ("Content-Length", str(len(HELLO))), ("X-Debug-ID", tag)):
        conn.putheader(name, value.encode("latin-1"))  # as sent: http.client would refuse some of these tags
    conn.endheaders(HELLO)
    assert conn.getresponse().status == 200
    conn.close()
    return doc_id


def page(up, path: str, missing_ok: bool = False) -> str:
    """The UI's page at `path`, relative to its root (`..` allowed, as the pages' own links are), by a
    browser that opened the link `up` printed."""
    state = client.read_state(up.data)
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    browser.open(state["ui_link"], timeout=10).read()
    try:
        with browser.open(urllib.parse.urljoin(state["ui"], path), timeout=10) as response:
            return response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        if missing_ok and exc.code == 404:
            return ""
        raise


def tag_links(body: str) -> list[str]:
    return [html.unescape(link) for link in re.findall(r'<a href="([^"]*debug/[^"]+/)">', body)]


def test_a_ping_with_a_tag_no_glean_sdk_sends_loads_but_is_not_kept_for_the_viewer(run_up):
    up = run_up("--ui-port", str(free_port()))
    bad = ["a/b", "x" * 21, "my tag", "<script>", "my_tag"]
    ids = {tag: post_tagged(up.port, tag) for tag in [*bad, "good-tag"]}
    up.wait_committed(len(ids))

    rows = up.query("SELECT document_id, metadata.header.x_debug_id AS tag FROM pingpipe_demo_live.hello_v1")
    assert {r["tag"]: r["document_id"] for r in rows} == ids  # every one is in its table, its tag as sent

    listing = page(up, "debug/")
    links = tag_links(listing)
    assert [urllib.parse.unquote(link.rstrip("/").rsplit("/", 1)[1]) for link in links] == ["good-tag"]
    assert ids["good-tag"] in page(up, urllib.parse.urljoin("debug/", links[0]))  # its link, followed, shows it
    for tag in bad:
        assert html.escape(tag) not in listing
        assert ids[tag] not in page(up, f"debug/{urllib.parse.quote(tag, safe='')}/", missing_ok=True)


def test_up_bounds_the_viewer_by_its_debug_options_and_the_page_says_what_went(run_up):
    up = run_up("--ui-port", str(free_port()), "--debug-max-tags", "2", "--debug-max-bytes", "1000000")
    assert "at most 0.95 MiB and 2 tags in all" in page(up, "debug/")
    for n, tag in enumerate(["first", "second", "third"], 1):
        post_tagged(up.port, tag)
        up.wait_committed(n)  # one at a time: "first" is the tag longest silent
    listing = page(up, "debug/")
    assert {link.rstrip("/").rsplit("/", 1)[1] for link in tag_links(listing)} == {"second", "third"}
    assert "1 older ping was evicted since " in listing and "to keep the viewer under 0.95 MiB / 2 tags." in listing
    assert up.query("SELECT count(*) AS n FROM pingpipe_demo_live.hello_v1") == [{"n": 3}]

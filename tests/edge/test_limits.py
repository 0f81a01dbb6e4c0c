"""What no client can make the edge do: hold unbounded headers, hold a connection forever, starve
the queue of descriptors, read a refused body, drop the answers before a malformed request, or
garble UTF-8. A real `pingpipe edge` subprocess over real sockets, with small limits and timeouts.
"""

from __future__ import annotations

import errno
import re
import resource
import select
import socket
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from pingpipe.cli.edge import edge as edge_command
from pingpipe.edge.app import header_text
from pingpipe.edge.config import ConfigError, EdgeConfig
from pingpipe.edge.publish import StorageFull, failure_status
from pingpipe.message import RawMessage

from ..helpers import many_descriptors, queued_doc_ids, run_edge

TIMEOUT = 1.0  # every deadline of the module's edge, in seconds


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    queue = tmp_path_factory.mktemp("queue")
    with run_edge(
        queue,
        "--segment-max-age",
        "0.2",
        "--keep-alive-timeout",
        str(TIMEOUT),
        "--header-timeout",
        str(TIMEOUT),
        "--body-timeout",
        str(TIMEOUT),
    ) as server:
        yield server


def submit_uri(doc_id: str | None = None) -> str:
    return f"/submit/eng-workflow/hgpush/1/{doc_id or uuid.uuid4()}"


def post(path: str, body: bytes = b"{}", extra: bytes = b"") -> bytes:
    return (
        b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: " + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body
    )


def get(path: str) -> bytes:
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n"


def connect(edge, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", edge.port), timeout=timeout)


def read_until_closed(sock: socket.socket, limit: float = 5.0) -> bytes:
    """Everything the edge sends until it closes the connection (EOF or reset), within `limit` seconds."""
    data = b""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return data
        except socket.timeout:
            break
        if not chunk:
            return data
        data += chunk
    raise AssertionError(f"the edge kept the connection open for {limit} s; it sent {data[:200]!r}")


def statuses(data: bytes) -> list[int]:
    """The status of each answer in a byte stream."""
    return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]


def message_for(edge, doc_id: str, wait: float = 3.0) -> RawMessage:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        for path in sorted(edge.queue.glob("*.ndjson*")):
            for line in path.read_bytes().splitlines():
                if line.strip():
                    message = RawMessage.from_line(line)
                    if message.attributes["uri"].endswith(doc_id):
                        return message
        time.sleep(0.1)
    raise AssertionError(f"{doc_id} not in the queue")


def vm_kib(pid: int, field: str) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


# -- 1. header limits ---------------------------------------------------------------------------

PAD = b"".join(b"X-Pad-%02d: %s\r\n" % (i, b"p" * 1024) for i in range(70))  # 70 KiB > 64 KiB, 70 headers
MANY = b"".join(b"X-H%03d: v\r\n" % i for i in range(101))  # 101 headers, 1 KiB


@pytest.mark.system
@pytest.mark.parametrize("path", [submit_uri(), "/__lbheartbeat__"], ids=["submit", "asgi"])
@pytest.mark.parametrize("headers", [PAD, MANY], ids=["bytes", "count"])
def test_headers_over_the_limits_get_431_and_the_connection_closes(edge, path, headers):
    with connect(edge) as sock:
        sock.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n" + headers + b"\r\n")
        data = read_until_closed(sock)
    assert statuses(data) == [431] and b"connection: close" in data


@pytest.mark.system
@pytest.mark.parametrize("path", ["/submit/" + "a" * 9000, "/__lbheartbeat__?" + "q" * 9000], ids=["submit", "asgi"])
def test_a_url_over_its_limit_gets_414_and_the_connection_closes(edge, path):
    with connect(edge) as sock:
        sock.sendall(get(path))
        data = read_until_closed(sock)
    assert statuses(data) == [414] and b"connection: close" in data


@pytest.mark.system
def test_headers_within_the_limits_are_accepted(edge):
    doc = str(uuid.uuid4())
    headers = b"".join(b"X-Pad-%02d: %s\r\n" % (i, b"p" * 1024) for i in range(60)) + MANY[: 30 * 11]
    with connect(edge) as sock:
        sock.sendall(post(submit_uri(doc), extra=headers))
        assert statuses(sock.recv(4096)) == [200]


@pytest.mark.system
def test_connections_sending_megabytes_of_headers_leave_the_edge_small(tmp_path):
    """Eight connections each send 8 MB of one unfinished header: each is answered 431 and closed
    once it passes the limit, so the edge's peak memory barely moves."""
    chunk = b"a" * 65536
    with run_edge(tmp_path / "queue") as server:
        before = vm_kib(server.proc.pid, "VmHWM")
        socks = [connect(server) for _ in range(8)]
        for sock in socks:
            sock.sendall(b"POST " + submit_uri().encode() + b" HTTP/1.1\r\nHost: x\r\nX-Big: ")
        live, sent, deadline = set(socks), 0, time.monotonic() + 30
        for _ in range(128):  # 128 x 64 KiB = 8 MiB a connection
            for sock in list(live):
                try:
                    sock.sendall(chunk)
                    sent += len(chunk)
                except OSError:  # reset or broken pipe: the edge closed it
                    live.discard(sock)
            if not live or time.monotonic() > deadline:
                break
        grown_mib = (vm_kib(server.proc.pid, "VmHWM") - before) / 1024
        assert grown_mib < 24, f"peak RSS grew {grown_mib:.0f} MiB for {sent >> 20} MiB of headers"
        assert not live, "a connection was still read after 8 MB of headers"
        answers = [statuses(read_until_closed(sock)) for sock in socks]
        for sock in socks:
            sock.close()
        assert server.proc.poll() is None
    assert answers == [[431]] * 8


# -- 2. deadlines -------------------------------------------------------------------------------


def trickle(sock: socket.socket, pieces: list[bytes], gap: float, limit: float = 5.0) -> tuple[bytes, float]:
    """Send `pieces` `gap` seconds apart until the edge answers or closes; (what it sent, seconds
    from the first piece)."""
    start = time.monotonic()
    for piece in pieces:
        try:
            sock.sendall(piece)
        except OSError:
            break
        readable, _, _ = select.select([sock], [], [], gap)
        if readable or time.monotonic() - start > limit:
            break
    data = read_until_closed(sock, limit)
    return data, time.monotonic() - start


@pytest.mark.system
def test_a_connection_that_sends_nothing_is_closed_after_the_keep_alive_timeout(edge):
    with connect(edge) as sock:
        start = time.monotonic()
        assert read_until_closed(sock) == b""
        assert TIMEOUT * 0.9 <= time.monotonic() - start < TIMEOUT + 1.0


@pytest.mark.system
@pytest.mark.parametrize("path", [submit_uri(), "/__lbheartbeat__"], ids=["submit", "asgi"])
@pytest.mark.parametrize("filler", [b"", b"\r\n"], ids=["silent", "crlf"])
def test_a_connection_idle_after_its_answer_is_closed_after_the_keep_alive_timeout(edge, path, filler):
    """Blank lines before a request are allowed, but they do not make a connection busy."""
    with connect(edge) as sock:
        sock.sendall(post(path) if path.startswith("/submit") else get(path))
        assert statuses(sock.recv(4096)) == [200]
        data, took = trickle(sock, [filler] * 25, 0.2)
    assert data == b""
    assert TIMEOUT * 0.9 <= took < TIMEOUT + 1.0


@pytest.mark.system
@pytest.mark.parametrize("path", [submit_uri(), "/nowhere"], ids=["submit", "asgi"])
def test_headers_that_never_end_get_408_within_the_header_timeout(edge, path):
    """Bytes keep coming, a header every 0.2 s, so it is the deadline that closes it, not idleness."""
    start = b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
    with connect(edge) as sock:
        data, took = trickle(sock, [start] + [b"X-Slow-%02d: 1\r\n" % i for i in range(25)], 0.2)
    assert statuses(data) == [408] and b"connection: close" in data
    assert TIMEOUT * 0.9 <= took < TIMEOUT + 1.0


@pytest.mark.system
def test_a_body_that_never_arrives_gets_408_within_the_body_timeout(edge):
    head = post(submit_uri(), b"x" * 100)[:-100]
    with connect(edge) as sock:
        data, took = trickle(sock, [head] + [b"x"] * 25, 0.2)
    assert statuses(data) == [408] and b"connection: close" in data
    assert TIMEOUT * 0.9 <= took < TIMEOUT + 1.0


@pytest.mark.system
def test_an_asgi_answer_that_leaves_its_body_unfinished_closes_within_the_body_timeout(edge):
    head = b"PUT /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    with connect(edge) as sock:
        data, took = trickle(sock, [head] + [b"x"] * 25, 0.2)  # answered 404 at once; the body goes on trickling
    assert statuses(data) == [404]
    assert took < TIMEOUT + 1.0


@pytest.mark.system
def test_a_slow_request_within_the_deadlines_is_answered_200(edge):
    doc = str(uuid.uuid4())
    request = post(submit_uri(doc), b'{"slow": true}', extra=b"User-Agent: slow\r\nX-Debug-ID: slow\r\n")
    end = request.index(b"\r\n\r\n") + 4
    head, body = request[:end], request[end:]
    pieces = [head[i : i + 16] for i in range(0, len(head), 16)]
    with connect(edge) as sock:
        for piece in pieces:  # the head over ~0.6 s
            sock.sendall(piece)
            time.sleep(0.6 / len(pieces))
        for i in range(len(body)):  # the body over ~0.6 s
            sock.sendall(body[i : i + 1])
            time.sleep(0.6 / len(body))
        assert statuses(sock.recv(4096)) == [200]
    assert message_for(edge, doc).data == b'{"slow": true}'


# -- 3. descriptors -----------------------------------------------------------------------------


@pytest.mark.system
def test_idle_connections_beyond_the_descriptor_reserve_never_make_a_submission_fail(tmp_path):
    """With 1,024 descriptors, 1,100 idle connections: the edge turns the surplus away with 503,
    keeps descriptors for its queue, and answers a submission 200 or 503, never 500."""
    idle: list[socket.socket] = []
    with many_descriptors(1400) as child_limit:
        with run_edge(tmp_path / "queue", "--segment-max-age", "0.1", preexec_fn=child_limit(1024)) as server:
            for _ in range(1100):
                idle.append(connect(server))
            time.sleep(0.5)  # the edge accepts them all
            answers = []
            for _ in range(3):
                with connect(server, timeout=10) as sock:
                    sock.sendall(post(submit_uri()))
                    answers += statuses(sock.recv(4096))
                time.sleep(0.2)  # a segment sealed: the next submission needs a new one
            turned_away = 0
            for sock in idle:
                sock.setblocking(False)  # (select() cannot watch descriptors past 1,023)
                try:
                    turned_away += sock.recv(4096).startswith(b"HTTP/1.1 503 ")
                except OSError:  # nothing to read (kept), or reset after the answer was read
                    pass
            for sock in idle:
                sock.close()
            idle.clear()
            ok, deadline = [], time.monotonic() + 10
            while time.monotonic() < deadline and not ok:
                with connect(server) as sock:
                    sock.sendall(post(submit_uri()))
                    if statuses(sock.recv(4096)) == [200]:
                        ok.append(200)
                time.sleep(0.1)
            assert server.proc.poll() is None
        for sock in idle:
            sock.close()
    assert answers and set(answers) <= {200, 503}, answers
    assert turned_away > 0, "no idle connection was turned away with 503"
    assert ok == [200], "no 200 after the idle connections closed"


@pytest.mark.system
def test_the_edge_raises_its_open_file_limit_to_the_hard_limit(tmp_path):
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
    if target <= 1024:
        pytest.skip(f"the hard limit ({hard}) leaves nothing to raise")

    def lower_soft_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, target))

    with run_edge(tmp_path / "queue", preexec_fn=lower_soft_limit) as server:
        limits = open(f"/proc/{server.proc.pid}/limits").read()
    soft_now, hard_now = re.search(r"Max open files\s+(\d+)\s+(\d+)", limits).groups()
    assert int(soft_now) == int(hard_now) == target


SEGMENT_OUT_OF_DESCRIPTORS = """
import asyncio, os, resource, sys
from pathlib import Path
from pingpipe.edge.publish import failure_status
from pingpipe.edge.publish.segments import SegmentLog

async def main():
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    log = SegmentLog(Path(sys.argv[1]), max_age=60)
    log.start()
    await log.append(b'{"first": 1}\\n')
    log.seal_now()  # the next line needs a new segment: a descriptor
    held = []
    try:
        while len(held) < 1000:
            held.append(os.open("/dev/null", os.O_RDONLY))
    except OSError:
        pass
    try:
        await log.append(b'{"starved": 1}\\n')
        print("appended")
    except Exception as exc:
        print(failure_status(exc))
    for fd in held:
        os.close(fd)
    await log.append(b'{"after": 1}\\n')
    print("recovered")
    await log.close()

asyncio.run(main())
"""


@pytest.mark.system
def test_a_queue_out_of_descriptors_answers_503_and_recovers(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SEGMENT_OUT_OF_DESCRIPTORS), str(tmp_path)], capture_output=True, text=True, timeout=30
    )
    assert out.stdout.split() == ["503", "recovered"], out.stderr[-2000:]
    lines = b"".join(p.read_bytes() for p in sorted(tmp_path.glob("*.ndjson*"))).splitlines()
    assert lines == [b'{"first": 1}', b'{"after": 1}']  # nothing torn, nothing lost
    assert len(list(tmp_path.glob("*.ndjson.open"))) == 0


@pytest.mark.parametrize(
    "exc, status",
    [
        (OSError(errno.EMFILE, "Too many open files"), 503),
        (OSError(errno.ENFILE, "File table overflow"), 503),
        (OSError(errno.ENOSPC, "No space left on device"), 507),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), 507),
        (StorageFull("below the floor"), 507),
        (OSError(errno.EIO, "I/O error"), 500),
        (RuntimeError("bug"), 500),
    ],
)
def test_a_message_that_could_not_be_made_safe_is_500_only_when_unexplained(exc, status):
    assert failure_status(exc) == status


# -- 4. refused bodies are not read ---------------------------------------------------------------


@pytest.mark.system
@pytest.mark.parametrize("path, status", [(submit_uri(), 413), ("/nowhere", 404)], ids=["submit", "asgi"])
def test_a_10_gb_body_is_refused_and_the_connection_closed_without_reading_it(edge, path, status):
    chunk = b"x" * 65536
    sent, answer = 0, b""
    with connect(edge) as sock:
        sock.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n")
        deadline = time.monotonic() + 10
        while sent < 256 * 1024 * 1024 and time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock], [], 1)
            if readable:
                answer = read_until_closed(sock)
                break
            if writable:
                try:
                    sent += sock.send(chunk)
                except OSError:  # reset: closed, its answer is waiting to be read
                    answer = read_until_closed(sock)
                    break
    assert statuses(answer) == [status] and b"connection: close" in answer
    assert sent < 16 * 1024 * 1024, f"the edge read {sent >> 20} MiB of a refused body"


# -- 5. pipelining --------------------------------------------------------------------------------


@pytest.mark.system
def test_a_malformed_request_after_pipelined_submissions_is_answered_400_after_their_200s(edge):
    docs = [str(uuid.uuid4()) for _ in range(20)]
    with connect(edge) as sock:
        sock.sendall(b"".join(post(submit_uri(doc)) for doc in docs) + b"GARBAGE \x00 NOT HTTP\r\n\r\n")
        data = read_until_closed(sock)
    assert statuses(data) == [200] * 20 + [400]
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not set(docs) <= set(queued_doc_ids(edge.queue)):
        time.sleep(0.1)
    queued = queued_doc_ids(edge.queue)
    assert all(queued.count(doc) == 1 for doc in docs)


@pytest.mark.system
def test_a_malformed_request_after_an_asgi_one_is_answered_after_it(edge):
    """The submission's answer, then the ASGI request's (which waited for it), then the 400."""
    with connect(edge) as sock:
        sock.sendall(post(submit_uri()) + get("/__version__") + b"GARBAGE\r\n\r\n")
        data = read_until_closed(sock)
    assert statuses(data) == [200, 200, 400]
    assert data.index(b'"version"') < data.index(b"HTTP/1.1 400")


@pytest.mark.system
def test_a_submission_queued_behind_an_asgi_request_gets_408_when_its_body_stops(edge):
    """While an ASGI request runs, a submission goes through ASGI too: its deadline holds there."""
    head = post(submit_uri(), b"x" * 100)[:-90]
    with connect(edge) as sock:
        data, took = trickle(sock, [get("/__heartbeat__") + head] + [b"x"] * 25, 0.2)
    assert statuses(data) == [200, 408]
    assert TIMEOUT * 0.9 <= took < TIMEOUT + 1.0


# -- 6. text --------------------------------------------------------------------------------------


@pytest.mark.system
def test_utf8_header_values_are_kept_as_utf8_and_other_bytes_as_latin1(edge):
    doc = str(uuid.uuid4())
    extra = "User-Agent: Fénix/1.0 🦊\r\n".encode() + b"X-Debug-ID: \xff\xfeid\r\n"
    with connect(edge) as sock:
        sock.sendall(post(submit_uri(doc), extra=extra))
        assert statuses(sock.recv(4096)) == [200]
    attributes = message_for(edge, doc).attributes
    assert attributes["user_agent"] == "Fénix/1.0 🦊"
    assert attributes["x_debug_id"] == "\xff\xfeid"  # not UTF-8: one character a byte, none lost
    assert attributes["x_debug_id"].encode("latin-1") == b"\xff\xfeid"


def test_header_text_is_utf8_else_latin1():
    assert header_text("q=é&ü".encode()) == "q=é&ü"
    assert header_text(b"v=\xe9") == "v=é"
    assert header_text(bytes(range(256))).encode("latin-1") == bytes(range(256))


# -- configuration --------------------------------------------------------------------------------


def test_the_cli_takes_every_default_from_edge_config():
    defaults = EdgeConfig()
    for param in edge_command.params:
        if hasattr(defaults, param.name) and isinstance(param.default, (int, float, str)):
            assert param.default == getattr(defaults, param.name), param.name
    assert {"max_url_bytes", "max_header_bytes", "max_headers", "keep_alive_timeout", "header_timeout", "body_timeout", "fd_reserve"} <= {
        param.name for param in edge_command.params
    }


@pytest.mark.parametrize(
    "field", ["max_header_bytes", "max_headers", "max_url_bytes", "header_timeout", "body_timeout", "keep_alive_timeout"]
)
def test_limits_and_timeouts_must_be_positive(tmp_path, field):
    with pytest.raises(ConfigError, match=field):
        EdgeConfig(queue_dir=tmp_path, **{field: 0}).check()

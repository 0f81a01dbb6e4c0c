"""`pingpipe demo`'s history: weeks of a Glean app's pings from a few hundred simulated clients.

Pure: the app's definitions (glean_parser's reading of metrics.yaml and pings.yaml, Glean's
built-ins included) and a DemoConfig in, the submissions a fleet of clients would have made out,
each with the time it reached the edge. Nothing here writes anything; demo_queue.py turns the
submissions into the edge's raw messages and queues them.

What the clients do is what the Glean SDK does for them. Each client has a first run, a channel,
an OS, a locale, an engagement, and on each active day one to three foreground sessions. A
session sends a baseline ping when it starts (reason `active`) and one when it ends (`inactive`,
with `glean.baseline.duration`), an events ping if the user pressed buttons, and now and then the
app's custom `hello` ping. The metrics ping goes out at the day's first start, with what the
previous active day recorded (Glean's `overdue`; `upgrade` on the day a new version arrives).
Every ping's `ping_info` runs from the end of the previous ping of its type (as the SDK counts
it), and arrives at the edge a moment after its end time. New versions roll out channel by
channel (nightly first). Every metric the app defines appears, with a plausible value of its
type, in the pings its `send_in_pings` names; Glean's own metrics appear where the SDK sets them.

And what a real fleet also sends: a few pings the decoder refuses (a truncated upload, a body
that is not JSON, a ping the schemas do not know, values of the wrong type), a few uploads sent
twice (the client never saw the first answer), and a client that turns telemetry off, which
sends a deletion request and nothing after it.

The same config gives the same history (ids included); `end` (default today, UTC) only moves it
in time, so a second run on the same day is nothing but counted duplicates.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
from dataclasses import dataclass, field
from email.utils import format_datetime

import orjson
from isal import igzip

from pingpipe.schemas.glean import GleanApp, Metric, pings_of

APP_ID = "pingpipe-demo"

# Where clients are: an address MaxMind's test database knows (so `up --geoip-db` gives each a
# country; the decoder drops the address itself), locales, the UTC offset in hours, and a weight.
PLACES = (
    ("216.160.83.56", ("en-US", "es-US"), -6, 40),
    ("81.2.69.160", ("en-GB",), 0, 15),
    ("2.125.160.216", ("en-GB", "cy-GB"), 0, 8),
    ("89.160.20.112", ("sv-SE", "en-GB"), 1, 12),
    ("175.16.199.1", ("zh-CN",), 8, 12),
    ("202.196.224.1", ("en-PH", "fil-PH"), 8, 8),
    ("67.43.156.1", ("dz-BT", "en-US"), 6, 5),
)
# (os, os_version, architectures, windows_build_number, weight)
PLATFORMS = (
    ("Windows", "10.0", ("x86_64",), 19045, 35),
    ("Windows", "10.0", ("x86_64", "aarch64"), 22631, 20),
    ("Darwin", "23.6.0", ("aarch64", "x86_64"), None, 20),
    ("Linux", "6.1.0", ("x86_64",), None, 18),
    ("Linux", "6.8.0", ("x86_64", "aarch64"), None, 7),
)
ENGAGEMENT = ((0.9, 25), (0.6, 30), (0.3, 30), (0.1, 15))  # chance of being active on a day, and its weight
THEMES = ("light", "dark", "solarized", "high-contrast")
WIDTHS = (1024, 1280, 1366, 1440, 1536, 1920, 2560)
INVALID = ("truncated-gzip", "not-json", "unknown-doctype", "no-ping-info", "wrong-type")
LAG_DAYS = {"nightly": 0, "beta": 1, "release": 4}  # days after a release a channel starts getting it


@dataclass(frozen=True)
class DemoConfig:
    days: int = 28  # the history covers the days before `end`
    clients: int = 300
    seed: int = 1
    end: dt.date | None = None  # the first day after the history (default: today, UTC)
    app_id: str = APP_ID
    invalid: int = 6  # pings the decoder refuses (error rows), on the last days (error rows expire after 14)
    duplicates: int = 3  # uploads sent twice: counted duplicates
    deletions: int = 1  # clients that turn telemetry off: a deletion request, then nothing
    gzip: bool = True  # as the SDK uploads
    channels: tuple[tuple[str, float], ...] = (("release", 0.75), ("beta", 0.17), ("nightly", 0.08))
    versions: tuple[str, ...] = ("1.0", "1.1", "1.2")  # the first is out before the history starts
    sdk_version: str = "unknown"  # the Glean SDK the clients run: telemetry_sdk_build, X-Telemetry-Agent

    def check(self) -> "DemoConfig":
        """Fail on a config that cannot make a history, naming the setting."""
        if not 1 <= self.days <= 366:
            raise ValueError(f"days must be 1 to 366, not {self.days}")
        if not 1 <= self.clients <= 100_000:
            raise ValueError(f"clients must be 1 to 100000, not {self.clients}")
        for name in ("invalid", "duplicates", "deletions"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more")
        if self.deletions > self.clients:
            raise ValueError(f"deletions ({self.deletions}) cannot exceed clients ({self.clients})")
        if not self.versions or not self.channels:
            raise ValueError("give at least one version and one channel")
        return self

    def first_day(self, today: dt.date) -> dt.date:
        return (self.end or today) - dt.timedelta(days=self.days)

    def day_list(self, today: dt.date) -> list[dt.date]:
        """The history's days, oldest first."""
        first = self.first_day(today)
        return [first + dt.timedelta(days=i) for i in range(self.days)]


@dataclass(frozen=True)
class Submission:
    """One upload, as it reaches the edge."""

    uri: str  # /submit/<namespace>/<doctype>/<version>/<document id>
    body: bytes  # as sent (gzip when the client compresses: the edge never looks)
    headers: tuple[tuple[str, str], ...]  # the request's headers, as the SDK sends them
    submitted: dt.datetime  # when it arrived: its submission_timestamp (UTC)
    remote_addr: str
    kind: str = "ping"  # "ping", "duplicate", "deletion-request", or "invalid:<why>"
    client_id: str = ""  # the simulated client that sent it

    @property
    def doctype(self) -> str:
        return self.uri.split("/")[3]

    @property
    def document_id(self) -> str:
        return self.uri.rsplit("/", 1)[1]


@dataclass
class Client:
    """A simulated installation and the state the SDK keeps for it."""

    client_id: str
    first_day: int  # index in the history (0: it was there when the history starts)
    first_run: dt.datetime
    channel: str
    os: str
    os_version: str
    architecture: str
    windows_build: int | None
    locale: str
    address: str
    offset: int  # hours from UTC
    engagement: float
    theme: str
    width: int
    last_day: int  # the last day it may be active (churn, a deletion)
    deletes_on: int | None = None
    version: int = 0  # index into config.versions
    seq: dict[str, int] = field(default_factory=dict)
    last_end: dict[str, dt.datetime] = field(default_factory=dict)
    submitted_since: dict[str, dict[str, int]] = field(default_factory=dict)  # ping -> {ping it counts: n}
    recorded: dict | None = None  # the last active day's activity, for the next metrics ping


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _weighted(rng: random.Random, items, weight=lambda item: item[-1]):
    return rng.choices(items, weights=[weight(i) for i in items])[0]


def glean_time(t: dt.datetime, offset: int, precision: str = "milliseconds") -> str:
    """A Glean datetime: the client's local time with its offset (2026-11-23T05:58:25.563+00:00)."""
    return t.astimezone(dt.timezone(dt.timedelta(hours=offset))).isoformat(timespec=precision)


def glean_date(t: dt.datetime, offset: int) -> str:
    """A day-precision Glean datetime, as first_run_date is sent (2026-11-23+00:00)."""
    local = t.astimezone(dt.timezone(dt.timedelta(hours=offset)))
    return local.date().isoformat() + local.isoformat()[-6:]


def functional_buckets(samples: list[int], per_magnitude: int) -> dict[str, int]:
    """Glean's functional bucketing (base 2): each sample counted at its bucket's minimum."""
    exponent = 2 ** (1 / per_magnitude)
    values: dict[str, int] = {}
    for sample in samples:
        index = int(math.log(sample + 1, exponent))
        key = str(int(exponent**index))
        values[key] = values.get(key, 0) + 1
    return values


TIME_NANOS = {
    "nanosecond": 1,
    "microsecond": 1_000,
    "millisecond": 1_000_000,
    "second": 1_000_000_000,
    "minute": 60_000_000_000,
    "hour": 3_600_000_000_000,
    "day": 86_400_000_000_000,
}
MEMORY_BYTES = {"byte": 1, "kilobyte": 1024, "megabyte": 1024**2, "gigabyte": 1024**3}


def timing_distribution(samples: list[int], unit: str | None) -> dict:
    """Samples in the metric's time unit, as the SDK sends them: nanoseconds, 8 buckets per power of 2."""
    nanos = [s * TIME_NANOS.get(unit or "millisecond", 1_000_000) for s in samples]
    return {"sum": sum(nanos), "values": functional_buckets(nanos, 8)}


def memory_distribution(samples: list[int], unit: str | None) -> dict:
    """Samples in the metric's memory unit, as the SDK sends them: bytes, 16 buckets per power of 2."""
    size = [s * MEMORY_BYTES.get(unit or "byte", 1) for s in samples]
    return {"sum": sum(size), "values": functional_buckets(size, 16)}


def value_of(metric: Metric, rng: random.Random, activity: dict, at: dt.datetime, offset: int):
    """A plausible value of the metric's type (None for a type the demo does not make up: it is left out).

    The demo app's own metrics follow the client's activity; any other metric gets a value of its type."""
    known = {
        "demo.launches": activity["sessions"],
        "demo.theme": activity["theme"],
        "demo.dark_mode": activity["theme"] in ("dark", "high-contrast"),
        "demo.button_clicks": {k: v for k, v in activity["clicks"].items() if v},
        "demo.window_width": activity["width"],
        "demo.page_load": timing_distribution(activity["page_loads"], metric.unit) if activity["page_loads"] else None,
    }
    if metric.identifier in known:
        return known[metric.identifier] or None
    labels = list(metric.labels) or ["first", "second"]
    kind = metric.type
    if kind in ("counter", "quantity"):
        return rng.randint(1, 20)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind in ("string", "text"):
        return rng.choice(("alpha", "beta", "gamma"))
    if kind == "url":
        return f"https://example.com/{rng.choice(('home', 'help', 'about'))}"
    if kind == "string_list":
        return rng.sample(["alpha", "beta", "gamma", "delta"], rng.randint(1, 3))
    if kind == "uuid":
        return _uuid(rng)
    if kind == "datetime":
        return glean_time(at, offset)
    if kind == "timespan":
        return {"time_unit": metric.unit or "millisecond", "value": rng.randint(1, 5000)}
    if kind == "timing_distribution":
        return timing_distribution([rng.randint(1, 2000) for _ in range(rng.randint(1, 5))], metric.unit)
    if kind == "memory_distribution":
        return memory_distribution([rng.randint(1, 4096) for _ in range(rng.randint(1, 3))], metric.unit)
    if kind == "custom_distribution":
        samples = [rng.randint(1, 100) for _ in range(rng.randint(1, 5))]
        return {"sum": sum(samples), "values": {str(s): 1 for s in samples}}
    if kind == "rate":
        denominator = rng.randint(1, 50)
        return {"numerator": rng.randint(0, denominator), "denominator": denominator}
    if kind in ("labeled_counter", "labeled_quantity"):
        return {label: rng.randint(1, 10) for label in rng.sample(labels, rng.randint(1, len(labels)))}
    if kind == "labeled_boolean":
        return {label: rng.random() < 0.5 for label in rng.sample(labels, rng.randint(1, len(labels)))}
    if kind == "labeled_string":
        return {label: rng.choice(("alpha", "beta")) for label in rng.sample(labels, rng.randint(1, len(labels)))}
    return None


class History:
    """Builds the history: one instance, one pass over the clients (see the module's docstring)."""

    def __init__(self, app: GleanApp, config: DemoConfig, today: dt.date):
        self.app = app
        self.config = config.check()
        self.rng = random.Random(f"pingpipe-demo/{config.seed}/{config.days}/{config.clients}")
        self.start = dt.datetime.combine(config.first_day(today), dt.time(), dt.timezone.utc)
        self.out: list[Submission] = []
        self.deleting: set[str] = set()  # the clients that turn telemetry off
        all_pings = list(app.pings)
        # The app's own metrics, by the pings that carry them; events apart (they go in `events` lists).
        self.app_metrics: dict[str, list[Metric]] = {}
        self.app_events: list[Metric] = []
        for metric in app.metrics:
            if metric.builtin:
                continue
            if metric.type == "event":
                self.app_events.append(metric)
                continue
            for ping in pings_of(metric, all_pings):
                self.app_metrics.setdefault(ping, []).append(metric)
        releases = len(config.versions)
        self.release_day = [0 if i == 0 else round(i * config.days / releases) for i in range(releases)]

    # -- the fleet ---------------------------------------------------------------------------

    def client(self, index: int) -> Client:
        rng, config = self.rng, self.config
        existing = index < max(1, int(config.clients * 0.4))  # users before the history starts
        first_day = 0 if existing else rng.randrange(config.days)
        day_start = self.start + dt.timedelta(days=first_day)
        first_run = (
            day_start - dt.timedelta(days=rng.randint(1, 200), minutes=rng.randint(0, 1439))
            if existing
            else day_start + dt.timedelta(minutes=rng.randint(6 * 60, 20 * 60))
        )
        address, locales, offset, _ = _weighted(rng, PLACES)
        os_name, os_version, archs, build, _ = _weighted(rng, PLATFORMS)
        engagement = _weighted(rng, ENGAGEMENT)[0]
        last_day = config.days - 1
        if not existing and rng.random() < 0.3:  # tried it, and left
            last_day = min(last_day, first_day + rng.randint(0, 6))
        theme = rng.choice(THEMES)
        client = Client(
            client_id=_uuid(rng),
            first_day=first_day,
            first_run=first_run,
            channel=_weighted(rng, config.channels)[0],
            os=os_name,
            os_version=os_version,
            architecture=rng.choice(archs),
            windows_build=build,
            locale=rng.choice(locales),
            address=address,
            offset=offset,
            engagement=engagement,
            theme=theme,
            width=rng.choice(WIDTHS),
            last_day=last_day,
        )
        if existing:  # what its SDK counted before the history: sequence numbers, the last pings' ends, yesterday
            days_used = max(1, int((self.start - first_run).days * engagement))
            client.seq = {"baseline": 3 * days_used, "metrics": days_used, "events": days_used, "hello": days_used // 3}
            client.last_end = {
                ping: self.start - dt.timedelta(hours=rng.randint(4, 96), seconds=rng.randint(0, 3599)) for ping in client.seq
            }
            client.recorded = {
                "sessions": 1,
                "theme": theme,
                "width": client.width,
                "clicks": {"ok": rng.randint(0, 3)},
                "page_loads": [rng.randint(80, 900)],
            }
        return client

    def build(self) -> list[Submission]:
        clients = [self.client(i) for i in range(self.config.clients)]
        self.plan_deletions(clients)
        for client in clients:
            self.live(client)
        valid = [s for s in self.out if s.kind == "ping"]
        self.add_duplicates(valid)
        self.add_invalid(valid)
        return sorted(self.out, key=lambda s: (s.submitted, s.uri))

    def plan_deletions(self, clients: list[Client]) -> None:
        """Clients that will turn telemetry off: among those there from the start, a day in the second half."""
        days = self.config.days
        steady = [c for c in clients if c.first_day == 0] or clients
        for client in self.rng.sample(steady, min(self.config.deletions, len(steady))):
            self.deleting.add(client.client_id)
            client.deletes_on = min(days - 1, max(client.first_day, days // 2 + self.rng.randrange(max(1, days // 3))))
            client.last_day = client.deletes_on

    def active(self, client: Client, day: int) -> bool:
        if day < client.first_day or day > client.last_day:
            return False
        if day == client.deletes_on or (day == client.first_day and client.first_run >= self.start):
            return True  # a new client's first run; the day it turns telemetry off
        weekday = (self.start + dt.timedelta(days=day)).weekday()
        return self.rng.random() < client.engagement * (0.8 if weekday >= 5 else 1.0)

    def version_on(self, client: Client, day: int) -> int:
        """The newest version the client has by `day`: a channel's lag, and a few days of its own."""
        lag = LAG_DAYS.get(client.channel, 2) + (int(client.client_id[:2], 16) % 4 if client.channel == "release" else 0)
        return max(i for i, released in enumerate(self.release_day) if i == 0 or released + lag <= day)

    # -- a client's days -----------------------------------------------------------------------

    def live(self, client: Client) -> None:
        rng = self.rng
        for day in range(client.first_day, client.last_day + 1):
            if not self.active(client, day):
                continue
            day_start = self.start + dt.timedelta(days=day)
            version = self.version_on(client, day)
            upgraded = version != client.version and client.seq.get("metrics", 0) > 0
            client.version = version
            sessions = 1 + (rng.random() < 0.35) + (rng.random() < 0.1)
            # Sessions start in the client's waking hours, within the UTC day (the days here are UTC days),
            # and after its first run.
            earliest = 5 if client.first_run < day_start else int((client.first_run - day_start).total_seconds() // 60) + 1
            starts = sorted(
                max(earliest, min(22 * 60, (rng.randint(7 * 60, 23 * 60) - client.offset * 60) % (24 * 60))) for _ in range(sessions)
            )
            today = {
                "sessions": 0,
                "theme": client.theme,
                "width": client.width,
                "clicks": {label: 0 for label in ("ok", "cancel", "help")},
                "page_loads": [],
            }
            last_start = day_start + dt.timedelta(hours=23, minutes=30)
            for i, minute in enumerate(starts):
                start = day_start + dt.timedelta(minutes=minute, seconds=rng.randint(0, 59), milliseconds=rng.randint(0, 999))
                if i and start <= client.last_end["baseline"]:  # the previous session was still on
                    start = client.last_end["baseline"] + dt.timedelta(minutes=rng.randint(2, 30))
                if start > last_start:
                    break
                self.session(client, start, today, first_of_day=i == 0, upgraded=upgraded and i == 0)
            client.recorded = today
            if day == client.deletes_on:
                self.deletion_request(client, client.last_end["baseline"] + dt.timedelta(seconds=rng.randint(5, 600)))

    def session(self, client: Client, start: dt.datetime, today: dict, *, first_of_day: bool, upgraded: bool) -> None:
        rng = self.rng
        midnight = dt.datetime.combine(start.date(), dt.time(23, 59, 30), dt.timezone.utc)
        if not client.seq:  # the first run: glean-core's health ping, before init
            self.ping(
                client,
                "health",
                start,
                start + dt.timedelta(milliseconds=rng.randint(3, 20)),
                "pre_init",
                {"counter": {"glean.health.init_count": 1}, "labeled_counter": {"glean.health.file_read_error": {"file-not-found": 1}}},
            )
        if first_of_day and client.recorded is not None:  # at init, before the app is active
            self.metrics_ping(client, start + dt.timedelta(milliseconds=rng.randint(25, 45)), upgraded)
        now = start + dt.timedelta(milliseconds=rng.randint(50, 120))
        self.ping(client, "baseline", now, now, "active", self.submitted_metrics(client, "baseline"))
        length = min(dt.timedelta(seconds=int(rng.lognormvariate(6.3, 0.9))) + dt.timedelta(seconds=5), midnight - start)
        end = start + length
        session = {
            "sessions": 1,
            "theme": client.theme,
            "width": client.width,
            "clicks": {label: 0 for label in ("ok", "cancel", "help")},
            "page_loads": [int(rng.lognormvariate(5.5, 0.7)) + 1 for _ in range(rng.randint(0, 6))],
        }
        events = []
        for _ in range(rng.choice((0, 0, 1, 2, 3, 5))):
            button = rng.choice(("ok", "ok", "ok", "cancel", "help"))
            session["clicks"][button] += 1
            at = start + dt.timedelta(seconds=rng.uniform(1, max(1.0, length.total_seconds() - 1)))
            for metric in self.app_events:
                extra = {key: (button if key == "button" else rng.choice(("alpha", "beta"))) for key in metric.extra_keys}
                events.append((at, metric, extra))
        for key in ("sessions", "page_loads"):
            today[key] += session[key]
        for label, n in session["clicks"].items():
            today["clicks"][label] += n
        if rng.random() < 0.25:  # the user said hello
            at = start + (end - start) * rng.uniform(0.2, 0.9)
            self.ping(
                client,
                "hello",
                client.last_end.get("hello", client.first_run),
                at,
                None,
                self.app_values(client, "hello", session, at),
                start_is_given=True,
            )
        self.ping(
            client,
            "baseline",
            start,
            end,
            "inactive",
            self.merge(
                {"timespan": {"glean.baseline.duration": {"time_unit": "second", "value": int(length.total_seconds())}}},
                self.submitted_metrics(client, "baseline"),
            ),
        )
        if events:
            events.sort(key=lambda e: e[0])
            first = events[0][0]
            body = [
                {
                    "category": m.category,
                    "name": m.name,
                    "timestamp": int((at - first).total_seconds() * 1000),
                    "extra": {**extra, "glean_timestamp": str(int(at.timestamp() * 1000))},
                }
                for at, m, extra in events
            ]
            self.ping(
                client,
                "events",
                client.last_end.get("events", start),
                end + dt.timedelta(milliseconds=3),
                "inactive",
                {},
                events=body,
                start_is_given=True,
            )

    def metrics_ping(self, client: Client, at: dt.datetime, upgraded: bool) -> None:
        recorded = client.recorded or {}
        metrics = self.app_values(client, "metrics", recorded, at)
        metrics = self.merge(
            metrics,
            {
                "counter": {"glean.validation.foreground_count": recorded.get("sessions", 1)},
                "memory_distribution": {
                    "glean.database.size": memory_distribution(
                        [20_000 + 4_000 * client.seq.get("baseline", 0) + self.rng.randint(0, 4096)], "byte"
                    )
                },
            },
            self.submitted_metrics(client, "metrics"),
        )
        self.ping(
            client,
            "metrics",
            client.last_end.get("metrics", client.first_run),
            at,
            "upgrade" if upgraded else "overdue",
            metrics,
            start_is_given=True,
        )

    def deletion_request(self, client: Client, at: dt.datetime) -> None:
        self.ping(
            client,
            "deletion-request",
            client.last_end.get("deletion-request", client.first_run),
            at,
            "set_upload_enabled",
            {},
            start_is_given=True,
            kind="deletion-request",
        )

    # -- a ping ----------------------------------------------------------------------------

    def app_values(self, client: Client, ping: str, activity: dict, at: dt.datetime) -> dict:
        """The app's own metrics sent in `ping`, grouped by type as the SDK sends them."""
        out: dict[str, dict] = {}
        for metric in self.app_metrics.get(ping, ()):
            value = value_of(metric, self.rng, activity, at, client.offset)
            if value is not None:
                out.setdefault(metric.type, {})[metric.identifier] = value
        return out

    def submitted_metrics(self, client: Client, ping: str) -> dict:
        """glean.validation.pings_submitted: the pings sent since the last ping of this type."""
        counts = client.submitted_since.pop(ping, {})
        return {"labeled_counter": {"glean.validation.pings_submitted": counts}} if counts else {}

    @staticmethod
    def merge(*groups: dict) -> dict:
        out: dict[str, dict] = {}
        for group in groups:
            for kind, values in group.items():
                out.setdefault(kind, {}).update(values)
        return out

    def ping(
        self,
        client: Client,
        name: str,
        start: dt.datetime,
        end: dt.datetime,
        reason: str | None,
        metrics: dict,
        *,
        events: list | None = None,
        start_is_given: bool = False,
        kind: str = "ping",
    ) -> None:
        """One ping of `client`, ending at `end`; its start is the end of the previous ping of its type."""
        if not start_is_given:
            start = client.last_end.get(name, start)
        start = min(start, end)
        seq = client.seq.get(name, 0)
        client.seq[name] = seq + 1
        client.last_end[name] = end
        for counted in ("baseline", "metrics"):  # what the next baseline and metrics pings report as sent
            since = client.submitted_since.setdefault(counted, {})
            since[name] = since.get(name, 0) + 1
        info = {"seq": seq, "start_time": glean_time(start, client.offset), "end_time": glean_time(end, client.offset)}
        if reason:
            info["reason"] = reason
        payload = {"client_info": self.client_info(client), "ping_info": info}
        if metrics:
            payload["metrics"] = metrics
        if events:
            payload["events"] = events
        arrived = end + dt.timedelta(milliseconds=self.rng.randint(40, 3000))
        self.out.append(self.submission(client, name, orjson.dumps(payload, option=orjson.OPT_SORT_KEYS), arrived, kind))

    def client_info(self, client: Client) -> dict:
        config = self.config
        display = config.versions[client.version] + ("a1" if client.channel == "nightly" else "")
        info = {
            "app_build": str(1000 + 100 * client.version + [name for name, _ in config.channels].index(client.channel)),
            "app_channel": client.channel,
            "app_display_version": display,
            "architecture": client.architecture,
            "build_date": glean_time(
                self.start - dt.timedelta(days=60) + dt.timedelta(days=self.release_day[client.version]), 0, "seconds"
            ),
            "client_id": client.client_id,
            "first_run_date": glean_date(client.first_run, client.offset),
            "locale": client.locale,
            "os": client.os,
            "os_version": client.os_version,
            "telemetry_sdk_build": config.sdk_version,
        }
        if client.windows_build is not None:
            info["windows_build_number"] = client.windows_build
        return info

    def submission(
        self,
        client: Client,
        doctype: str,
        payload: bytes,
        arrived: dt.datetime,
        kind: str,
        document_id: str | None = None,
        version: int = 1,
    ) -> Submission:
        body = igzip.compress(payload, mtime=0) if self.config.gzip else payload
        return Submission(
            uri=f"/submit/{self.app.namespace}/{doctype}/{version}/{document_id or _uuid(self.rng)}",
            body=body,
            headers=self.headers(client, arrived, len(body)),
            submitted=arrived,
            remote_addr=client.address,
            kind=kind,
            client_id=client.client_id,
        )

    def headers(self, client: Client, at: dt.datetime, length: int) -> tuple[tuple[str, str], ...]:
        """What glean-sdk's uploader sends (tests/up/glean_client.py's pings, as the edge saw them)."""
        platform = {"Darwin": "Darwin", "Windows": "Windows"}.get(client.os, "Linux")
        headers = [
            ("Content-Type", "application/json; charset=utf-8"),
            ("Content-Length", str(length)),
            ("Date", format_datetime(at.replace(microsecond=0), usegmt=True)),
            ("X-Telemetry-Agent", f"Glean/{self.config.sdk_version} (Python on {platform})"),
        ]
        if self.config.gzip:
            headers.insert(1, ("Content-Encoding", "gzip"))
        return tuple(headers)

    # -- what a real fleet also sends ------------------------------------------------------------

    def add_duplicates(self, valid: list[Submission]) -> None:
        """Uploads sent again: the client did not see the edge's answer (a network drop) and retried."""
        valid = [s for s in valid if s.client_id not in self.deleting] or valid  # nothing after a deletion request
        for original in self.rng.sample(valid, min(self.config.duplicates, len(valid))):
            again = original.submitted + dt.timedelta(seconds=self.rng.randint(30, 900))
            self.out.append(
                Submission(
                    original.uri,
                    original.body,
                    original.headers,
                    again,
                    original.remote_addr,
                    kind="duplicate",
                    client_id=original.client_id,
                )
            )

    def add_invalid(self, valid: list[Submission]) -> None:
        """Pings the decoder refuses, made from real ones of the last days (error rows live 14 days)."""
        if not valid or not self.config.invalid:
            return
        recent_from = max(s.submitted for s in valid) - dt.timedelta(days=min(5, self.config.days))
        recent = [
            s
            for s in valid
            if s.submitted >= recent_from and s.doctype in ("baseline", "metrics", "hello") and s.client_id not in self.deleting
        ] or valid
        for i in range(self.config.invalid):
            why = INVALID[i % len(INVALID)]
            base = self.rng.choice(recent)
            payload = orjson.loads(igzip.decompress(base.body) if self.config.gzip else base.body)
            at = base.submitted + dt.timedelta(seconds=self.rng.randint(1, 120))
            doctype, data, gzip = base.doctype, b"", self.config.gzip
            if why == "truncated-gzip":  # the upload was cut short
                data, gzip = igzip.compress(orjson.dumps(payload), mtime=0)[:40], False
            elif why == "not-json":  # a client bug: half a document
                raw = orjson.dumps(payload)
                data = raw[: len(raw) // 2]
            elif why == "unknown-doctype":  # a ping type added to the app but not to the schemas yet
                doctype, data = "crash", orjson.dumps(payload)
            elif why == "no-ping-info":
                payload.pop("ping_info", None)
                data = orjson.dumps(payload)
            else:  # wrong-type: a counter sent as text
                payload.setdefault("metrics", {}).setdefault("counter", {})["demo.launches"] = "three"
                data = orjson.dumps(payload)
            body = igzip.compress(data, mtime=0) if gzip else data
            client_headers = tuple((k, v) for k, v in base.headers if k not in ("Content-Length", "Content-Encoding"))
            headers = client_headers + (("Content-Length", str(len(body))),) + ((("Content-Encoding", "gzip"),) if gzip else ())
            self.out.append(
                Submission(
                    f"/submit/{self.app.namespace}/{doctype}/1/{_uuid(self.rng)}",
                    body,
                    headers,
                    at,
                    base.remote_addr,
                    kind=f"invalid:{why}",
                    client_id=base.client_id,
                )
            )


def history(app: GleanApp, config: DemoConfig, today: dt.date) -> list[Submission]:
    """The demo's submissions, in the order they reached the edge."""
    return History(app, config, today).build()


def summary(submissions: list[Submission]) -> dict[str, int]:
    """How many submissions of each kind ("ping" split by document type)."""
    out: dict[str, int] = {}
    for s in submissions:
        key = s.doctype if s.kind == "ping" else s.kind
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))

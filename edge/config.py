"""The edge's configuration: one object, read from CLI options or PINGPIPE_EDGE_* variables."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from pingpipe.private import private_folder

DEFAULT_HEADERS = (
    "Content-Length",
    "Date",
    "DNT",
    "User-Agent",
    "X-Forwarded-For",
    "X-Pingsender-Version",
    "X-Debug-ID",
    "X-Source-Tags",
    "X-Telemetry-Agent",
    "X-LB-Tags",
    "X-Foxsec-IP-Reputation",
)
MIB = 1024 * 1024


class ConfigError(ValueError):
    """Configuration the edge cannot start with; the message says what to fix."""


@dataclass(frozen=True)
class Route:
    """A route table entry: URI pattern (Sanic style, as Mozilla's ROUTE_TABLE) -> topic."""

    pattern: str
    topic: str
    methods: tuple[str, ...] = ("POST", "PUT")

    @property
    def regex(self) -> re.Pattern:
        out = ""
        for piece in re.split(r"(<[^>]+>)", self.pattern):
            if piece.startswith("<") and piece.endswith(">"):
                out += ".+" if piece[1:-1].endswith(":path") else "[^/]+"
            else:
                out += re.escape(piece)
        return re.compile(f"^{out}$")


@dataclass(frozen=True)
class EdgeConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    queue_dir: Path | None = None
    pubsub_project: str | None = None
    routes: tuple[Route, ...] = ()
    max_body_bytes: int = 1 * MIB
    max_uri_bytes: int = 1024  # the uri is a Pub/Sub attribute, and attributes hold 1024 bytes
    max_attribute_bytes: int = 1024
    # Limits on what the edge holds for a request it has not read whole: counted as the parser's
    # callbacks arrive, so no connection can make it buffer more (431, or 414 for the url alone).
    max_url_bytes: int = 8 * 1024  # the request target; /submit's path has its own, smaller limit above
    max_header_bytes: int = 64 * 1024  # url + header names + values
    max_headers: int = 100
    # Deadlines (seconds) so that no connection holds a descriptor by sending slowly or not at all.
    keep_alive_timeout: float = 30.0  # idle: from connection open, or from the last answer, to a request's first byte
    header_timeout: float = 10.0  # from a request's first byte to the end of its headers (else 408)
    body_timeout: float = 30.0  # from the end of the headers to the end of the body (else 408)
    fd_reserve: int = 64  # descriptors kept free for queue segments: connections beyond get 503
    metadata_headers: tuple[str, ...] = DEFAULT_HEADERS
    publish_timeout: float = 1.0
    min_free_bytes: int = 100 * MIB
    metrics_port: int | None = None
    segment_max_bytes: int = 16 * MIB
    segment_max_age: float = 1.0
    flush_interval: float = 1.0
    shutdown_drain_seconds: float = 30.0  # on SIGTERM, requests in flight get this long to finish (a body's own timeout)
    shutdown_flush_seconds: float = 20.0  # then spooled messages are republished for up to this long
    fsync: bool = True
    version_file: Path | None = None
    cors_origins: tuple[str, ...] = ("*",)  # origins whose pages may send pings with fetch (`*`: any; edge/cors.py)
    cors_max_age: int = 86400  # seconds a browser may keep a preflight's answer
    tls_cert: Path | None = None  # serve HTTPS with this certificate (and tls_key): laptops, tests, small setups
    tls_key: Path | None = None
    extra: dict = field(default_factory=dict)

    @property
    def uses_pubsub(self) -> bool:
        return self.pubsub_project is not None

    @property
    def spool_dir(self) -> Path:
        """Where messages are made durable: the local queue, or Pub/Sub's disk fallback."""
        return self.queue_dir if self.queue_dir is not None else Path("pingpipe-edge-queue")

    def header_attributes(self) -> dict[bytes, str]:
        """lowercased header name -> attribute name (lowercase, `-` -> `_`)."""
        return {h.lower().encode("latin-1"): h.lower().replace("-", "_") for h in self.metadata_headers}

    def check(self) -> "EdgeConfig":
        """Fail fast on configuration that cannot work, naming the setting."""
        if self.uses_pubsub and not self.routes:
            raise ConfigError("--pubsub-project needs a --route-table mapping URI patterns to topics")
        if not self.uses_pubsub and self.routes:
            raise ConfigError("--route-table needs --pubsub-project")
        if not self.uses_pubsub and self.queue_dir is None:
            raise ConfigError("give --queue DIR (local durable queue) or --pubsub-project P --route-table FILE")
        for name in (
            "max_body_bytes",
            "max_uri_bytes",
            "max_attribute_bytes",
            "segment_max_bytes",
            "max_url_bytes",
            "max_header_bytes",
            "max_headers",
            "keep_alive_timeout",
            "header_timeout",
            "body_timeout",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        check_tls_pair(self.tls_cert, self.tls_key)
        if self.fd_reserve < 0:
            raise ConfigError("fd_reserve cannot be negative")
        if self.publish_timeout <= 0:
            raise ConfigError("publish timeout must be positive")
        if self.min_free_bytes < 0:
            raise ConfigError("the free-disk floor cannot be negative")
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"port {self.port} is not a TCP port")
        if self.workers < 1:
            raise ConfigError("workers must be at least 1")
        spool = self.spool_dir
        try:
            private_folder(spool)  # raw payloads and clients' addresses
        except OSError as exc:
            raise ConfigError(f"queue directory {spool}: {exc.strerror}") from None
        if not os.access(spool, os.W_OK | os.X_OK):
            raise ConfigError(f"queue directory {spool} is not writable")
        return self


class _Encrypted(Exception):
    """A key that asks for a passphrase (OpenSSL would prompt for it on the terminal)."""


def tls_context(cert: Path | str, key: Path | str) -> ssl.SSLContext:
    """A server TLS context holding the certificate and its key: the one place the pair is loaded
    (the check at start-up, the edge's workers). A pair that cannot serve is one ConfigError naming
    both files, before anything starts."""
    cert_bytes, key_bytes = _read(cert, "--tls-cert"), _read(key, "--tls-key")
    if b"-----BEGIN CERTIFICATE-----" not in cert_bytes and b"-----BEGIN CERTIFICATE-----" in key_bytes:
        raise ConfigError(
            f"--tls-cert {cert} and --tls-key {key} are swapped: the certificate is {key}"
            + (f", the key {cert}" if b"PRIVATE KEY-----" in cert_bytes else "")
        )
    if b"-----BEGIN CERTIFICATE-----" not in cert_bytes:
        held = (
            "holds a private key, not a certificate"
            if b"PRIVATE KEY-----" in cert_bytes
            else "is not a PEM certificate (no -----BEGIN CERTIFICATE----- line)"
        )
        raise ConfigError(f"--tls-cert {cert} {held}")
    if b"PRIVATE KEY-----" not in key_bytes:
        held = (
            "holds a certificate, not a private key"
            if b"-----BEGIN CERTIFICATE-----" in key_bytes
            else "is not a PEM private key (no -----BEGIN PRIVATE KEY----- line)"
        )
        raise ConfigError(f"--tls-key {key} {held}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key, password=_no_passphrase)
    except _Encrypted:
        raise ConfigError(
            f"--tls-key {key} is encrypted (it asks for a passphrase): give it unencrypted, e.g. openssl pkey -in {key} -out key-plain.pem"
        ) from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ConfigError(f"the certificate {cert} does not match the key {key}: give the key it was made with") from None
        raise ConfigError(f"the certificate {cert} and the key {key} cannot serve HTTPS: {exc.reason or exc}") from None
    return context


def _read(path: Path | str, option: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{option} {path}: {exc.strerror}") from None


def _no_passphrase():
    raise _Encrypted()


def check_tls_pair(cert: Path | None, key: Path | None) -> None:
    """HTTPS's two options: both or neither, and a pair that loads (tls_context)."""
    if (cert is None) != (key is None):
        raise ConfigError("HTTPS needs both --tls-cert and --tls-key")
    if cert is not None:
        tls_context(cert, key)


def load_route_table(path: Path, project: str | None) -> tuple[Route, ...]:
    """Mozilla's ROUTE_TABLE format: a JSON list of [uri, topic] or [uri, topic, [methods]]."""
    try:
        table = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"route table {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"route table {path}: invalid JSON ({exc})") from None
    return parse_route_table(table, project, source=str(path))


def parse_route_table(table, project: str | None, source: str = "route table") -> tuple[Route, ...]:
    if not isinstance(table, list) or not table:
        raise ConfigError(f"{source}: expected a non-empty JSON list of [uri, topic(, methods)]")
    routes = []
    for i, row in enumerate(table):
        if not isinstance(row, list) or len(row) not in (2, 3) or not all(isinstance(x, str) for x in row[:2]):
            raise ConfigError(f"{source}: entry {i} must be [uri, topic] or [uri, topic, [methods]]")
        uri, topic = row[0], row[1]
        methods = tuple(m.upper() for m in row[2]) if len(row) == 3 else ("POST", "PUT")
        if not uri.startswith("/"):
            raise ConfigError(f"{source}: entry {i}: uri pattern must start with /")
        if not topic.startswith("projects/"):
            if not project:
                raise ConfigError(f"{source}: entry {i}: topic {topic!r} needs a project")
            topic = f"projects/{project}/topics/{topic}"
        if not re.fullmatch(r"projects/[^/]+/topics/[^/]+", topic):
            raise ConfigError(f"{source}: entry {i}: {topic!r} is not projects/P/topics/T")
        routes.append(Route(uri, topic, methods))
    return tuple(routes)


CONFIG_ENV = "PINGPIPE_EDGE_CONFIG_JSON"


def config_to_json(config: EdgeConfig) -> str:
    """The configuration as JSON, for another process (uvicorn's workers, `pingpipe up`'s edge)."""
    data = dataclasses.asdict(config)
    data["queue_dir"] = str(config.queue_dir) if config.queue_dir else None
    data["version_file"] = str(config.version_file) if config.version_file else None
    for name in ("tls_cert", "tls_key"):
        data[name] = str(getattr(config, name)) if getattr(config, name) else None
    return json.dumps(data)


def config_from_json(text: str) -> EdgeConfig:
    """The configuration config_to_json wrote."""
    data = json.loads(text)
    data["queue_dir"] = Path(data["queue_dir"]) if data["queue_dir"] else None
    data["version_file"] = Path(data["version_file"]) if data["version_file"] else None
    data["routes"] = tuple(Route(r["pattern"], r["topic"], tuple(r["methods"])) for r in data["routes"])
    data["metadata_headers"] = tuple(data["metadata_headers"])
    data["cors_origins"] = tuple(data["cors_origins"])
    for name in ("tls_cert", "tls_key"):
        data[name] = Path(data[name]) if data[name] else None
    return EdgeConfig(**data)

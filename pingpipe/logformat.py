"""Logs as mozlog JSON lines on stdout, the shape Mozilla's services log in, when asked
(`--log-format json`, PINGPIPE_LOG_FORMAT): one object per record, which Cloud Logging indexes and
`pingpipe logs ingest --service` loads. A command's failure is logged too, as an error."""

from __future__ import annotations

import logging
import os
import socket
import sys

import orjson

FORMAT_ENV = "PINGPIPE_LOG_FORMAT"
FORMATS = ("text", "json")
LOGGER = "pingpipe"
ENV_VERSION = "2.0"
# Python's levels as syslog severities, as mozlog carries them
SEVERITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}


class MozlogFormatter(logging.Formatter):
    """A record as one mozlog line: Type is the logger's name, Fields its message (and its error)."""

    def __init__(self):
        super().__init__()
        self.hostname = socket.gethostname()

    def format(self, record: logging.LogRecord) -> str:
        fields = {"msg": record.getMessage()}
        if record.exc_info:
            fields["error"] = self.formatException(record.exc_info)
        line = {
            "Timestamp": int(record.created * 1e9),
            "Type": record.name,
            "Logger": LOGGER,
            "Hostname": self.hostname,
            "EnvVersion": ENV_VERSION,
            "Severity": SEVERITY.get(record.levelno, 6 if record.levelno < logging.WARNING else 3),
            "Pid": record.process,
            "Fields": fields,
        }
        return orjson.dumps(line).decode()


def configure(log_format: str) -> None:
    """Log in `log_format`; json: every record as a mozlog line on stdout, in this process and the
    ones it starts (they read the environment)."""
    os.environ[FORMAT_ENV] = log_format
    if log_format != "json":
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(MozlogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)


def failed(command: str, message: str) -> None:
    """A command's failure, as an error record (json only: text already prints it)."""
    if os.environ.get(FORMAT_ENV) == "json":
        logging.getLogger(f"{LOGGER}.{command}").error(message)

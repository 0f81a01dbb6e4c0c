"""Where the decoder reads from and writes to: `file:GLOB`, `file:PREFIX`, Pub/Sub."""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass

import apache_beam as beam

from pingpipe.message import encode_line

from .pipeline import to_pair

_SUBSCRIPTION = re.compile(r"^projects/[^/]+/subscriptions/[^/]+$")
_TOPIC = re.compile(r"^projects/[^/]+/topics/[^/]+$")


class SpecError(ValueError):
    pass


@dataclass(frozen=True)
class Endpoint:
    kind: str  # file | pubsub | warehouse (the loader, in the same pipeline)
    target: str

    @property
    def streaming(self) -> bool:
        return self.kind == "pubsub"


def parse_input(spec: str) -> Endpoint:
    kind, _, target = spec.partition(":")
    if kind == "file" and target:
        if "://" not in target and not glob.glob(target):  # a local pattern; gs:// and others are Beam's to list
            raise SpecError(f"input {spec!r}: no file matches {target}")
        return Endpoint("file", target)
    if kind == "pubsub" and _SUBSCRIPTION.match(target):
        return Endpoint("pubsub", target)
    raise SpecError(f"input {spec!r}: expected file:GLOB or pubsub:projects/P/subscriptions/S")


def parse_output(spec: str) -> Endpoint:
    kind, _, target = spec.partition(":")
    if kind == "file" and target:
        return Endpoint("file", target)
    if kind == "pubsub" and _TOPIC.match(target):
        return Endpoint("pubsub", target)
    if kind in ("duckdb", "bigquery") and target:
        return Endpoint("warehouse", spec)
    raise SpecError(f"output {spec!r}: expected file:PREFIX, pubsub:projects/P/topics/T, duckdb:PATH or bigquery:PROJECT")


class ReadRaw(beam.PTransform):
    """Raw messages as raw-message lines: file lines as read (the decoder parses them itself, saving a
    stage), Pub/Sub messages written as lines."""

    def __init__(self, endpoint: Endpoint):
        super().__init__()
        self.endpoint = endpoint

    def expand(self, pbegin):
        if self.endpoint.kind == "file":
            return pbegin | "ReadLines" >> beam.io.ReadFromText(self.endpoint.target, coder=beam.coders.BytesCoder())
        messages = pbegin | "ReadPubSub" >> beam.io.ReadFromPubSub(subscription=self.endpoint.target, with_attributes=True)
        return messages | "ToLines" >> beam.Map(lambda m: encode_line(m.data, dict(m.attributes or {}), newline=False))


class WriteRaw(beam.PTransform):
    """Write raw-message lines (without their newline) to files, or as Pub/Sub messages."""

    def __init__(self, endpoint: Endpoint, label: str):
        super().__init__()
        self.endpoint = endpoint
        self.name = label

    def expand(self, messages):
        if self.endpoint.kind == "file":
            return messages | f"{self.name}Write" >> beam.io.WriteToText(
                self.endpoint.target, file_name_suffix=".ndjson", coder=beam.coders.BytesCoder()
            )
        from apache_beam.io.gcp.pubsub import PubsubMessage

        return (
            messages
            | f"{self.name}ToPubsub" >> beam.Map(lambda m: PubsubMessage(*to_pair(m)))
            | f"{self.name}Publish" >> beam.io.WriteToPubSub(self.endpoint.target, with_attributes=True)
        )

"""Where the decoder reads from and writes to: `file:GLOB`, `file:PREFIX`, Pub/Sub."""

from __future__ import annotations

import re
from dataclasses import dataclass

import apache_beam as beam

from .pipeline import to_line, to_pair

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
    """Raw messages: file lines (parsed by the decoder itself, saving a stage) or Pub/Sub messages."""

    def __init__(self, endpoint: Endpoint):
        super().__init__()
        self.endpoint = endpoint

    def expand(self, pbegin):
        if self.endpoint.kind == "file":
            return pbegin | "ReadLines" >> beam.io.ReadFromText(self.endpoint.target, coder=beam.coders.BytesCoder())
        messages = pbegin | "ReadPubSub" >> beam.io.ReadFromPubSub(subscription=self.endpoint.target, with_attributes=True)
        return messages | "ToRaw" >> beam.Map(lambda m: (m.data, dict(m.attributes or {})))


class WriteRaw(beam.PTransform):
    """Write (data, attributes) messages as raw-message lines or Pub/Sub messages."""

    def __init__(self, endpoint: Endpoint, label: str, *, lines: bool = False):
        """`lines`: the elements are already raw-message lines without their newline (decoded output)."""
        super().__init__()
        self.endpoint = endpoint
        self.name = label
        self.lines = lines

    def expand(self, messages):
        if self.endpoint.kind == "file":
            if not self.lines:
                messages = messages | f"{self.name}Lines" >> beam.Map(to_line)
            return (messages
                    | f"{self.name}Write" >> beam.io.WriteToText(self.endpoint.target, file_name_suffix=".ndjson",
                                                                 coder=beam.coders.BytesCoder()))
        from apache_beam.io.gcp.pubsub import PubsubMessage

        return (messages | f"{self.name}ToPubsub" >> beam.Map(lambda m: PubsubMessage(*to_pair(m)))
                | f"{self.name}Publish" >> beam.io.WriteToPubSub(self.endpoint.target, with_attributes=True))

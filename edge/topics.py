"""The Pub/Sub resources a deployment needs, from the edge's route table: each raw topic with the
decoder's subscription, and the errors topic with the loader's; and making them, idempotently."""

from __future__ import annotations

from dataclasses import dataclass

from .config import Route

ACK_DEADLINE = 120  # seconds: a Dataflow bundle may hold a message that long before it acks
RETENTION_DAYS = 7  # the longest Pub/Sub keeps a subscription's unacked messages: a week to mend a reader
# A subscription nobody reads is deleted after 31 days by default, with its messages: an errors-loader
# left unread over a holiday would be. Ours never expire (an expiration policy without a ttl).


@dataclass(frozen=True)
class Plan:
    topics: tuple[str, ...]
    subscriptions: tuple[tuple[str, str], ...]  # (subscription, topic), full names


def plan(routes: tuple[Route, ...], project: str, errors_topic: str = "errors") -> Plan:
    """Topics in route-table order (each once), then the errors topic; `<topic>-decoder` for each raw
    topic and `<errors>-loader` for the errors."""
    topics = list(dict.fromkeys(r.topic for r in routes))
    errors = errors_topic if errors_topic.startswith("projects/") else f"projects/{project}/topics/{errors_topic}"
    subscriptions = [(_subscription(t, "decoder"), t) for t in topics]
    if errors not in topics:
        topics.append(errors)
        subscriptions.append((_subscription(errors, "loader"), errors))
    return Plan(tuple(topics), tuple(subscriptions))


def _subscription(topic: str, reader: str) -> str:
    project, name = topic.split("/")[1], topic.rsplit("/", 1)[1]
    return f"projects/{project}/subscriptions/{name}-{reader}"


def apply(p: Plan) -> list[str]:
    """Create what is missing; one line per resource: created, or already there."""
    from google.api_core.exceptions import AlreadyExists
    from google.cloud import pubsub_v1

    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    lines = []
    try:
        for topic in p.topics:
            try:
                publisher.create_topic(name=topic)
                lines.append(f"created {topic}")
            except AlreadyExists:
                lines.append(f"kept {topic}")
        for name, topic in p.subscriptions:
            try:
                subscriber.create_subscription(request={"name": name, "topic": topic, "ack_deadline_seconds": ACK_DEADLINE, **KEEPING})
                lines.append(f"created {name} (of {topic.rsplit('/', 1)[1]})")
            except AlreadyExists:
                lines.append(keep(subscriber, name))
    finally:
        subscriber.close()
    return lines


KEEPING = {"expiration_policy": {}, "message_retention_duration": {"seconds": RETENTION_DAYS * 86400}}


def keep(subscriber, name: str) -> str:
    """An existing subscription is left as it is; one that may expire, or keeps its backlog another time,
    is named with the command that makes it as ours are (an update this command does not make for you:
    the emulator cannot, so it could not be tested)."""
    held = subscriber.get_subscription(subscription=name)
    expires = bool(held.expiration_policy.ttl)
    if not expires and held.message_retention_duration.total_seconds() == RETENTION_DAYS * 86400:
        return f"kept {name}"
    why = f"is deleted after {held.expiration_policy.ttl.days} days unread" if expires else "keeps unacked messages another time"
    return (
        f"kept {name}, which {why}: gcloud pubsub subscriptions update {name} --expiration-period=never "
        f"--message-retention-duration={RETENTION_DAYS}d"
    )

"""Step: inject the pipeline's metadata into the payload, as Mozilla's AddMetadata does.

`metadata` holds geo, isp, user_agent, header and document_{namespace,type,version} (and uri for
telemetry); the top level gets document_id, submission_timestamp, normalized_* and sample_id.
Only values that exist are written.
"""

from __future__ import annotations

from pingpipe.schemas.names import SUBMISSION_TIMESTAMP

HEADERS = ("date", "dnt", "x_debug_id", "x_foxsec_ip_reputation", "x_lb_tags", "x_pingsender_version", "x_source_tags", "x_telemetry_agent")
GEO = (
    ("geo_city", "city"),
    ("geo_country", "country"),
    ("geo_db_version", "db_version"),
    ("geo_subdivision1", "subdivision1"),
    ("geo_subdivision2", "subdivision2"),
)
USER_AGENT = (("user_agent_browser", "browser"), ("user_agent_os", "os"), ("user_agent_browser_version", "version"))
URI = ("app_build_id", "app_name", "app_update_channel", "app_version")
TOP = ("normalized_app_name", "normalized_channel", "normalized_country_code", "normalized_os", "normalized_os_version")
GRANULARITY = {"millis": 23, "seconds": 19, "minutes": 16, "hours": 13, "days": 10}
_FILL = "0000-01-01T00:00:00.000000"


def truncate_timestamp(ts: str, granularity: str | None) -> str:
    """Cut an ISO timestamp to millis/seconds/minutes/hours/days (privacy: coarser correlation)."""
    keep = GRANULARITY.get(granularity or "")
    if keep is None or len(ts) < 26:
        return ts
    return ts[:keep] + _FILL[keep:] + "Z"


def add_metadata(attributes: dict[str, str], payload: dict, metadata_format: str | None, granularity: str | None = None) -> dict:
    get = attributes.get
    meta = {
        "geo": {k: v for a, k in GEO if (v := get(a))},
        "isp": {},
        "user_agent": {k: v for a, k in USER_AGENT if (v := get(a))},
        "header": {h: v for h in HEADERS if (v := get(h))},
        "document_namespace": get("document_namespace"),
        "document_type": get("document_type"),
        "document_version": get("document_version"),
    }
    if metadata_format == "telemetry" or attributes.get("document_namespace") == "telemetry":
        meta["uri"] = {k: v for k in URI if (v := get(k))}
    payload["metadata"] = meta
    payload["document_id"] = get("document_id")
    if get(SUBMISSION_TIMESTAMP):
        ts = truncate_timestamp(attributes[SUBMISSION_TIMESTAMP], granularity)
        attributes[SUBMISSION_TIMESTAMP] = ts
        payload[SUBMISSION_TIMESTAMP] = ts
    for name in TOP:
        if value := get(name):
            payload[name] = value
    if sample_id := get("sample_id"):
        payload["sample_id"] = int(sample_id)
    return payload

"""Step: normalized_* attributes and sample_id, with Mozilla's rules.

* normalized_channel: release/esr/beta/aurora/nightly as is, `beta*` -> beta, `nightly-cck-*`
  -> nightly, anything else "Other". From Glean's client_info.app_channel or the telemetry URI.
* normalized_os: Windows / Mac / Linux / iOS / Android / Other, from client_info.os (Glean).
* normalized_os_version: the leading `major[.minor]` of the OS version.
* normalized_app_name: from the telemetry URI's application name.
* normalized_country_code: the geo-IP country.
* sample_id = crc32(client_id) % 100, where client_id is client_info.client_id (Glean), clientId
  (telemetry) or client_id (structured); a schema may name another UUID attribute or payload path.
"""

from __future__ import annotations

import re
import zlib

CHANNELS = ("release", "esr", "beta", "aurora", "nightly")
APP_NAMES = {
    "firefox": "Firefox",
    "fennec": "Fennec",
    "focus": "Focus",
    "klar": "Klar",
    "thunderbird": "Thunderbird",
    "seamonkey": "SeaMonkey",
    "firefox-ios": "Firefox-iOS",
}
_OS_VERSION = re.compile(r"^[0-9]+(\.[0-9]+)?")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def normalize_channel(name: str) -> str:
    if name in CHANNELS:
        return name
    if name.startswith("nightly-cck-"):
        return "nightly"
    if name.startswith("beta"):
        return "beta"
    return "Other"


def normalize_os(name: str) -> str:
    if name.startswith(("Windows", "WINNT")):
        return "Windows"
    if name.startswith("Darwin") or name.startswith("Mac"):
        return "Mac"
    if any(s in name for s in ("Linux", "BSD", "SunOS", "Solaris")):
        return "Linux"
    if name.startswith("iOS") or "iPhone" in name:
        return "iOS"
    if name.startswith("Android"):
        return "Android"
    return "Other"


def normalize_os_version(version: str) -> str | None:
    match = _OS_VERSION.match(version)
    return match.group(0) if match else None


def sample_id(client_id: str) -> int:
    return zlib.crc32(client_id.encode("utf-8")) % 100


def _client_id(payload: dict) -> str | None:
    info = payload.get("client_info")
    if isinstance(info, dict) and isinstance(info.get("client_id"), str):
        return info["client_id"]
    for key in ("client_id", "clientId"):
        if isinstance(payload.get(key), str):
            return payload[key]
    return None


def _at_path(payload: dict, path: list) -> object:
    node: object = payload
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def normalize(attributes: dict[str, str], payload: dict, meta=None) -> None:
    if attributes.get("geo_country"):
        attributes["normalized_country_code"] = attributes["geo_country"]
    info = payload.get("client_info") if isinstance(payload.get("client_info"), dict) else None
    channel = (info or {}).get("app_channel") or attributes.get("app_update_channel")
    if isinstance(channel, str) and channel:
        attributes["normalized_channel"] = normalize_channel(channel)
    if info is not None:
        if isinstance(info.get("os"), str):
            attributes["normalized_os"] = normalize_os(info["os"])
        if isinstance(info.get("os_version"), str):
            version = normalize_os_version(info["os_version"])
            if version:
                attributes["normalized_os_version"] = version
    app_name = attributes.get("app_name")
    if app_name:
        attributes["normalized_app_name"] = APP_NAMES.get(app_name.lower(), "Other")
    client_id = _client_id(payload)
    if client_id:
        attributes["client_id"] = client_id
    source = None
    if meta is not None:
        attr = meta.get("sample_id_source_uuid_attribute")
        if attr and isinstance(attributes.get(attr), str):
            candidate = attributes[attr].strip("{}")
            if _UUID.match(candidate):
                source = candidate
        path = meta.get("sample_id_source_uuid_payload_path")
        if source is None and path:
            candidate = _at_path(payload, path)
            if isinstance(candidate, str) and _UUID.match(candidate.strip("{}")):
                source = candidate.strip("{}")
    if source is None and client_id:
        source = client_id
    if source is not None:
        attributes["sample_id"] = str(sample_id(source))


def apply_overrides(attributes: dict[str, str], overrides: list[dict]) -> None:
    """mozPipelineMetadata.override_attributes: set a value, or drop the attribute when null."""
    for override in overrides:
        name = override.get("name")
        if not name:
            continue
        if override.get("value") is None:
            attributes.pop(name, None)
        else:
            attributes[name] = str(override["value"])

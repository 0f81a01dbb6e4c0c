"""Step: User-Agent -> browser, browser version, OS, OS version; then drop the raw string."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=4096)
def _parse(user_agent: str) -> tuple[str | None, str | None, str | None, str | None]:
    from ua_parser import parse

    result = parse(user_agent)
    ua, os_ = result.user_agent, result.os
    browser = ua.family if ua and ua.family != "Other" else None
    browser_version = ".".join(p for p in (ua.major, ua.minor) if p) if ua and ua.major else None
    os_name = os_.family if os_ and os_.family != "Other" else None
    os_version = ".".join(p for p in (os_.major, os_.minor) if p) if os_ and os_.major else None
    return browser, browser_version, os_name, os_version


def parse_user_agent(attributes: dict[str, str]) -> None:
    user_agent = attributes.pop("user_agent", None)
    if not user_agent:
        return
    browser, version, os_name, os_version = _parse(user_agent[:1024])
    for key, value in (("user_agent_browser", browser), ("user_agent_browser_version", version),
                       ("user_agent_os", os_name), ("user_agent_os_version", os_version)):
        if value:
            attributes[key] = value

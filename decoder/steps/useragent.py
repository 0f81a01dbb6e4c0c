"""Step: User-Agent -> browser, browser version, OS (Mozilla's ParseUserAgent rule); then drop the raw string.

Mozilla's decoder does not use a general user-agent database: it looks for a short list of browser
and OS tokens, and keeps the best match of each by the lists' order (Edge before Chrome before
Safari...; iPod before iPhone before Android before Linux...). So `HeadlessChrome/156` is Chrome,
an Android phone's Chrome is Chrome on Android, and a version is the major number after the
browser's own separator. pingpipe follows the same rule, so `metadata.user_agent.*` and the
`normalized_os` made from it hold the values Mozilla's tables hold.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

LAST_SLASH = ".*/"  # the version is the number after the string's last slash


class _Browser(NamedTuple):
    value: str  # what the attribute gets
    separator: str | None  # between the name and the version
    pattern: str  # what the string must contain
    os: str | None = None  # the OS it implies
    version: str | None = None  # a fixed version


# Best match first, as Mozilla's enums are ordered.
BROWSERS = (
    _Browser("Edge", "/", "Edge"),
    _Browser("Chrome", "/", "Chrome"),
    _Browser("Opera Mini", LAST_SLASH, "Opera Mini"),
    _Browser("Opera Mobi", LAST_SLASH, "Opera Mobi"),
    _Browser("Opera", ".*/", "Opera"),
    _Browser("MSIE", " ", "MSIE"),
    _Browser("MSIE", None, r"Trident/7\.0", None, "11"),
    _Browser("Safari", LAST_SLASH, "Safari"),
    _Browser("FxSync", " ", "Firefox AndroidSync", "Android"),
    _Browser("FxSync", "/", "Firefox-iOS-Sync", "iOS"),
    _Browser("Firefox", "/", "Firefox"),
)
OSES = (
    ("iPod", "iPod"),
    ("iPad", "iPad"),
    ("iPhone", "iPhone"),
    ("Android", "Android"),
    ("BlackBerry", "BlackBerry"),
    ("Linux", "Linux"),
    ("Macintosh", "Macintosh"),
    ("FirefoxOS", r"Mozilla/5\.0 \(Mobile;"),
    ("Windows 10", r"Windows NT 10\.0"),
    ("Windows 8.1", r"Windows NT 6\.3"),
    ("Windows 8", r"Windows NT 6\.2"),
    ("Windows 7", r"Windows NT 6\.1"),
    ("Windows Vista", r"Windows NT 6\.0"),
    ("Windows XP", r"Windows NT 5\.1"),
    ("Windows 2000", r"Windows NT 5\.0"),
)


def _search() -> re.Pattern:
    lookbacks: dict[str, list[str]] = {}
    for b in BROWSERS:
        if b.separator is not None and b.separator != LAST_SLASH:
            lookbacks.setdefault(b.separator, []).append(b.pattern)
    # Python's lookbehind needs a fixed width: one per pattern, where Java takes an alternation.
    versions = "|".join(f"(?<={p}){re.escape(sep) if sep != '.*/' else sep}" for sep, ps in lookbacks.items() for p in ps)
    browsers = "|".join(b.pattern for b in BROWSERS)
    oses = "|".join(pattern for _, pattern in OSES)
    return re.compile(f"(?P<browser>{browsers})(({versions})(?P<version>\\d+))?|(?P<os>{oses})")


SEARCH = _search()
LAST_SLASH_VERSION = re.compile(r".*/(?P<version>\d+)")
BROWSER_BY_MATCH = {b.pattern.replace("\\", ""): (i, b) for i, b in enumerate(BROWSERS)}
OS_BY_MATCH = {pattern.replace("\\", ""): (i, value) for i, (value, pattern) in enumerate(OSES)}


@lru_cache(maxsize=4096)
def parse(user_agent: str) -> tuple[str | None, str | None, str | None]:
    """(browser, version, os) of a User-Agent, by Mozilla's rule."""
    browser: tuple[int, _Browser] | None = None
    version = None
    os_: tuple[int, str] | None = None
    for m in SEARCH.finditer(user_agent):
        if m.group("browser") is not None:
            found = BROWSER_BY_MATCH[m.group("browser")]
            if browser is None or found[0] < browser[0]:
                browser, version = found, m.group("version")
            elif found[0] == browser[0] and version is None:
                version = m.group("version")
        if m.group("os") is not None:
            found_os = OS_BY_MATCH[m.group("os")]
            if os_ is None or found_os[0] < os_[0]:
                os_ = found_os
    if browser is None:
        return None, None, os_[1] if os_ else None
    b = browser[1]
    if b.version is not None:
        version = b.version
    elif b.separator == LAST_SLASH:
        last = LAST_SLASH_VERSION.match(user_agent)
        version = last.group("version") if last else None
    return b.value, version, b.os or (os_[1] if os_ else None)


def parse_user_agent(attributes: dict[str, str]) -> None:
    user_agent = attributes.pop("user_agent", None)
    if not user_agent:
        return
    browser, version, os_name = parse(user_agent[:1024])
    for key, value in (("user_agent_browser", browser), ("user_agent_browser_version", version), ("user_agent_os", os_name)):
        if value:
            attributes[key] = value

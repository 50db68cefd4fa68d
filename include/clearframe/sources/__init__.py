"""Discover: turn a source into candidates. One module per source kind."""

from __future__ import annotations

from collections.abc import Callable

from clearframe.config import Settings, Source
from clearframe.records import Candidate, Finding


def discover(source: Source, settings: Settings,
             store_evidence: Callable[[bytes, str], str] | None = None,
             url_check: Callable[[str], Finding | None] | None = None) -> list[Candidate]:
    """Every candidate of a source, de-duplicated by canonical id, in input order.

    With `store_evidence`, the list or manifest itself is kept as evidence and each candidate refers to it.
    `url_check` (ytdlp sources) is asked before each list URL is requested: blocked domains, platform
    terms, robots.txt; a restricting Finding means the list is never requested.
    """
    if source.kind == "http":
        from clearframe.sources.urllist import read_url_list

        found, document = read_url_list(source)
    elif source.kind == "ytdlp":
        from clearframe.sources.ytdlp import read_ytdlp

        found, document = read_ytdlp(source, settings, url_check=url_check)
    else:
        from clearframe.sources.delivery import read_delivery

        found, document = read_delivery(source, settings)
    digest = store_evidence(document, "text/plain") if store_evidence else None
    seen: set[str] = set()
    unique = []
    for c in found:
        c.listed_in = digest
        if c.canonical_id not in seen:
            seen.add(c.canonical_id)
            unique.append(c)
    return unique

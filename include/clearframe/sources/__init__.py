"""Discover: turn a source into candidates. One module per source kind."""

from __future__ import annotations

from clearframe.config import Settings, Source
from clearframe.records import Candidate


def discover(source: Source, settings: Settings) -> list[Candidate]:
    """Every candidate of a source, de-duplicated by canonical id, in input order."""
    if source.kind == "http":
        from clearframe.sources.urllist import read_url_list

        found = read_url_list(source)
    else:
        from clearframe.sources.delivery import read_delivery

        found = read_delivery(source, settings)
    seen: set[str] = set()
    unique = []
    for c in found:
        if c.canonical_id not in seen:
            seen.add(c.canonical_id)
            unique.append(c)
    return unique

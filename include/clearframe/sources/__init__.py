"""Discover: turn a source into candidates. One module per source kind."""

from __future__ import annotations

from collections.abc import Callable

from clearframe.config import Settings, Source
from clearframe.records import Candidate


def discover(source: Source, settings: Settings,
             store_evidence: Callable[[bytes, str], str] | None = None) -> list[Candidate]:
    """Every candidate of a source, de-duplicated by canonical id, in input order.

    With `store_evidence`, the list or manifest itself is kept as evidence and each candidate refers to it.
    """
    if source.kind == "http":
        from clearframe.sources.urllist import read_url_list

        found, document = read_url_list(source)
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

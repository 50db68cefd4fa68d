"""`http` sources: a list of page or direct media URLs in a txt, csv or parquet file."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from clearframe.config import Source
from clearframe.errors import ConfigError
from clearframe.records import Candidate


def canonical_url(url: str) -> str:
    """Scheme and host lower-cased, default port and fragment dropped: one id per resource."""
    p = urlsplit(url.strip())
    netloc = (p.hostname or "").lower()
    if ":" in netloc:  # an IPv6 literal keeps its brackets, or "[::1]:8080" and "[::1:8080]" would collide
        netloc = f"[{netloc}]"
    if p.port and not ((p.scheme == "http" and p.port == 80) or (p.scheme == "https" and p.port == 443)):
        netloc += f":{p.port}"
    return urlunsplit((p.scheme.lower(), netloc, p.path or "/", p.query, ""))


def check_url(raw: str) -> str | None:
    """None if the URL is usable, else what is wrong with it."""
    try:
        p = urlsplit(raw)
        _ = p.port  # raises on a non-numeric port
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if p.scheme not in ("http", "https"):
        return f"scheme {p.scheme or 'missing'!r} is not http or https"
    if not p.hostname:
        return "the URL has no host"
    if any(ch.isspace() for ch in raw):
        return "the URL contains whitespace"
    return None


def candidate_from_url(source: Source, raw: str, locator: str) -> Candidate:
    raw = raw.strip()
    problem = check_url(raw)
    if problem:
        return Candidate(source=source.name, kind="http", canonical_id=f"input:{locator}:{raw}", url=raw or None,
                         locator=locator, input_error=f"{locator}: {problem}: {raw!r}; fix or remove the line")
    return Candidate(source=source.name, kind="http", canonical_id=f"url:{canonical_url(raw)}", url=raw,
                     locator=locator)


def read_url_list(source: Source) -> tuple[list[Candidate], bytes]:
    """The candidates, and the list's bytes (kept as evidence of what was asked for)."""
    assert source.http is not None
    path = Path(source.resolve(source.http.urls))
    fmt = source.http.format or path.suffix.lstrip(".").lower()
    if not path.exists():
        raise ConfigError(source.path, "http.urls", f"URL list {path} does not exist", "create it or fix the path")
    name = path.name
    document = path.read_bytes()
    if fmt == "txt":
        out = []
        text = document.decode("utf-8-sig", errors="replace")  # -sig: a BOM is not part of the first URL
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip() and not line.lstrip().startswith("#"):
                out.append(candidate_from_url(source, line, f"{name}:{n}"))
        return out, document
    col = source.http.url_column
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(document.decode("utf-8-sig", errors="replace")))
        if col not in (reader.fieldnames or []):
            raise ConfigError(source.path, "http.url_column",
                              f"{name} has no column {col!r} (columns: {reader.fieldnames})",
                              "set http.url_column to the column holding the URLs")
        return [candidate_from_url(source, row[col] or "", f"{name}:{n}") for n, row in enumerate(reader, 2)], document
    if fmt == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(document))
        if col not in table.column_names:
            raise ConfigError(source.path, "http.url_column",
                              f"{name} has no column {col!r} (columns: {table.column_names})",
                              "set http.url_column to the column holding the URLs")
        return [candidate_from_url(source, str(v or ""), f"{name}:row{n}")
                for n, v in enumerate(table.column(col).to_pylist())], document
    raise ConfigError(source.path, "http.format", f"cannot read {name}: unknown list format {fmt!r}",
                      "use a .txt, .csv or .parquet file or set http.format")

"""Settings from the environment and the source registry (one YAML file per source).

A source file is validated against a strict schema: an unknown or misspelt field is an error that names
the file and the field, never a silently ignored setting.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ByteSize, ConfigDict, Field, ValidationError, model_validator

from clearframe.errors import ConfigError

PRODUCT_TOKEN = "ClearFrameBot"
BOT_INFO_URL = "https://clearframe.dev/bot"


@dataclass(frozen=True)
class Settings:
    """Where ClearFrame keeps its state. Every value can be set by an environment variable."""

    home: Path
    storage: str
    registry_url: str
    product_token: str
    user_agent: str

    @property
    def work_dir(self) -> Path:
        return self.home / "work"

    @classmethod
    def from_env(cls, storage: str | None = None) -> Settings:
        home = Path(os.environ.get("CLEARFRAME_HOME") or Path.home() / ".clearframe").resolve()
        token = os.environ.get("CLEARFRAME_PRODUCT_TOKEN") or PRODUCT_TOKEN
        from clearframe import __version__

        return cls(
            home=home,
            storage=storage or os.environ.get("CLEARFRAME_STORAGE") or str(home / "storage"),
            registry_url=os.environ.get("CLEARFRAME_REGISTRY_URL") or f"sqlite:///{home / 'registry.sqlite'}",
            product_token=token,
            # One fixed, honest identity for every request: ClearFrame never rotates it.
            user_agent=f"{token}/{__version__} (+{BOT_INFO_URL})",
        )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Acquisition(_Strict):
    basis: Literal["open-license", "contract"] = "open-license"
    contract_id: str | None = None
    covers_training: bool = Field(
        default=False, description="The contract expressly authorises use for AI training."
    )
    notes: str | None = None


class HttpInput(_Strict):
    urls: str = Field(description="A .txt, .csv or .parquet list of page or media URLs, relative to the file.")
    format: Literal["txt", "csv", "parquet"] | None = None
    url_column: str = "url"


class DeliveryInput(_Strict):
    location: str = Field(description="A folder (relative to the source file), s3://bucket/prefix, or demo:")
    manifest: str = "manifest.csv"


class FetchOptions(_Strict):
    workers: int = Field(default=8, ge=1, le=64)
    per_host: int = Field(default=4, ge=1, le=32, description="Concurrent requests to one host, at most.")
    max_bytes: ByteSize = ByteSize(2 * 1024**3)
    timeout_s: float = Field(default=30, gt=0)
    max_retry_after_s: float = Field(default=300, ge=0)
    max_retries: int = Field(default=3, ge=0, le=10)


class ShardOptions(_Strict):
    target_bytes: ByteSize = ByteSize(256 * 1024**2)


class MediaBounds(_Strict):
    min_duration_s: float = 0.5
    max_duration_s: float = 4 * 3600
    min_width: int = 64
    min_height: int = 64
    max_width: int = 8192
    max_height: int = 8192
    min_fps: float = 1
    max_fps: float = 240


class YtdlpInput(_Strict):
    """A `ytdlp` source: playlists, channels or search-result pages of sites yt-dlp supports, listed flat."""

    urls: list[str] = Field(min_length=1, description="Playlist, channel or search-results page URLs.")
    max_entries: int = Field(default=1000, ge=1, le=100_000,
                             description="At most this many candidates from each listed URL.")
    sleep_requests_s: float = Field(default=1.0, ge=0, le=60,
                                    description="Pause between yt-dlp's requests while listing.")


class ValidationOptions(_Strict):
    """Curation's Great Expectations gates for this source's items (clearframe.validate)."""

    max_optout_age_days: float = Field(default=30, gt=0, description=(
        "An item whose consent checks are older than this is not curated: re-run its ingestion first."))
    severity: dict[str, Literal["fail", "warn"]] = Field(default_factory=dict, description=(
        "Per expectation family or id (see clearframe.validate.SEVERITY): fail blocks the batch, warn reports."))


class LicensePolicyConfig(_Strict):
    allow: list[str] | None = None
    review: list[str] | None = None
    deny: list[str] | None = None


class Source(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_]{0,62}$")
    kind: Literal["http", "delivery", "ytdlp"]
    description: str = ""
    dataset: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_]{0,62}$")
    schedule: str | None = None
    batch_size: int = Field(default=200, ge=1, le=5000)
    acquisition: Acquisition = Acquisition()
    license_policy: LicensePolicyConfig = LicensePolicyConfig()
    http: HttpInput | None = None
    delivery: DeliveryInput | None = None
    ytdlp: YtdlpInput | None = None
    fetch: FetchOptions = FetchOptions()
    shard: ShardOptions = ShardOptions()
    media: MediaBounds = MediaBounds()
    validation: ValidationOptions = ValidationOptions()
    path: str = Field(default="", exclude=True, description="Set by the loader: the file this came from.")

    @model_validator(mode="after")
    def _kind_section(self) -> Source:
        if self.kind == "http" and self.http is None:
            raise ValueError("kind 'http' needs an 'http' section with 'urls'")
        if self.kind == "delivery" and self.delivery is None:
            raise ValueError("kind 'delivery' needs a 'delivery' section with 'location'")
        if self.kind == "ytdlp" and self.ytdlp is None:
            raise ValueError("kind 'ytdlp' needs a 'ytdlp' section with 'urls'")
        return self

    @property
    def dataset_name(self) -> str:
        return self.dataset or self.name

    @property
    def base_dir(self) -> Path:
        return Path(self.path).parent if self.path else Path.cwd()

    def resolve(self, ref: str) -> str:
        """A path in the source file is relative to that file; URIs pass through."""
        if re.match(r"^[a-z][a-z0-9+.-]*:", ref) and not re.match(r"^[A-Za-z]:[\\/]", ref):
            return ref
        return str((self.base_dir / ref).resolve())


def _field_name(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) if loc else ""


def _suggest(model: type[BaseModel], loc: tuple[Any, ...]) -> str | None:
    """For an unknown field, name the closest known one (typos are the common case)."""
    target: Any = model
    for part in loc[:-1]:
        field = getattr(target, "model_fields", {}).get(part)
        if field is None:
            return None
        ann = field.annotation
        args = getattr(ann, "__args__", None)
        target = next((a for a in (args or (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if target is None:
            return None
    known = [f for f in getattr(target, "model_fields", {}) if f != "path"]
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    return f"did you mean '{close[0]}'?" if close else f"known fields: {', '.join(known)}"


def parse_source(data: Any, path: str) -> Source:
    if not isinstance(data, dict):
        raise ConfigError(path, None, "a source file must be a YAML mapping", "see include/sources/*.yaml")
    try:
        return Source.model_validate({**data, "path": path})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        hint = _suggest(Source, loc) if err["type"] == "extra_forbidden" else None
        # A model validator's message arrives as "Value error, ..."; the prefix is pydantic's, not ours.
        msg = err["msg"].removeprefix("Value error, ")
        problem = "unknown field" if err["type"] == "extra_forbidden" else msg
        if err["type"] == "missing":
            problem = "required field is missing"
        raise ConfigError(path, _field_name(loc) or None, problem, hint) from None


def load_source(path: str | os.PathLike[str]) -> Source:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(p), None, f"cannot read the source file: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(str(p), None, f"not valid YAML{where}", "fix the syntax") from None
    source = parse_source(data, str(p.resolve()))
    if p.stem != source.name:
        raise ConfigError(str(p), "name", f"'{source.name}' differs from the file name '{p.stem}'",
                          "a source's name and its file name must match so its DAG is easy to find")
    return source


def load_registry(folder: str | os.PathLike[str]) -> tuple[list[Source], list[ConfigError]]:
    """Every source in a folder; a bad file is reported without hiding the good ones."""
    sources: list[Source] = []
    errors: list[ConfigError] = []
    for p in sorted(Path(folder).glob("*.yaml")):
        try:
            sources.append(load_source(p))
        except ConfigError as exc:
            errors.append(exc)
    return sources, errors

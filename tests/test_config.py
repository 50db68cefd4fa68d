"""Source files: a strict schema whose errors name the file and the field and say what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from clearframe.config import Settings, load_registry, load_source, parse_source
from clearframe.errors import ConfigError

HTTP_SOURCE = """\
name: site_http
kind: http
description: a list of pages
http:
  urls: lists/urls.txt
fetch:
  workers: 2
  per_host: 1
"""

DELIVERY_SOURCE = """\
name: partner_a
kind: delivery
dataset: partners
acquisition:
  basis: contract
  contract_id: ACME-2026-7
  covers_training: true
delivery:
  location: s3://deliveries/acme/2026-01
  manifest: manifest.jsonl
"""


def write(folder: Path, name: str, text: str) -> Path:
    p = folder / f"{name}.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def config_error(folder: Path, name: str, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_source(write(folder, name, text))
    return info.value


def test_valid_http_source_loads_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    src = load_source(write(tmp_path, "site_http", HTTP_SOURCE))
    assert src.kind == "http" and src.name == "site_http"
    assert src.fetch.workers == 2 and src.fetch.per_host == 1
    assert src.fetch.timeout_s == 30  # defaults fill what the file leaves out
    assert src.path == str((tmp_path / "site_http.yaml").resolve())
    assert src.http is not None
    assert src.resolve(src.http.urls) == str((tmp_path / "lists" / "urls.txt").resolve())
    assert src.dataset_name == "site_http"


def test_valid_delivery_source_loads_and_uris_pass_through_resolve(tmp_path: Path) -> None:
    src = load_source(write(tmp_path, "partner_a", DELIVERY_SOURCE))
    assert src.kind == "delivery"
    assert src.acquisition.basis == "contract" and src.acquisition.contract_id == "ACME-2026-7"
    assert src.acquisition.covers_training is True
    assert src.dataset_name == "partners"
    assert src.delivery is not None
    assert src.resolve(src.delivery.location) == "s3://deliveries/acme/2026-01"


def test_misspelt_field_names_file_and_dotted_field_and_lists_known_fields(tmp_path: Path) -> None:
    err = config_error(tmp_path, "site_http", HTTP_SOURCE.replace("  per_host: 1\n", "  concurency: 2\n"))
    msg = str(err)
    assert err.field == "fetch.concurency"
    assert str(tmp_path / "site_http.yaml") in msg
    assert "fetch.concurency" in msg and "unknown field" in msg
    assert "per_host" in msg  # the real knob for concurrency is named, so the fix is obvious


def test_near_miss_field_gets_a_did_you_mean(tmp_path: Path) -> None:
    err = config_error(tmp_path, "site_http", HTTP_SOURCE.replace("  workers: 2\n", "  worker: 2\n"))
    assert err.field == "fetch.worker"
    assert "did you mean 'workers'?" in str(err)
    top = config_error(tmp_path, "partner_a", DELIVERY_SOURCE.replace("acquisition:", "acquisiton:"))
    assert top.field == "acquisiton" and "did you mean 'acquisition'?" in str(top)


def test_missing_required_field_is_named(tmp_path: Path) -> None:
    err = config_error(tmp_path, "site_http", HTTP_SOURCE.replace("kind: http\n", ""))
    assert err.field == "kind"
    assert "required field is missing" in str(err)
    no_location = DELIVERY_SOURCE.replace("  location: s3://deliveries/acme/2026-01\n", "")
    nested = config_error(tmp_path, "partner_a", no_location)
    assert nested.field == "delivery.location"


def test_wrong_type_names_field_and_problem(tmp_path: Path) -> None:
    err = config_error(tmp_path, "site_http", HTTP_SOURCE.replace("workers: 2", "workers: many"))
    assert err.field == "fetch.workers"
    assert "integer" in str(err)
    out_of_range = config_error(tmp_path, "site_http", HTTP_SOURCE + "batch_size: 0\n")
    assert out_of_range.field == "batch_size" and "greater than or equal to 1" in str(out_of_range)
    bad_kind = config_error(tmp_path, "site_http", HTTP_SOURCE.replace("kind: http", "kind: ftp"))
    assert bad_kind.field == "kind" and "'http', 'delivery' or 'ytdlp'" in str(bad_kind)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    text = "name: site_http\nkind: http\nhttp:\n  urls: [unclosed\nfetch:\n  workers: 2\n"
    err = config_error(tmp_path, "site_http", text)
    assert err.path == str(tmp_path / "site_http.yaml")
    assert "not valid YAML" in str(err)
    assert "line 5" in str(err)  # where the parser gave up on the unclosed list


def test_yaml_that_is_not_a_mapping_is_rejected(tmp_path: Path) -> None:
    assert "must be a YAML mapping" in str(config_error(tmp_path, "site_http", "- just\n- a list\n"))
    assert "must be a YAML mapping" in str(config_error(tmp_path, "site_http", ""))


def test_name_must_match_file_name(tmp_path: Path) -> None:
    err = config_error(tmp_path, "other_name", HTTP_SOURCE)
    assert err.field == "name"
    assert "'site_http' differs from the file name 'other_name'" in str(err)


def test_invalid_name_pattern_is_rejected(tmp_path: Path) -> None:
    err = config_error(tmp_path, "Site-HTTP", HTTP_SOURCE.replace("name: site_http", "name: Site-HTTP"))
    assert err.field == "name"


def test_kind_http_needs_http_section(tmp_path: Path) -> None:
    err = config_error(tmp_path, "site_http", "name: site_http\nkind: http\n")
    msg = str(err)
    assert str(tmp_path / "site_http.yaml") in msg
    assert "kind 'http' needs an 'http' section" in msg
    assert "Value error" not in msg  # pydantic's internal prefix is noise to a user


def test_kind_delivery_needs_delivery_section(tmp_path: Path) -> None:
    err = config_error(tmp_path, "partner_a", "name: partner_a\nkind: delivery\n")
    assert "kind 'delivery' needs a 'delivery' section" in str(err)


@pytest.mark.parametrize(("text", "expected"), [
    ("1MiB", 1024**2),
    ("30KiB", 30 * 1024),
    ("2GiB", 2 * 1024**3),
    ("1.5GB", 1_500_000_000),
    ("4096", 4096),
    (65536, 65536),
])
def test_byte_sizes_accept_units(text: str | int, expected: int) -> None:
    src = parse_source({"name": "s", "kind": "http", "http": {"urls": "u.txt"},
                        "shard": {"target_bytes": text}, "fetch": {"max_bytes": text}}, "/x/s.yaml")
    assert int(src.shard.target_bytes) == expected
    assert int(src.fetch.max_bytes) == expected


def test_unparseable_byte_size_names_the_field() -> None:
    with pytest.raises(ConfigError) as info:
        parse_source({"name": "s", "kind": "http", "http": {"urls": "u.txt"},
                      "shard": {"target_bytes": "lots"}}, "/x/s.yaml")
    assert info.value.field == "shard.target_bytes"


def test_load_registry_keeps_good_sources_and_reports_each_bad_file(tmp_path: Path) -> None:
    write(tmp_path, "site_http", HTTP_SOURCE)
    write(tmp_path, "partner_a", DELIVERY_SOURCE)
    write(tmp_path, "typo", HTTP_SOURCE.replace("site_http", "typo").replace("per_host", "perhost"))
    write(tmp_path, "broken", "name: broken\nkind: [\n")
    write(tmp_path, "renamed", HTTP_SOURCE)  # name says site_http
    (tmp_path / "notes.txt").write_text("not a source")

    sources, errors = load_registry(tmp_path)

    assert sorted(s.name for s in sources) == ["partner_a", "site_http"]
    assert sorted(Path(e.path).name for e in errors) == ["broken.yaml", "renamed.yaml", "typo.yaml"]
    typo = next(e for e in errors if e.path.endswith("typo.yaml"))
    assert typo.field == "fetch.perhost" and "per_host" in str(typo)


def test_load_registry_of_empty_folder_is_empty(tmp_path: Path) -> None:
    assert load_registry(tmp_path) == ([], [])


def test_settings_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLEARFRAME_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CLEARFRAME_STORAGE", raising=False)
    monkeypatch.delenv("CLEARFRAME_REGISTRY_URL", raising=False)
    monkeypatch.delenv("CLEARFRAME_PRODUCT_TOKEN", raising=False)
    s = Settings.from_env()
    assert s.home == (tmp_path / "home").resolve()
    assert s.storage == str(s.home / "storage")
    assert s.registry_url == f"sqlite:///{s.home / 'registry.sqlite'}"
    assert s.user_agent.startswith("ClearFrameBot/") and "+https://" in s.user_agent
    assert Settings.from_env("s3://bucket/p").storage == "s3://bucket/p"  # an explicit root wins

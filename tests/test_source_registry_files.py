"""Every source file shipped in include/sources/ loads cleanly: a broken file there breaks its DAG."""

from __future__ import annotations

from pathlib import Path

import pytest

from clearframe.config import load_registry, load_source

SOURCES = Path(__file__).resolve().parent.parent / "include" / "sources"
FILES = sorted(SOURCES.glob("*.yaml"))


def test_the_registry_is_not_empty_and_has_no_bad_files() -> None:
    sources, errors = load_registry(SOURCES)
    assert FILES, f"no source files in {SOURCES}"
    assert [str(e) for e in errors] == []
    assert len(sources) == len(FILES)
    assert len({s.name for s in sources}) == len(sources)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_source_file_loads(path: Path) -> None:
    src = load_source(path)
    assert src.name == path.stem
    section = src.http if src.kind == "http" else src.delivery
    assert section is not None


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_source_file_declares_a_basis_that_can_grant(path: Path) -> None:
    """A contract basis without a contract id could never authorise anything: catch it at review time."""
    src = load_source(path)
    if src.acquisition.basis == "contract":
        assert src.acquisition.contract_id, f"{path}: basis 'contract' needs acquisition.contract_id"

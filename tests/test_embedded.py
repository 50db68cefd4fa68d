"""Embedded rights: C2PA / CAWG training-mining assertions and IPTC PLUS plus:DataMining in XMP.

Every C2PA file here is a real mp4 (clearframe.mediagen) signed by c2pa-python with a certificate chain
made on the fly (tests/support/c2pa_files.py); every XMP packet sits where XMP Part 3 puts it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearframe.gate.embedded import (
    DMI_CODES,
    XmpError,
    embedded_findings,
    judge_manifest_store,
    parse_xmp,
    parse_xmp_datamining,
    read_xmp_packets,
    remote_manifest_finding,
    xmp_finding,
)
from clearframe.mediagen import make_clip
from clearframe.records import Verdict
from support.c2pa_files import (
    PLUS_VOCAB,
    SigningCredentials,
    add_xmp_udta,
    append_xmp_uuid,
    c2pa_box,
    corrupt_manifest_store,
    make_credentials,
    sign_media,
    tamper_media,
    tamper_signature,
    training_mining,
    xmp_packet,
)
from support.site import Site

SIGNALS_MAY = {Verdict.NONE, Verdict.REVIEW, Verdict.DEFER, Verdict.DENY}  # never GRANT
DO_NOT_TRAIN = {
    "cawg.ai_generative_training": "notAllowed",
    "cawg.ai_training": "notAllowed",
    "cawg.data_mining": "notAllowed",
}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("embedded")


@pytest.fixture(scope="module")
def clip(media: Path) -> Path:
    p = media / "plain.mp4"
    make_clip(p, seconds=1.0, width=160, height=96, fps=12, audio=True, seed=7)
    return p


@pytest.fixture(scope="module")
def creds() -> SigningCredentials:
    return make_credentials()


def _signed(media: Path, clip: Path, creds: SigningCredentials, name: str, *assertions: dict) -> Path:
    out = media / name
    if not out.exists():
        sign_media(clip, out, creds=creds, assertions=list(assertions))
    return out


@pytest.fixture(scope="module")
def not_allowed(media: Path, clip: Path, creds: SigningCredentials) -> Path:
    return _signed(media, clip, creds, "not-allowed.mp4", training_mining(DO_NOT_TRAIN))


def by_signal(findings: list) -> dict:
    assert [f.signal for f in findings] == ["c2pa", "xmp"]
    assert all(f.verdict in SIGNALS_MAY and f.detail for f in findings)
    return {f.signal: f for f in findings}


# --- C2PA / CAWG training-mining ------------------------------------------------------------------------


def test_cawg_not_allowed_denies_and_names_assertion_generator_signer_and_file(
    not_allowed: Path, creds: SigningCredentials
) -> None:
    f = by_signal(embedded_findings(not_allowed))["c2pa"]
    assert f.verdict is Verdict.DENY
    assert f.locator == str(not_allowed) and str(not_allowed) in f.detail
    assert f.rule is not None and f.rule.startswith("cawg.training-mining: cawg.")
    assert "=notAllowed" in f.rule and "active manifest" in f.rule
    assert "claim generator 'clearframe-tests 1.0'" in f.detail
    assert creds.common_name in f.detail and "validation state Valid" in f.detail
    assert "signingCredential.untrusted" in f.detail  # our test root is in nobody's trust list


def test_legacy_c2pa_training_mining_label_not_allowed_denies(media: Path, clip: Path, creds) -> None:
    p = _signed(
        media,
        clip,
        creds,
        "legacy.mp4",
        training_mining({"c2pa.ai_generative_training": "notAllowed"}, label="c2pa.training-mining"),
    )
    f = by_signal(embedded_findings(p))["c2pa"]
    assert f.verdict is Verdict.DENY
    assert f.rule == "c2pa.training-mining: c2pa.ai_generative_training=notAllowed (active manifest)"


def test_c2pa_allowed_is_no_signal_never_a_grant(media: Path, clip: Path, creds) -> None:
    p = _signed(
        media,
        clip,
        creds,
        "allowed.mp4",
        training_mining({k: "allowed" for k in [*DO_NOT_TRAIN, "cawg.ai_inference"]}),
    )
    f = by_signal(embedded_findings(p))["c2pa"]
    assert f.verdict is Verdict.NONE
    assert "cawg.ai_training=allowed" in f.detail and "never a grant" in f.detail


def test_tampered_media_invalid_signature_still_denies(not_allowed: Path, media: Path) -> None:
    bad = media / "tampered-media.mp4"
    tamper_media(not_allowed, bad)
    f = by_signal(embedded_findings(bad))["c2pa"]
    assert f.verdict is Verdict.DENY
    assert "validation state Invalid" in f.detail and "assertion.bmffHash.mismatch" in f.detail
    assert "needs no proof of authenticity" in f.detail


def test_tampered_signature_still_denies(not_allowed: Path, media: Path) -> None:
    bad = media / "tampered-signature.mp4"
    tamper_signature(not_allowed, bad)
    f = by_signal(embedded_findings(bad))["c2pa"]
    assert f.verdict is Verdict.DENY
    assert "validation state Invalid" in f.detail and "claimSignature.mismatch" in f.detail


def test_constrained_with_constraint_info_needs_review_and_quotes_it(media: Path, clip: Path, creds) -> None:
    info = "licensed training only: contact rights@example.org"
    p = _signed(
        media,
        clip,
        creds,
        "constrained.mp4",
        training_mining({"cawg.ai_training": {"use": "constrained", "constraint_info": info}}),
    )
    f = by_signal(embedded_findings(p))["c2pa"]
    assert f.verdict is Verdict.REVIEW
    assert info in f.detail


def test_constrained_without_info_denies_as_spec_equivalent_to_not_allowed(
    media: Path, clip: Path, creds
) -> None:
    p = _signed(
        media,
        clip,
        creds,
        "constrained-bare.mp4",
        training_mining({"cawg.ai_generative_training": "constrained"}),
    )
    f = by_signal(embedded_findings(p))["c2pa"]
    assert f.verdict is Verdict.DENY
    assert "equivalent to notAllowed" in f.detail


def test_inference_only_refusal_needs_review(media: Path, clip: Path, creds) -> None:
    p = _signed(
        media,
        clip,
        creds,
        "no-inference.mp4",
        training_mining({"cawg.ai_inference": "notAllowed", "cawg.ai_training": "allowed"}),
    )
    f = by_signal(embedded_findings(p))["c2pa"]
    assert f.verdict is Verdict.REVIEW
    assert f.rule == "cawg.training-mining: cawg.ai_inference=notAllowed (active manifest)"


def test_partner_contract_file_with_embedded_not_allowed_is_review(not_allowed: Path) -> None:
    f = by_signal(embedded_findings(not_allowed, contract_id="ACME-2025-01"))["c2pa"]
    assert f.verdict is Verdict.REVIEW
    assert "ACME-2025-01" in f.detail and "notAllowed" in f.detail


def test_corrupt_manifest_store_needs_review_not_a_pass(not_allowed: Path, media: Path) -> None:
    bad = media / "corrupt-store.mp4"
    corrupt_manifest_store(not_allowed, bad)
    f = by_signal(embedded_findings(bad))["c2pa"]
    assert f.verdict is Verdict.REVIEW
    assert "C2PA uuid box ('manifest') at byte" in f.detail and "cannot be read" in f.detail


def test_two_manifest_stores_in_one_file_need_review(
    media: Path, clip: Path, creds, not_allowed: Path
) -> None:
    allowed = _signed(media, clip, creds, "store-a.mp4", training_mining({"cawg.ai_training": "allowed"}))
    off, size = c2pa_box(not_allowed)
    both = media / "two-stores.mp4"
    both.write_bytes(allowed.read_bytes() + not_allowed.read_bytes()[off : off + size])
    f = by_signal(embedded_findings(both))["c2pa"]
    assert f.verdict is Verdict.REVIEW  # C2PA 2.2 §15.5.2.1: several stores are all invalid; not a pass
    assert f.detail.count("C2PA uuid box ('manifest')") == 2


def test_plain_clip_has_no_embedded_signal(clip: Path) -> None:
    fs = by_signal(embedded_findings(clip))
    assert fs["c2pa"].verdict is Verdict.NONE and "no C2PA manifest store" in fs["c2pa"].detail
    assert fs["xmp"].verdict is Verdict.NONE and "no XMP packet" in fs["xmp"].detail


def test_ingredient_style_manifest_store_refusal_denies() -> None:
    store = {
        "active_manifest": "urn:a",
        "manifests": {
            "urn:a": {
                "claim_generator": "Editor/2",
                "assertions": [
                    {
                        "label": "cawg.training-mining",
                        "data": {"entries": {"cawg.ai_training": {"use": "allowed"}}},
                    }
                ],
            },
            "urn:b": {
                "assertions": [
                    {"label": "c2pa.training-mining__1", "data": {"c2pa.data_mining": {"use": "notAllowed"}}}
                ]
            },
        },
    }
    verdict, rule, summary = judge_manifest_store(store)
    assert verdict is Verdict.DENY
    assert rule == "c2pa.training-mining__1: c2pa.data_mining=notAllowed (ingredient manifest 'urn:b')"
    assert "claim generator 'Editor/2'" in summary


def test_tampered_use_value_needs_review() -> None:
    store = {
        "active_manifest": "m",
        "manifests": {
            "m": {
                "assertions": [
                    {
                        "label": "cawg.training-mining",
                        "data": {"entries": {"cawg.ai_training": {"use": "not@llowed"}}},
                    }
                ]
            }
        },
    }
    assert judge_manifest_store(store)[0] is Verdict.REVIEW


def test_custom_entries_have_no_effect() -> None:
    store = {
        "active_manifest": "m",
        "manifests": {
            "m": {
                "assertions": [
                    {
                        "label": "cawg.training-mining",
                        "data": {"entries": {"com.example.remix": {"use": "notAllowed"}}},
                    }
                ]
            }
        },
    }
    verdict, _rule, summary = judge_manifest_store(store)
    assert verdict is Verdict.NONE and "custom entries ignored: com.example.remix" in summary


# --- remote manifest store (Link rel="c2pa-manifest", before download) ----------------------------------


@pytest.fixture(scope="module")
def remote_pair(media: Path, clip: Path, creds: SigningCredentials) -> tuple[Path, bytes]:
    asset = media / "remote-ref.mp4"
    store = sign_media(
        clip,
        asset,
        creds=creds,
        assertions=[training_mining(DO_NOT_TRAIN)],
        remote_url="http://127.0.0.1:9/remote-ref.c2pa",
    )
    return asset, store


def test_remote_manifest_from_link_header_not_allowed_denies_before_download(
    site: Site, remote_pair: tuple[Path, bytes]
) -> None:
    asset, store = remote_pair
    manifest_url = site.add("/m/clip.c2pa", store, content_type="application/c2pa")
    media_url = site.add_media(
        "/media/clip.mp4", asset, headers={"Link": f'<{manifest_url}>; rel="c2pa-manifest"'}
    )
    head = requests.head(media_url, timeout=5)
    target = head.links["c2pa-manifest"]["url"]
    body = requests.get(target, timeout=5).content
    stored: list[tuple[bytes, str]] = []

    def store_evidence(data: bytes, media_type: str) -> str:
        stored.append((data, media_type))
        return hashlib.sha256(data).hexdigest()

    f = remote_manifest_finding(body, target, store_evidence=store_evidence)
    assert f.signal == "c2pa" and f.verdict is Verdict.DENY and f.locator == manifest_url
    assert "hash binding cannot match before the asset is downloaded" in f.detail
    assert stored == [(store, "application/c2pa")] and f.evidence == hashlib.sha256(store).hexdigest()
    assert site.media_requests() == 0  # the media itself was never fetched


def test_remote_manifest_with_contract_is_review(remote_pair: tuple[Path, bytes]) -> None:
    f = remote_manifest_finding(remote_pair[1], "https://cdn.example/x.c2pa", contract_id="ACME-1")
    assert f.verdict is Verdict.REVIEW


@pytest.mark.parametrize(
    "body", [b"", b"<html>503 Service Unavailable</html>", b"\x00\x00\x00\x10jumb" + bytes(64)]
)
def test_unreadable_remote_manifest_defers(body: bytes) -> None:
    f = remote_manifest_finding(body, "https://cdn.example/x.c2pa")
    assert f.verdict is Verdict.DEFER and "https://cdn.example/x.c2pa" in f.detail


def test_link_to_manifest_embedded_in_the_asset_is_judged_after_download() -> None:
    f = remote_manifest_finding(b"", "https://cdn.example/clip.mp4#jumbf=c2pa")
    assert f.verdict is Verdict.NONE and "judged after download" in f.detail


def test_file_pointing_at_remote_manifest_defers_with_its_url(remote_pair: tuple[Path, bytes]) -> None:
    asset, _store = remote_pair
    fs = by_signal(embedded_findings(asset))
    assert fs["c2pa"].verdict is Verdict.DEFER
    assert fs["c2pa"].rule == "dcterms:provenance http://127.0.0.1:9/remote-ref.c2pa"
    assert fs["xmp"].verdict is Verdict.NONE  # c2pa-rs wrote the reference as XMP; no Data Mining in it


# --- XMP plus:DataMining --------------------------------------------------------------------------------


def test_xmp_prohibited_in_top_level_uuid_box_denies(clip: Path, media: Path) -> None:
    p = media / "xmp-uuid-prohibited.mp4"
    append_xmp_uuid(clip, p, xmp_packet(data_mining="DMI-PROHIBITED-GENAIMLTRAINING"))
    f = by_signal(embedded_findings(p))["xmp"]
    assert f.verdict is Verdict.DENY
    assert f.rule == f"plus:DataMining={PLUS_VOCAB}DMI-PROHIBITED-GENAIMLTRAINING"
    assert "top-level XMP uuid box at byte" in f.detail and str(p) in f.detail


def test_xmp_prohibited_in_moov_udta_denies(clip: Path, media: Path) -> None:
    p = media / "xmp-udta-prohibited.mp4"
    add_xmp_udta(clip, p, xmp_packet(data_mining="DMI-PROHIBITED-AIMLTRAINING", form="resource"))
    f = by_signal(embedded_findings(p))["xmp"]
    assert f.verdict is Verdict.DENY and "moov/udta/XMP_ box" in f.detail


def test_xmp_unspecified_is_no_signal(clip: Path, media: Path) -> None:
    p = media / "xmp-unspecified.mp4"
    append_xmp_uuid(clip, p, xmp_packet(data_mining="DMI-UNSPECIFIED"))
    fs = by_signal(embedded_findings(p))
    assert fs["xmp"].verdict is Verdict.NONE and "DMI-UNSPECIFIED: no prohibition defined" in fs["xmp"].detail
    assert fs["c2pa"].verdict is Verdict.NONE


def test_xmp_allowed_is_no_signal(clip: Path, media: Path) -> None:
    p = media / "xmp-allowed.mp4"
    append_xmp_uuid(clip, p, xmp_packet(data_mining="DMI-ALLOWED", form="attribute"))
    assert by_signal(embedded_findings(p))["xmp"].verdict is Verdict.NONE


def test_xmp_see_constraint_denies_and_quotes_other_constraints(clip: Path, media: Path) -> None:
    p = media / "xmp-seeconstraint.mp4"
    text = "Research indexing only; no model training of any kind"
    append_xmp_uuid(clip, p, xmp_packet(data_mining="DMI-PROHIBITED-SEECONSTRAINT", other_constraints=text))
    f = by_signal(embedded_findings(p))["xmp"]
    assert f.verdict is Verdict.DENY and text in f.detail


def test_xmp_prohibited_with_partner_contract_is_review(clip: Path, media: Path) -> None:
    p = media / "xmp-contract.mp4"
    append_xmp_uuid(clip, p, xmp_packet(data_mining="DMI-PROHIBITED"))
    f = by_signal(embedded_findings(p, contract_id="ACME-7"))["xmp"]
    assert f.verdict is Verdict.REVIEW and "ACME-7" in f.detail


def test_xmp_malformed_packet_needs_review(clip: Path, media: Path) -> None:
    p = media / "xmp-broken.mp4"
    broken = xmp_packet(data_mining="DMI-ALLOWED").replace(b"</rdf:RDF>", b"")
    append_xmp_uuid(clip, p, broken)
    f = by_signal(embedded_findings(p))["xmp"]
    assert f.verdict is Verdict.REVIEW and "not well-formed" in f.detail


def test_xmp_box_declared_past_end_of_file_needs_review(clip: Path, media: Path) -> None:
    p = media / "xmp-cut.mp4"
    shutil.copyfile(clip, p)
    with p.open("ab") as fh:  # a uuid box that claims 1 GiB: never read, reported as incomplete
        fh.write((1 << 30).to_bytes(4, "big") + b"uuid" + bytes.fromhex("be7acfcb97a942e89c71999491e3afac"))
    f = by_signal(embedded_findings(p))["xmp"]
    assert f.verdict is Verdict.REVIEW and "past its end" in f.detail


def test_xmp_in_matroska_found_by_packet_scan_and_c2pa_not_applicable(tmp_path: Path) -> None:
    p = tmp_path / "clip.webm"
    noise = bytes(range(256)) * 8000  # ~2 MiB: the packet straddles the 1 MiB scan chunks
    packet = xmp_packet(data_mining="DMI-PROHIBITED-AIMLTRAINING")
    p.write_bytes(b"\x1a\x45\xdf\xa3" + noise[: (1 << 20) - 30] + packet + noise)
    fs = by_signal(embedded_findings(p))
    assert fs["xmp"].verdict is Verdict.DENY and "XMP packet at byte" in fs["xmp"].detail
    assert fs["c2pa"].verdict is Verdict.NONE and "matroska" in fs["c2pa"].detail
    assert read_xmp_packets(p)[0].data == packet


class Recorder:
    """A store_evidence callback that remembers what it was given."""

    def __init__(self) -> None:
        self.seen: list[tuple[bytes, str]] = []

    def __call__(self, data: bytes, media_type: str) -> str:
        self.seen.append((data, media_type))
        return "ref"


def test_xmp_evidence_is_the_decisive_packet(clip: Path, media: Path) -> None:
    p = media / "xmp-evidence.mp4"
    packet = xmp_packet(data_mining="DMI-PROHIBITED")
    append_xmp_uuid(clip, p, packet)
    rec = Recorder()
    fs = by_signal(embedded_findings(p, store_evidence=rec))
    assert fs["xmp"].evidence == "ref" and (packet, "application/rdf+xml") in rec.seen


def test_c2pa_evidence_is_the_manifest_store_json(not_allowed: Path) -> None:
    rec = Recorder()
    f = by_signal(embedded_findings(not_allowed, store_evidence=rec))["c2pa"]
    assert f.evidence == "ref"
    ((doc, media_type),) = rec.seen
    store = json.loads(doc)
    labels = [a["label"] for a in store["manifests"][store["active_manifest"]]["assertions"]]
    assert media_type == "application/json" and "cawg.training-mining" in labels


def test_evidence_store_failure_defers_never_passes(not_allowed: Path) -> None:
    def broken(_data: bytes, _media_type: str) -> str:
        raise OSError("evidence bucket unreachable")

    fs = by_signal(embedded_findings(not_allowed, store_evidence=broken))
    assert fs["c2pa"].verdict is Verdict.DEFER and "evidence bucket unreachable" in fs["c2pa"].detail


def test_missing_file_defers_both_signals(tmp_path: Path) -> None:
    fs = by_signal(embedded_findings(tmp_path / "gone.mp4"))
    assert fs["c2pa"].verdict is Verdict.DEFER and fs["xmp"].verdict is Verdict.DEFER


def test_unrecognised_container_c2pa_needs_review(tmp_path: Path) -> None:
    p = tmp_path / "mystery.bin"
    p.write_bytes(b"not a media file at all" * 100)
    fs = by_signal(embedded_findings(p))
    assert fs["c2pa"].verdict is Verdict.REVIEW and fs["xmp"].verdict is Verdict.NONE


# --- the XMP parser -------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["element", "attribute", "resource"])
def test_parse_xmp_reads_every_serialisation_form(form: str) -> None:
    values = parse_xmp_datamining(xmp_packet(data_mining="DMI-PROHIBITED", form=form))
    assert values == [PLUS_VOCAB + "DMI-PROHIBITED"]


def test_parse_xmp_reads_other_constraints_and_provenance() -> None:
    rights = parse_xmp(
        xmp_packet(
            data_mining="DMI-PROHIBITED-SEECONSTRAINT",
            other_constraints="ask first",
            provenance="https://cdn.example/x.c2pa",
        )
    )
    assert rights.other_constraints == ("ask first",) and rights.provenance == ("https://cdn.example/x.c2pa",)


@pytest.mark.parametrize(
    ("value", "verdict"),
    [
        (f"{PLUS_VOCAB}DMI-PROHIBITED-SEEPOLICY", Verdict.DENY),  # not in the vocabulary, still a prohibition
        ("DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING", Verdict.DENY),  # bare code
        (f"{PLUS_VOCAB}dmi-prohibited-aimltraining", Verdict.DENY),  # case-insensitive
        ("Prohibited for Generative AI/ML training", Verdict.DENY),  # ExifTool's label
        (f"{PLUS_VOCAB}DMI-SOMETHING-NEW", Verdict.REVIEW),
        ("no thanks", Verdict.REVIEW),
        ("", Verdict.REVIEW),
        (f"{PLUS_VOCAB}DMI-UNSPECIFIED", Verdict.NONE),
    ],
)
def test_xmp_value_verdicts(value: str, verdict: Verdict) -> None:
    f = xmp_finding(xmp_packet(data_mining=value, vocab_prefix=False), locator="/x.mp4")
    assert f.verdict is verdict, f.detail


def test_every_prohibited_vocabulary_code_denies() -> None:
    for code in DMI_CODES:
        f = xmp_finding(xmp_packet(data_mining=code), locator="/x.mp4")
        expected = Verdict.NONE if code in ("DMI-UNSPECIFIED", "DMI-ALLOWED") else Verdict.DENY
        assert f.verdict is expected, code


def test_xmp_with_dtd_is_refused_no_entity_expansion() -> None:
    lol = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/" plus:DataMining="&b;"/>'
        b"</rdf:RDF></x:xmpmeta>"
    )
    with pytest.raises(XmpError, match="DOCTYPE"):
        parse_xmp(lol)
    assert xmp_finding(lol, locator="/x.mp4").verdict is Verdict.REVIEW


def test_unbound_plus_prefix_is_a_parse_error_not_a_pass() -> None:
    bad = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><plus:DataMining>DMI-PROHIBITED</plus:DataMining></x:xmpmeta>'
    assert xmp_finding(bad, locator="/x.mp4").verdict is Verdict.REVIEW


# --- properties -----------------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600) | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_property_xmp_parser_never_crashes_and_errors_never_pass(data: bytes) -> None:
    try:
        values = parse_xmp_datamining(data)
    except XmpError:
        values = None
    f = xmp_finding(data, locator="/x.mp4")
    assert f.verdict in SIGNALS_MAY
    if values is None:
        assert f.verdict is Verdict.REVIEW


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(set(DMI_CODES) - {"DMI-UNSPECIFIED", "DMI-ALLOWED"})), st.data())
def test_property_any_cut_of_a_prohibiting_packet_never_passes(code: str, data: st.DataObject) -> None:
    packet = xmp_packet(data_mining=code, other_constraints="see our policy")
    cut = data.draw(st.integers(min_value=0, max_value=len(packet)))
    assert xmp_finding(packet[:cut], locator="/x.mp4").verdict in (Verdict.DENY, Verdict.REVIEW)


_value = st.one_of(
    st.sampled_from([PLUS_VOCAB + c for c in DMI_CODES]),
    st.sampled_from(list(DMI_CODES)),
    st.text(max_size=40),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_value, min_size=1, max_size=3), st.sampled_from(["element", "attribute", "resource"]))
def test_property_xmp_none_only_when_every_value_is_unspecified_or_allowed(
    values: list[str], form: str
) -> None:
    packets = [xmp_packet(data_mining=v, form=form, vocab_prefix=False) for v in values]
    for packet in packets:
        try:
            parse_xmp(packet)
        except XmpError:
            return  # text that is not valid in XML (control characters): covered by the parser property
    verdicts = [xmp_finding(p, locator="/x.mp4").verdict for p in packets]
    for v, verdict in zip(values, verdicts, strict=True):
        code = v.strip().upper().removeprefix(PLUS_VOCAB.upper())
        assert (verdict is Verdict.NONE) == (code in ("DMI-UNSPECIFIED", "DMI-ALLOWED")), (v, verdict)


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=12)
    | st.sampled_from(["allowed", "notAllowed", "constrained", "cawg.ai_training", "c2pa.data_mining"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
_use = st.sampled_from(["allowed", "notAllowed", "constrained"]) | _json
_entry_keys = st.sampled_from(
    [
        f"{p}.{u}"
        for p in ("c2pa", "cawg")
        for u in ("ai_training", "ai_generative_training", "data_mining", "ai_inference")
    ]
    + ["com.example.x"]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_entry_keys, st.fixed_dictionaries({"use": _use}) | _json, max_size=5), _json)
def test_property_manifest_judge_never_crashes_and_none_only_when_all_allowed(
    entries: dict, noise: object
) -> None:
    store = {
        "active_manifest": "m",
        "manifests": {
            "m": {
                "assertions": [
                    {"label": "cawg.training-mining", "data": {"entries": entries}},
                    {"label": "x", "data": noise},
                ]
            }
        },
    }
    verdict, _rule, _summary = judge_manifest_store(store)
    assert verdict in SIGNALS_MAY and verdict is not Verdict.DEFER
    standard = {k: e for k, e in entries.items() if k != "com.example.x"}
    all_allowed = all(isinstance(e, dict) and e.get("use") == "allowed" for e in standard.values())
    assert (verdict is Verdict.NONE) == all_allowed
    judge_manifest_store(noise)  # type: ignore[arg-type]  # garbage stores must not crash either


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.sampled_from([b"", b"\x00\x00\x00\x18ftypisom", b"RIFF", b"\x1a\x45\xdf\xa3", b"OggS"]),
    st.binary(max_size=2000),
)
def test_property_any_file_gives_two_findings_and_never_grants(
    tmp_path: Path, head: bytes, body: bytes
) -> None:
    p = tmp_path / "f.bin"
    p.write_bytes(head + body)
    fs = by_signal(embedded_findings(p))
    assert fs["c2pa"].verdict is not Verdict.GRANT and fs["xmp"].verdict is not Verdict.GRANT

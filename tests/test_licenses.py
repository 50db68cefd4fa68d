"""License normalisation, policy buckets, expression semantics and conflicts (clearframe.gate.licenses)."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from clearframe.gate.licenses import (
    ALL_RIGHTS_RESERVED,
    CONTRACT,
    PUBLIC_DOMAIN,
    UNKNOWN,
    LicensePolicy,
    combine,
    evaluate,
    license_ids,
    normalize,
)
from clearframe.records import LicenseInfo, Verdict

DEFAULT = LicensePolicy.default()


def verdict_of(raw: str | None, policy: LicensePolicy = DEFAULT, contract_id: str | None = None) -> Verdict:
    return evaluate(normalize(raw), policy, contract_id=contract_id)[0]


# --- consent-cases.md: "Licenses and platforms" ------------------------------------------------------
def test_vimeo_by_nc_is_denied():
    info = normalize("by-nc", found_in="ytdlp")
    verdict, detail = evaluate(info, DEFAULT)
    assert verdict is Verdict.DENY
    assert "non-commercial" in detail and info.spdx in detail


def test_peertube_attribution_share_alike_needs_review():
    info = normalize("Attribution - Share Alike", found_in="ytdlp")
    assert info.spdx == "LicenseRef-CC-BY-SA-unversioned"
    assert evaluate(info, DEFAULT)[0] is Verdict.REVIEW


def test_ytdlp_license_none_is_denied_as_no_evidence():
    info = normalize(None, found_in="ytdlp")
    assert info.spdx is None
    verdict, detail = evaluate(info, DEFAULT)
    assert verdict is Verdict.DENY
    assert detail == "no license evidence; a missing license is not permission"


def test_jsonld_cc_by_against_link_rel_all_rights_reserved_never_grants():
    jsonld = normalize("https://creativecommons.org/licenses/by/4.0/", found_in="json-ld")
    link = normalize("All rights reserved", found_in="link-rel")
    chosen, conflict = combine([jsonld, link])
    assert conflict is not None and "json-ld" in conflict and "link-rel" in conflict
    assert chosen is link
    verdict, _ = evaluate(chosen, DEFAULT)
    assert verdict is not Verdict.GRANT
    # Order of discovery must not matter.
    chosen2, conflict2 = combine([link, jsonld])
    assert chosen2 is link and conflict2 is not None


def test_flickr_no_known_copyright_restrictions_needs_review():
    info = normalize("No known copyright restrictions", found_in="ytdlp")
    assert evaluate(info, DEFAULT)[0] is Verdict.REVIEW


# --- Creative Commons URLs --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "spdx"),
    [
        ("https://creativecommons.org/licenses/by/4.0/", "CC-BY-4.0"),
        ("http://creativecommons.org/licenses/by/4.0", "CC-BY-4.0"),
        ("https://www.creativecommons.org/licenses/by-sa/4.0/deed.en", "CC-BY-SA-4.0"),
        ("https://creativecommons.org/licenses/by/4.0/legalcode", "CC-BY-4.0"),
        ("https://creativecommons.org/licenses/by/4.0/legalcode.de", "CC-BY-4.0"),
        ("https://creativecommons.org/licenses/by-nc-nd/4.0/deed.zh-hans", "CC-BY-NC-ND-4.0"),
        ("creativecommons.org/licenses/by-nd/2.5/", "CC-BY-ND-2.5"),
        ("//creativecommons.org/licenses/by/1.0/", "CC-BY-1.0"),
        ("https://creativecommons.org/licenses/by/4.0/?ref=chooser-v1", "CC-BY-4.0"),
        ("https://creativecommons.org/publicdomain/zero/1.0/", "CC0-1.0"),
        ("https://creativecommons.org/publicdomain/zero/1.0/legalcode.en", "CC0-1.0"),
        ("http://creativecommons.org/publicdomain/mark/1.0/", "CC-PDM-1.0"),
        ("http://creativecommons.org/licenses/publicdomain/", "CC-PDDC"),
        # Ported versions: the SPDX id when the list has one, else the generic version.
        ("https://creativecommons.org/licenses/by/3.0/de/", "CC-BY-3.0-DE"),
        ("http://creativecommons.org/licenses/by-sa/3.0/de/deed.de", "CC-BY-SA-3.0-DE"),
        ("https://creativecommons.org/licenses/by/3.0/igo/", "CC-BY-3.0-IGO"),
        ("http://creativecommons.org/licenses/by-nc-nd/3.0/us/", "CC-BY-NC-ND-3.0"),
        ("https://creativecommons.org/licenses/by/2.0/fr/", "CC-BY-2.0"),
    ],
)
def test_creative_commons_urls_map_to_spdx(url, spdx):
    info = normalize(url, found_in="json-ld")
    assert info.spdx == spdx
    assert info.raw == url


def test_public_domain_mark_uses_the_spdx_id_license_expression_knows():
    assert normalize("https://creativecommons.org/publicdomain/mark/1.0/deed.en").spdx == "CC-PDM-1.0"
    assert normalize("LicenseRef-CC-PDM-1.0").spdx == "CC-PDM-1.0"
    assert verdict_of("https://creativecommons.org/publicdomain/mark/1.0/") is Verdict.GRANT
    assert evaluate(LicenseInfo("x", "LicenseRef-CC-PDM-1.0"), DEFAULT)[0] is Verdict.GRANT


def test_cc_port_without_a_generic_spdx_version_keeps_a_licenseref_in_its_family():
    info = normalize("https://creativecommons.org/licenses/by/2.1/jp/")
    assert info.spdx == "LicenseRef-CC-BY-2.1-JP"
    assert evaluate(info, DEFAULT)[0] is Verdict.GRANT


@pytest.mark.parametrize(
    "url",
    [
        "https://creativecommons.org/licenses/by/9.0/",
        "https://creativecommons.org/licenses/sampling+/1.0/",
        "https://creativecommons.org/publicdomain/zero/2.0/",
        "https://example.com/licenses/by/4.0/",
        "https://creativecommons.org/",
    ],
)
def test_unrecognised_license_urls_are_unknown_and_denied(url):
    info = normalize(url)
    assert info.spdx == UNKNOWN
    assert info.raw == url
    assert evaluate(info, DEFAULT)[0] is Verdict.DENY


def test_license_url_is_used_when_raw_text_is_missing():
    info = normalize(None, found_in="link-rel", url="https://creativecommons.org/licenses/by-sa/4.0/")
    assert info.spdx == "CC-BY-SA-4.0"
    assert info.url == "https://creativecommons.org/licenses/by-sa/4.0/"


def test_page_url_passed_as_url_does_not_disturb_the_raw_license():
    info = normalize("CC BY 4.0", found_in="json-ld", url="https://example.org/videos/1")
    assert info.spdx == "CC-BY-4.0"


def test_raw_and_url_disagreeing_take_the_more_restrictive_reading():
    info = normalize("CC BY 4.0", url="https://creativecommons.org/licenses/by-nc/4.0/")
    assert info.spdx == "CC-BY-NC-4.0"


# --- names, short forms and platform labels ----------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "spdx"),
    [
        ("CC BY 4.0", "CC-BY-4.0"),
        ("CC-BY-SA-4.0", "CC-BY-SA-4.0"),
        ("cc-by-nc-sa-4.0", "CC-BY-NC-SA-4.0"),
        ("Creative Commons Attribution 4.0 International", "CC-BY-4.0"),
        ("Attribution-ShareAlike 4.0 International", "CC-BY-SA-4.0"),
        ("Attribution 4.0 International (CC BY 4.0)", "CC-BY-4.0"),
        (
            "Creative Commons Attribution-NonCommercial-NoDerivatives 4.0 International License",
            "CC-BY-NC-ND-4.0",
        ),
        # Wikimedia Commons (UsageTerms, LicenseShortName, License) and yt-dlp's wikimedia extractor
        ("Creative Commons Attribution-Share Alike 3.0 Unported", "CC-BY-SA-3.0"),
        ("Creative Commons Attribution 3.0", "CC-BY-3.0"),
        ("CC BY-SA 3.0 de", "CC-BY-SA-3.0-DE"),
        ("cc-by-sa-4.0", "CC-BY-SA-4.0"),
        ("Creative Commons Zero, Public Domain Dedication", "CC0-1.0"),
        ("CC0", "CC0-1.0"),
        # Vimeo short codes
        ("cc0", "CC0-1.0"),
        ("by", "LicenseRef-CC-BY-unversioned"),
        ("by-sa", "LicenseRef-CC-BY-SA-unversioned"),
        ("by-nd", "LicenseRef-CC-BY-ND-unversioned"),
        ("by-nc", "LicenseRef-CC-BY-NC-unversioned"),
        ("by-nc-sa", "LicenseRef-CC-BY-NC-SA-unversioned"),
        ("by-nc-nd", "LicenseRef-CC-BY-NC-ND-unversioned"),
        # PeerTube labels
        ("Attribution", "LicenseRef-CC-BY-unversioned"),
        ("Attribution - Share Alike", "LicenseRef-CC-BY-SA-unversioned"),
        ("Attribution - No Derivatives", "LicenseRef-CC-BY-ND-unversioned"),
        ("Attribution - Non Commercial", "LicenseRef-CC-BY-NC-unversioned"),
        ("Attribution - Non Commercial - No Derivatives", "LicenseRef-CC-BY-NC-ND-unversioned"),
        ("Public Domain Dedication", "CC0-1.0"),
        # Flickr labels (yt-dlp), YouTube's CC label
        ("Attribution-NonCommercial-ShareAlike", "LicenseRef-CC-BY-NC-SA-unversioned"),
        ("Public Domain Dedication (CC0)", "CC0-1.0"),
        ("Public Domain Work", "CC-PDM-1.0"),
        ("Creative Commons Attribution license (reuse allowed)", "LicenseRef-CC-BY-unversioned"),
        ("cc by-nc", "LicenseRef-CC-BY-NC-unversioned"),
    ],
)
def test_cc_names_short_codes_and_platform_labels_map_to_spdx(raw, spdx):
    info = normalize(raw, found_in="ytdlp")
    assert info.spdx == spdx
    assert info.raw == raw and info.found_in == "ytdlp"


@pytest.mark.parametrize(
    ("raw", "verdict"),
    [
        ("by", Verdict.GRANT),
        ("by-sa", Verdict.REVIEW),
        ("by-nd", Verdict.REVIEW),
        ("by-nc", Verdict.DENY),
        ("by-nc-sa", Verdict.DENY),
        ("by-nc-nd", Verdict.DENY),
        ("cc0", Verdict.GRANT),
    ],
)
def test_unversioned_cc_licenses_are_bucketed_by_family(raw, verdict):
    assert verdict_of(raw) is verdict


def test_words_outside_cc_vocabulary_are_not_read_as_cc():
    assert normalize("photo by Jane").spdx == UNKNOWN
    assert normalize("Creative Commons").spdx == UNKNOWN  # which one? not evidence
    assert normalize("nc").spdx == UNKNOWN
    assert normalize("zero").spdx == UNKNOWN  # CC0 needs its CC context
    assert normalize("CC BY-ND-SA 4.0").spdx == UNKNOWN  # no such license
    assert normalize("CC BY 2.1").spdx == UNKNOWN  # 2.1 exists only as jurisdiction ports
    assert normalize("3.0-LicenseRef-CC-BY-unversioned").spdx == UNKNOWN


def test_our_own_licenseref_ids_round_trip():
    for spdx in (
        "LicenseRef-CC-BY-SA-unversioned",
        "LicenseRef-CC-BY-2.1-JP",
        PUBLIC_DOMAIN,
        CONTRACT,
        UNKNOWN,
    ):
        assert normalize(spdx).spdx == spdx
    assert normalize("licenseref-cc-by-nc-unversioned").spdx == "LicenseRef-CC-BY-NC-unversioned"
    assert normalize("LicenseRef-CC-").spdx == UNKNOWN


@pytest.mark.parametrize(
    "raw", ["Public Domain", "public domain", "PD-US", "pd", "United States government work"]
)
def test_bare_public_domain_claim_goes_to_review(raw):
    info = normalize(raw)
    assert info.spdx == PUBLIC_DOMAIN
    assert evaluate(info, DEFAULT)[0] is Verdict.REVIEW


@pytest.mark.parametrize(
    "raw",
    [
        "All rights reserved",
        "all-rights-reserved",
        "Standard YouTube License",
        "copyright",
        "Copyrighted (contact publisher)",
        "proprietary",
        "Copyright 2020 ACME Corp. All Rights Reserved.",
        "http://rightsstatements.org/vocab/InC/1.0/",
    ],
)
def test_all_rights_reserved_variants_are_denied(raw):
    info = normalize(raw)
    assert info.spdx == ALL_RIGHTS_RESERVED
    verdict, detail = evaluate(info, DEFAULT)
    assert verdict is Verdict.DENY
    assert detail == "LicenseRef-All-Rights-Reserved is all rights reserved: deny"


@pytest.mark.parametrize(
    "raw", ["contract", "LicenseRef-ClearFrame-Contract", "licenseref-clearframe-contract"]
)
def test_partner_contract_marker_is_normalised(raw):
    assert normalize(raw, found_in="manifest").spdx == CONTRACT


@pytest.mark.parametrize("raw", [None, "", "   ", "None", "unknown", "Unknown"])
def test_missing_license_has_no_spdx_and_keeps_raw(raw):
    info = normalize(raw)
    assert info.spdx is None
    assert info.raw == raw
    assert evaluate(info, DEFAULT)[0] is Verdict.DENY


@pytest.mark.parametrize(
    "raw", ["Standard License", "GNU something", "©2021 me", "<b>", "((((", "MIT OR", "x" * 10_000]
)
def test_unrecognised_strings_become_unknown_keeping_raw(raw):
    info = normalize(raw)
    assert info.spdx == UNKNOWN
    assert info.raw == raw


# --- SPDX passthrough ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "spdx"),
    [
        ("MIT", "MIT"),
        ("cc-by-4.0", "CC-BY-4.0"),
        ("CC-BY-4.0 OR MIT", "CC-BY-4.0 OR MIT"),
        ("mit or (apache-2.0 and bsd-3-clause)", "MIT OR (Apache-2.0 AND BSD-3-Clause)"),
        ("GPL-2.0-only WITH Classpath-exception-2.0", "GPL-2.0-only WITH Classpath-exception-2.0"),
        ("GPL-2.0+", "GPL-2.0-or-later"),
        ("CC BY 4.0 OR CC BY-SA 4.0", "CC-BY-4.0 OR CC-BY-SA-4.0"),
        ("LicenseRef-Partner-Terms", "LicenseRef-Partner-Terms"),
        ("MIT License", "MIT"),
    ],
)
def test_spdx_ids_and_expressions_pass_through_normalised(raw, spdx):
    assert normalize(raw).spdx == spdx


def test_with_needs_a_real_exception():
    assert normalize("GPL-2.0-only WITH Not-An-Exception").spdx == UNKNOWN
    assert normalize("MIT WITH MIT").spdx == UNKNOWN
    assert normalize("Classpath-exception-2.0").spdx == UNKNOWN


def test_one_unreadable_part_makes_the_whole_expression_unknown():
    assert normalize("CC-BY-4.0 OR something odd here").spdx == UNKNOWN


def test_license_ids_lists_licenses_not_exceptions():
    assert license_ids("MIT OR (CC-BY-4.0 AND GPL-2.0-only WITH Classpath-exception-2.0)") == [
        "MIT",
        "CC-BY-4.0",
        "GPL-2.0-only",
    ]
    assert license_ids(None) == []
    assert license_ids("((") == []


# --- evaluate -----------------------------------------------------------------------------------------
def test_non_commercial_detail_names_license_and_bucket():
    assert evaluate(normalize("CC-BY-NC-4.0"), DEFAULT) == (
        Verdict.DENY,
        "CC-BY-NC-4.0 is non-commercial: deny",
    )


@pytest.mark.parametrize(
    ("spdx", "verdict"),
    [
        ("CC0-1.0", Verdict.GRANT),
        ("CC-PDDC", Verdict.GRANT),
        ("CC-PDM-1.0", Verdict.GRANT),
        ("CC-BY-4.0", Verdict.GRANT),
        ("CC-BY-3.0-DE", Verdict.GRANT),
        ("LicenseRef-CC-BY-unversioned", Verdict.GRANT),
        ("CC-BY-SA-4.0", Verdict.REVIEW),
        ("CC-BY-SA-2.1-JP", Verdict.REVIEW),
        ("CC-BY-ND-4.0", Verdict.REVIEW),
        ("LicenseRef-Public-Domain", Verdict.REVIEW),
        ("CC-BY-NC-4.0", Verdict.DENY),
        ("CC-BY-NC-SA-3.0-DE", Verdict.DENY),
        ("LicenseRef-CC-NC-1.0", Verdict.DENY),
        ("LicenseRef-All-Rights-Reserved", Verdict.DENY),
        ("LicenseRef-Unknown", Verdict.DENY),
        ("MIT", Verdict.REVIEW),
        ("LicenseRef-Someone-Else", Verdict.DENY),
    ],
)
def test_default_policy_buckets(spdx, verdict):
    assert evaluate(LicenseInfo(raw=spdx, spdx=spdx), DEFAULT)[0] is verdict


def test_or_expression_most_permissive_wins():
    verdict, detail = evaluate(normalize("CC-BY-NC-4.0 OR CC-BY-4.0"), DEFAULT)
    assert verdict is Verdict.GRANT
    assert "most permissive" in detail and "CC-BY-NC-4.0 is non-commercial: deny" in detail


def test_and_expression_most_restrictive_wins():
    verdict, detail = evaluate(normalize("CC-BY-4.0 AND CC-BY-NC-4.0"), DEFAULT)
    assert verdict is Verdict.DENY
    assert "most restrictive" in detail


def test_nested_expression_follows_both_rules():
    # (allow AND review) OR deny -> review
    assert evaluate(normalize("(CC-BY-4.0 AND CC-BY-SA-4.0) OR CC-BY-NC-4.0"), DEFAULT)[0] is Verdict.REVIEW


def test_with_exception_is_judged_by_its_base_license():
    verdict, detail = evaluate(normalize("GPL-2.0-only WITH Classpath-exception-2.0"), DEFAULT)
    assert verdict is Verdict.REVIEW
    assert "base license" in detail


def test_contract_marker_grants_only_with_a_contract_id():
    info = normalize("contract", found_in="manifest")
    verdict, detail = evaluate(info, DEFAULT)
    assert verdict is Verdict.DENY and "contract id is missing" in detail
    verdict, detail = evaluate(info, DEFAULT, contract_id="ACME-2025-07")
    assert verdict is Verdict.GRANT and "ACME-2025-07" in detail


def test_missing_license_info_is_denied():
    assert evaluate(None, DEFAULT) == (
        Verdict.DENY,
        "no license evidence; a missing license is not permission",
    )


def test_unparseable_stored_spdx_is_denied_not_raised():
    assert evaluate(LicenseInfo(raw="x", spdx="MIT OR ("), DEFAULT)[0] is Verdict.DENY
    assert evaluate(LicenseInfo(raw="x", spdx="CC BY 4.0"), DEFAULT)[0] is Verdict.DENY


def test_forged_ids_in_our_cc_namespace_are_not_granted():
    assert evaluate(LicenseInfo(raw="x", spdx="LicenseRef-CC-BY-9.9"), DEFAULT)[0] is Verdict.DENY


# --- policy configuration -----------------------------------------------------------------------------
def test_from_config_none_or_empty_is_the_default():
    assert LicensePolicy.from_config(None) == DEFAULT
    assert LicensePolicy.from_config({"allow": None, "review": None, "deny": None}) == DEFAULT


def test_from_config_can_promote_share_alike_to_allow():
    policy = LicensePolicy.from_config({"allow": ["CC-BY-SA-*"]})
    assert verdict_of("CC-BY-SA-4.0", policy) is Verdict.GRANT
    assert verdict_of("CC-BY-NC-SA-4.0", policy) is Verdict.DENY  # the narrower NC default still decides


def test_from_config_exact_id_overrides_a_default_glob():
    policy = LicensePolicy.from_config({"deny": ["CC-BY-2.0"], "review": ["CC-BY-3.0-*"]})
    assert verdict_of("CC-BY-2.0", policy) is Verdict.DENY
    assert verdict_of("CC-BY-3.0-DE", policy) is Verdict.REVIEW
    assert verdict_of("CC-BY-4.0", policy) is Verdict.GRANT


def test_from_config_can_allow_a_non_media_spdx_license():
    policy = LicensePolicy.from_config({"allow": ["mit"]})
    assert verdict_of("MIT", policy) is Verdict.GRANT


@pytest.mark.parametrize(
    "config",
    [
        {"allow": ["LicenseRef-Unknown"]},
        {"allow": ["LicenseRef-All-Rights-Reserved"]},
        {"alow": ["CC-BY-4.0"]},
        {"allow": ["CC-BY-4.0"], "deny": ["cc-by-4.0"]},
        {"allow": ["CC BY 4.0"]},
        {"allow": "CC-BY-4.0"},
    ],
)
def test_from_config_rejects_invalid_policies(config):
    with pytest.raises((ValueError, TypeError)):
        LicensePolicy.from_config(config)


def test_a_broad_allow_glob_cannot_grant_unknown_or_reserved():
    policy = LicensePolicy.from_config({"allow": ["*"]})
    assert verdict_of("LicenseRef-Someone-Else", policy) is Verdict.GRANT
    assert verdict_of("something unreadable", policy) is Verdict.DENY
    assert verdict_of("All rights reserved", policy) is Verdict.DENY
    assert verdict_of(None, policy) is Verdict.DENY


def test_policy_is_immutable_and_hashable():
    with pytest.raises(AttributeError):
        DEFAULT.allow = frozenset()  # type: ignore[misc]
    assert hash(DEFAULT) == hash(LicensePolicy.default())


# --- combine ------------------------------------------------------------------------------------------
def test_combine_empty_is_nothing():
    assert combine([]) == (None, None)


def test_combine_agreeing_declarations_have_no_conflict():
    a = normalize("https://creativecommons.org/licenses/by/4.0/", found_in="json-ld")
    b = normalize("CC BY 4.0", found_in="ytdlp")
    assert combine([a, b]) == (a, None)


def test_combine_treats_equivalent_expressions_as_agreeing():
    a = normalize("MIT OR CC-BY-4.0", found_in="json-ld")
    b = normalize("cc-by-4.0 or mit", found_in="manifest")
    assert combine([a, b]) == (a, None)


def test_combine_ignores_absent_licenses():
    absent = normalize(None, found_in="ytdlp")
    stated = normalize("CC-BY-4.0", found_in="json-ld")
    assert combine([absent, stated]) == (stated, None)
    assert combine([absent]) == (absent, None)


def test_combine_two_allowed_but_different_licenses_still_reports_a_conflict():
    a = normalize("CC0-1.0", found_in="json-ld")
    b = normalize("CC-BY-4.0", found_in="link-rel")
    chosen, conflict = combine([a, b])
    assert chosen is b and conflict is not None


def test_combine_unknown_declaration_beats_a_permissive_one():
    chosen, conflict = combine([normalize("CC-BY-4.0", "json-ld"), normalize("Standard License", "ytdlp")])
    assert chosen is not None and chosen.spdx == UNKNOWN and conflict is not None


# --- properties ---------------------------------------------------------------------------------------
_WORDS = [
    "cc",
    "by",
    "sa",
    "nc",
    "nd",
    "4.0",
    "3.0",
    "2.1",
    "de",
    "jp",
    "Attribution",
    "Share",
    "Alike",
    "Non",
    "Commercial",
    "No",
    "Derivatives",
    "Creative",
    "Commons",
    "public",
    "domain",
    "dedication",
    "zero",
    "0",
    "mark",
    "OR",
    "AND",
    "WITH",
    "(",
    ")",
    "MIT",
    "CC-BY-4.0",
    "CC-BY-NC-4.0",
    "LicenseRef-Unknown",
    "LicenseRef-CC-BY-unversioned",
    "Classpath-exception-2.0",
    "All",
    "rights",
    "reserved",
    "contract",
    "https://creativecommons.org/licenses/",
    "/",
    "-",
    "International",
    "license",
    "©",
    "+",
]
_license_like = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(_WORDS), max_size=8).map(" ".join),
    st.lists(st.sampled_from(_WORDS), max_size=8).map("-".join),
    st.lists(st.sampled_from(_WORDS), max_size=8).map("".join),
)


@settings(max_examples=400, deadline=None)
@given(raw=st.one_of(st.none(), _license_like), url=st.one_of(st.none(), _license_like))
def test_normalize_never_raises_and_keeps_raw(raw, url):
    info = normalize(raw, found_in="json-ld", url=url)
    assert info.raw == raw and info.url == url
    assert info.spdx is None or isinstance(info.spdx, str)


@settings(max_examples=400, deadline=None)
@given(raw=_license_like)
def test_evaluate_never_grants_unless_an_option_is_in_the_allow_bucket(raw):
    info = normalize(raw)
    verdict, detail = evaluate(info, DEFAULT)
    assert verdict in {Verdict.GRANT, Verdict.REVIEW, Verdict.DENY}
    assert detail
    if verdict is Verdict.GRANT:
        ids = license_ids(info.spdx)
        assert any(DEFAULT.classify(i)[0] is Verdict.GRANT for i in ids), (raw, info.spdx)
        if " OR " not in (info.spdx or ""):
            assert all(DEFAULT.classify(i)[0] is Verdict.GRANT for i in ids), (raw, info.spdx)


@settings(max_examples=300, deadline=None)
@given(raw=_license_like)
@example(raw="(LICENSEREF-CC-)")
@example(raw="3.0-LicenseRef-CC-BY-unversioned")
def test_normalize_is_idempotent_on_its_own_output(raw):
    first = normalize(raw).spdx
    if first is not None:
        assert normalize(first).spdx == first

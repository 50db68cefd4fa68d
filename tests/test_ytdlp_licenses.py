"""The yt-dlp `license` field, per extractor (clearframe.gate.ytdlp_licenses), through the default policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearframe.config import Acquisition
from clearframe.gate.basis import platform_finding
from clearframe.gate.licenses import (
    ALL_RIGHTS_RESERVED,
    NO_KNOWN_RESTRICTIONS,
    PUBLIC_DOMAIN,
    UNKNOWN,
    LicensePolicy,
    evaluate,
    license_ids,
)
from clearframe.gate.ytdlp_licenses import FLICKR_LICENSE_IDS, extractor_family, license_from_info
from clearframe.records import Verdict

DATA = Path(__file__).parent / "data" / "ytdlp_info"
DEFAULT = LicensePolicy.default()


def info(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


def verdict_of(d: dict) -> Verdict:
    return evaluate(license_from_info(d), DEFAULT)[0]


# --- consent-cases.md "Licenses and platforms", from recorded info dicts --------------------------------
def test_ytdlp_license_absent_is_unknown_and_denied():
    d = info("youtube_no_license")
    assert "license" not in d
    assert license_from_info(d) is None
    verdict, detail = evaluate(license_from_info(d), DEFAULT)
    assert verdict is Verdict.DENY and "no license evidence" in detail


def test_ytdlp_license_none_is_unknown_and_denied():
    d = {**info("vimeo_by"), "license": None}
    assert license_from_info(d) is None
    assert verdict_of(d) is Verdict.DENY


def test_vimeo_by_nc_short_code_is_denied():
    lic = license_from_info(info("vimeo_by_nc"))
    assert lic is not None
    assert (lic.raw, lic.spdx, lic.found_in) == ("by-nc", "LicenseRef-CC-BY-NC-unversioned", "ytdlp")
    verdict, detail = evaluate(lic, DEFAULT)
    assert verdict is Verdict.DENY and "non-commercial" in detail


def test_peertube_attribution_share_alike_label_needs_review():
    lic = license_from_info(info("peertube_by_sa"))
    assert lic is not None and lic.spdx == "LicenseRef-CC-BY-SA-unversioned"
    assert lic.raw == "Attribution - Share Alike"
    assert evaluate(lic, DEFAULT)[0] is Verdict.REVIEW


def test_flickr_code_7_no_known_copyright_restrictions_needs_review():
    lic = license_from_info(info("flickr_nkcr"))
    assert lic is not None and lic.spdx == NO_KNOWN_RESTRICTIONS
    assert evaluate(lic, DEFAULT)[0] is Verdict.REVIEW
    # the same licence when a dict carries Flickr's numeric id instead of yt-dlp's label
    raw_code = license_from_info({"extractor_key": "Flickr", "license": 7})
    assert raw_code is not None and raw_code.spdx == NO_KNOWN_RESTRICTIONS and raw_code.raw == "7"


def test_youtube_cc_label_is_normalised_but_platform_terms_still_deny():
    d = info("youtube_cc")
    lic = license_from_info(d)
    assert lic is not None and lic.spdx == "LicenseRef-CC-BY-unversioned"
    assert lic.raw == "Creative Commons Attribution license (reuse allowed)"
    # The licence alone would grant; the platform rule (gate/basis.py) is what denies a YouTube download.
    assert evaluate(lic, DEFAULT)[0] is Verdict.GRANT
    pf = platform_finding("www.youtube.com", Acquisition(), None)
    assert pf is not None and pf.verdict is Verdict.DENY and "CC label" in pf.detail


# --- every recorded extractor format -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "spdx", "verdict"),
    [
        ("youtube_cc", "LicenseRef-CC-BY-unversioned", Verdict.GRANT),
        ("youtube_standard", ALL_RIGHTS_RESERVED, Verdict.DENY),
        ("khanacademy_by_nc_sa", "LicenseRef-CC-BY-NC-SA-unversioned", Verdict.DENY),
        ("vimeo_by", "LicenseRef-CC-BY-unversioned", Verdict.GRANT),
        ("vimeo_by_nc", "LicenseRef-CC-BY-NC-unversioned", Verdict.DENY),
        ("vimeo_ondemand_url", "CC-BY-NC-ND-3.0", Verdict.DENY),
        ("peertube_by_sa", "LicenseRef-CC-BY-SA-unversioned", Verdict.REVIEW),
        ("flickr_nkcr", NO_KNOWN_RESTRICTIONS, Verdict.REVIEW),
        ("flickr_by_sa", "CC-BY-SA-2.0", Verdict.REVIEW),
        ("archiveorg_pddc", "CC-PDDC", Verdict.GRANT),
        ("archiveorg_by_nc_sa", "CC-BY-NC-SA-4.0", Verdict.DENY),
        ("wikimedia_by", "CC-BY-4.0", Verdict.GRANT),
        ("wikimedia_by_sa", "CC-BY-SA-4.0", Verdict.REVIEW),
        ("soundcloud_no_rights", PUBLIC_DOMAIN, Verdict.REVIEW),
        ("jamendo_by_nc_nd", "LicenseRef-CC-BY-NC-ND-unversioned", Verdict.DENY),
        ("lbry_copyrighted", ALL_RIGHTS_RESERVED, Verdict.DENY),
        ("minds_cc0", "CC0-1.0", Verdict.GRANT),
    ],
)
def test_recorded_info_dicts_read_in_their_extractors_format(name, spdx, verdict):
    d = info(name)
    lic = license_from_info(d)
    assert lic is not None
    assert lic.spdx == spdx
    assert lic.raw == d["license"] and lic.found_in == "ytdlp"
    assert evaluate(lic, DEFAULT)[0] is verdict


def test_peertube_video_without_licence_is_labelled_unknown_which_is_no_evidence():
    lic = license_from_info(info("peertube_unknown"))
    assert lic is not None and lic.raw == "Unknown" and lic.spdx is None
    assert evaluate(lic, DEFAULT)[0] is Verdict.DENY


def test_internet_archive_licence_url_is_kept_as_the_url():
    lic = license_from_info(info("archiveorg_by_nc_sa"))
    assert lic is not None and lic.url == "https://creativecommons.org/licenses/by-nc-sa/4.0/"


@pytest.mark.parametrize(
    ("label", "spdx"),
    [
        ("Attribution", "LicenseRef-CC-BY-unversioned"),
        ("Attribution - No Derivatives", "LicenseRef-CC-BY-ND-unversioned"),
        ("Attribution - Non Commercial", "LicenseRef-CC-BY-NC-unversioned"),
        ("Attribution - Non Commercial - Share Alike", "LicenseRef-CC-BY-NC-SA-unversioned"),
        ("Attribution - Non Commercial - No Derivatives", "LicenseRef-CC-BY-NC-ND-unversioned"),
        ("Public Domain Dedication", "CC0-1.0"),
        ("CC BY 4.0 (plugin licence)", UNKNOWN),  # a plugin's label that is not licence vocabulary
    ],
)
def test_peertube_builtin_licence_labels_are_unversioned_cc(label, spdx):
    lic = license_from_info({"extractor_key": "PeerTube", "license": label})
    assert lic is not None and lic.spdx == spdx and lic.raw == label


@pytest.mark.parametrize(
    ("code", "spdx"),
    [
        ("by", "LicenseRef-CC-BY-unversioned"),
        ("by-sa", "LicenseRef-CC-BY-SA-unversioned"),
        ("by-nd", "LicenseRef-CC-BY-ND-unversioned"),
        ("by-nc-sa", "LicenseRef-CC-BY-NC-SA-unversioned"),
        ("by-nc-nd", "LicenseRef-CC-BY-NC-ND-unversioned"),
        ("cc0", "CC0-1.0"),
    ],
)
def test_vimeo_api_licence_enum_maps_to_spdx(code, spdx):
    lic = license_from_info({"extractor": "vimeo", "license": code})
    assert lic is not None and lic.spdx == spdx


# --- Flickr: yt-dlp's labels are Flickr's ids 0-10; ids 11-16 are CC 4.0 ------------------------------
def test_flickr_labels_match_the_installed_extractors_id_table():
    from yt_dlp.extractor.flickr import FlickrIE

    table = FlickrIE._LICENSES
    assert set(table) == {str(i) for i in range(11)}, "yt-dlp's Flickr table changed: re-read flickr.py"
    for code, label in table.items():
        by_label = license_from_info({"extractor_key": "Flickr", "license": label})
        by_code = license_from_info({"extractor_key": "Flickr", "license": int(code)})
        assert by_label is not None and by_code is not None
        assert by_label.spdx == by_code.spdx == FLICKR_LICENSE_IDS[int(code)], (code, label)
        assert by_label.raw == label


@pytest.mark.parametrize(
    ("label", "spdx", "verdict"),
    [
        ("Attribution", "CC-BY-2.0", Verdict.GRANT),
        ("Attribution-NonCommercial", "CC-BY-NC-2.0", Verdict.DENY),
        ("Attribution-NoDerivs", "CC-BY-ND-2.0", Verdict.REVIEW),
        ("United States government work", PUBLIC_DOMAIN, Verdict.REVIEW),
        ("Public Domain Dedication (CC0)", "CC0-1.0", Verdict.GRANT),
        ("Public Domain Work", "CC-PDM-1.0", Verdict.GRANT),
        ("All Rights Reserved", ALL_RIGHTS_RESERVED, Verdict.DENY),
    ],
)
def test_flickr_labels_carry_flickrs_version(label, spdx, verdict):
    d = {"extractor_key": "Flickr", "license": label}
    lic = license_from_info(d)
    assert lic is not None and lic.spdx == spdx
    assert verdict_of(d) is verdict


@pytest.mark.parametrize(
    ("code", "spdx"),
    [("11", "CC-BY-4.0"), ("12", "CC-BY-SA-4.0"), ("14", "CC-BY-NC-4.0"), ("16", "CC-BY-NC-ND-4.0"),
     (17, UNKNOWN), ("99", UNKNOWN)],
)
def test_flickr_raw_ids_follow_flickrs_getinfo_table(code, spdx):
    lic = license_from_info({"extractor_key": "Flickr", "license": code})
    assert lic is not None and lic.spdx == spdx and lic.raw == str(code)


def test_a_number_outside_flickr_is_not_a_licence():
    lic = license_from_info({"extractor_key": "Vimeo", "license": 4})
    assert lic is not None and lic.spdx == UNKNOWN and lic.raw == "4"


# --- other platforms' vocabularies ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "raw", "spdx"),
    [
        ("Soundcloud", "all-rights-reserved", ALL_RIGHTS_RESERVED),
        ("Soundcloud", "cc-by-nc-sa", "LicenseRef-CC-BY-NC-SA-unversioned"),
        ("Minds", "attribution-noncommerical-cc", "LicenseRef-CC-BY-NC-unversioned"),
        ("Minds", "gnuv3", UNKNOWN),
        ("Minds", "not-selected", None),
        ("Youtube", "yt-standard", ALL_RIGHTS_RESERVED),
        ("LBRY", "None", None),
        ("LBRY", "Creative Commons Attribution-NonCommercial 4.0 International", "CC-BY-NC-4.0"),
        ("Arnes", "PRIVATE", UNKNOWN),
        ("Germanupa", "by-sa", "LicenseRef-CC-BY-SA-unversioned"),
    ],
)
def test_platform_vocabularies(key, raw, spdx):
    lic = license_from_info({"extractor_key": key, "license": raw})
    assert lic is not None and lic.spdx == spdx and lic.raw == raw


def test_extractor_family_from_key_or_ie_name():
    assert extractor_family({"extractor_key": "PeerTubePlaylist"}) == "peertube"
    assert extractor_family({"extractor": "archive.org"}) == "archiveorg"
    assert extractor_family({"extractor": "wikimedia.org"}) == "wikimedia"
    assert extractor_family({"ie_key": "VimeoOndemand"}) == "vimeo"
    assert extractor_family({"extractor_key": "Dailymotion"}) is None
    assert extractor_family({}) is None


def test_empty_licence_string_is_no_statement():
    assert license_from_info({"extractor_key": "Vimeo", "license": "  "}) is None


@pytest.mark.parametrize("raw", [["by", "nc"], {"id": 2}, 3.0, True])
def test_licence_values_no_extractor_writes_are_unknown_with_raw_kept(raw):
    lic = license_from_info({"extractor_key": "Jamendo", "license": raw})
    assert lic is not None and lic.spdx == UNKNOWN and lic.raw
    assert evaluate(lic, DEFAULT)[0] is Verdict.DENY


def test_overlong_licence_text_is_unknown():
    lic = license_from_info({"extractor_key": "LBRY", "license": "CC BY 4.0 " * 1000})
    assert lic is not None and lic.spdx == UNKNOWN


# --- properties ----------------------------------------------------------------------------------------
_KEYS = st.one_of(
    st.sampled_from(["Youtube", "YoutubeTab", "Vimeo", "PeerTube", "Flickr", "ArchiveOrg", "Wikimedia",
                     "Soundcloud", "Jamendo", "Minds", "KhanAcademy", "LBRY", "Generic"]),
    st.text(max_size=12),
    st.none(),
)
_WORDS = ["by", "nc", "nd", "sa", "cc", "cc0", "-", " - ", "Attribution", "Share", "Alike", "Non", "Commercial",
          "No", "Derivatives", "4.0", "2.0", "Public", "Domain", "Work", "Dedication", "(CC0)", "license",
          "reuse", "allowed", "Unknown", "All", "Rights", "Reserved", "no-rights-reserved", "7", "11", "http://",
          "creativecommons.org/licenses/", "/", "publicdomaincco", "yt-standard"]
_RAW = st.one_of(
    st.none(),
    st.text(max_size=60),
    st.lists(st.sampled_from(_WORDS), max_size=6).map(" ".join),
    st.lists(st.sampled_from(_WORDS), max_size=6).map("".join),
    st.integers(min_value=-5, max_value=40),
    st.floats(allow_nan=True),
    st.booleans(),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@settings(max_examples=500, deadline=None)
@given(key=_KEYS, raw=_RAW, extractor=st.one_of(st.none(), st.text(max_size=12)))
def test_license_from_info_never_raises_and_never_grants_what_it_could_not_read(key, raw, extractor):
    d = {"extractor_key": key, "extractor": extractor, "license": raw}
    lic = license_from_info(d)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        assert lic is None
        return
    assert lic is not None and lic.found_in == "ytdlp" and lic.raw is not None
    verdict, detail = evaluate(lic, DEFAULT)
    assert detail
    if lic.spdx is None or lic.spdx == UNKNOWN or not isinstance(raw, (str, int)) or isinstance(raw, bool):
        assert verdict is Verdict.DENY
    if verdict is Verdict.GRANT:
        assert any(DEFAULT.classify(i)[0] is Verdict.GRANT for i in license_ids(lic.spdx)), (key, raw, lic)


@settings(max_examples=200, deadline=None)
@given(d=st.dictionaries(st.text(max_size=10), st.one_of(st.none(), st.text(max_size=10), st.integers()),
                         max_size=6))
def test_license_from_info_accepts_any_dict(d):
    lic = license_from_info(d)
    assert lic is None or lic.found_in == "ytdlp"

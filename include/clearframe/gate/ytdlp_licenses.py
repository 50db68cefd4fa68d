"""The `license` field of a yt-dlp info dict, read in the format each extractor writes it.

yt-dlp documents `license` only as "License name the video is licensed under" (yt_dlp/extractor/common.py),
and every extractor fills it with whatever its platform says, unchanged. The same words therefore mean
different things on different platforms, and this module holds the per-extractor knowledge that
`licenses.normalize` (which knows licence vocabulary but not platforms) lacks. Read from yt-dlp 2026.10.26:

- **YouTube** (`youtube/_video.py`): the text of the watch page's "License" metadata row, when there is
  one: "Creative Commons Attribution license (reuse allowed)" or the older "Standard YouTube License".
  Usually absent, and absence means unknown. YouTube's help (answer 2797468) offers one licence, "CC BY",
  and names no version, so the CC label maps to `LicenseRef-CC-BY-unversioned`; third parties that link
  it to 3.0 are not the platform's word. A CC label does not authorise download from YouTube: that
  is the platform-terms rule in gate/basis.py, not this module's business.
- **Vimeo** (`vimeo.py`): the API's `license` enum, `by`, `by-nc`, `by-nc-nd`, `by-nc-sa`, `by-nd`,
  `by-sa`, `cc0`, which carries no version (so `LicenseRef-CC-*-unversioned`; `cc0` is CC0-1.0, which
  has only one version); on-demand pages instead give the `<link rel="license">` URL, read as a URL.
- **PeerTube** (`peertube.py`): the instance's `licence.label`. PeerTube's built-in table
  (server/initializers/constants.ts, VIDEO_LICENCES) is "Attribution", "Attribution - Share Alike",
  "Attribution - No Derivatives", "Attribution - Non Commercial", "Attribution - Non Commercial - Share
  Alike", "Attribution - Non Commercial - No Derivatives", "Public Domain Dedication", without versions
  (PeerTube issue #726). A video without a licence has the label "Unknown": no evidence. Plugins may add
  labels of their own; those are read as free text.
- **Flickr** (`flickr.py`): yt-dlp maps Flickr's numeric licence ids 0-10 to labels
  ("Attribution-ShareAlike", "No known copyright restrictions", ...). Flickr's
  `flickr.photos.licenses.getInfo` says what each id is: 1-6 are the CC **2.0** licences, 7 "No known
  copyright restrictions" (the Flickr Commons usage note, not a licence), 8 "United States Government
  Work", 9 CC0 1.0, 10 the Public Domain Mark 1.0, and since June 2025 11-16 the CC 4.0 licences. A
  yt-dlp label can only come from ids 0-10, so "Attribution" is exactly CC-BY-2.0 (tests pin this against
  the installed extractor's table); ids 11-16 reach yt-dlp as `None` and are unknown. A raw numeric id,
  when a dict carries one, is read with Flickr's own table.
- **Internet Archive** (`archiveorg.py`): the item's `licenseurl`, already filtered to a URL: read as a
  Creative Commons / rightsstatements.org URL; anything else stays unknown.
- **Wikimedia Commons** (`wikimedia.py`): the file page's `extmetadata.UsageTerms`, e.g. "Creative Commons
  Attribution-Share Alike 4.0", "Public domain": free text that `licenses.normalize` reads.
- **SoundCloud** (`soundcloud.py`): the API enum `all-rights-reserved`, `no-rights-reserved`, `cc-by`,
  `cc-by-nc`, `cc-by-nd`, `cc-by-sa`, `cc-by-nc-nd`, `cc-by-nc-sa` (no versions). "No rights reserved" is
  a public-domain claim, not a licence: `LicenseRef-Public-Domain`, for a human to check.
- **Jamendo** (`jamendo.py`): the track's `licenseCC` parts joined with "-" (`by-nc-nd`): short codes.
- **Minds** (`minds.py`): Minds' own ids (`attribution-cc`, `attribution-noncommercial-sharealike-cc`,
  `publicdomaincco`, ...; the front-end's LICENSES table), including its historic misspelling
  `attribution-noncommerical-cc`. GNU, Mozilla and BSD ids name no exact version and stay unknown.
- **Khan Academy** (`khanacademy.py`): `kaUserLicense` (`cc-by-nc-sa`, `yt-standard`). Its result is
  merged into the YouTube extractor's, so the dict says `extractor_key: Youtube` with a Khan Academy
  value; every family therefore falls back to the shared readings below.
- **LBRY/Odysee**, Tumblr, NTS, germanupa and the rest: free text or the short codes above. Dailymotion
  and Bandcamp set no licence at all.

Every reading keeps the raw value, returns `found_in="ytdlp"`, and never raises: a value it cannot read is
`LicenseRef-Unknown` (denied by every policy), never a guess towards permission. `None` (or an empty
string) is "no licence stated" and gives `None`, which the gate treats as no positive evidence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from clearframe.gate.licenses import (
    ALL_RIGHTS_RESERVED,
    NO_KNOWN_RESTRICTIONS,
    PUBLIC_DOMAIN,
    PUBLIC_DOMAIN_MARK,
    UNKNOWN,
    normalize,
)
from clearframe.records import LicenseInfo

__all__ = ["FLICKR_LICENSE_IDS", "FOUND_IN", "extractor_family", "license_from_info"]

FOUND_IN = "ytdlp"
_MAX_RAW = 4096  # a longer "licence" is prose; kept (truncated) as evidence, read as unknown

_URL_RE = re.compile(r"^(?:https?:)?//", re.IGNORECASE)

# --- Flickr: flickr.photos.licenses.getInfo (ids), and the labels yt-dlp's FlickrIE._LICENSES gives them --
FLICKR_LICENSE_IDS: dict[int, str] = {
    0: ALL_RIGHTS_RESERVED,
    1: "CC-BY-NC-SA-2.0",
    2: "CC-BY-NC-2.0",
    3: "CC-BY-NC-ND-2.0",
    4: "CC-BY-2.0",
    5: "CC-BY-SA-2.0",
    6: "CC-BY-ND-2.0",
    7: NO_KNOWN_RESTRICTIONS,  # https://www.flickr.com/commons/usage/ : a status note, not a licence
    8: PUBLIC_DOMAIN,  # "United States Government Work": a public-domain claim, checked by a human
    9: "CC0-1.0",
    10: PUBLIC_DOMAIN_MARK,
    11: "CC-BY-4.0",
    12: "CC-BY-SA-4.0",
    13: "CC-BY-ND-4.0",
    14: "CC-BY-NC-4.0",
    15: "CC-BY-NC-SA-4.0",
    16: "CC-BY-NC-ND-4.0",
}
_FLICKR_YTDLP_LABELS: dict[str, int] = {
    "all rights reserved": 0,
    "attribution-noncommercial-sharealike": 1,
    "attribution-noncommercial": 2,
    "attribution-noncommercial-noderivs": 3,
    "attribution": 4,
    "attribution-sharealike": 5,
    "attribution-noderivs": 6,
    "no known copyright restrictions": 7,
    "united states government work": 8,
    "public domain dedication (cc0)": 9,
    "public domain work": 10,
}

# --- Short codes without a version (Vimeo's API enum, Jamendo's joined licenseCC, germanupa) ---------
_CC_SHORT_CODES: dict[str, str] = {
    "by": "LicenseRef-CC-BY-unversioned",
    "by-sa": "LicenseRef-CC-BY-SA-unversioned",
    "by-nd": "LicenseRef-CC-BY-ND-unversioned",
    "by-nc": "LicenseRef-CC-BY-NC-unversioned",
    "by-nc-sa": "LicenseRef-CC-BY-NC-SA-unversioned",
    "by-nc-nd": "LicenseRef-CC-BY-NC-ND-unversioned",
    "cc0": "CC0-1.0",
}

# --- PeerTube VIDEO_LICENCES labels ------------------------------------------------------------------
_PEERTUBE_LABELS: dict[str, str | None] = {
    "attribution": "LicenseRef-CC-BY-unversioned",
    "attribution - share alike": "LicenseRef-CC-BY-SA-unversioned",
    "attribution - no derivatives": "LicenseRef-CC-BY-ND-unversioned",
    "attribution - non commercial": "LicenseRef-CC-BY-NC-unversioned",
    "attribution - non commercial - share alike": "LicenseRef-CC-BY-NC-SA-unversioned",
    "attribution - non commercial - no derivatives": "LicenseRef-CC-BY-NC-ND-unversioned",
    "public domain dedication": "CC0-1.0",
    "unknown": None,  # what the API labels a video without a licence
}

# --- YouTube watch-page labels -------------------------------------------------------------------------
_YOUTUBE_LABELS: dict[str, str] = {
    "creative commons attribution license (reuse allowed)": "LicenseRef-CC-BY-unversioned",
    "standard youtube license": ALL_RIGHTS_RESERVED,
}

# --- SoundCloud API enum -------------------------------------------------------------------------------
_SOUNDCLOUD_CODES: dict[str, str] = {
    "all-rights-reserved": ALL_RIGHTS_RESERVED,
    "no-rights-reserved": PUBLIC_DOMAIN,
    "cc-by": "LicenseRef-CC-BY-unversioned",
    "cc-by-sa": "LicenseRef-CC-BY-SA-unversioned",
    "cc-by-nd": "LicenseRef-CC-BY-ND-unversioned",
    "cc-by-nc": "LicenseRef-CC-BY-NC-unversioned",
    "cc-by-nc-sa": "LicenseRef-CC-BY-NC-SA-unversioned",
    "cc-by-nc-nd": "LicenseRef-CC-BY-NC-ND-unversioned",
}

# --- Minds front-end LICENSES ids ----------------------------------------------------------------------
_MINDS_CODES: dict[str, str | None] = {
    "all-rights-reserved": ALL_RIGHTS_RESERVED,
    "attribution-cc": "LicenseRef-CC-BY-unversioned",
    "attribution-sharealike-cc": "LicenseRef-CC-BY-SA-unversioned",
    "attribution-noderivs-cc": "LicenseRef-CC-BY-ND-unversioned",
    "attribution-noncommercial-cc": "LicenseRef-CC-BY-NC-unversioned",
    "attribution-noncommerical-cc": "LicenseRef-CC-BY-NC-unversioned",  # Minds' own spelling, still in use
    "attribution-noncommercial-sharealike-cc": "LicenseRef-CC-BY-NC-SA-unversioned",
    "attribution-noncommercial-noderivs-cc": "LicenseRef-CC-BY-NC-ND-unversioned",
    "publicdomaincco": "CC0-1.0",
    "apache-v1": "Apache-1.0",
    "apache-v1.1": "Apache-1.1",
    "apache-v2": "Apache-2.0",
    "not-selected": None,
}

# --- Values more than one extractor emits (Khan Academy's rides on YouTube's extractor key) --------------
_SHARED: dict[str, str | None] = {
    "yt-standard": ALL_RIGHTS_RESERVED,  # Khan Academy's kaUserLicense for the Standard YouTube License
    "all-rights-reserved": ALL_RIGHTS_RESERVED,
    **_CC_SHORT_CODES,
}


def _key(raw: str) -> str:
    return " ".join(raw.strip().casefold().split())


def _mapped(raw: str, spdx: str | None) -> LicenseInfo:
    """A table hit: the SPDX id as `normalize` would spell it, the raw value kept as seen."""
    if spdx is None:
        return LicenseInfo(raw=raw, spdx=None, found_in=FOUND_IN)
    canonical = normalize(spdx, found_in=FOUND_IN)
    return replace(canonical, raw=raw)


def _free_text(raw: str) -> LicenseInfo:
    """No table knows the value: licence vocabulary, SPDX ids and licence URLs, via `normalize`."""
    stripped = raw.strip()
    if _URL_RE.match(stripped):
        return normalize(raw, found_in=FOUND_IN, url=stripped)
    return normalize(raw, found_in=FOUND_IN)


def _with_tables(*tables: Mapping[str, str | None]) -> Callable[[str], LicenseInfo]:
    def read(raw: str) -> LicenseInfo:
        k = _key(raw)
        for table in (*tables, _SHARED):
            if k in table:
                return _mapped(raw, table[k])
        return _free_text(raw)

    return read


def _read_flickr(raw: str) -> LicenseInfo:
    k = _key(raw)
    if k in _FLICKR_YTDLP_LABELS:
        return _mapped(raw, FLICKR_LICENSE_IDS[_FLICKR_YTDLP_LABELS[k]])
    if k.isdigit():
        code = int(k)
        if code in FLICKR_LICENSE_IDS:
            return _mapped(raw, FLICKR_LICENSE_IDS[code])
        return LicenseInfo(raw=raw, spdx=UNKNOWN, found_in=FOUND_IN)  # an id Flickr has not defined
    return _free_text(raw)  # Flickr API names: "CC BY 2.0", "CC BY-NC 4.0", ...


_READERS: dict[str, Callable[[str], LicenseInfo]] = {
    "youtube": _with_tables(_YOUTUBE_LABELS),
    "vimeo": _with_tables(_CC_SHORT_CODES),
    "peertube": _with_tables(_PEERTUBE_LABELS),
    "flickr": _read_flickr,
    "archiveorg": _free_text,
    "wikimedia": _free_text,
    "soundcloud": _with_tables(_SOUNDCLOUD_CODES),
    "jamendo": _with_tables(_CC_SHORT_CODES),
    "minds": _with_tables(_MINDS_CODES),
    "khanacademy": _with_tables(_YOUTUBE_LABELS),
    "lbry": _free_text,
}
_GENERIC = _with_tables()


def extractor_family(info: Mapping[str, Any]) -> str | None:
    """Which platform's format the dict is in: from `extractor_key` ("PeerTubePlaylist" -> peertube),
    else from `extractor` (yt-dlp's IE_NAME, e.g. "archive.org" -> archiveorg); None if neither names one."""
    for field in ("extractor_key", "ie_key", "extractor"):
        value = info.get(field)
        if not isinstance(value, str):
            continue
        squashed = re.sub(r"[^a-z]", "", value.casefold())
        for family in _READERS:
            if squashed.startswith(family):
                return family
    return None


def license_from_info(info: Mapping[str, Any]) -> LicenseInfo | None:
    """The licence a yt-dlp info dict (full or a flat playlist entry) states, or None if it states none.

    Never raises. The raw value is kept as evidence; anything unreadable is `LicenseRef-Unknown`.
    """
    try:
        raw = info.get("license")
    except Exception:  # noqa: BLE001 - not a mapping: nothing was stated
        return None
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        family = extractor_family(info)
        if isinstance(raw, bool) or not isinstance(raw, (str, int)):
            # Lists, dicts, floats: no extractor writes these; keep what was seen, grant nothing.
            return LicenseInfo(raw=_as_evidence(raw), spdx=UNKNOWN, found_in=FOUND_IN)
        if isinstance(raw, int):
            if family == "flickr" and raw in FLICKR_LICENSE_IDS:
                return _mapped(str(raw), FLICKR_LICENSE_IDS[raw])
            return LicenseInfo(raw=str(raw), spdx=UNKNOWN, found_in=FOUND_IN)
        if len(raw) > _MAX_RAW:
            return LicenseInfo(raw=raw[:_MAX_RAW], spdx=UNKNOWN, found_in=FOUND_IN)
        reader = _READERS.get(family, _GENERIC) if family else _GENERIC
        return reader(raw)
    except Exception:  # noqa: BLE001 - metadata from the wild must never crash the gate; fail closed
        return LicenseInfo(raw=_as_evidence(raw), spdx=UNKNOWN, found_in=FOUND_IN)


def _as_evidence(raw: object) -> str:
    try:
        text = json.dumps(raw, default=repr, ensure_ascii=False)
    except Exception:  # noqa: BLE001
        text = repr(raw)
    return text[:_MAX_RAW]

"""Embedded rights: C2PA / CAWG training-mining assertions and IPTC PLUS ``plus:DataMining`` in XMP.

Two moments use this unit:

- **Before download**, `remote_manifest_finding` judges a remote C2PA Manifest Store that a HEAD response
  pointed at with ``Link: <...>; rel="c2pa-manifest"`` (C2PA 2.2 §15.5.3.2). The caller fetches it; this
  unit only parses (c2pa-python) and judges.
- **After download, before sharding**, `embedded_findings(path)` looks inside the file: the C2PA Manifest
  Store embedded in it (read and validated by c2pa-python) and every XMP packet it carries. It returns one
  Finding per signal, ``c2pa`` and ``xmp``. The caller purges the file on DENY.

Signals only restrict: every Finding is NONE, REVIEW, DEFER or DENY, never GRANT. An embedded ``allowed``
or ``DMI-ALLOWED`` is reported and gives NONE; only a licence or an acquisition basis can permit.

C2PA / CAWG training-and-data-mining assertion
----------------------------------------------
Defined as ``c2pa.training-mining`` in C2PA 1.4 §19.23, removed from the C2PA specification in 2.0
(C2PA 2.2 version history: "Removed the Training & Data Mining assertion") and re-published by the
Creator Assertions Working Group as ``cawg.training-mining`` (CAWG Training and Data Mining Assertion
1.1, §3 "Assertion definition"). C2PA 2.2 §5.1 lets a validator ignore constructs it does not support;
we do not: a refusal written under the 1.x label is still a refusal. Both labels are read, with
an optional ``__N`` instance suffix, and entries of either prefix (``c2pa.ai_training``,
``cawg.ai_training``, ...) are accepted under either label. Entries sit under an ``entries`` map (the
CAWG 1.1 CDDL and both specs' examples); the C2PA 1.4 CDDL, which puts them at the top level, is read too.
Each entry's ``use`` is ``allowed`` | ``notAllowed`` | ``constrained`` with optional ``constraint_info``
(the prose of both specs spells it ``constraints_info``; both spellings are read).

Per entry, for ClearFrame's use (building training datasets for video models):

- ``ai_training``, ``ai_generative_training``, ``data_mining``:
  ``notAllowed`` -> DENY. ``constrained`` with constraint information -> REVIEW (a human reads the
  constraint). ``constrained`` without it -> DENY: both specs say "In the absence of additional
  information, constrained shall be treated as equivalent to notAllowed". ``allowed`` -> NONE.
- ``ai_inference`` (using the asset as model *input*): ``notAllowed`` or ``constrained`` -> REVIEW.
  Training is not inference, but a dataset pipeline often runs models over its videos (captioning,
  filtering), so a human decides whether this dataset's processing respects the refusal.
- any ``use`` that is missing, not a string or not one of the three values on the entries above ->
  REVIEW: a statement exists and cannot be read (a tampered or malformed assertion, fail closed).
- custom entries (other labels) are listed in the detail and have no effect.

**Validity does not matter for a restriction.** A reservation needs no proof of authenticity (a
permission would), so a ``notAllowed`` counts whatever the validation state: untrusted signer, tampered
media (``assertion.bmffHash.mismatch``), broken signature (``claimSignature.mismatch``). The detail reports
the validation state and failure codes for the audit. Every manifest in the store counts, the active one
and those of ingredients: a refusal attached to footage that was edited into this asset still covers that
footage. This over-restricts for ingredients that are mere inputs (``inputTo``); accepted, fail closed.

Where a file's C2PA data cannot be read:

- c2pa-rs finds no manifest (``ManifestNotFound``) and the box walk saw no C2PA ``uuid`` box -> NONE.
- the container is one for which C2PA 2.2 Appendix A.1 defines no embedding (Matroska/WebM, Ogg,
  MPEG-TS) -> NONE: no embedded manifest can exist; external manifests are the pre-download check's job.
- C2PA data is present but unreadable (corrupt JUMBF, a manifest c2pa-rs rejects, a file c2pa-rs cannot
  parse, an unrecognised container) -> **REVIEW**. Not DEFER: the file is already here and a retry reads
  the same bytes, so DEFER would loop forever; not NONE: the unreadable store may hold a refusal. REVIEW
  keeps the file out of every shard until a human has looked (fail closed). Before giving up, the store
  is read once more without verification, since a restriction does not need a valid manifest.
- several manifest stores in one file -> REVIEW: C2PA 2.2 §15.5.2.1 makes them all invalid, c2pa-rs
  refuses to read them, and one of them may hold a refusal.
- the asset points at a remote manifest (XMP ``dcterms:provenance``, C2PA 2.2 §15.5.3.1), which this unit
  never fetches -> DEFER, naming the URL: the check is incomplete until the caller fetches that store and
  passes it to `remote_manifest_finding`.
- I/O errors, unexpected exceptions, evidence-store failures -> DEFER (possibly transient).

Remote manifest stores (before download) follow the design's rule for unfinished checks instead: bytes
that are not a readable store (an error page, a truncated body) -> DEFER, retried in a later run, nothing
fetched. The asset's hard binding (``assertion.bmffHash.mismatch`` etc.) cannot match before the asset
is downloaded; the detail says so. A ``Link`` target with a JUMBF URI fragment (``#jumbf=c2pa``) refers to
the store embedded in the asset itself (§15.5.3.2): NONE now, judged after download by
`embedded_findings`.

IPTC PLUS ``plus:DataMining`` (XMP)
-----------------------------------
IPTC Photo Metadata Standard 2023.1 and IPTC Video Metadata Hub 1.5 adopted the PLUS Coalition's
``plus:DataMining`` property (namespace ``http://ns.useplus.org/ldf/xmp/1.0/``) with the controlled
vocabulary ``http://ns.useplus.org/ldf/vocab/<code>`` and the companion ``plus:OtherConstraints``
(lang-alt text). Verdict per value:

- ``DMI-UNSPECIFIED`` ("no prohibition defined") -> NONE: no signal.
- ``DMI-ALLOWED`` -> NONE (reported; signals never grant).
- ``DMI-PROHIBITED``, ``DMI-PROHIBITED-AIMLTRAINING``, ``DMI-PROHIBITED-GENAIMLTRAINING`` (we cannot rule
  out generative use of a dataset), ``DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING`` (we are no search
  engine) -> DENY.
- ``DMI-PROHIBITED-SEECONSTRAINT``, ``DMI-PROHIBITED-SEEEMBEDDEDRIGHTSEXPR``,
  ``DMI-PROHIBITED-SEELINKEDRIGHTSEXPR`` -> DENY, with ``plus:OtherConstraints`` quoted in the detail. The
  value *is* a prohibition; the text it points to can only narrow it, and a narrowing that permits our use
  would be a permission, which a signal cannot give: it must come as a licence or contract (and a
  contract source turns this DENY into REVIEW, below). There is no ``DMI-PROHIBITED-SEEPOLICY`` in the
  vocabulary; any unknown code starting ``DMI-PROHIBITED`` is read as the prohibition it names -> DENY.
- anything else (unknown code, empty value) -> REVIEW: a rights statement we cannot read.
- XMP that is not well-formed, declares a DTD/entities, or cannot be fully located in the file -> REVIEW
  (same reasoning as for unreadable C2PA data).

Values are matched case-insensitively, with or without the vocabulary prefix, and ExifTool's printed
labels ("Prohibited for Generative AI/ML training") are understood. The property is read in all RDF/XML
forms XMP allows: attribute on ``rdf:Description``, element text, ``rdf:resource``, ``rdf:value`` and (a
misuse seen in the wild) an array of ``rdf:li``. Several packets or values: the most restrictive wins.

Where XMP is found (XMP Specification Part 3, "Storage in files", MPEG-4 and QuickTime sections):
ISO BMFF files (mp4, mov, m4v) by a bounded box walk, never reading media data: the top-level ``uuid``
box with UUID BE7ACFCB-97A9-42E8-9C71-999491E3AFAC, and ``moov/udta/XMP_`` (also ``moov/trak/udta/XMP_``).
Other containers (Matroska/WebM, Ogg, MPEG-TS, AVI, unknown) by packet scanning (XMP Part 3 §1.1, "XMP
packet wrapper": the ``<?xpacket begin=`` header lets software find packets without knowing the file
format; the spec calls it a last resort because a packet may be obsolete or belong to an embedded
resource, and here any restriction it states counts anyway): a streaming read in 1 MiB chunks, never the
whole file in memory, one pass over the file. UTF-16/32 packets are not found by the scan (rare in
video); the BMFF walk reads them.

A partner-contract source (``contract_id``) whose file carries an embedded refusal: REVIEW instead of
DENY (consent-cases.md). The contract may or may not cover this file; a human reconciles the two. This
applies to every DENY above, C2PA and XMP alike; REVIEW and DEFER verdicts are unchanged.

XML is parsed with the standard library's expat (defusedxml is not installed) with namespace processing,
and any DOCTYPE or entity declaration is refused, so no entity expansion or external fetch can happen.
c2pa-rs runs with remote manifest fetching and OCSP disabled: this unit makes no network request.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit
from xml.parsers import expat

from clearframe.records import Finding, Verdict

__all__ = [
    "C2PA_UUID",
    "DMI_CODES",
    "XMP_UUID",
    "XmpError",
    "XmpPacket",
    "XmpRights",
    "embedded_findings",
    "judge_manifest_store",
    "parse_xmp",
    "parse_xmp_datamining",
    "read_xmp_packets",
    "remote_manifest_finding",
    "xmp_finding",
]

SIGNAL_C2PA = "c2pa"
SIGNAL_XMP = "xmp"

XMP_UUID = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")  # XMP Part 3, MPEG-4 top-level uuid box
C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")  # C2PA 2.2 §A.5.1.1

PLUS_NS = "http://ns.useplus.org/ldf/xmp/1.0/"
PLUS_VOCAB = "http://ns.useplus.org/ldf/vocab/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DCTERMS_NS = "http://purl.org/dc/terms/"

MAX_XMP_BYTES = 16 << 20  # one packet; XMP with embedded thumbnails stays far below this
MAX_XMP_PACKETS = 64
MAX_BOXES = 100_000  # boxes visited in one file (top level plus moov children)
SCAN_CHUNK = 1 << 20
_DETAIL_TEXT = 300  # quoted free text (constraint_info, OtherConstraints) is cut to this many characters

Store = Callable[[bytes, str], str]

# The PLUS Data Mining vocabulary (IPTC Photo Metadata 2023.1 / Video Metadata Hub 1.5), code -> label.
DMI_CODES: dict[str, str] = {
    "DMI-UNSPECIFIED": "Unspecified - no prohibition defined",
    "DMI-ALLOWED": "Allowed",
    "DMI-PROHIBITED-AIMLTRAINING": "Prohibited for AI/ML training",
    "DMI-PROHIBITED-GENAIMLTRAINING": "Prohibited for Generative AI/ML training",
    "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING": "Prohibited except for search engine indexing",
    "DMI-PROHIBITED": "Prohibited",
    "DMI-PROHIBITED-SEECONSTRAINT": "Prohibited, see plus:OtherConstraints",
    "DMI-PROHIBITED-SEEEMBEDDEDRIGHTSEXPR": "Prohibited, see iptcExt:EmbdEncRightsExpr",
    "DMI-PROHIBITED-SEELINKEDRIGHTSEXPR": "Prohibited, see iptcExt:LinkedEncRightsExpr",
}
_DMI_NO_SIGNAL = frozenset({"DMI-UNSPECIFIED", "DMI-ALLOWED"})
_DMI_BY_LABEL = {label.lower().replace("–", "-"): code for code, label in DMI_CODES.items()}

_RANK = {Verdict.NONE: 0, Verdict.REVIEW: 1, Verdict.DEFER: 2, Verdict.DENY: 3}  # as gate.policy.decide


def _cut(text: str, limit: int = _DETAIL_TEXT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _evidence(store: Store | None, data: bytes, media_type: str) -> str:
    return store(data, media_type) if store else hashlib.sha256(data).hexdigest()


def _contract_softens(verdict: Verdict, contract_id: str | None) -> tuple[Verdict, str]:
    if verdict is Verdict.DENY and contract_id:
        return Verdict.REVIEW, (
            f" The source declares partner contract {contract_id!r}; a file that carries its own refusal "
            "goes to REVIEW instead of DENY, for a human to reconcile the contract with it."
        )
    return verdict, ""


# ======================================================================================================
# XMP: parsing and judging one packet
# ======================================================================================================


class XmpError(ValueError):
    """An XMP packet that cannot be read: not well-formed, a DTD, too large, no root element."""


@dataclass(frozen=True)
class XmpRights:
    """What one XMP packet says about data mining, as raw strings (values are judged separately)."""

    data_mining: tuple[str, ...] = ()
    other_constraints: tuple[str, ...] = ()
    provenance: tuple[str, ...] = ()  # dcterms:provenance: URI of a remote C2PA manifest store


def _clark(name: str) -> str:
    """expat's ``uri}local`` (namespace_separator="}") -> ElementTree's ``{uri}local``."""
    return "{" + name if "}" in name else name


def _refuse_dtd(*_args: object) -> None:
    raise XmpError("DOCTYPE or entity declaration in XMP is refused (no DTDs, no entity expansion)")


def _refuse_external(*_args: object) -> int:
    raise XmpError("external entity reference in XMP is refused")


def _xml_root(data: bytes) -> ET.Element:
    if len(data) > MAX_XMP_BYTES:
        raise XmpError(f"XMP packet of {len(data)} bytes exceeds the {MAX_XMP_BYTES}-byte limit")
    if not data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-8 packets are often NUL/space padded
        data = data.rstrip(b"\x00 \t\r\n")
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.UnparsedEntityDeclHandler = _refuse_dtd
    parser.ExternalEntityRefHandler = _refuse_external
    parser.StartElementHandler = lambda name, attrs: builder.start(
        _clark(name), {_clark(k): v for k, v in attrs.items()}
    )
    parser.EndElementHandler = lambda name: builder.end(_clark(name))
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
        root = builder.close()
    except XmpError:
        raise
    except expat.ExpatError as exc:
        raise XmpError(f"XMP is not well-formed XML: {exc}") from None
    except Exception as exc:  # anything odd in the input is a parse failure, never a crash
        raise XmpError(f"XMP could not be parsed: {type(exc).__name__}: {exc}") from None
    if root is None:
        raise XmpError("XMP has no root element")
    return root


_PLUS_DM = f"{{{PLUS_NS}}}DataMining"
_PLUS_OC = f"{{{PLUS_NS}}}OtherConstraints"
_DCT_PROV = f"{{{DCTERMS_NS}}}provenance"
_RDF_RESOURCE = f"{{{RDF_NS}}}resource"
_RDF_VALUE = f"{{{RDF_NS}}}value"
_RDF_LI = f"{{{RDF_NS}}}li"


def _property_values(el: ET.Element) -> list[str]:
    """Values of one XMP property element in any of its RDF/XML forms; [""] if it has none readable."""
    values: list[str] = []
    for attr in (_RDF_RESOURCE, _RDF_VALUE):
        if el.get(attr) is not None:
            values.append(el.get(attr, "").strip())
    children = list(el)
    if not children:
        if not values:
            values.append((el.text or "").strip())
        return values
    for sub in el.iter():
        if sub is el or sub.tag not in (_RDF_LI, _RDF_VALUE):
            continue
        if sub.get(_RDF_RESOURCE) is not None:
            values.append(sub.get(_RDF_RESOURCE, "").strip())
        elif not list(sub):
            values.append((sub.text or "").strip())
    return values or [""]


def parse_xmp(xmp: bytes) -> XmpRights:
    """Read ``plus:DataMining``, ``plus:OtherConstraints`` and ``dcterms:provenance`` from one packet.

    Raises XmpError (and nothing else) when the packet cannot be read.
    """
    root = _xml_root(xmp)
    found: dict[str, list[str]] = {_PLUS_DM: [], _PLUS_OC: [], _DCT_PROV: []}
    for el in root.iter():
        for attr, value in el.attrib.items():
            if attr in found:
                found[attr].append(value.strip())
        if el.tag in found:
            found[el.tag].extend(_property_values(el))
    return XmpRights(
        data_mining=tuple(found[_PLUS_DM]),
        other_constraints=tuple(v for v in found[_PLUS_OC] if v),
        provenance=tuple(v for v in found[_DCT_PROV] if v),
    )


def parse_xmp_datamining(xmp: bytes) -> list[str]:
    """The raw ``plus:DataMining`` values of one XMP packet (usually zero or one). Raises XmpError."""
    return list(parse_xmp(xmp).data_mining)


def _dmi_code(value: str) -> str | None:
    """The vocabulary code a value names (upper case), or None when it names none we can read."""
    v = value.strip()
    low = v.lower()
    for prefix in (PLUS_VOCAB, "https://ns.useplus.org/ldf/vocab/"):
        if low.startswith(prefix):
            v = v[len(prefix) :]
            break
    code = v.upper()
    if code.startswith("DMI-"):
        return code
    return _DMI_BY_LABEL.get(" ".join(low.replace("–", "-").split()))


def _dmi_verdict(value: str) -> tuple[Verdict, str]:
    code = _dmi_code(value)
    if code in _DMI_NO_SIGNAL:
        what = "no prohibition defined" if code == "DMI-UNSPECIFIED" else "allowed (a signal never grants)"
        return Verdict.NONE, f"{code}: {what}"
    if code in DMI_CODES:
        return Verdict.DENY, f"{code} ({DMI_CODES[code]}): AI training / data mining is reserved"
    if code is not None and code.startswith("DMI-PROHIBITED"):
        return Verdict.DENY, f"{code}: not in the PLUS vocabulary, but it names a prohibition"
    if not value.strip():
        return Verdict.REVIEW, "empty value: a Data Mining property without a readable value"
    return Verdict.REVIEW, f"{_cut(value, 120)!r} is not a PLUS Data Mining value"


def _judge_xmp(rights: XmpRights) -> tuple[Verdict, list[str], str | None]:
    """Verdict, one note per value, and the decisive value of one parsed packet."""
    verdict: Verdict = Verdict.NONE
    notes: list[str] = []
    decisive: str | None = None
    for value in rights.data_mining:
        v, note = _dmi_verdict(value)
        notes.append(f"plus:DataMining={_cut(value, 120)!r} -> {note}")
        if decisive is None or _RANK[v] > _RANK[verdict]:
            verdict, decisive = v, value
    return verdict, notes, decisive


def xmp_finding(
    xmp: bytes,
    *,
    locator: str,
    where: str = "XMP packet",
    contract_id: str | None = None,
    store_evidence: Store | None = None,
) -> Finding:
    """Judge one XMP packet (see the module docstring). Never raises: errors become REVIEW or DEFER."""
    return _xmp_packets_finding([XmpPacket(where, xmp)], locator, None, contract_id, store_evidence)


# ======================================================================================================
# Finding XMP packets (and C2PA boxes) in a file
# ======================================================================================================


@dataclass(frozen=True)
class XmpPacket:
    where: str  # e.g. "top-level uuid box at byte 674"
    data: bytes


@dataclass
class _Scan:
    container: str  # bmff | riff | matroska | ogg | mpegts | unknown
    packets: list[XmpPacket] = field(default_factory=list)
    c2pa_boxes: list[str] = field(default_factory=list)  # C2PA uuid boxes seen (BMFF only)
    c2pa_stores: int = 0  # of which hold a whole manifest store (box_purpose "manifest")
    problem: str | None = None  # the file could not be examined completely


class _Broken(Exception):
    pass


_BMFF_FIRST = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"uuid", b"pnot", b"styp", b"sidx"}


def _sniff(head: bytes) -> str:
    if len(head) >= 8 and head[4:8] in _BMFF_FIRST:
        return "bmff"
    if head[:4] == b"RIFF":
        return "riff"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[:4] == b"OggS":
        return "ogg"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "mpegts"
    return "unknown"


class _BoxWalker:
    """ISO BMFF box headers, read one at a time; media data is never read."""

    def __init__(self, fh: IO[bytes], size: int) -> None:
        self.fh, self.size, self.visited = fh, size, 0

    def boxes(self, start: int, end: int, parent: str) -> Iterator[tuple[bytes, int, int, int]]:
        """(type, offset, header length, total size) of each box in [start, end)."""
        offset = start
        while offset < end:
            self.visited += 1
            if self.visited > MAX_BOXES:
                raise _Broken(f"more than {MAX_BOXES} boxes")
            if end - offset < 8:
                raise _Broken(f"{end - offset} stray bytes at byte {offset} in {parent}")
            self.fh.seek(offset)
            head = self.fh.read(16)
            size, kind, hlen = int.from_bytes(head[:4], "big"), head[4:8], 8
            if size == 1:
                if len(head) < 16:
                    raise _Broken(f"box at byte {offset} in {parent}: 64-bit size cut off")
                size, hlen = int.from_bytes(head[8:16], "big"), 16
            elif size == 0:  # extends to the end of its container
                size = end - offset
            if size < hlen or offset + size > end:
                raise _Broken(
                    f"box {kind.decode('latin-1')!r} at byte {offset} in {parent} declares {size} bytes, "
                    f"{'too few' if size < hlen else f'{offset + size - end} past its end'}"
                )
            yield kind, offset, hlen, size
            offset += size

    def payload(self, offset: int, length: int, what: str) -> bytes:
        if length > MAX_XMP_BYTES:
            raise _Broken(f"{what} holds {length} bytes, over the {MAX_XMP_BYTES}-byte XMP limit")
        self.fh.seek(offset)
        data = self.fh.read(length)
        if len(data) != length:
            raise _Broken(f"{what}: file ended early")
        return data


def _walk_bmff(fh: IO[bytes], size: int, scan: _Scan) -> None:
    w = _BoxWalker(fh, size)

    def xmp_in_udta(start: int, end: int, path: str) -> None:
        for kind, off, hlen, bsize in w.boxes(start, end, path):
            if kind == b"XMP_":
                where = f"{path}/XMP_ box at byte {off}"
                scan.packets.append(XmpPacket(where, w.payload(off + hlen, bsize - hlen, where)))

    try:
        for kind, off, hlen, bsize in w.boxes(0, size, "the file"):
            if kind == b"uuid" and bsize >= hlen + 16:
                fh.seek(off + hlen)
                ext = fh.read(16)
                if ext == XMP_UUID:
                    where = f"top-level XMP uuid box at byte {off}"
                    scan.packets.append(
                        XmpPacket(where, w.payload(off + hlen + 16, bsize - hlen - 16, where))
                    )
                elif ext == C2PA_UUID:  # a FullBox: version, flags, then box_purpose (C2PA 2.2 §A.5.1.2)
                    purpose = fh.read(4 + 32)[4:].split(b"\0", 1)[0].decode("latin-1")
                    if purpose == "manifest":
                        scan.c2pa_stores += 1
                    scan.c2pa_boxes.append(f"C2PA uuid box ({purpose!r}) at byte {off}, {bsize} bytes")
            elif kind == b"moov":
                for ck, coff, chlen, csize in w.boxes(off + hlen, off + bsize, "moov"):
                    if ck == b"udta":
                        xmp_in_udta(coff + chlen, coff + csize, "moov/udta")
                    elif ck == b"trak":
                        for tk, toff, thlen, tsize in w.boxes(coff + chlen, coff + csize, "moov/trak"):
                            if tk == b"udta":
                                xmp_in_udta(toff + thlen, toff + tsize, "moov/trak/udta")
            if len(scan.packets) > MAX_XMP_PACKETS:
                raise _Broken(f"more than {MAX_XMP_PACKETS} XMP packets")
    except _Broken as exc:
        scan.problem = f"ISO BMFF structure could not be walked completely: {exc}"


_BEGIN = b"<?xpacket begin="
_END = b"<?xpacket end="


def _scan_packets(fh: IO[bytes], scan: _Scan) -> None:
    """XMP packet scanning (XMP Part 3 §1.1), streaming; at most MAX_XMP_BYTES held per packet."""
    fh.seek(0)
    buf, buf_at = b"", 0
    while True:
        i = buf.find(_BEGIN)
        if i < 0:
            keep = len(_BEGIN) - 1
            buf_at += max(0, len(buf) - keep)
            buf = buf[-keep:] if len(buf) > keep else buf
            chunk = fh.read(SCAN_CHUNK)
            if not chunk:
                return
            buf += chunk
            continue
        buf, buf_at = buf[i:], buf_at + i
        while True:
            j = buf.find(_END, len(_BEGIN))
            k = buf.find(b"?>", j) if j >= 0 else -1
            if k >= 0:
                scan.packets.append(XmpPacket(f"XMP packet at byte {buf_at}", buf[: k + 2]))
                buf, buf_at = buf[k + 2 :], buf_at + k + 2
                break
            if len(buf) > MAX_XMP_BYTES:
                scan.problem = f"XMP packet at byte {buf_at} has no end within {MAX_XMP_BYTES} bytes"
                buf, buf_at = buf[len(_BEGIN) :], buf_at + len(_BEGIN)
                break
            chunk = fh.read(SCAN_CHUNK)
            if not chunk:
                scan.problem = f"XMP packet at byte {buf_at} is cut off by the end of the file"
                return
            buf += chunk
        if len(scan.packets) > MAX_XMP_PACKETS:
            scan.problem = f"more than {MAX_XMP_PACKETS} XMP packets"
            return


def _scan_file(path: Path) -> _Scan:
    with path.open("rb") as fh:
        size = path.stat().st_size
        scan = _Scan(_sniff(fh.read(256)))
        if scan.container == "bmff":
            _walk_bmff(fh, size, scan)
        else:
            _scan_packets(fh, scan)
    return scan


def read_xmp_packets(path: str | Path) -> list[XmpPacket]:
    """Every XMP packet in a media file (bounded box walk for ISO BMFF, packet scan otherwise).

    Raises OSError if the file cannot be read and ValueError if it cannot be examined completely.
    """
    scan = _scan_file(Path(path))
    if scan.problem:
        raise ValueError(f"{path}: {scan.problem}")
    return scan.packets


def _xmp_packets_finding(
    packets: list[XmpPacket],
    locator: str,
    problem: str | None,
    contract_id: str | None,
    store: Store | None,
) -> Finding:
    try:
        if not packets and not problem:
            detail = f"XMP: no XMP packet in {locator}: no plus:DataMining signal"
            return Finding(SIGNAL_XMP, Verdict.NONE, detail, locator=locator)
        verdict: Verdict = Verdict.NONE
        rule: str | None = None
        decisive: XmpPacket | None = packets[0] if packets else None
        parts: list[str] = []
        constraints: list[str] = []
        for packet in packets:
            try:
                rights = parse_xmp(packet.data)
            except XmpError as exc:
                v, why = Verdict.REVIEW, "unreadable XMP"
                parts.append(f"{packet.where}: unreadable ({exc}); it may hold a rights statement")
            else:
                v, notes, value = _judge_xmp(rights)
                why = f"plus:DataMining={value}"
                constraints.extend(rights.other_constraints)
                if notes:
                    parts.append(f"{packet.where}: " + "; ".join(notes))
            if _RANK[v] > _RANK[verdict]:
                verdict, rule, decisive = v, why, packet
        if problem:
            parts.append(f"the file could not be examined completely ({problem}); XMP may have been missed")
            if _RANK[Verdict.REVIEW] > _RANK[verdict]:
                verdict, rule = Verdict.REVIEW, "incomplete examination"
        if not parts:
            where = ", ".join(p.where for p in packets[:4])
            parts.append(f"{len(packets)} XMP packet(s) ({where}) without plus:DataMining")
        if constraints:
            parts.append("plus:OtherConstraints: " + " | ".join(_cut(c, 200) for c in constraints[:3]))
        verdict, softened = _contract_softens(verdict, contract_id)
        outcome = {
            Verdict.DENY: "-> DENY: the file's XMP reserves AI training / data mining",
            Verdict.REVIEW: "-> REVIEW: a human must read this",
            Verdict.DEFER: "-> DEFER",
            Verdict.NONE: "-> no restriction",
        }[verdict]
        detail = f"XMP in {locator}: " + " / ".join(parts) + f" {outcome}.{softened}"
        evidence = _evidence(store, decisive.data, "application/rdf+xml") if decisive else None
        return Finding(SIGNAL_XMP, verdict, detail, locator=locator, rule=rule, evidence=evidence)
    except Exception as exc:  # fail closed
        return Finding(
            SIGNAL_XMP,
            Verdict.DEFER,
            f"XMP check of {locator} failed: {type(exc).__name__}: {exc}; retried later",
            locator=locator,
        )


# ======================================================================================================
# C2PA: judging a manifest store (the JSON c2pa-rs reports)
# ======================================================================================================

_TM_LABEL = re.compile(r"(c2pa|cawg)\.training-mining(__\d+)?")
_ENTRY_KEY = re.compile(r"(c2pa|cawg)\.(ai_training|ai_generative_training|data_mining|ai_inference)")
_TRAINING_USES = frozenset({"ai_training", "ai_generative_training", "data_mining"})


def _entry_verdict(use_name: str, entry: Any) -> tuple[Verdict, str]:
    if not isinstance(entry, dict):
        return Verdict.REVIEW, f"unreadable entry {_cut(repr(entry), 80)}"
    use = entry.get("use")
    info = entry.get("constraint_info", entry.get("constraints_info"))
    info_text = info.strip() if isinstance(info, str) else ""
    if use not in ("allowed", "notAllowed", "constrained"):
        return Verdict.REVIEW, f"use={_cut(repr(use), 80)} is not allowed/notAllowed/constrained"
    if use == "allowed":
        return Verdict.NONE, "allowed"
    if use_name == "ai_inference":
        why = " (" + _cut(info_text) + ")" if info_text else ""
        return (
            Verdict.REVIEW,
            f"{use}{why}: a refusal of AI inference; a human decides if our processing uses it",
        )
    if use == "notAllowed":
        return Verdict.DENY, "notAllowed"
    if info_text:
        return Verdict.REVIEW, f"constrained: {_cut(info_text)!r} (a human reads the constraint)"
    return Verdict.DENY, "constrained without constraint_info: equivalent to notAllowed (spec)"


def _generator(manifest: dict[str, Any]) -> str:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict):
        first = info[0]
        return " ".join(str(first[k]) for k in ("name", "version") if first.get(k)) or "unnamed"
    gen = manifest.get("claim_generator")
    return str(gen) if gen else "unknown"


def _signer(manifest: dict[str, Any]) -> str:
    sig = manifest.get("signature_info")
    if not isinstance(sig, dict):
        return "unknown signer"
    who = sig.get("common_name") or sig.get("issuer") or "unnamed"
    issuer = f", issuer {sig['issuer']!r}" if sig.get("issuer") and sig.get("common_name") else ""
    when = f", signed {sig['time']}" if sig.get("time") else ""
    return f"signer {who!r}{issuer}{when}"


@dataclass
class _StoreJudgement:
    verdict: Verdict
    rule: str | None
    summary: str  # who made the store and its validation state
    entries: list[str]  # one line per training-mining assertion


def judge_manifest_store(store: dict[str, Any]) -> tuple[Verdict, str | None, str]:
    """Verdict, decisive rule and a readable summary for a manifest store as c2pa-rs reports it (JSON).

    The verdict is before the contract rule. Never raises on odd input: unreadable parts give REVIEW.
    """
    j = _judge_store(store)
    return j.verdict, j.rule, j.summary + (" " + " ".join(j.entries) if j.entries else "")


def _judge_store(store: Any) -> _StoreJudgement:
    if not isinstance(store, dict) or not isinstance(store.get("manifests"), dict):
        return _StoreJudgement(
            Verdict.REVIEW, "manifest store", "the manifest store has no readable manifests", []
        )
    manifests: dict[str, Any] = store["manifests"]
    active = store.get("active_manifest")
    state = store.get("validation_state") or "not reported"
    status = store.get("validation_status")
    codes = (
        [str(s["code"]) for s in status if isinstance(s, dict) and s.get("code")]
        if isinstance(status, list)
        else []
    )
    am = manifests.get(active) if isinstance(active, str) else None
    summary = (
        f"active manifest {active!r} by claim generator {_generator(am)!r}, {_signer(am)}"
        if isinstance(am, dict)
        else f"no readable active manifest ({active!r})"
    )
    summary += f"; validation state {state}" + (f" ({', '.join(codes[:8])})" if codes else "")
    summary += f"; {len(manifests)} manifest(s) in the store."

    verdict, rule, entries = Verdict.NONE, None, []
    for label, manifest in manifests.items():
        role = "active manifest" if label == active else f"ingredient manifest {label!r}"
        assertions = manifest.get("assertions") if isinstance(manifest, dict) else None
        if not isinstance(assertions, list):
            continue
        for assertion in assertions:
            alabel = assertion.get("label") if isinstance(assertion, dict) else None
            if not isinstance(alabel, str) or not _TM_LABEL.fullmatch(alabel):
                continue
            data = assertion.get("data")
            items: dict[str, Any] | None = None
            if isinstance(data, dict):
                if isinstance(data.get("entries"), dict):
                    items = data["entries"]
                elif any(isinstance(k, str) and _ENTRY_KEY.fullmatch(k) for k in data):
                    items = {k: v for k, v in data.items() if k != "metadata"}  # C2PA 1.4 CDDL layout
            if items is None:
                v = Verdict.REVIEW
                entries.append(f"Assertion {alabel} in the {role} has no readable entries map -> REVIEW.")
                if _RANK[v] > _RANK[verdict]:
                    verdict, rule = v, f"{alabel} (no entries)"
                continue
            notes, custom = [], []
            for key, entry in items.items():
                m = _ENTRY_KEY.fullmatch(key) if isinstance(key, str) else None
                if m is None:
                    custom.append(str(key))
                    continue
                v, note = _entry_verdict(m.group(2), entry)
                notes.append(f"{key}={note}")
                if _RANK[v] > _RANK[verdict]:
                    use = entry.get("use") if isinstance(entry, dict) else entry
                    verdict, rule = v, f"{alabel}: {key}={_cut(str(use), 40)} ({role})"
            line = f"Assertion {alabel} in the {role}: " + (
                "; ".join(notes) if notes else "no standard entries"
            )
            if custom:
                line += f" (custom entries ignored: {', '.join(custom[:6])})"
            entries.append(line + ".")
            if rule is None:
                rule = f"{alabel} ({role})"
    return _StoreJudgement(verdict, rule, summary, entries)


def _store_detail(source: str, j: _StoreJudgement, verdict: Verdict, softened: str, extra: str = "") -> str:
    if not j.entries and j.verdict is Verdict.NONE:
        body = "no training-mining assertion (c2pa.training-mining / cawg.training-mining) in any manifest"
        return f"C2PA: {source}: {j.summary} {body}: no restriction.{extra}"
    if j.verdict is Verdict.DENY:
        end = (
            " -> AI training / data mining is reserved. A reservation needs no proof of authenticity, so it "
            "counts whatever the validation state."
        )
    elif j.verdict is Verdict.REVIEW:
        end = " -> REVIEW: a human must read this statement."
    else:
        end = " -> no restriction (an embedded 'allowed' is reported, never a grant)."
    return f"C2PA: {source}: {j.summary} " + " ".join(j.entries) + end + extra + softened


# ======================================================================================================
# C2PA: reading with c2pa-python
# ======================================================================================================


def _c2pa() -> Any:
    import c2pa  # imported on first use: a 20 MB native library that DAG parsing should not load

    return c2pa


def _context(c2pa: Any, *, verify: bool = True) -> Any:
    verify_cfg = {"remote_manifest_fetch": False, "ocsp_fetch": False, "verify_after_reading": verify}
    return c2pa.Context.from_dict({"verify": verify_cfg, "core": {"allowed_network_hosts": []}})


def _read_store(c2pa: Any, fmt: str | None, stream: IO[bytes]) -> tuple[dict[str, Any], str | None]:
    """The manifest store JSON, read with verification; if c2pa-rs rejects the store outright, read again
    without verification (a restriction needs no valid manifest). Returns (store, note)."""

    def read(verify: bool) -> dict[str, Any]:
        ctx = _context(c2pa, verify=verify)
        reader = c2pa.Reader(fmt, stream, context=ctx) if fmt else c2pa.Reader(stream, context=ctx)
        with reader:
            return dict(json.loads(reader.json()))

    try:
        return read(verify=True), None
    except c2pa.C2paError as first:
        if isinstance(
            first, (c2pa.C2paError.ManifestNotFound, c2pa.C2paError.NotSupported, c2pa.C2paError.Io)
        ):
            raise
        if str(first).startswith("Remote"):
            raise
        stream.seek(0)
        try:
            store = read(verify=False)
        except c2pa.C2paError:
            raise first from None
        return store, f" Verification failed outright ({first}); the store was read without verification."


def _c2pa_file_finding(
    path: Path, scan: _Scan, provenance: list[str], contract_id: str | None, store: Store | None
) -> Finding:
    locator = str(path)
    c2pa = _c2pa()
    version = c2pa.sdk_version()

    def finding(
        verdict: Verdict, detail: str, rule: str | None = None, evidence: str | None = None
    ) -> Finding:
        return Finding(SIGNAL_C2PA, verdict, detail, locator=locator, rule=rule, evidence=evidence)

    seen = f" The box walk saw: {'; '.join(scan.c2pa_boxes)}." if scan.c2pa_boxes else ""
    try:
        with path.open("rb") as fh:
            data, note = _read_store(c2pa, None, fh)
    except c2pa.C2paError.ManifestNotFound:
        if scan.c2pa_boxes:
            return finding(
                Verdict.REVIEW,
                f"C2PA: {locator}: c2pa-rs {version} found no manifest store, but the file has C2PA data.{seen} "
                "Unreadable C2PA data may hold a refusal -> REVIEW (a retry reads the same bytes).",
                rule="unreadable C2PA data",
            )
        if provenance:
            return _remote_reference(finding, locator, provenance)
        return finding(
            Verdict.NONE, f"C2PA: no C2PA manifest store in {locator} (c2pa-rs {version}): no signal"
        )
    except c2pa.C2paError.NotSupported as exc:
        if scan.container in ("matroska", "ogg", "mpegts"):
            return finding(
                Verdict.NONE,
                f"C2PA: {locator} is {scan.container}, a container for which C2PA 2.2 Appendix A.1 defines "
                "no embedded manifest: none can be present (external manifests are checked before "
                "download)",
            )
        return finding(
            Verdict.REVIEW,
            f"C2PA: c2pa-rs {version} cannot read {locator} ({scan.container} container: {exc}); whether it "
            "carries a manifest is unknown -> REVIEW",
            rule="unsupported container",
        )
    except c2pa.C2paError.Io:
        raise
    except c2pa.C2paError as exc:
        if str(exc).startswith("Remote") or (provenance and not scan.c2pa_boxes):
            return _remote_reference(finding, locator, provenance, str(exc))
        return finding(
            Verdict.REVIEW,
            f"C2PA: {locator}: the C2PA data cannot be read by c2pa-rs {version} ({_cut(str(exc))})."
            f"{seen} Unreadable C2PA data may hold a refusal and a retry reads the same "
            "bytes -> REVIEW",
            rule="unreadable C2PA data",
        )
    j = _judge_store(data)
    if scan.c2pa_stores > 1 and _RANK[j.verdict] < _RANK[Verdict.REVIEW]:
        j.verdict, j.rule = Verdict.REVIEW, "multiple C2PA manifest stores"
        j.entries.append(
            f"The file holds {scan.c2pa_stores} manifest stores.{seen} C2PA 2.2 §15.5.2.1 makes them all "
            "invalid and c2pa-rs reports only one; a refusal in another would be missed -> REVIEW."
        )
    verdict, softened = _contract_softens(j.verdict, contract_id)
    evidence = _evidence(store, json.dumps(data, sort_keys=True).encode(), "application/json")
    source = f"{locator} carries a manifest store (read by c2pa-rs {version})"
    return finding(verdict, _store_detail(source, j, verdict, softened, note or ""), j.rule, evidence)


def _remote_reference(
    finding: Callable[..., Finding], locator: str, provenance: list[str], error: str = ""
) -> Finding:
    urls = ", ".join(provenance) if provenance else "(URL not given)"
    why = f" ({_cut(error, 160)})" if error else ""
    return finding(
        Verdict.DEFER,
        f"C2PA: {locator} has no embedded manifest store but points at a remote one: {urls}{why} "
        "(XMP dcterms:provenance, C2PA 2.2 §15.5.3.1). This unit never fetches; the check is incomplete "
        "until that store is fetched and judged with remote_manifest_finding -> DEFER",
        rule=f"dcterms:provenance {provenance[0]}" if provenance else "remote manifest",
    )


def remote_manifest_finding(
    manifest_bytes: bytes,
    manifest_url: str,
    *,
    contract_id: str | None = None,
    store_evidence: Store | None = None,
) -> Finding:
    """Judge a remote C2PA Manifest Store (``application/c2pa``) named by ``Link: rel="c2pa-manifest"``.

    Fetching is the caller's job. Unreadable bytes -> DEFER (nothing is downloaded; retried later).
    """

    def finding(
        verdict: Verdict, detail: str, rule: str | None = None, evidence: str | None = None
    ) -> Finding:
        return Finding(SIGNAL_C2PA, verdict, detail, locator=manifest_url, rule=rule, evidence=evidence)

    try:
        if "jumbf=" in urlsplit(manifest_url).fragment:
            return finding(
                Verdict.NONE,
                f"C2PA: the Link rel=c2pa-manifest target {manifest_url} is a JUMBF URI into the asset itself "
                "(C2PA 2.2 §15.5.3.2): the store is embedded and is judged after download, before sharding",
                rule="Link rel=c2pa-manifest (embedded)",
            )
        if not manifest_bytes:
            return finding(
                Verdict.DEFER, f"C2PA: the remote manifest store {manifest_url} was empty; retried later"
            )
        evidence = _evidence(store_evidence, manifest_bytes, "application/c2pa")
        c2pa = _c2pa()
        version = c2pa.sdk_version()
        try:
            data, note = _read_store(c2pa, "application/c2pa", io.BytesIO(manifest_bytes))
        except c2pa.C2paError as exc:
            return finding(
                Verdict.DEFER,
                f"C2PA: the remote manifest store {manifest_url} ({len(manifest_bytes)} bytes) is not readable "
                f"by c2pa-rs {version} ({_cut(str(exc), 160)}); nothing is downloaded, "
                "retried later",
                rule="Link rel=c2pa-manifest",
                evidence=evidence,
            )
        j = _judge_store(data)
        verdict, softened = _contract_softens(j.verdict, contract_id)
        extra = (note or "") + (
            " The asset's hash binding cannot match before the asset is downloaded, so hash mismatches here "
            "are expected."
        )
        source = f"remote manifest store {manifest_url} ({len(manifest_bytes)} bytes, c2pa-rs {version})"
        return finding(verdict, _store_detail(source, j, verdict, softened, extra), j.rule, evidence)
    except Exception as exc:  # fail closed
        return finding(
            Verdict.DEFER,
            f"C2PA: judging the remote manifest store {manifest_url} failed: {type(exc).__name__}: {exc}; "
            "retried later",
        )


# ======================================================================================================
# The file-level entry point
# ======================================================================================================


def embedded_findings(
    path: str | Path,
    *,
    contract_id: str | None = None,
    store_evidence: Store | None = None,
) -> list[Finding]:
    """Embedded rights of a downloaded media file: ``[c2pa finding, xmp finding]``. Never raises.

    `contract_id`: the source's partner contract, if any (an embedded refusal then gives REVIEW, not
    DENY). `store_evidence(data, media_type) -> sha256`: stores the manifest store JSON / XMP packet.
    """
    path = Path(path)
    locator = str(path)
    try:
        scan = _scan_file(path)
    except Exception as exc:
        why = f"{type(exc).__name__}: {exc}"
        return [
            Finding(
                s,
                Verdict.DEFER,
                f"{s.upper()}: {locator} could not be read ({why}); retried later",
                locator=locator,
            )
            for s in (SIGNAL_C2PA, SIGNAL_XMP)
        ]
    provenance: list[str] = []
    for packet in scan.packets:
        try:
            provenance.extend(parse_xmp(packet.data).provenance)
        except XmpError:
            pass  # reported by the XMP finding
    try:
        c2pa_finding = _c2pa_file_finding(path, scan, provenance, contract_id, store_evidence)
    except Exception as exc:  # I/O errors, bugs, evidence store: fail closed
        c2pa_finding = Finding(
            SIGNAL_C2PA,
            Verdict.DEFER,
            f"C2PA check of {locator} failed: {type(exc).__name__}: {exc}; retried later",
            locator=locator,
        )
    xmp = _xmp_packets_finding(scan.packets, locator, scan.problem, contract_id, store_evidence)
    return [c2pa_finding, xmp]

"""Test media carrying real embedded rights: C2PA manifests signed with c2pa-python, and XMP packets.

Signing needs an X.509 chain that c2pa-rs accepts as a C2PA signer (C2PA 2.2 §14.5.1): an end-entity
certificate that is not a CA, with Key Usage digitalSignature (critical), a non-empty Extended Key Usage
without anyExtendedKeyUsage (we use id-kp-emailProtection), Authority and Subject Key Identifiers, issued
by a CA certificate (a self-signed leaf is not an end entity). `make_credentials` builds such a chain on
the fly with `cryptography` (ES256, P-256). No timestamp authority is used, so signing is offline. The
root is not in c2pa-rs' trust list, so readers report ``signingCredential.untrusted`` (state "Valid", not
"Trusted"), which is what a random file from the web looks like.

The XMP helpers write packets where the XMP specification (Part 3) puts them in ISO BMFF: a top-level
``uuid`` box (appended after the last box, so no media offset moves) or ``moov/udta/XMP_`` (for files whose
``moov`` is the last box, as `clearframe.mediagen.make_clip` writes them without faststart).
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from clearframe.gate.embedded import C2PA_UUID, XMP_UUID

PLUS_VOCAB = "http://ns.useplus.org/ldf/vocab/"


# --- signing credentials --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningCredentials:
    chain_pem: bytes  # end-entity certificate, then the root that issued it
    key_pem: bytes  # PKCS#8 private key of the end entity
    root_pem: bytes
    common_name: str
    organization: str


def _name(cn: str, org: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]
    )


def _key_usage(*, signer: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signer,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signer,
        crl_sign=not signer,
        encipher_only=False,
        decipher_only=False,
    )


def make_credentials(
    common_name: str = "ClearFrame Test Signer", organization: str = "ClearFrame Tests"
) -> SigningCredentials:
    now = dt.datetime.now(dt.UTC)
    valid = (now - dt.timedelta(days=1), now + dt.timedelta(days=30))
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(f"{organization} Root CA", organization)
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signer=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organization))
        .issuer_name(root_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signer=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return SigningCredentials(
        chain_pem=leaf.public_bytes(pem) + root.public_bytes(pem),
        key_pem=leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        root_pem=root.public_bytes(pem),
        common_name=common_name,
        organization=organization,
    )


# --- C2PA manifests -------------------------------------------------------------------------------------

CREATED = {
    "label": "c2pa.actions",
    "data": {
        "actions": [
            {
                "action": "c2pa.created",
                "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
            }
        ]
    },
}


def training_mining(
    entries: Mapping[str, str | Mapping[str, str]], *, label: str = "cawg.training-mining"
) -> dict[str, Any]:
    """A training-mining assertion: ``{"cawg.ai_training": "notAllowed"}`` or full entry maps."""
    data = {k: ({"use": v} if isinstance(v, str) else dict(v)) for k, v in entries.items()}
    return {"label": label, "data": {"entries": data}}


def sign_media(
    src: Path,
    dst: Path,
    *,
    creds: SigningCredentials,
    assertions: list[dict[str, Any]],
    claim_generator: tuple[str, str] = ("clearframe-tests", "1.0"),
    remote_url: str | None = None,
    mime: str = "video/mp4",
) -> bytes:
    """Sign `src` into `dst` with a manifest holding `assertions` (plus a c2pa.created action).

    Returns the manifest store bytes (``application/c2pa``). With `remote_url` the store is not embedded:
    `dst` gets an XMP ``dcterms:provenance`` reference instead, and the returned bytes are the sidecar.
    """
    manifest = {
        "claim_generator_info": [{"name": claim_generator[0], "version": claim_generator[1]}],
        "title": src.name,
        "assertions": [CREATED, *assertions],
    }
    ctx = c2pa.Context.from_dict(
        {
            "builder": {"thumbnail": {"enabled": False}},
            "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
        }
    )
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, creds.chain_pem, creds.key_pem, None)
    with ctx, c2pa.Signer.from_info(info) as signer, c2pa.Builder(manifest, ctx) as builder:
        if remote_url:
            builder.set_no_embed()
            builder.set_remote_url(remote_url)
        with src.open("rb") as fin, dst.open("w+b") as fout:
            return bytes(builder.sign(signer, mime, fin, fout))


# --- ISO BMFF surgery -----------------------------------------------------------------------------------


def top_level_boxes(path: Path) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of each top-level box (32-bit sizes only, as our test clips have)."""
    data = path.read_bytes()
    out, off = [], 0
    while off + 8 <= len(data):
        size = int.from_bytes(data[off : off + 4], "big")
        kind = data[off + 4 : off + 8]
        if size < 8:
            raise ValueError(
                f"{path}: box {kind!r} at {off} has size {size}; helper handles 32-bit sizes only"
            )
        out.append((kind, off, size))
        off += size
    return out


def _box(kind: bytes, payload: bytes) -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


def c2pa_box(path: Path) -> tuple[int, int]:
    """(offset, size) of the C2PA manifest store's uuid box."""
    data = path.read_bytes()
    for kind, off, size in top_level_boxes(path):
        if kind == b"uuid" and data[off + 8 : off + 24] == C2PA_UUID:
            return off, size
    raise ValueError(f"{path} has no C2PA uuid box")


def _flip(src: Path, dst: Path, offset: int) -> None:
    data = bytearray(src.read_bytes())
    data[offset] ^= 0xFF
    dst.write_bytes(bytes(data))


def tamper_media(src: Path, dst: Path) -> None:
    """Change one byte in the middle of the media data: the hard binding no longer matches."""
    _kind, off, size = next(b for b in top_level_boxes(src) if b[0] == b"mdat")
    _flip(src, dst, off + size // 2)


def tamper_signature(src: Path, dst: Path) -> None:
    """Change one byte inside the COSE signature (the last box of the manifest store)."""
    off, size = c2pa_box(src)
    _flip(src, dst, off + size - 40)


def corrupt_manifest_store(src: Path, dst: Path) -> None:
    """Zero the JUMBF description of the manifest store: the C2PA data is there but unreadable."""
    off, _size = c2pa_box(src)
    data = bytearray(src.read_bytes())
    jumb = data.index(b"jumb", off)
    data[jumb + 4 : jumb + 40] = bytes(36)
    dst.write_bytes(bytes(data))


# --- XMP ------------------------------------------------------------------------------------------------


def xmp_packet(
    *,
    data_mining: str | None = None,
    other_constraints: str | None = None,
    form: str = "element",
    provenance: str | None = None,
    vocab_prefix: bool = True,
) -> bytes:
    """A real XMP packet (xpacket wrapper, x:xmpmeta, rdf:RDF) with an IPTC/PLUS Data Mining statement.

    `data_mining`: a vocabulary code such as ``DMI-PROHIBITED-AIMLTRAINING`` (the PLUS URI prefix is added
    unless `vocab_prefix` is false). `form`: how the property is serialised, ``element`` (text),
    ``attribute`` (on rdf:Description) or ``resource`` (rdf:resource).
    """
    value = (PLUS_VOCAB + data_mining if vocab_prefix else data_mining) if data_mining is not None else None
    attrs = ['rdf:about=""']
    props = []
    if value is not None:
        if form == "attribute":
            attrs.append(f"plus:DataMining={quoteattr(value)}")
        elif form == "resource":
            props.append(f"<plus:DataMining rdf:resource={quoteattr(value)}/>")
        else:
            props.append(f"<plus:DataMining>{escape(value)}</plus:DataMining>")
    if other_constraints is not None:
        props.append(
            "<plus:OtherConstraints><rdf:Alt>"
            f'<rdf:li xml:lang="x-default">{escape(other_constraints)}</rdf:li>'
            "</rdf:Alt></plus:OtherConstraints>"
        )
    if provenance is not None:
        attrs.append(f"dcterms:provenance={quoteattr(provenance)}")
    xml = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
        + " ".join(attrs)
        + '>\n   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">test clip</rdf:li></rdf:Alt></dc:title>\n   '
        + "\n   ".join(props)
        + "\n  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n"
        + " " * 200  # the writable padding XMP packets usually carry
        + '\n<?xpacket end="w"?>'
    )
    return xml.encode("utf-8")


def append_xmp_uuid(src: Path, dst: Path, packet: bytes) -> None:
    """Append a top-level XMP ``uuid`` box (XMP Part 3, MPEG-4)."""
    if src != dst:
        shutil.copyfile(src, dst)
    with dst.open("ab") as fh:
        fh.write(_box(b"uuid", XMP_UUID + packet))


def add_xmp_udta(src: Path, dst: Path, packet: bytes) -> None:
    """Put an ``XMP_`` box into ``moov/udta`` (XMP Part 3, QuickTime); ``moov`` must be the last box."""
    data = src.read_bytes()
    boxes = top_level_boxes(src)
    kind, moov_off, moov_size = boxes[-1]
    if kind != b"moov" or moov_off + moov_size != len(data):
        raise ValueError(f"{src}: moov is not the last box (write the clip without faststart)")
    children, off = [], moov_off + 8
    while off < moov_off + moov_size:
        size = int.from_bytes(data[off : off + 4], "big")
        children.append((data[off + 4 : off + 8], data[off : off + size]))
        off += size
    xmp = _box(b"XMP_", packet)
    for i, (ck, raw) in enumerate(children):
        if ck == b"udta":
            children[i] = (ck, _box(b"udta", raw[8:] + xmp))
            break
    else:
        children.append((b"udta", _box(b"udta", xmp)))
    dst.write_bytes(data[:moov_off] + _box(b"moov", b"".join(raw for _k, raw in children)))

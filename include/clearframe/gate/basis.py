"""Acquisition basis and platform terms: may this source take this item at all?"""

from __future__ import annotations

from clearframe.config import Acquisition
from clearframe.gate.registry import domain_suffixes
from clearframe.records import Finding, Verdict

# Platforms whose terms of service forbid automated downloading. A Creative Commons label on one of
# them does not authorise downloading; only a contract with the rights holder or platform does.
PLATFORMS_FORBIDDING_DOWNLOAD = {
    "youtube.com": "YouTube", "youtu.be": "YouTube", "youtube-nocookie.com": "YouTube",
    "netflix.com": "Netflix", "tiktok.com": "TikTok", "instagram.com": "Instagram",
    "facebook.com": "Facebook", "fb.watch": "Facebook", "twitter.com": "X", "x.com": "X",
    "twitch.tv": "Twitch", "disneyplus.com": "Disney+", "primevideo.com": "Prime Video",
    "hulu.com": "Hulu", "max.com": "Max", "dailymotion.com": "Dailymotion",
}


def contract_authorises(acq: Acquisition, contract_id: str | None) -> bool:
    return acq.basis == "contract" and bool(contract_id) and acq.covers_training


def platform_finding(host: str, acq: Acquisition, contract_id: str | None) -> Finding | None:
    platform = next((PLATFORMS_FORBIDDING_DOWNLOAD[s] for s in domain_suffixes(host)
                     if s in PLATFORMS_FORBIDDING_DOWNLOAD), None)
    if platform is None:
        return None
    if contract_authorises(acq, contract_id):
        return Finding("platform", Verdict.NONE, f"{platform}: download authorised by contract {contract_id}",
                       rule="contract")
    return Finding("platform", Verdict.DENY, f"{platform}'s terms forbid automated download and the source "
                   "declares no contract that authorises it (a CC label there does not)", locator=host,
                   rule=platform)


def basis_finding(kind: str, acq: Acquisition, contract_id: str | None) -> Finding:
    """A delivery needs a contract id; a contract that covers training is itself positive evidence."""
    if kind == "delivery" and not contract_id:
        return Finding("basis", Verdict.DENY, "partner delivery without a contract id: no acquisition basis; "
                       "add contract_id to the manifest or the source's acquisition section", rule="contract_id")
    if contract_authorises(acq, contract_id):
        return Finding("basis", Verdict.GRANT, f"contract {contract_id} authorises AI training",
                       rule="acquisition.covers_training")
    if kind == "delivery":
        return Finding("basis", Verdict.NONE, f"contract {contract_id} (does not state it covers training; "
                       "each item needs an allowed licence)", rule="contract_id")
    return Finding("basis", Verdict.NONE, "open licence source: each item needs an allowed licence")

"""Combine the findings of every signal into one decision.

Restrictions win across signals; a failed or unfinished check defers; only the licence and the
acquisition basis can grant, and without a grant nothing is allowed (a missing licence is not permission).
"""

from __future__ import annotations

import datetime as dt

from clearframe import POLICY_VERSION
from clearframe.records import Decision, Finding, GateResult, LicenseInfo, Verdict

GRANTING_SIGNALS = frozenset({"license", "basis"})


def decide(findings: list[Finding], license: LicenseInfo | None) -> GateResult:
    verdicts = {f.verdict for f in findings}
    if Verdict.DENY in verdicts:
        decision = Decision.DENY
    elif Verdict.DEFER in verdicts:
        decision = Decision.DEFER
    elif Verdict.REVIEW in verdicts:
        decision = Decision.REVIEW
    elif any(f.verdict is Verdict.GRANT and f.signal in GRANTING_SIGNALS for f in findings):
        decision = Decision.ALLOW
    else:
        decision = Decision.DENY
        findings = [*findings, Finding("policy", Verdict.DENY, "no positive licence evidence and no acquisition "
                                       "basis that covers training: a missing licence is not permission")]
    return GateResult(decision=decision, findings=findings, license=license, policy_version=POLICY_VERSION,
                      decided_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

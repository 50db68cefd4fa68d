"""The bundled demo partner delivery, generated on first use so the platform works offline.

Twelve real clips and a manifest: most are licensed for training, one is non-commercial (denied), one
is share-alike (review) and one comes from a creator who has opted out (denied by the registry).
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from clearframe.config import Settings

DEMO_CONTRACT = "DEMO-PARTNER-2026-001"
OPTED_OUT_CREATOR = "Mara Lind"

# id, title, creator, license
ITEMS = [
    ("harbour-dawn", "Harbour at dawn", "Ines Duarte", "CC-BY-4.0"),
    ("city-rain", "City rain", "Kofi Mensah", "CC0-1.0"),
    ("market-day", "Market day", "Ines Duarte", "LicenseRef-ClearFrame-Contract"),
    ("forest-walk", "Forest walk", "Lea Novak", "CC-BY-4.0"),
    ("night-train", "Night train", "Tomas Berg", "LicenseRef-ClearFrame-Contract"),
    ("kite-beach", "Kites on the beach", "Kofi Mensah", "CC-BY-4.0"),
    ("old-mill", "The old mill", "Lea Novak", "CC0-1.0"),
    ("street-band", "Street band", "Ravi Iyer", "CC-BY-NC-4.0"),
    ("studio-session", "Studio session", OPTED_OUT_CREATOR, "CC-BY-4.0"),
    ("snow-field", "Snow field", "Ravi Iyer", "CC-BY-SA-4.0"),
    ("bridge-lights", "Bridge lights", "Tomas Berg", "LicenseRef-ClearFrame-Contract"),
    ("river-bend", "River bend", "Ines Duarte", "CC-BY-4.0"),
]


def demo_dir(settings: Settings) -> Path:
    return settings.home / "demo" / "delivery"


def seed_demo_registry(settings: Settings) -> None:
    from clearframe.gate.registry import Registry

    reg = Registry(settings.registry_url)
    try:
        reg.add("creator", OPTED_OUT_CREATOR, requested_by="demo seed",
                reason="creator asked not to be used for AI training (demo)")
        reg.block_domain("piracy.invalid", requested_by="demo seed", reason="known piracy site (demo)")
    finally:
        reg.close()


def ensure_demo_delivery(settings: Settings) -> Path:
    """Generate the delivery once; later calls reuse it. The folder appears whole or not at all."""
    target = demo_dir(settings)
    if not (target / "manifest.csv").exists():
        from clearframe.mediagen import make_clip

        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-demo-", dir=target.parent))
        try:
            (tmp / "media").mkdir()
            rows = []
            for seed, (item_id, title, creator, lic) in enumerate(ITEMS):
                rel = f"media/{item_id}.mp4"
                make_clip(str(tmp / rel), seconds=2.0, width=320, height=180, fps=25, audio=seed % 2 == 0,
                          seed=seed + 1)
                digest = hashlib.sha256((tmp / rel).read_bytes()).hexdigest()
                rows.append({"id": item_id, "file": rel, "title": title, "creator": creator, "license": lic,
                             "contract_id": DEMO_CONTRACT, "sha256": digest})
            with (tmp / "manifest.csv").open("w", newline="", encoding="utf-8") as fh:
                w = csv.DictWriter(fh, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)
            tmp.chmod(0o755)  # mkdtemp makes it private; the demo delivery is for everyone on the machine
            try:
                os.replace(tmp, target)
            except OSError:  # another process generated it first
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    seed_demo_registry(settings)
    return target

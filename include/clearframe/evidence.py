"""Evidence documents (robots.txt bodies, page heads, manifests), stored once, content-addressed.

The ledger refers to them by sha256; `evidence/sha256/<digest>` in storage holds the exact bytes seen.
"""

from __future__ import annotations

import hashlib
import threading

from clearframe.storage import Storage


def evidence_key(digest: str) -> str:
    return f"evidence/sha256/{digest[:2]}/{digest}"


class EvidenceStore:
    def __init__(self, storage: Storage):
        self.storage = storage
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def put(self, data: bytes, media_type: str = "application/octet-stream") -> str:
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            if digest in self._known:
                return digest
        self.storage.put_if_absent(evidence_key(digest), data)
        with self._lock:
            self._known.add(digest)
        return digest

    def get(self, digest: str) -> bytes:
        return self.storage.get_bytes(evidence_key(digest))

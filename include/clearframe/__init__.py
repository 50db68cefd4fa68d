"""ClearFrame: consent-first video ingestion. Stages read top to bottom like the data flow:
sources (discover) -> probe -> gate -> fetch -> inspect -> shard, with a ledger row for every candidate."""

__version__ = "0.1.0"

# Bumped whenever a rule in gate/ changes what it decides; every ledger row records it.
POLICY_VERSION = "2026.11.1"

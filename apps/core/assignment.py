"""Deterministic assignment of subjects to arms: the one place both experiments (prices on offers, models on task
types) turn a subject key into a bucket. SHA-256 of a per-experiment salt and the key, so the same subject always
lands in the same bucket of the same experiment, and two experiments split the same subjects independently."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

BUCKETS = 10_000  # a share is resolved to 0.01 %


def assignment_salt() -> str:
    """Chosen once when an experiment is created and never changed: changing it would move every subject."""
    return secrets.token_hex(8)


def bucket_of(*, salt: str, subject: str) -> int:
    """The subject's bucket in [0, BUCKETS)."""
    digest = hashlib.sha256(f"{salt}:{subject}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def arm_of(*, bucket: int, weights: Sequence[int]) -> int:
    """Index of the arm whose share of the buckets holds `bucket`; weights are relative (e.g. 50, 50 or 1, 3)."""
    total = sum(weights)
    if total <= 0:
        raise ValueError("at least one weight must be positive")
    position = bucket * total / BUCKETS
    running = 0
    for index, weight in enumerate(weights):
        running += weight
        if position < running:
            return index
    return len(weights) - 1

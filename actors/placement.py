"""Which shard hosts a tenant's logical actor: a stable hash, the same in every process."""

from __future__ import annotations

import hashlib
from uuid import UUID


def shard_for(tenant_id: UUID, shard_count: int) -> int:
    """Stable across processes and restarts (unlike ``hash()``, which is salted per process)."""
    if shard_count < 1:
        raise ValueError("shard_count must be at least 1")
    digest = hashlib.blake2b(tenant_id.bytes, digest_size=8).digest()
    return int.from_bytes(digest, "big") % shard_count

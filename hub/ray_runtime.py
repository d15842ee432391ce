"""Joining or starting Ray for this process."""

from __future__ import annotations

import logging
import os

import ray

log = logging.getLogger(__name__)


def ensure_ray(address: str | None, *, namespace: str, num_cpus: int | None = None) -> bool:
    """Connect to ``address`` or start a local Ray; returns True if this call started it."""
    if ray.is_initialized():
        return False
    if address is None:
        # Ray 2.5x+ turns on token auth by default and writes a token under $HOME; a local,
        # single-user Ray has no use for it. Ray reads this from the environment only.
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(
            # "local" always starts a private Ray, never attaching to one found on the machine.
            address="local",
            namespace=namespace,
            num_cpus=num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    else:
        # Every hub given the same address and namespace finds the same named shard actors
        # (actors/pool.py: detached, get_if_exists), so each shard is activated once across
        # hubs. The cluster decides token auth: start it with RAY_AUTH_MODE=disabled for a
        # local one, or give the hubs its token.
        ray.init(address=address, namespace=namespace, log_to_driver=False, configure_logging=False)
    log.info("ray ready (%s)", address or "local")
    return True

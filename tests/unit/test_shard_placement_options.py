"""Shard actors ask for the configured Ray custom resource, so only nodes advertising it host
them (deploy/k8s/raycluster.yaml, deploy/compose.yaml); without one they ask for nothing."""

from __future__ import annotations

from actors.pool import ShardPool


def _pool(**kwargs) -> ShardPool:
    return ShardPool(dsn="postgresql://unused", shard_count=2, namespace="seva", **kwargs)


def test_a_configured_resource_is_asked_for_by_every_shard():
    pool = _pool(resource="seva_shards", detached=True)
    for index in range(pool.shard_count):
        options = pool.actor_options(index)
        assert options["resources"] == {"seva_shards": 0.001}
        assert options["num_cpus"] == 0 and options["lifetime"] == "detached"
        assert options["name"] == f"seva-inventory-{index}"


def test_without_a_resource_shards_may_land_on_any_node():
    options = _pool().actor_options(0)
    assert "resources" not in options and "lifetime" not in options

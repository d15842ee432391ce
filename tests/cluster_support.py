"""Multi-hub tests on real processes: the cluster machinery lives in ``hub/chaos/processes.py``
(shared with the chaos suite); this module starts it with the test secrets and adds helpers
the cluster tests share.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import aiohttp

from hub.chaos import processes
from hub.chaos.processes import HubCluster
from tests.conftest import TEST_JWT_SECRET, TEST_SECRET_KEY

__all__ = ["HubCluster", "explain_failure", "http_json", "hub_cluster"]


@contextlib.asynccontextmanager
async def hub_cluster(
    dsn: str, *, hub_names: tuple[str, ...] = ("a", "b")
) -> AsyncIterator[HubCluster]:
    """Redis, a Ray head and the hubs on ``dsn`` with the test secrets (so tokens from
    ``tests.support`` work too); every process stopped on exit, whatever happened."""
    async with processes.hub_cluster(
        dsn, jwt_secret=TEST_JWT_SECRET, secret_key=TEST_SECRET_KEY, hub_names=hub_names
    ) as cluster:
        yield cluster


async def http_json(
    method: str, url: str, *, token: str | None = None, body: object = None
) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, url, json=body, headers=headers) as response,
    ):
        return response.status, await response.json()


@contextlib.contextmanager
def explain_failure(cluster: HubCluster) -> Iterator[None]:
    """On an assertion failure, append the processes' log tails to the message."""
    try:
        yield
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{cluster.logs()}") from exc

"""Split shares: integer paise, the remainder on the booker's share, always summing exactly."""

from __future__ import annotations

import pytest

from protocols.padel import split_amounts


@pytest.mark.parametrize(
    ("total", "players", "shares"),
    [
        (200_001, 4, [50_001, 50_000, 50_000, 50_000]),
        (200_003, 4, [50_003, 50_000, 50_000, 50_000]),
        (100_000, 4, [25_000] * 4),
        (5, 4, [2, 1, 1, 1]),
        (3, 4, [3, 0, 0, 0]),
        (99_999, 1, [99_999]),
    ],
)
def test_shares_sum_exactly_and_the_booker_takes_the_remainder(total, players, shares):
    assert split_amounts(total, players) == shares
    assert sum(shares) == total


def test_every_total_and_player_count_sums_exactly():
    for total in range(0, 2_000):
        for players in range(1, 5):
            got = split_amounts(total, players)
            assert sum(got) == total and max(got[1:], default=0) <= got[0]

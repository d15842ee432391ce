"""Read-only reports over the ledger."""

from __future__ import annotations

from typing import Any

import asyncpg


async def credit_profit(conn: asyncpg.Connection) -> dict[str, Any]:
    """Per channel: bought (units, cost), sold to tenants (units, revenue), and the margin on
    what was sold at the average wholesale rate paid."""
    rows = await conn.fetch(
        """
        SELECT user_data ->> 'channel' AS channel,
               sum(amount) FILTER (WHERE code = 'credit_purchase') AS bought_units,
               sum(amount) FILTER (WHERE code = 'credit_purchase_cost') AS cost_paise,
               sum(amount) FILTER (WHERE code = 'credit_allocation') AS sold_units,
               sum(amount) FILTER (WHERE code = 'credit_sale') AS revenue_paise
        FROM ledger_transfers
        WHERE code IN ('credit_purchase', 'credit_purchase_cost', 'credit_allocation',
                       'credit_sale')
        GROUP BY 1 ORDER BY 1
        """
    )
    channels = []
    for r in rows:
        bought = int(r["bought_units"] or 0)
        cost = int(r["cost_paise"] or 0)
        sold = int(r["sold_units"] or 0)
        revenue = int(r["revenue_paise"] or 0)
        # Integer paise: the cost of what was sold, rounded half up, at the average rate paid.
        cost_of_sold = (cost * sold * 2 + bought) // (2 * bought) if bought else 0
        channels.append(
            {
                "channel": r["channel"],
                "bought_units": bought,
                "cost_paise": cost,
                "sold_units": sold,
                "revenue_paise": revenue,
                "cost_of_sold_paise": cost_of_sold,
                "margin_paise": revenue - cost_of_sold,
            }
        )
    return {
        "channels": channels,
        "margin_paise": sum(c["margin_paise"] for c in channels),
    }

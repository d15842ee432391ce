"""The part of the ``/_emulator`` control API both emulators share, and the wiring every
emulator app gets (error shapes, fault injection, the webhook dispatcher's lifetime).

Shared control routes (JSON in, JSON out, no authentication — bind to localhost only)::

    GET    /_emulator/health              {"gateway": "razorpay"|"cashfree", "status": "ok"}
    GET    /_emulator/faults              {"faults": FaultPolicy}
    POST   /_emulator/faults              FaultPolicy -> {"faults": FaultPolicy}
    GET    /_emulator/webhooks/mode       {"webhooks": WebhookPolicy}
    POST   /_emulator/webhooks/mode       WebhookPolicy -> {"webhooks": WebhookPolicy}
    GET    /_emulator/webhooks            ?event=&merchant= -> {"deliveries": [DeliveryRecord]}
    DELETE /_emulator/webhooks            clear the log -> {"cleared": n}
    POST   /_emulator/webhooks/release    {"order": "fifo"|"lifo"} -> {"released": n}

``POST`` bodies replace the whole policy; omitted fields take their defaults (``{}`` resets).
Control errors answer ``{"error": {"code", "message"}}`` with 400, 404 or 409.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from protocols.gateways.emulators.common import (
    ControlError,
    GatewayRefusal,
    OwnedTasks,
    read_control,
)
from protocols.gateways.emulators.faults import (
    ErrorRenderer,
    FaultInjector,
    FaultPolicy,
    fault_middleware,
)
from protocols.gateways.emulators.webhooks import (
    ReleaseOrder,
    WebhookDispatcher,
    WebhookPolicy,
)

CONTROL_PREFIX = "/_emulator"


@dataclass
class EmulatorCore:
    """What every emulator app owns besides its gateway's ledger."""

    gateway: Literal["razorpay", "cashfree"]
    tasks: OwnedTasks = field(default_factory=OwnedTasks)
    faults: FaultInjector = field(default_factory=FaultInjector)
    webhooks: WebhookDispatcher = field(init=False)
    initial_webhook_policy: WebhookPolicy | None = None

    def __post_init__(self) -> None:
        self.webhooks = WebhookDispatcher(self.tasks, self.initial_webhook_policy)


CORE = web.AppKey("emulator_core", EmulatorCore)


class _Release(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order: ReleaseOrder = "fifo"


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def install_core(
    app: web.Application,
    core: EmulatorCore,
    *,
    api_prefixes: tuple[str, ...],
    render_error: ErrorRenderer,
) -> None:
    """Wire ``core`` into ``app``: error shapes, faults, lifecycle and the shared control routes.

    ``render_error(status, message)`` builds the gateway's error response; it is used for
    injected faults and for unknown routes and methods under ``api_prefixes``.
    """
    app[CORE] = core

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ControlError as exc:
            return exc.response()
        except GatewayRefusal as exc:
            return web.json_response(exc.body, status=exc.status)
        except web.HTTPException as exc:
            if exc.status not in (404, 405):
                raise
            if request.path.startswith(api_prefixes):
                return render_error(exc.status, "The requested URL was not found on the server.")
            return ControlError(exc.status, "not_found", "no such control route").response()

    app.middlewares.append(errors)
    app.middlewares.append(
        fault_middleware(core.faults, api_prefixes=api_prefixes, render_error=render_error)
    )

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        await core.webhooks.start()
        yield
        core.faults.closing.set()
        await core.tasks.close()
        await core.webhooks.close()

    async def stop_holding(_app: web.Application) -> None:
        core.faults.closing.set()

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(stop_holding)

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"gateway": core.gateway, "status": "ok"})

    async def get_faults(_request: web.Request) -> web.Response:
        return web.json_response({"faults": core.faults.policy.model_dump(mode="json")})

    async def set_faults(request: web.Request) -> web.Response:
        policy = core.faults.set_policy(await read_control(request, FaultPolicy))
        return web.json_response({"faults": policy.model_dump(mode="json")})

    async def get_webhook_mode(_request: web.Request) -> web.Response:
        return web.json_response({"webhooks": core.webhooks.policy.model_dump(mode="json")})

    async def set_webhook_mode(request: web.Request) -> web.Response:
        core.webhooks.policy = await read_control(request, WebhookPolicy)
        return web.json_response({"webhooks": core.webhooks.policy.model_dump(mode="json")})

    async def webhook_log(request: web.Request) -> web.Response:
        records = core.webhooks.log(
            event=request.query.get("event"), merchant=request.query.get("merchant")
        )
        return web.json_response({"deliveries": [record.to_json() for record in records]})

    async def clear_webhook_log(_request: web.Request) -> web.Response:
        cleared = len(core.webhooks.log())
        core.webhooks.clear_log()
        return web.json_response({"cleared": cleared})

    async def release_webhooks(request: web.Request) -> web.Response:
        body = await read_control(request, _Release)
        return web.json_response({"released": core.webhooks.release(body.order)})

    app.router.add_get(f"{CONTROL_PREFIX}/health", health)
    app.router.add_get(f"{CONTROL_PREFIX}/faults", get_faults)
    app.router.add_post(f"{CONTROL_PREFIX}/faults", set_faults)
    app.router.add_get(f"{CONTROL_PREFIX}/webhooks/mode", get_webhook_mode)
    app.router.add_post(f"{CONTROL_PREFIX}/webhooks/mode", set_webhook_mode)
    app.router.add_get(f"{CONTROL_PREFIX}/webhooks", webhook_log)
    app.router.add_delete(f"{CONTROL_PREFIX}/webhooks", clear_webhook_log)
    app.router.add_post(f"{CONTROL_PREFIX}/webhooks/release", release_webhooks)

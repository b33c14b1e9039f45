"""The FastAPI application behind ``/api/manage``, ``/api/agent``, ``/api/supervisor``,
``/api/bot`` and ``/api/openapi.json``."""

from __future__ import annotations

from fastapi import FastAPI

from messenger_channel.api import (
    agent_api,
    agent_handover,
    bot_api,
    manage_backfill,
    manage_bot_keys,
    manage_channels,
    manage_deadletters,
    manage_health,
    manage_privacy,
    manage_quarantine,
    manage_replay,
    manage_workforce,
    supervisor,
)
from messenger_channel.api.audit_trail import AuditTrail
from messenger_channel.api.auth import api_services
from messenger_channel.api.canned_responses import manage_router as canned_router
from messenger_channel.api.errors import install_error_handlers
from messenger_channel.api.openapi import check_operation_ids, install_openapi, operation_id


def create_api() -> FastAPI:
    app = FastAPI(
        title="Messenger channel",
        description="Management and agent APIs of the Facebook Messenger channel.",
        version="1.0",
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
        # FastAPI's own spans record query strings (a contact search holds names) and its
        # logs the validation errors' input: the host's request span (the devhost's, locally)
        # and messenger_channel.telemetry cover the request without them.
        telemetry={"tracing": False, "logs": False},
    )
    install_error_handlers(app)
    # Tests override ``api_services``: the audit trail writes where the routes do.
    app.add_middleware(AuditTrail, services=lambda: app.dependency_overrides.get(
        api_services, api_services)())
    app.include_router(manage_channels.router)
    app.include_router(manage_health.router)
    app.include_router(manage_deadletters.router)
    app.include_router(manage_replay.router)
    app.include_router(manage_backfill.router)
    app.include_router(manage_privacy.router)
    app.include_router(manage_workforce.router)
    app.include_router(manage_bot_keys.router)
    app.include_router(canned_router)
    app.include_router(manage_quarantine.router)
    app.include_router(agent_api.router)
    app.include_router(supervisor.router)
    app.include_router(agent_handover.supervisor_router)
    app.include_router(bot_api.router)
    check_operation_ids(app)
    install_openapi(app)
    return app

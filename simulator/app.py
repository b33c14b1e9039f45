"""The simulator's ASGI app: control routes under ``/_sim``, everything else is Graph."""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import JSONResponse

from simulator import bot, control_routes, graph_routes, handover_routes, webhook_routes
from simulator.context import Simulator
from simulator.control_models import Seed
from simulator.settings import SimulatorSettings, load_settings
from simulator.state import NotFound, SimulatorState
from simulator.webhook_poster import WebhookPoster


def create_app(settings: SimulatorSettings | None = None) -> FastAPI:
    settings = settings or load_settings()
    seed = None
    if settings.state_file is not None:
        seed = Seed.model_validate(json.loads(settings.state_file.read_text(encoding="utf-8")))
    state = SimulatorState(settings, seed)
    app = FastAPI(
        title="Messenger simulator",
        summary="A local fake of Facebook's Graph API and webhook behaviour",
        docs_url="/_sim/docs",
        redoc_url=None,
        openapi_url="/_sim/openapi.json",
    )
    app.state.simulator = Simulator(settings, state, WebhookPoster(settings, state))
    app.include_router(control_routes.router)
    app.include_router(webhook_routes.router)
    app.include_router(handover_routes.router)
    app.include_router(bot.router)  # the example bot, under /_sim like every route of ours

    @app.api_route("/_sim/{rest:path}", methods=["GET", "POST", "PUT", "DELETE"],
                   include_in_schema=False)
    def unknown_control_route(rest: str) -> JSONResponse:
        # Registered before the Graph catch-all so that a typo here is not a Graph error.
        return JSONResponse({"error": "not_found", "message": f"no control route /_sim/{rest}"},
                            status_code=404)

    app.include_router(graph_routes.router)

    @app.exception_handler(NotFound)
    def not_found(_request: Request, error: NotFound) -> JSONResponse:
        return JSONResponse({"error": "not_found", "message": str(error)}, status_code=404)

    @app.exception_handler(RequestValidationError)
    def invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        fields = [{"field": ".".join(str(p) for p in item["loc"][1:]) or str(item["loc"][0]),
                   "message": item["msg"]} for item in error.errors()]
        return JSONResponse({"error": "validation_error", "message": "invalid request",
                             "fields": fields}, status_code=422)

    return app

"""What every route needs, hung on the app so that each app (and each test) has its own."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from simulator.settings import SimulatorSettings
from simulator.state import SimulatorState
from simulator.webhook_poster import WebhookPoster


@dataclass(frozen=True)
class Simulator:
    settings: SimulatorSettings
    state: SimulatorState
    poster: WebhookPoster


def simulator(request: Request) -> Simulator:
    """FastAPI dependency: the simulator serving this request."""
    sim: Simulator = request.app.state.simulator
    return sim

"""The Functions app: registers one Blueprint per trigger family (and turns telemetry on)."""

import azure.functions as func

from functions.agent_api import bp as agent_api_bp
from functions.bot_api import bp as bot_api_bp
from functions.console import bp as console_bp
from functions.conversation_timers import bp as conversation_timers_bp
from functions.health import bp as health_bp
from functions.manage_api import bp as manage_api_bp
from functions.privacy import bp as privacy_bp
from functions.router import bp as router_bp
from functions.sender import bp as sender_bp
from functions.supervisor_api import bp as supervisor_api_bp
from functions.token_check import bp as token_check_bp
from functions.webhook import bp as webhook_bp
from messenger_channel.settings import get_settings
from messenger_channel.telemetry.setup import configure_azure_monitor_if_set

# Fail at start-up, naming the setting, rather than at the first request.
get_settings()
# Spans, metrics and logs to Application Insights when the app has its connection string.
configure_azure_monitor_if_set()

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
for blueprint in (health_bp, webhook_bp, manage_api_bp, token_check_bp, router_bp,
                  agent_api_bp, supervisor_api_bp, conversation_timers_bp, sender_bp,
                  console_bp, privacy_bp, bot_api_bp):
    app.register_blueprint(blueprint)

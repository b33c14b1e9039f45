"""The Functions app: registers one Blueprint per trigger family, nothing else."""

import azure.functions as func

from functions.health import bp as health_bp
from messenger_channel.settings import get_settings

# Fail at start-up, naming the setting, rather than at the first request.
get_settings()

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_blueprint(health_bp)

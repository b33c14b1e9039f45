"""An app the Functions host would refuse: its route starts with a reserved segment."""

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="admin/things", methods=["GET"])
def things(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("never served")

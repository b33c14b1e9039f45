"""Offline checks of the Bicep templates in infra/ (the Bicep CLI cannot be installed here).

Every .bicep file is parsed with pycep-parser, and the properties the product depends on are
asserted: the queues of messenger_channel/bus/queues.py, identity-based app settings covering
messenger_channel/settings.py, hardened storage and Key Vault, the Flex Consumption
configuration, the identity-only Web PubSub service of the console's live updates, and role
assignments with Azure's built-in role ids. A change to the templates
that loosens one of these fails here before it reaches a deployment.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from pycep import BicepParser

from messenger_channel.bus.queues import QUEUES, QueueSpec
from messenger_channel.settings import DEFAULT_GRAPH_URL, Settings
from tests.support.function_apps import product_function_app

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
FUNCTION_APP = INFRA / "app" / "function-app.bicep"
RBAC = INFRA / "app" / "rbac.bicep"
WEB_PUBSUB = INFRA / "app" / "web-pubsub.bicep"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))

# Azure's built-in role definition ids: the same GUID in every tenant (Azure built-in roles
# reference). Written out here so that a wrong id in the template is caught.
BUILT_IN_ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": "Azure Service Bus Data Sender",
    "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0": "Azure Service Bus Data Receiver",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "12cf5a90-567b-43ae-8102-96cf46c7d9b4": "Web PubSub Service Owner",
}

# What the app's identity holds, on which kind of resource: exactly this, nothing broader.
APP_ROLES = {
    ("Storage Blob Data Owner", "Microsoft.Storage/storageAccounts"),
    ("Storage Table Data Contributor", "Microsoft.Storage/storageAccounts"),
    ("Azure Service Bus Data Sender", "Microsoft.ServiceBus/namespaces"),
    ("Azure Service Bus Data Receiver", "Microsoft.ServiceBus/namespaces"),
    ("Key Vault Secrets Officer", "Microsoft.KeyVault/vaults"),
    ("Monitoring Metrics Publisher", "Microsoft.Insights/components"),
    ("Web PubSub Service Owner", "Microsoft.SignalRService/webPubSub"),
}
DEPLOYER_ROLES = {("Key Vault Secrets User", "Microsoft.KeyVault/vaults")}

# Settings of messenger_channel/settings.py that have no place in Azure.
LOCAL_ONLY_SETTINGS = {"LOCAL_DATA_DIR"}
# Secret-bearing forms of the two connections; Azure uses the identity-based forms instead.
CONNECTION_STRING_SETTINGS = {"AzureWebJobsStorage", "ServiceBusConnection"}
# Flex Consumption sets these from functionAppConfig and rejects them as app settings.
PLATFORM_OWNED_SETTINGS = {
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_CONTENTSHARE",
}
# Signs of a key or connection string in a setting value.
SECRET_MARKERS = (
    "accountkey=",
    "sharedaccesskey",
    "defaultendpointsprotocol",
    "listkeys(",
    "listconnectionstrings(",
    "connectionstring",
    "primarykey",
)
ISO_DURATION = re.compile(
    r"^P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


# --- parsing helpers -------------------------------------------------------------------------


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    return cast(dict[str, Any], BicepParser().parse(file_path=path))


def body(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource's own properties; a conditional or looped resource nests them one level."""
    config = cast(dict[str, Any], resource["config"])
    if "condition" in config or "loop_type" in config:
        return cast(dict[str, Any], config["config"])
    return config


def resources(path: Path, resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in parse(path).get("resources", {}).items()
        if resource["type"] == resource_type
    }


def single(path: Path, resource_type: str) -> dict[str, Any]:
    found = [r for r in resources(path, resource_type).values() if not r["existing"]]
    assert len(found) == 1, f"expected one {resource_type} in {path.name}, found {len(found)}"
    return body(found[0])


def everywhere(resource_type: str) -> Iterator[tuple[Path, str, dict[str, Any]]]:
    for path in BICEP_FILES:
        for name, resource in resources(path, resource_type).items():
            if not resource["existing"]:
                yield path, name, body(resource)


def parameter(path: Path, name: str) -> dict[str, Any]:
    params = parse(path).get("parameters", {})
    assert name in params, f"{path.name} has no parameter {name}"
    return cast(dict[str, Any], params[name])


def decorator(param: dict[str, Any], kind: str) -> Any:
    for item in param["decorators"]:
        if item["type"] == kind:
            return item.get("argument")
    return None


def default(path: Path, name: str) -> Any:
    return parameter(path, name)["default"]


def main_module(name: str) -> dict[str, Any]:
    return cast(dict[str, Any], parse(MAIN)["modules"][name]["config"])


def module_path(path: Path, module: dict[str, Any]) -> Path:
    assert module["type"] == "local", f"{path.name}: registry module {module['detail']}"
    return (path.parent / str(module["detail"]["path"])).resolve()


def app_settings() -> dict[str, Any]:
    for resource in resources(FUNCTION_APP, "Microsoft.Web/sites/config").values():
        if body(resource)["name"] == "appsettings":
            return cast(dict[str, Any], body(resource)["properties"])
    raise AssertionError(f"no appsettings config resource in {FUNCTION_APP.name}")


def function_app() -> dict[str, Any]:
    return single(FUNCTION_APP, "Microsoft.Web/sites")


def duration(text: str) -> timedelta:
    match = ISO_DURATION.match(text)
    assert match, f"not an ISO 8601 duration: {text!r}"
    parts = {key: int(value) for key, value in match.groupdict().items() if value}
    return timedelta(**parts)


def render(value: Any) -> Any:
    """A property access parsed by pycep back to its text (`identity.outputs.id`); other values
    are returned as they are. pycep gives identifiers and string literals alike as str."""
    if isinstance(value, dict) and value.get("operator", {}).get("type") == "property_accessor":
        operands = value["operator"]["operands"]
        return f"{render(operands['operand_1'])}.{render(operands['operand_2'])}"
    return value


def main_param(module: str, name: str) -> Any:
    return render(main_module(module)["params"][name])


# --- every file ------------------------------------------------------------------------------


def test_the_templates_exist() -> None:
    assert MAIN in BICEP_FILES
    assert len(BICEP_FILES) >= 5


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_every_bicep_file_parses(path: Path) -> None:
    document = parse(path)
    assert document.get("resources") or document.get("modules")


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_modules_are_files_in_the_repository(path: Path) -> None:
    assert "br/public:" not in path.read_text(), "registry modules cannot be checked offline"
    for name, module in parse(path).get("modules", {}).items():
        target = module_path(path, module)
        assert target.is_file(), f"{path.name}: module {name} points to missing {target}"


def test_main_passes_every_module_parameter_it_must_and_no_other() -> None:
    # The Bicep CLI would reject these mistakes; without it, this test does.
    for name, module in parse(MAIN)["modules"].items():
        target_params = parse(module_path(MAIN, module)).get("parameters", {})
        passed = set(module["config"].get("params", {}))
        required = {p for p, spec in target_params.items() if spec["default"] is None}
        assert passed <= set(target_params), f"module {name}: unknown {passed - set(target_params)}"
        assert required <= passed, f"module {name}: missing {required - passed}"


def test_module_outputs_used_by_main_exist() -> None:
    modules = parse(MAIN)["modules"]
    for module, output in re.findall(r"\b(\w+)\.outputs\.(\w+)", MAIN.read_text()):
        assert module in modules, f"main.bicep reads outputs of unknown module {module}"
        outputs = parse(module_path(MAIN, modules[module])).get("outputs", {})
        assert output in outputs, f"module {module} has no output {output}"


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_checkov_suppressions_give_a_reason(path: Path) -> None:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if "checkov:skip" not in line:
            continue
        match = re.search(r"//\s*checkov:skip=(CKV2?_[A-Z]+_\d+):(.*)$", line)
        assert match, f"{path.name}:{number}: malformed suppression"
        reason = match.group(2).strip()
        assert len(reason.split()) >= 6, f"{path.name}:{number}: {match.group(1)} needs a reason"


def test_no_template_reads_keys_or_connection_strings() -> None:
    for path in BICEP_FILES:
        text = path.read_text().lower()
        for marker in ("listkeys(", "listconnectionstrings(", "accountkey="):
            assert marker not in text, f"{path.name} uses {marker}"


# --- deployment entry point ------------------------------------------------------------------


def test_main_targets_the_subscription_and_creates_the_resource_group() -> None:
    document = parse(MAIN)
    assert document["globals"]["scope"]["value"] == "subscription"
    assert resources(MAIN, "Microsoft.Resources/resourceGroups")
    for name, module in document["modules"].items():
        assert module["config"]["scope"] == "rg", f"module {name} is not deployed into the group"


def test_outputs_are_upper_case_and_give_the_callback_base() -> None:
    outputs = parse(MAIN)["outputs"]
    for name in outputs:
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name), f"output {name} is not upper case"
    assert render(outputs["FUNCTION_APP_URL"]["value"]) == "functionApp.outputs.uri"
    assert outputs["WEBHOOK_CALLBACK_BASE"]["value"] == (
        "${functionApp.outputs.uri}/api/facebook/webhook/"
    )
    function_app_outputs = parse(FUNCTION_APP)["outputs"]
    assert function_app_outputs["uri"]["value"] == (
        "https://${functionApp.properties.defaultHostName}"
    )
    for required in ("AZURE_LOCATION", "AZURE_TENANT_ID", "AZURE_RESOURCE_GROUP",
                     "AZURE_FUNCTION_APP_NAME", "AZURE_KEY_VAULT_NAME"):
        assert required in outputs


def test_every_parameter_is_described_and_documented() -> None:
    readme = (INFRA / "README.md").read_text()
    for name, spec in parse(MAIN)["parameters"].items():
        assert decorator(spec, "description"), f"parameter {name} has no @description"
        assert f"`{name}`" in readme, f"parameter {name} is missing from infra/README.md"


def test_parameters_file_matches_main() -> None:
    values = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    params = parse(MAIN)["parameters"]
    assert set(values) <= set(params), f"unknown parameters {set(values) - set(params)}"
    required = {name for name, spec in params.items() if spec["default"] is None}
    assert required <= set(values), f"azd would not pass {required - set(values)}"


def test_secrets_are_secure_parameters() -> None:
    for name in ("managementApiKey", "alertWebhookUrl"):
        assert any(d["type"] == "secure" for d in parameter(MAIN, name)["decorators"]), name
    assert decorator(parameter(MAIN, "managementApiKey"), "min_length") >= 16


def test_azure_yaml_deploys_the_root_as_a_python_function_app() -> None:
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((ROOT / "azure.yaml").read_text())
    api = config["services"]["api"]
    assert (api["host"], api["language"], api["project"]) == ("function", "python", ".")
    for hook in config.get("hooks", {}).values():
        for variant in hook.values():
            assert (ROOT / variant["run"]).is_file(), variant["run"]
    tags = function_app()["tags"]
    assert "'azd-service-name'" in json.dumps(tags)


def test_check_script_runs_checkov_offline() -> None:
    script = (INFRA / "check.sh").read_text()
    assert re.search(r'CHECKOV_VERSION="\d+\.\d+\.\d+"', script)
    assert "--framework bicep" in script
    assert "--skip-download" in script


# --- Service Bus -----------------------------------------------------------------------------


def service_bus_queues() -> dict[str, dict[str, Any]]:
    queues = {}
    for path, _, queue in everywhere("Microsoft.ServiceBus/namespaces/queues"):
        assert queue["name"] not in queues, f"queue {queue['name']} declared twice ({path.name})"
        queues[queue["name"]] = queue["properties"]
    return queues


def test_the_queues_are_those_of_queues_py() -> None:
    assert set(service_bus_queues()) == set(QUEUES)


@pytest.mark.parametrize("spec", QUEUES.values(), ids=lambda spec: spec.name)
def test_queue_properties_match_queues_py(spec: QueueSpec) -> None:
    queue = service_bus_queues()[spec.name]
    assert queue["requiresSession"] is spec.sessions
    assert queue["requiresDuplicateDetection"] is True
    assert duration(queue["duplicateDetectionHistoryTimeWindow"]) == spec.duplicate_detection_window
    assert queue["maxDeliveryCount"] == spec.max_delivery_count
    assert duration(queue["lockDuration"]) == spec.lock_duration
    assert queue["deadLetteringOnMessageExpiration"] is True


def test_service_bus_is_standard_without_keys() -> None:
    (_, _, namespace), = everywhere("Microsoft.ServiceBus/namespaces")
    # Sessions and duplicate detection need Standard or Premium.
    assert namespace["sku"]["name"] in {"Standard", "Premium"}
    assert namespace["properties"]["disableLocalAuth"] is True
    assert namespace["properties"]["minimumTlsVersion"] == "1.2"


def test_duration_parser() -> None:
    assert duration("PT1M") == timedelta(minutes=1)
    assert duration("P1D") == timedelta(days=1)
    assert duration("P1DT2H3M4S") == timedelta(days=1, hours=2, minutes=3, seconds=4)


# --- storage ---------------------------------------------------------------------------------


def test_storage_account_is_locked_down() -> None:
    (_, _, account), = everywhere("Microsoft.Storage/storageAccounts")
    properties = account["properties"]
    assert properties["supportsHttpsTrafficOnly"] is True
    assert properties["minimumTlsVersion"] == "TLS1_2"
    assert properties["allowBlobPublicAccess"] is False
    assert properties["allowSharedKeyAccess"] is False


def test_blob_containers_are_private() -> None:
    containers = list(everywhere("Microsoft.Storage/storageAccounts/blobServices/containers"))
    assert containers
    for path, name, container in containers:
        assert container["properties"]["publicAccess"] == "None", f"{path.name}: {name}"


def test_the_app_containers_and_the_deployment_container_are_created() -> None:
    variables = {name: spec["value"] for name, spec in parse(MAIN)["variables"].items()}
    names = main_param("storage", "containerNames")
    created = {variables.get(name, name) for name in names}
    assert {"attachments", "webhook-archive", "quarantine"} <= created
    assert main_param("functionApp", "deploymentContainerName") in names
    storage = function_app()["properties"]["functionAppConfig"]["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["value"] == "${storageBlobEndpoint}${deploymentContainerName}"


# --- Key Vault -------------------------------------------------------------------------------


def test_key_vault_uses_rbac_with_soft_delete_and_purge_protection() -> None:
    (path, _, vault), = everywhere("Microsoft.KeyVault/vaults")
    properties = vault["properties"]
    assert properties["enableRbacAuthorization"] is True
    assert properties["enableSoftDelete"] is True
    assert properties["enablePurgeProtection"] is True
    assert "accessPolicies" not in properties
    assert default(path, "softDeleteRetentionInDays") >= 7


# --- Web PubSub (live updates) --------------------------------------------------------------

# Units a Standard_S1 service may have (Microsoft.SignalRService/webPubSub, ResourceSku.capacity).
STANDARD_UNITS = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100}


def web_pubsub() -> dict[str, Any]:
    return single(WEB_PUBSUB, "Microsoft.SignalRService/webPubSub")


def conditional(value: Any) -> dict[str, Any]:
    assert isinstance(value, dict) and value["operator"]["type"] == "conditional", value
    return cast(dict[str, Any], value["operator"]["operands"])


def test_web_pubsub_is_deployed_once_with_the_console_hub() -> None:
    assert len(list(everywhere("Microsoft.SignalRService/webPubSub"))) == 1
    assert web_pubsub()["kind"] == "WebPubSub"
    assert module_path(MAIN, parse(MAIN)["modules"]["webPubSub"]) == WEB_PUBSUB
    module = main_module("webPubSub")
    assert module["params"]["name"] == "wps-${resourceToken}"
    (hub,) = [body(r) for r in resources(WEB_PUBSUB, "Microsoft.SignalRService/webPubSub/hubs")
              .values()]
    assert hub["parent"] == "webPubSub"
    assert hub["name"] == "hubName"
    assert module["params"]["hubName"] == "webPubSubHub"
    # Only clients holding a token from /api/agent/negotiate connect; the service calls nothing.
    assert hub["properties"]["anonymousConnectPolicy"].lower() == "deny"
    assert not hub["properties"].get("eventHandlers")
    assert not hub["properties"].get("eventListeners")


def test_web_pubsub_hub_default_is_the_app_default() -> None:
    # API.md, "Live updates": WEB_PUBSUB_HUB defaults to console.
    assert default(MAIN, "webPubSubHub") == "console"
    assert default(WEB_PUBSUB, "hubName") == "console"
    for field in Settings.model_fields.values():
        if field.alias == "WEB_PUBSUB_HUB":
            assert field.default == "console"


def test_web_pubsub_tier_is_free_by_default_with_standard_as_a_parameter() -> None:
    for path, name in ((MAIN, "webPubSubSku"), (WEB_PUBSUB, "skuName")):
        assert default(path, name) == "Free_F1", f"{path.name}: {name}"
        assert set(decorator(parameter(path, name), "allowed")) == {"Free_F1", "Standard_S1"}
    for path, name in ((MAIN, "webPubSubCapacity"), (WEB_PUBSUB, "capacity")):
        assert default(path, name) == 1
        assert set(decorator(parameter(path, name), "allowed")) <= STANDARD_UNITS
    module = main_module("webPubSub")["params"]
    assert module["skuName"] == "webPubSubSku"
    assert module["capacity"] == "webPubSubCapacity"
    sku = web_pubsub()["sku"]
    assert sku["name"] == "skuName"
    # Free_F1 has exactly one unit whatever the capacity parameter says.
    variables = parse(WEB_PUBSUB)["variables"]
    is_free = variables[conditional(sku["capacity"])["condition"]]["value"]["operator"]
    assert is_free["type"] == "equals"
    assert set(is_free["operands"].values()) == {"skuName", "Free_F1"}
    assert conditional(sku["capacity"])["true_value"] == 1
    assert conditional(sku["capacity"])["false_value"] == "capacity"
    assert conditional(sku["tier"])["true_value"] == "Free"
    assert conditional(sku["tier"])["false_value"] == "Standard"


def test_web_pubsub_accepts_entra_id_only() -> None:
    properties = web_pubsub()["properties"]
    # No access keys, hence no connection string: the app's identity and the tokens it obtains
    # from the service are the only way in.
    assert properties["disableLocalAuth"] is True
    assert properties.get("disableAadAuth", False) is False
    assert properties["publicNetworkAccess"] == "Enabled"
    # Live trace would bill its logs as messages against the Free tier's daily quota.
    assert properties["liveTraceConfiguration"]["enabled"] == "false"


def test_web_pubsub_logs_go_to_the_log_analytics_workspace() -> None:
    (setting,) = [body(r) for r in resources(WEB_PUBSUB, "Microsoft.Insights/diagnosticSettings")
                  .values()]
    assert setting["scope"] == "webPubSub"
    properties = setting["properties"]
    assert properties["workspaceId"] == "logAnalyticsWorkspaceId"
    assert main_param("webPubSub", "logAnalyticsWorkspaceId") == "monitoring.outputs.logAnalyticsId"
    logs = {log["category"]: log["enabled"] for log in properties["logs"]}
    assert logs["ConnectivityLogs"] is True
    assert logs["HttpRequestLogs"] is True
    assert logs["MessagingLogs"] == "messagingLogs"
    assert default(WEB_PUBSUB, "messagingLogs") is False
    assert {"category": "AllMetrics", "enabled": True} in properties["metrics"]
    # The service emits the categories the diagnostic setting collects.
    emitted = {c["name"]: c["enabled"]
               for c in web_pubsub()["properties"]["resourceLogConfiguration"]["categories"]}
    assert emitted["ConnectivityLogs"] == "true"
    assert conditional(emitted["MessagingLogs"])["condition"] == "messagingLogs"


def test_app_identity_owns_web_pubsub_and_nothing_wider() -> None:
    document = parse(RBAC)
    role_ids = document["variables"]["roles"]["value"]
    (target,) = [name for name, r in resources(RBAC, "Microsoft.SignalRService/webPubSub").items()
                 if r["existing"]]
    assert body(resources(RBAC, "Microsoft.SignalRService/webPubSub")[target])["name"] == (
        "webPubSubName"
    )
    assert main_param("rbac", "webPubSubName") == "webPubSub.outputs.name"
    owners = []
    for resource in resources(RBAC, "Microsoft.Authorization/roleAssignments").values():
        assignment = body(resource)
        definition = assignment["properties"]["roleDefinitionId"]["function"]
        role_key = render(definition["parameters"]["resource_name_1"]).removeprefix("roles.")
        if BUILT_IN_ROLES.get(role_ids[role_key]) == "Web PubSub Service Owner":
            owners.append(assignment)
    (owner,) = owners
    assert owner["scope"] == target
    assert owner["properties"]["principalId"] == "appPrincipalId"
    assert owner["properties"]["principalType"] == "ServicePrincipal"
    assert role_ids["webPubSubServiceOwner"] == "12cf5a90-567b-43ae-8102-96cf46c7d9b4"


def test_web_pubsub_settings_reach_the_function_app() -> None:
    settings = app_settings()
    assert settings["WEB_PUBSUB_ENDPOINT"] == "webPubSubEndpoint"
    assert settings["WEB_PUBSUB_HUB"] == "webPubSubHub"
    assert main_param("functionApp", "webPubSubEndpoint") == "webPubSub.outputs.endpoint"
    assert main_param("functionApp", "webPubSubHub") == "webPubSub.outputs.hubName"
    outputs = parse(WEB_PUBSUB)["outputs"]
    assert outputs["endpoint"]["value"] == "https://${webPubSub.properties.hostName}"
    assert render(outputs["hubName"]["value"]) == "hub.name"
    # The app publishes with its identity (AZURE_CLIENT_ID): no key setting next to the endpoint.
    assert not [name for name in settings if "PUBSUB" in name.upper()
                and name not in {"WEB_PUBSUB_ENDPOINT", "WEB_PUBSUB_HUB"}]


# --- function app ----------------------------------------------------------------------------


def test_the_function_app_sends_opentelemetry_to_application_insights() -> None:
    """host.json's telemetryMode and the worker's setting together make each invocation run in
    the host's trace; the app's own distro (configured when the connection string is set)
    exports, so the worker must not configure a second one."""
    settings = app_settings()
    assert render(settings["APPLICATIONINSIGHTS_CONNECTION_STRING"]) == (
        "applicationInsights.properties.ConnectionString")
    assert settings["PYTHON_ENABLE_OPENTELEMETRY"] == "true"
    assert "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY" not in settings
    host = json.loads((ROOT / "host.json").read_text())
    assert host["telemetryMode"] == "OpenTelemetry"


def test_the_plan_is_flex_consumption() -> None:
    plan = single(FUNCTION_APP, "Microsoft.Web/serverfarms")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan["properties"]["reserved"] is True  # Linux


def test_the_function_app_is_https_only_and_runs_as_a_managed_identity() -> None:
    app = function_app()
    assert set(app["kind"].split(",")) == {"functionapp", "linux"}
    assert "Assigned" in app["identity"]["type"]  # UserAssigned and/or SystemAssigned
    properties = app["properties"]
    assert properties["httpsOnly"] is True
    assert properties["siteConfig"]["minTlsVersion"] == "1.2"
    assert properties["siteConfig"]["ftpsState"] == "Disabled"
    # The Key Vault references resolve with the app's identity.
    assert properties["keyVaultReferenceIdentity"] == "identityId"
    assert main_param("functionApp", "identityId") == "identity.outputs.id"


def test_deployment_storage_is_reached_with_the_managed_identity() -> None:
    storage = function_app()["properties"]["functionAppConfig"]["deployment"]["storage"]
    authentication = storage["authentication"]
    assert authentication["type"] in {"UserAssignedIdentity", "SystemAssignedIdentity"}
    assert "storageAccountConnectionStringName" not in authentication


def test_runtime_is_python_311() -> None:
    runtime = function_app()["properties"]["functionAppConfig"]["runtime"]
    assert runtime["name"] == "python"
    assert runtime["version"] == "pythonVersion"
    assert default(FUNCTION_APP, "pythonVersion") == "3.11"
    assert "pythonVersion" not in main_module("functionApp")["params"]


def app_functions() -> dict[str, dict[str, Any]]:
    """Every function of the app → its trigger, as the host reads it."""
    found: dict[str, dict[str, Any]] = {}
    for function in product_function_app().get_functions():
        trigger = function.get_trigger()
        assert trigger is not None, function.get_function_name()
        found[str(function.get_function_name())] = trigger.get_dict_repr()
    return found


def scale() -> dict[str, Any]:
    return cast(dict[str, Any], function_app()["properties"]["functionAppConfig"][
        "scaleAndConcurrency"])


def parameters_file_default(name: str) -> str:
    """The value azd passes when the environment leaves it unset: `${NAME=default}`."""
    value = json.loads((INFRA / "main.parameters.json").read_text())["parameters"][name]["value"]
    match = re.fullmatch(r"\$\{[A-Z_]+=(.*)\}", value)
    assert match, f"main.parameters.json gives {name} no default"
    return match.group(1)


# The always-ready count of each scale group, by parameter; docs/DEPLOY.md explains each.
ALWAYS_READY = {"http": "alwaysReadyHttpInstances", "function:router": "alwaysReadyRouterInstances",
                "function:sender": "alwaysReadySenderInstances"}
SCALE_PARAMETERS = [*ALWAYS_READY.values(), "httpPerInstanceConcurrency", "instanceMemoryMB",
                    "maximumInstanceCount"]


def test_each_scale_group_has_its_always_ready_count_from_a_parameter() -> None:
    groups = {group["name"]: group["instanceCount"] for group in scale()["alwaysReady"]}
    assert groups == ALWAYS_READY
    for parameter_name in ALWAYS_READY.values():
        assert main_param("functionApp", parameter_name) == parameter_name
    # The webhook must never wait for a cold start (Meta allows 5 seconds).
    assert decorator(parameter(FUNCTION_APP, "alwaysReadyHttpInstances"), "min_value") >= 1
    assert decorator(parameter(MAIN, "alwaysReadyHttpInstances"), "min_value") >= 1
    assert default(MAIN, "alwaysReadyHttpInstances") >= 1
    # A group Azure does not know keeps nothing warm: 'function:<name>' must be a non-HTTP
    # function of the app (the HTTP ones scale together as 'http').
    triggers = app_functions()
    for name in set(groups) - {"http"}:
        function = name.removeprefix("function:")
        assert name.startswith("function:") and function in triggers, f"no group {name!r}"
        assert triggers[function]["type"] != "httpTrigger", f"{name} is in the http group"


def test_each_trigger_group_has_a_deliberate_per_instance_concurrency() -> None:
    assert scale()["triggers"]["http"]["perInstanceConcurrency"] == "httpPerInstanceConcurrency"
    assert main_param("functionApp", "httpPerInstanceConcurrency") == "httpPerInstanceConcurrency"
    concurrency = default(MAIN, "httpPerInstanceConcurrency")
    # At 1 (Python's default) every concurrent webhook call or console poll takes an instance.
    assert concurrency > 1
    assert decorator(parameter(MAIN, "httpPerInstanceConcurrency"), "min_value") == 1
    # About one request per 128 MB: the ratio of the platform's defaults for other languages.
    assert concurrency * 128 <= default(MAIN, "instanceMemoryMB")
    # Both queues have sessions, so host.json's maxConcurrentSessions (not maxConcurrentCalls)
    # is how many messages a router or sender instance handles at once.
    queue_functions = {name: trigger for name, trigger in app_functions().items()
                       if trigger["type"] == "serviceBusTrigger"}
    assert set(queue_functions) == {"router", "sender"}
    assert all(trigger.get("isSessionsEnabled") is True for trigger in queue_functions.values())
    service_bus = json.loads((ROOT / "host.json").read_text())["extensions"]["serviceBus"]
    assert 1 <= service_bus["maxConcurrentSessions"] <= 64


def test_the_worker_has_a_thread_for_each_concurrent_execution() -> None:
    """The synchronous functions (webhook, router, sender) run in the worker's thread pool,
    min(32, CPUs + 4) threads by default: fewer than the HTTP concurrency or the sessions an
    instance is given would queue the rest behind the pool."""
    threads = app_settings()["PYTHON_THREADPOOL_THREAD_COUNT"]
    assert threads == {"function": {"type": "string", "parameters": {"value_to_convert": {
        "function": {"type": "max", "parameters": {"arg_1": "httpPerInstanceConcurrency",
                                                   "arg_2": 16}}}}}}
    service_bus = json.loads((ROOT / "host.json").read_text())["extensions"]["serviceBus"]
    assert service_bus["maxConcurrentSessions"] == 16  # the literal above
    assert max(default(MAIN, "httpPerInstanceConcurrency"), 16) <= 32  # the worker's maximum


@pytest.mark.parametrize("name", SCALE_PARAMETERS)
def test_azd_passes_the_scale_defaults_of_main(name: str) -> None:
    assert parameters_file_default(name) == str(default(MAIN, name))


def test_instance_memory_is_a_flex_size() -> None:
    assert scale()["instanceMemoryMB"] == "instanceMemoryMB"
    allowed = set(decorator(parameter(MAIN, "instanceMemoryMB"), "allowed"))
    assert allowed <= {512, 2048, 4096}
    assert default(MAIN, "instanceMemoryMB") in allowed
    assert decorator(parameter(MAIN, "maximumInstanceCount"), "min_value") >= 40


# --- app settings ----------------------------------------------------------------------------


def azure_settings() -> set[str]:
    aliases = {field.alias for field in Settings.model_fields.values() if field.alias}
    return aliases - LOCAL_ONLY_SETTINGS - CONNECTION_STRING_SETTINGS


def test_every_azure_setting_of_the_app_is_set() -> None:
    missing = azure_settings() - set(app_settings())
    assert not missing, f"app settings lack {sorted(missing)} (messenger_channel/settings.py)"


def test_settings_py_is_read_as_expected() -> None:
    # Guards the test above against a settings model it no longer understands.
    assert {"PUBLIC_BASE_URL", "MANAGEMENT_API_KEY", "KEY_VAULT_URL"} <= azure_settings()


def test_no_connection_string_or_key_in_app_settings() -> None:
    settings = app_settings()
    assert not CONNECTION_STRING_SETTINGS & set(settings)
    for name, value in settings.items():
        if name == "APPLICATIONINSIGHTS_CONNECTION_STRING":
            continue  # locates the component; telemetry is authenticated with Entra ID
        text = json.dumps(value).lower()
        for marker in SECRET_MARKERS:
            assert marker not in text, f"{name} looks like it carries a secret ({marker})"


def test_connections_are_identity_based() -> None:
    settings = app_settings()
    assert settings["AzureWebJobsStorage__accountName"] == "storageAccountName"
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["ServiceBusConnection__fullyQualifiedNamespace"] == (
        "serviceBusFullyQualifiedNamespace"
    )
    assert settings["ServiceBusConnection__credential"] == "managedidentity"
    assert main_param("functionApp", "serviceBusFullyQualifiedNamespace") == (
        "serviceBus.outputs.fullyQualifiedNamespace"
    )
    # A user-assigned identity must be named, for the host and for DefaultAzureCredential.
    if function_app()["identity"]["type"] == "UserAssigned":
        for name in ("AzureWebJobsStorage__clientId", "ServiceBusConnection__clientId",
                     "AZURE_CLIENT_ID"):
            assert settings[name] == "identityClientId", name
        assert main_param("functionApp", "identityClientId") == "identity.outputs.clientId"


def test_secrets_are_key_vault_references() -> None:
    settings = app_settings()
    assert settings["MANAGEMENT_API_KEY"] == (
        "@Microsoft.KeyVault(SecretUri=${managementApiKeySecretUri})"
    )
    alert = json.dumps(settings["ALERT_WEBHOOK_URL"])
    assert "@Microsoft.KeyVault(SecretUri=${alertWebhookSecretUri})" in alert
    assert settings["KEY_VAULT_URL"] == "keyVaultUri"


def test_platform_owned_settings_are_not_set() -> None:
    assert not PLATFORM_OWNED_SETTINGS & set(app_settings())


def test_app_setting_values() -> None:
    settings = app_settings()
    assert settings["QUEUE_BACKEND"] == "servicebus"
    assert settings["PUBLIC_BASE_URL"] == "https://${functionApp.properties.defaultHostName}"
    assert settings["TOKEN_CHECK_SCHEDULE"] == "tokenCheckSchedule"
    assert settings["FACEBOOK_GRAPH_URL"] == "facebookGraphUrl"
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == (
        "ClientId=${identityClientId};Authorization=AAD"
    )


def test_parameter_defaults_are_the_app_defaults() -> None:
    fields = Settings.model_fields
    assert default(MAIN, "facebookGraphUrl") == DEFAULT_GRAPH_URL
    assert default(MAIN, "tokenCheckSchedule") == fields["token_check_schedule"].default
    assert default(MAIN, "tokenWarningDays") == fields["token_warning_days"].default
    assert default(MAIN, "webhookMaxBodyBytes") == fields["webhook_max_body_bytes"].default


# --- role assignments ------------------------------------------------------------------------


def role_assignments() -> set[tuple[str, str, str]]:
    """(role name, scope resource type, principal parameter) of every assignment in rbac.bicep."""
    document = parse(RBAC)
    role_ids = document["variables"]["roles"]["value"]
    scopes = {name: r["type"] for name, r in document["resources"].items() if r["existing"]}
    found = set()
    for name, resource in resources(RBAC, "Microsoft.Authorization/roleAssignments").items():
        assignment = body(resource)
        definition = assignment["properties"]["roleDefinitionId"]["function"]
        assert definition["type"] == "subscription_resource_id", name
        role_key = render(definition["parameters"]["resource_name_1"]).removeprefix("roles.")
        role_id = role_ids[role_key]
        assert role_id in BUILT_IN_ROLES, f"{name}: {role_id} is not a known built-in role"
        principal = assignment["properties"]["principalId"]
        found.add((BUILT_IN_ROLES[role_id], scopes[assignment["scope"]], principal))
    return found


def test_role_variable_names_match_the_built_in_roles() -> None:
    role_ids = parse(RBAC)["variables"]["roles"]["value"]
    for key, role_id in role_ids.items():
        words = re.sub(r"([A-Z])", r" \1", key).lower().split()
        name = BUILT_IN_ROLES.get(role_id, "").lower()
        assert name, f"roles.{key} = {role_id} is not a known built-in role"
        assert all(word in name for word in words), f"roles.{key} = {role_id} is {name}"


def test_app_identity_has_exactly_the_roles_it_needs() -> None:
    app = {(role, scope) for role, scope, who in role_assignments() if who == "appPrincipalId"}
    assert app == APP_ROLES


def test_deployer_can_read_the_management_key_and_nothing_more() -> None:
    deployer = {
        (role, scope) for role, scope, who in role_assignments() if who == "deployerPrincipalId"
    }
    assert deployer == DEPLOYER_ROLES
    assert main_param("rbac", "appPrincipalId") == "identity.outputs.principalId"
    assert main_param("rbac", "deployerPrincipalId") == "principalId"


def test_app_role_assignments_are_for_a_service_principal() -> None:
    for name, resource in resources(RBAC, "Microsoft.Authorization/roleAssignments").items():
        properties = body(resource)["properties"]
        if properties["principalId"] == "appPrincipalId":
            # Set explicitly: a new identity may not have replicated when the assignment is made.
            assert properties["principalType"] == "ServicePrincipal", name


def test_the_app_starts_after_its_roles_are_assigned() -> None:
    depends = main_module("functionApp").get("dependsOn", [])
    assert "rbac" in depends

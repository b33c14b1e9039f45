"""Load a FunctionApp and describe its functions from their bindings, as the Functions host does."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.routes import RouteTemplate
from messenger_channel.bus.queues import QUEUES

# The Functions host reserves these first route segments and function-name prefixes.
RESERVED_ROUTE_SEGMENTS = ("admin", "runtime")
RESERVED_NAME_PREFIX = "admin"
# The app authenticates every route itself; any other level makes Azure ask for a host key
# that the devhost never checks, so a route working here would answer 401 there.
HTTP_AUTH_LEVEL = "anonymous"


class FunctionLoadError(Exception):
    """The app declares something the Functions host would refuse, or the devhost cannot run."""


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    trigger_type: str  # httpTrigger | serviceBusTrigger | timerTrigger
    arg_name: str
    user_function: Callable[..., Any]
    route: RouteTemplate | None = None
    methods: frozenset[str] = field(default_factory=frozenset)
    queue_name: str | None = None
    schedule: str | None = None
    run_on_startup: bool = False

    @property
    def kind(self) -> str:
        return {"httpTrigger": "http", "serviceBusTrigger": "queue", "timerTrigger": "timer"}[
            self.trigger_type
        ]

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"name": self.name, "trigger": self.kind}
        if self.route is not None:
            info["route"] = self.route.template
            info["methods"] = sorted(self.methods)
        if self.queue_name is not None:
            info["queue"] = self.queue_name
        if self.schedule is not None:
            info["schedule"] = self.schedule
        return info


def import_app(target: str) -> Any:
    """Import ``module[:attr]`` or ``path/to/file.py[:attr]``; ``attr`` defaults to ``app``."""
    location, _, attribute = target.partition(":")
    if location.endswith(".py"):
        path = Path(location).resolve()
        sys.path.insert(0, str(path.parent))
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise FunctionLoadError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(location)
    return getattr(module, attribute or "app")


def resolve_app_setting(value: str) -> str:
    """Replace ``%NAME%`` with the app setting NAME, failing like the host when it is missing."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise FunctionLoadError(f"app setting {name} is referenced by a binding but not set")
        return os.environ[name]

    return re.sub(r"%([^%]+)%", replace, value)


def describe_functions(app: Any) -> list[FunctionSpec]:
    specs: list[FunctionSpec] = []
    seen: set[str] = set()
    for function in app.get_functions():
        name = function.get_function_name()
        if name.lower().startswith(RESERVED_NAME_PREFIX):
            raise FunctionLoadError(
                f"function name {name!r}: names starting with 'admin' are reserved"
            )
        if name.lower() in seen:
            raise FunctionLoadError(f"function name {name!r} is used twice")
        seen.add(name.lower())
        specs.append(_describe(name, function))
    return specs


def _describe(name: str, function: Any) -> FunctionSpec:
    trigger = function.get_trigger().get_dict_repr()
    trigger_type = str(trigger["type"])
    user_function = function.get_user_function()
    arg_name = str(trigger["name"])
    _check_bindings(name, function, trigger, user_function)
    if trigger_type == "httpTrigger":
        _check_auth_level(name, trigger)
        template = RouteTemplate(str(trigger.get("route") or name))
        if template.first_segment.lower() in RESERVED_ROUTE_SEGMENTS:
            raise FunctionLoadError(
                f"function {name!r}: route {template.template!r} starts with a segment the "
                "Functions host reserves (admin, runtime)"
            )
        methods = frozenset(_enum_value(m).upper() for m in trigger.get("methods") or [])
        return FunctionSpec(
            name,
            trigger_type,
            arg_name,
            user_function,
            route=template,
            methods=methods
            or frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}),
        )
    if trigger_type == "serviceBusTrigger":
        if "queueName" not in trigger:
            raise FunctionLoadError(
                f"function {name!r}: only Service Bus queue triggers are supported"
            )
        if trigger.get("autoCompleteMessages") is False:
            raise FunctionLoadError(
                f"function {name!r}: autoCompleteMessages=false is not supported"
            )
        queue_name = resolve_app_setting(str(trigger["queueName"]))
        _check_sessions(name, queue_name, bool(trigger.get("isSessionsEnabled", False)))
        return FunctionSpec(
            name,
            trigger_type,
            arg_name,
            user_function,
            queue_name=queue_name,
        )
    if trigger_type == "timerTrigger":
        return FunctionSpec(
            name,
            trigger_type,
            arg_name,
            user_function,
            schedule=resolve_app_setting(str(trigger["schedule"])),
            run_on_startup=bool(trigger.get("runOnStartup", False)),
        )
    raise FunctionLoadError(
        f"function {name!r}: trigger {trigger_type} is not supported by devhost"
    )


def _check_bindings(name: str, function: Any, trigger: dict[str, Any], user_function: Any) -> None:
    for binding in function.get_bindings():
        info = binding.get_dict_repr()
        if info is trigger or info.get("name") in (trigger["name"], "$return"):
            continue
        raise FunctionLoadError(
            f"function {name!r}: binding {info.get('type')} {info.get('name')!r} is not supported "
            "by devhost; use the SDKs from the core instead"
        )
    parameters = set(inspect.signature(user_function).parameters)
    if parameters != {trigger["name"]}:
        raise FunctionLoadError(
            f"function {name!r}: parameters {sorted(parameters)} must be exactly the trigger "
            f"argument {trigger['name']!r}"
        )


def _check_auth_level(name: str, trigger: dict[str, Any]) -> None:
    # The Functions host's own default, when the app sets none, is "function".
    level = _enum_value(trigger.get("authLevel") or "function").lower()
    if level != HTTP_AUTH_LEVEL:
        raise FunctionLoadError(
            f"function {name!r}: auth level {level!r}: in Azure the route would demand a "
            "function or host key, which the devhost does not check; the app authenticates "
            "its routes itself, so declare auth_level=func.AuthLevel.ANONYMOUS"
        )


def _check_sessions(name: str, queue_name: str, sessions_enabled: bool) -> None:
    spec = QUEUES.get(queue_name)
    if spec is None:
        raise FunctionLoadError(
            f"function {name!r}: queue {queue_name!r} is not one of "
            f"messenger_channel/bus/queues.py ({', '.join(sorted(QUEUES))}); Service Bus has no "
            "such queue"
        )
    if sessions_enabled != spec.sessions:
        wanted = "requires sessions" if spec.sessions else "has no sessions"
        raise FunctionLoadError(
            f"function {name!r}: is_sessions_enabled={sessions_enabled} but queue "
            f"{queue_name!r} {wanted} (messenger_channel/bus/queues.py): Service Bus would "
            f"not deliver to this trigger; set is_sessions_enabled={spec.sessions}"
        )


def function_table(specs: list[FunctionSpec], route_prefix: str = "api") -> str:
    """The functions as a person reads them: one line each, kind, name and what triggers it."""
    rows = [("trigger", "function", "on")]
    rows += [(s.kind, s.name, _trigger_text(s, route_prefix)) for s in specs]
    widths = [max(len(row[column]) for row in rows) for column in range(2)]
    return "\n".join(f"{kind:{widths[0]}}  {name:{widths[1]}}  {on}".rstrip()
                     for kind, name, on in rows)


def _trigger_text(spec: FunctionSpec, route_prefix: str) -> str:
    if spec.route is not None:
        path = "/".join(part for part in (route_prefix, spec.route.template) if part)
        return f"{','.join(sorted(spec.methods))} /{path}"
    if spec.queue_name is not None:
        return f"queue {spec.queue_name}"
    return f"schedule {spec.schedule}" + (" (and at start-up)" if spec.run_on_startup else "")


def _enum_value(value: Any) -> str:
    return str(getattr(value, "value", value))

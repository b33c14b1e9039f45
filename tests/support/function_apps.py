"""The product's functions without its settings: every blueprint of functions/ registered on
one FunctionApp, as function_app.py does (which also reads the settings at import)."""

from __future__ import annotations

import functools
import importlib
import pkgutil

import azure.functions as func

import functions as functions_package


def product_function_app() -> func.FunctionApp:
    """A new app each call: ``get_functions()`` builds the functions once per app."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    for blueprint in _blueprints():
        app.register_blueprint(blueprint)
    return app


@functools.cache
def _blueprints() -> tuple[func.Blueprint, ...]:
    found = []
    for module in pkgutil.iter_modules(functions_package.__path__):
        blueprint = getattr(importlib.import_module(f"functions.{module.name}"), "bp", None)
        if isinstance(blueprint, func.Blueprint):
            found.append(blueprint)
    return tuple(found)

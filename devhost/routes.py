"""Azure Functions route templates (``a/{id}``, ``{id?}``, ``{*rest}``, ``{n:int}``) as regexes."""

from __future__ import annotations

import re

_CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "alpha": r"[A-Za-z]+",
    "guid": r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}",
    "bool": r"(?i:true|false)",
}
_PARAMETER = re.compile(
    r"^\{(?P<catch>\*)?(?P<name>\w+)(?::(?P<constraint>\w+))?(?P<optional>\?)?\}$"
)


class RouteTemplate:
    def __init__(self, template: str) -> None:
        self.template = template.strip("/")
        self.first_segment = self.template.split("/", 1)[0]
        self._regex = re.compile(self._compile(self.template), re.IGNORECASE)
        # Literal routes win over parameterised ones, as in ASP.NET routing.
        self.literal_score = sum(1 for s in self.template.split("/") if "{" not in s)

    @staticmethod
    def _compile(template: str) -> str:
        pattern = ""
        for segment in template.split("/") if template else []:
            match = _PARAMETER.match(segment)
            if match is None:
                if "{" in segment:
                    raise ValueError(f"unsupported route segment {segment!r}")
                pattern += "/" + re.escape(segment)
                continue
            name = match["name"]
            if match["catch"]:
                pattern += f"(?:/(?P<{name}>.*))?"
                continue
            body = _CONSTRAINTS.get(match["constraint"] or "", r"[^/]+")
            part = f"/(?P<{name}>{body})"
            pattern += f"(?:{part})?" if match["optional"] else part
        return "^" + pattern + "/?$"

    def match(self, path: str) -> dict[str, str] | None:
        """Route parameters for ``path`` (without the route prefix, no leading slash), or None."""
        found = self._regex.match("/" + path.strip("/") if path.strip("/") else "")
        if found is None:
            return None
        return {k: v for k, v in found.groupdict().items() if v is not None}

"""The core's refusals: what a caller asked for cannot be done, and why, as a reason code.

Every package of the core raises these (or subclasses of them) and nothing HTTP-shaped; the
API translates each kind to its status in one table (``api/errors.py``). The message is for
the person who asked: it names what was refused, never a secret or a stored value.

================= ====== ===================================================================
kind              HTTP   meaning
================= ====== ===================================================================
``Missing``       404    no such thing, or not the caller's to see (the two look alike)
``Forbidden``     403    the caller sees it but may not do this (a consultant replying)
``Conflict``      409    the request clashes with the current state (``code`` says how)
``Invalid``       422    input that fails a rule beyond its shape; ``problems`` names fields
``TooLarge``      413    a file or body over its limit
``Unsupported``   415    a file whose type is not accepted
================= ====== ===================================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar


class Refusal(Exception):
    """Base of the core's refusals: ``code`` (snake_case) and a message for people."""

    CODE: ClassVar[str] = "refused"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.CODE


class Missing(Refusal):
    CODE = "not_found"

    @classmethod
    def of(cls, what: str) -> Missing:
        """``Missing.of("conversation cv_1")``: "conversation cv_1 does not exist"."""
        return cls(f"{what} does not exist")


class Forbidden(Refusal):
    CODE = "forbidden"


class Conflict(Refusal):
    CODE = "conflict"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code)


class Invalid(Refusal):
    """``problems``: (field, message) pairs; a problem of the whole input names no field."""

    CODE = "validation_error"

    def __init__(self, problems: Sequence[tuple[str, str]] | str) -> None:
        self.problems = [("", problems)] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(f"{field}: {message}" if field else message
                                   for field, message in self.problems))


class TooLarge(Refusal):
    CODE = "body_too_large"


class Unsupported(Refusal):
    CODE = "unsupported_media_type"

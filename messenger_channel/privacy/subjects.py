"""How privacy records name a customer without their PSID (the audit log is kept for ever)."""

from __future__ import annotations

import hashlib


def customer_pseudonym(page_id: str, psid: str) -> str:
    return "customer:" + hashlib.sha256(f"{page_id}|{psid}".encode()).hexdigest()[:20]

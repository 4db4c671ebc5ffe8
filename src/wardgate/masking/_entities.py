"""The entity vocabulary shared by detectors, operators, policy directives and the audit summary.

Policy directives name either an entity or a family (``entities: [national_id]`` covers every
national identifier the detectors know). Detectors report the most specific entity they can; the
family lets operators and policy treat siblings alike. Custom entity types from policy are
``custom:<name>`` and belong to the ``custom`` family.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["ENTITIES", "FAMILIES", "family", "matches"]

#: entity -> family. A family is also a valid directive target.
ENTITIES: dict[str, str] = {
    "person": "person",
    "email": "email",
    "phone": "phone",
    "card_number": "card_number",
    "iban": "iban",
    "us_ssn": "national_id",
    "uk_nino": "national_id",
    "national_id": "national_id",  # other ids python-stdnum validates
    "ip_address": "network",
    "mac_address": "network",
    "date_of_birth": "date_of_birth",
    "address": "address",
    "medical_record": "medical_record",
    "aws_access_key": "secret",
    "aws_secret_key": "secret",
    "gcp_api_key": "secret",
    "gcp_service_account_key": "secret",
    "github_token": "secret",
    "gitlab_token": "secret",
    "slack_token": "secret",
    "stripe_key": "secret",
    "jwt": "secret",
    "private_key": "secret",
    "connection_string": "secret",
    "high_entropy_token": "secret",
    "password": "secret",
}

FAMILIES: frozenset[str] = frozenset(ENTITIES.values()) | {"custom"}


def family(entity: str) -> str:
    """The family of an entity (``custom:x`` is ``custom``; an unknown name is its own family)."""
    if entity.startswith("custom:"):
        return "custom"
    return ENTITIES.get(entity, entity)


def matches(entity: str, targets: Iterable[str]) -> bool:
    """Whether a directive naming ``targets`` (entities or families) covers ``entity``."""
    wanted = set(targets)
    return entity in wanted or family(entity) in wanted

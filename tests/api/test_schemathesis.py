"""The OpenAPI document is exact: schemathesis, all checks, for every role's token.

The document at /api/v1/openapi.json is what other systems are generated from (a police force's
records system among them), so every constraint the server enforces and every status it can
answer must be in it, and every answer must match it. This runs schemathesis's pytest
integration (examples, coverage and fuzzing phases) against the WSGI app with every built-in
check enabled, the equivalent of `schemathesis run --checks all`, once per role.

The settings come from the project's schemathesis.toml, the same file a `schemathesis run`
from the project root reads: it allows a 422 for schema-valid data only on the operations
whose business rules no schema can state (each named there and in the document).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import settings
from schemathesis.config import SchemathesisConfig

from diversion.api.schema import INVALID_FIELDS
from diversion.core.extensions import db
from tests.builders import build_world, create_venue

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW

CONFIG = Path(__file__).resolve().parents[2] / "schemathesis.toml"
ROLES = {"police": "police_a", "facilitator": "fac1", "manager": "manager", "admin": "admin"}


@pytest.fixture(params=sorted(ROLES))
def api_schema(request: pytest.FixtureRequest, app: Flask) -> Iterator[Any]:
    """The document loaded from the app, with one role's token and every check enabled."""
    # schemathesis 4.32's lazy loader names each operation's subtest through `Node._nodeid`,
    # which pytest 9.2 no longer has: give it the node id to start from.
    request.node._nodeid = request.node.nodeid
    world = build_world()
    create_venue()
    db.session.commit()
    config = SchemathesisConfig.from_path(CONFIG)
    config.update(seed=20261128, max_failures=None)
    project = config.projects.default
    project.update(headers={"Authorization": f"Bearer {world.tokens[ROLES[request.param]]}"})
    project.generation.update(deterministic=True, database="none")
    project.checks.update(included_check_names=["all"])
    yield schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=10, deadline=None, derandomize=True, database=None)
def test_the_api_keeps_to_its_openapi_document(case: Any) -> None:
    response = case.call_and_validate()
    # schemathesis.toml lets some operations answer 422 to schema-valid data, for business
    # rules. The models' own refusal is never one of those: it would mean the document allows
    # what the models refuse.
    if (response.status_code == 422 and case.meta is not None
            and case.meta.generation.mode.is_positive):
        assert response.json().get("detail") != INVALID_FIELDS, response.text

"""The plan as JSON: exactly `Plan.to_dict()`, documented by schemas/plan.schema.json."""

from __future__ import annotations

import json

from reconciler.plan.model import Plan


def render_json(plan: Plan) -> str:
    # Key order is to_dict()'s (deterministic, readable), not alphabetical.
    return json.dumps(plan.to_dict(), indent=2, ensure_ascii=False) + "\n"

"""Schemathesis hooks for test_openapi_schemathesis.py (loaded through SCHEMATHESIS_HOOKS).

The text endpoints answer 404 `model_not_found` to any model id but the served one, so generated
requests would rarely reach generation: a generated string `model` is replaced by the served
model's id (KILN_SCHEMATHESIS_MODEL). Bodies where `model` is not a string (negative cases) are
left as they are.
"""
import os

import schemathesis

TEXT_PATHS = {"/v1/chat/completions", "/v1/completions"}


@schemathesis.hook
def map_case(context, case):
    model = os.environ.get("KILN_SCHEMATHESIS_MODEL")
    if model and case.operation.path in TEXT_PATHS and isinstance(case.body, dict):
        if isinstance(case.body.get("model"), str):
            case.body["model"] = model
    return case

"""The JSON Schema corpus through the real server: every schema of llama.cpp's JSON-schema tests
(`Tests/Fixtures/grammar`, rewritten from test-json-schema-to-grammar.cpp and
test-grammar-integration.cpp), the hand-written schemas of test_structured_output.py, and schemas
pydantic makes from models of growing depth. Each is asked for at temperature 1 with three seeds on
each reference model, SmolLM2 and Qwen2.5-Coder-0.5B; every answer that ends with `stop` must be valid under Python's `jsonschema`. A schema the
server refuses must be a 400 (never a 5xx), and at least 100 must compile."""
import concurrent.futures
import json
import pathlib
from typing import List, Literal, Optional, Union

import jsonschema
import pydantic
import pytest

from test_structured_output import SCHEMAS as HAND_WRITTEN

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "Fixtures" / "grammar"
SEEDS = [11, 12, 13]
MAX_TOKENS = 96


def pydantic_schemas():
    """Models of depth 1 to 6: each level wraps the one below in an object with a bounded list,
    an optional member, a literal and a union."""
    class Leaf(pydantic.BaseModel):
        label: pydantic.constr(max_length=10)
        score: pydantic.conint(ge=0, le=9)
    models = {"pydantic_depth_1": Leaf}
    below = Leaf
    for depth in range(2, 7):
        inner = below

        class Level(pydantic.BaseModel):
            kind: Literal["a", "b"]
            child: inner
            extras: List[inner] = pydantic.Field(max_length=1)
            note: Optional[pydantic.constr(max_length=8)] = None
            value: Union[pydantic.conint(ge=0, le=99), bool]
        Level.__name__ = f"Level{depth}"
        models[f"pydantic_depth_{depth}"] = Level
        below = Level
    return {name: model.model_json_schema() for name, model in models.items()}


def corpus():
    schemas = {}
    for index, case in enumerate(json.loads((FIXTURES / "schema-conversion.json").read_text())["cases"]):
        if case.get("succeeds", True):
            schemas[f"llamacpp_conversion_{index}"] = case["schema"]
    for index, case in enumerate(json.loads((FIXTURES / "integration.json").read_text())["cases"]):
        if "schema" in case:
            schemas[f"llamacpp_integration_{index}"] = case["schema"]
    schemas.update({f"hand_{name}": schema for name, schema in HAND_WRITTEN.items()})
    schemas.update(pydantic_schemas())
    return schemas


def validator(schema):
    """The validator of the schema's dialect: 2020-12 unless it says otherwise, or draft 7 for the
    older schemas of llama.cpp's tests (an `items` array is draft 7's tuple, as Kiln reads it)."""
    kind = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        kind.check_schema(schema)
    except jsonschema.SchemaError:
        kind = jsonschema.Draft7Validator
        kind.check_schema(schema)
    return kind(schema)


def ask(kiln, schema, seed):
    import urllib.error
    import urllib.request
    body = {"model": kiln.model, "messages": [{"role": "user", "content": "Answer with a JSON value."}],
            "max_tokens": MAX_TOKENS, "temperature": 1, "seed": seed,
            "response_format": {"type": "json_schema", "json_schema": {"name": "corpus", "schema": schema}}}
    request = urllib.request.Request(kiln.base + "/v1/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            return 200, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@pytest.mark.parametrize("model", ["kiln", "qwen"])
def test_every_finished_answer_validates(request, model):
    kiln = request.getfixturevalue(model)
    schemas = corpus()
    assert len(schemas) >= 120
    jobs = [(name, seed) for name in sorted(schemas) for seed in SEEDS]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda job: (job, ask(kiln, schemas[job[0]], job[1])), jobs))
    compiled, refused, finished, invalid = set(), {}, 0, []
    for (name, seed), (status, body) in answers:
        assert status < 500, (name, body)
        if status == 400:
            refused[name] = body["error"]["message"]
            assert body["error"]["param"] == "response_format.json_schema.schema", body
            continue
        assert status == 200, (name, body)
        compiled.add(name)
        choice = body["choices"][0]
        if choice["finish_reason"] != "stop":
            continue
        finished += 1
        if choice["message"]["content"] != choice["message"]["content"].rstrip():
            invalid.append((name, seed, choice["message"]["content"], "whitespace after the complete value"))
        try:
            validator(schemas[name]).validate(json.loads(choice["message"]["content"]))
        except (json.JSONDecodeError, jsonschema.ValidationError) as error:
            invalid.append((name, seed, choice["message"]["content"], str(error)[:200]))
    print(f"{model}: {len(schemas)} schemas: {len(compiled)} compiled, {len(refused)} refused, "
          f"{finished} of {len(SEEDS) * len(compiled)} answers finished within {MAX_TOKENS} tokens, all validated; refused: {refused}")
    assert not invalid, invalid
    assert len(compiled) >= 100, refused
    # Most answers are short enough to finish: the validation above is not vacuous.
    assert finished >= len(compiled)

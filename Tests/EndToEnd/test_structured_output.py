"""Structured output against the real binary and SmolLM2: `response_format` (json_object and
json_schema), llama.cpp's `grammar` and `json_schema`, through the official `openai` client. Every
answer is sampled at temperature 1 with several seeds and must parse and validate under Python's
`jsonschema`; a bad schema or grammar is a 400 that says where the problem is."""
import json
import re
from typing import List, Literal, Optional

import jsonschema
import openai
import pydantic
import pytest


@pytest.fixture(scope="module")
def client(kiln):
    return openai.OpenAI(base_url=kiln.base + "/v1", api_key="unused", max_retries=0, timeout=300)


SCHEMAS = {
    "person": {"type": "object", "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 24},
        "age": {"type": "integer", "minimum": 0, "maximum": 120}},
        "required": ["name", "age"], "additionalProperties": False},
    "enum_and_const": {"type": "object", "properties": {
        "colour": {"enum": ["red", "green", "blue"]}, "kind": {"const": "paint"}},
        "required": ["colour", "kind"], "additionalProperties": False},
    "bounded_array": {"type": "object", "properties": {
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 10}, "minItems": 1, "maxItems": 3}},
        "required": ["tags"], "additionalProperties": False},
    "any_of_and_null": {"type": "object", "properties": {
        "value": {"anyOf": [{"type": "integer", "exclusiveMinimum": 5}, {"type": "boolean"}]},
        "note": {"type": ["string", "null"], "maxLength": 12}},
        "required": ["value", "note"], "additionalProperties": False},
    "formats_and_pattern": {"type": "object", "properties": {
        "day": {"type": "string", "format": "date"},
        "code": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{3}$"},
        "id": {"type": "string", "format": "uuid"}},
        "required": ["day", "code", "id"], "additionalProperties": False},
    "recursive_tree": {"$defs": {"node": {"type": "object", "properties": {
        "label": {"type": "string", "maxLength": 8},
        "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2}},
        "required": ["label", "children"], "additionalProperties": False}},
        "$ref": "#/$defs/node"},
    "tuple": {"type": "array", "prefixItems": [{"type": "number", "minimum": -1, "maximum": 1}, {"type": "string", "maxLength": 5}],
              "items": False},
}
SEEDS = [1, 2, 3]


def ask(client, kiln, content, **kwargs):
    return client.chat.completions.create(model=kiln.model, messages=[{"role": "user", "content": content}],
                                          max_tokens=160, temperature=1, **kwargs)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_json_schema_answers_validate(client, kiln, name):
    schema = SCHEMAS[name]
    for seed in SEEDS:
        reply = ask(client, kiln, f"Answer with a JSON value for '{name}'.", seed=seed,
                    response_format={"type": "json_schema", "json_schema": {"name": name, "schema": schema}})
        choice = reply.choices[0]
        if choice.finish_reason == "length":
            # The output stopped at max_tokens: a prefix of a valid value, as OpenAI's API does.
            continue
        assert choice.finish_reason == "stop", choice
        jsonschema.validate(json.loads(choice.message.content), schema)
        # A complete value ends at once: no whitespace spent after it.
        assert choice.message.content == choice.message.content.rstrip(), repr(choice.message.content)


def test_most_answers_finish_within_the_budget(client, kiln):
    """Not every answer above may run out of tokens: the schemas are small."""
    finished = 0
    for name in sorted(SCHEMAS):
        reply = ask(client, kiln, "Answer in JSON.", seed=9,
                    response_format={"type": "json_schema", "json_schema": {"name": name, "schema": SCHEMAS[name]}})
        finished += reply.choices[0].finish_reason == "stop"
    assert finished >= len(SCHEMAS) - 1


def test_json_object_mode_gives_an_object(client, kiln):
    finished = 0
    for seed in SEEDS + [4, 5]:
        reply = client.chat.completions.create(
            model=kiln.model, messages=[{"role": "user", "content": "List three colours."}], max_tokens=400,
            temperature=1, seed=seed, response_format={"type": "json_object"})
        choice = reply.choices[0]
        # A free object can run past max_tokens at temperature 1; whatever ends, parses.
        if choice.finish_reason == "stop":
            finished += 1
            assert isinstance(json.loads(choice.message.content), dict), choice.message.content
        else:
            assert choice.finish_reason == "length" and choice.message.content.lstrip().startswith("{")
    assert finished >= 3


class Pet(pydantic.BaseModel):
    name: str = pydantic.Field(max_length=20)
    species: Literal["cat", "dog", "fish"]
    age: int = pydantic.Field(ge=0, le=30)
    toys: List[pydantic.constr(max_length=12)] = pydantic.Field(max_length=3)
    owner: Optional[pydantic.constr(max_length=20)] = None


def test_openai_parse_returns_pydantic_objects(client, kiln):
    for seed in SEEDS:
        completion = client.chat.completions.parse(
            model=kiln.model, messages=[{"role": "user", "content": "Describe a pet."}], response_format=Pet,
            temperature=1, seed=seed, max_tokens=200)
        message = completion.choices[0].message
        assert completion.choices[0].finish_reason == "stop"
        assert isinstance(message.parsed, Pet), message


def test_several_choices_and_streaming_each_follow_the_schema(client, kiln):
    schema = SCHEMAS["person"]
    stream = ask(client, kiln, "A person.", seed=4, n=2, stream=True,
                 response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}})
    texts, reasons = ["", ""], [None, None]
    for chunk in stream:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            reasons[choice.index] = choice.finish_reason or reasons[choice.index]
    assert reasons == ["stop", "stop"]
    for text in texts:
        jsonschema.validate(json.loads(text), schema)


def test_llama_cpp_grammar_and_json_schema_members(client, kiln):
    grammar = 'root ::= " " ("yes" | "no") "."'
    for seed in SEEDS:
        reply = client.completions.create(model=kiln.model, prompt="Is the sky blue? Answer:", max_tokens=8,
                                          temperature=1, seed=seed, extra_body={"grammar": grammar})
        assert re.fullmatch(r" (yes|no)\.", reply.choices[0].text), reply.choices[0].text
    schema = SCHEMAS["enum_and_const"]
    reply = ask(client, kiln, "A paint.", seed=5, extra_body={"json_schema": schema})
    jsonschema.validate(json.loads(reply.choices[0].message.content), schema)


@pytest.mark.parametrize("kwargs, param, fragment", [
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {
        "type": "object", "properties": {"a": {"type": "strin"}}}}}},
     "response_format.json_schema.schema", "/properties/a/type"),
    ({"extra_body": {"grammar": 'root ::= "a" |\n  missing'}}, "grammar", "line 2"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "strict": True, "schema": {
        "type": "object", "properties": {"a": {"type": "string", "contentEncoding": "base64"}}}}}},
     "response_format.json_schema.schema", "contentEncoding"),
    ({"response_format": {"type": "json_object"}, "extra_body": {"grammar": 'root ::= "a"'}}, "grammar", "at most one"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "has space", "schema": {}}}},
     "response_format.json_schema.name", "a-z"),
])
def test_bad_formats_are_400s_saying_where(client, kiln, kwargs, param, fragment):
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client, kiln, "x", **kwargs)
    body = caught.value.body
    assert body["param"] == param, body
    assert fragment in body["message"], body


def test_grammar_limits_are_settings():
    """`--grammar-max-depth` bounds a schema's nesting: past it, a 400 naming the limit."""
    from conftest import KilnServer
    server = KilnServer("--grammar-max-depth", "3", "--image-model", "none", "--embedding-model", "none")
    try:
        small = openai.OpenAI(base_url=server.base + "/v1", api_key="unused", max_retries=0, timeout=120)
        nested = {"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {
            "type": "object", "properties": {"c": {"type": "object", "properties": {"d": {"type": "integer"}}}}}}}}}
        with pytest.raises(openai.BadRequestError) as caught:
            small.chat.completions.create(model=server.model, messages=[{"role": "user", "content": "x"}], max_tokens=4,
                                          response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": nested}})
        assert caught.value.body["code"] == "grammar_too_large", caught.value.body
        shallow = {"type": "object", "properties": {"a": {"type": "integer"}}}
        reply = small.chat.completions.create(model=server.model, messages=[{"role": "user", "content": "x"}], max_tokens=12,
                                              response_format={"type": "json_schema", "json_schema": {"name": "s", "schema": shallow}})
        assert reply.choices[0].finish_reason in ("stop", "length")
    finally:
        server.stop()

"""Tool calls against the real binary, through the official `openai` client: on Qwen2.5-Coder-0.5B
(whose chat template writes Hermes-style `<tool_call>` blocks) and on SmolLM2 (whose template knows
no tools: Kiln's generic JSON answer). Every call's arguments must parse and validate under Python's
`jsonschema` against the function's parameters; streamed deltas must reassemble into the same;
a tool round trip (call → tool result → answer) must render through the template; bad tool
requests are 400s naming the member."""
import json
import urllib.request

import jsonschema
import openai
import pytest


WEATHER = {"type": "object", "properties": {
    "city": {"type": "string", "minLength": 1, "maxLength": 40},
    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    "required": ["city"], "additionalProperties": False}
TIME = {"type": "object", "properties": {"timezone": {"type": "string", "pattern": "^[A-Z][a-z]+/[A-Z][a-z]+$"}},
        "required": ["timezone"], "additionalProperties": False}
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Get the current weather for a city.",
                                      "parameters": WEATHER}},
    {"type": "function", "function": {"name": "get_time", "description": "Get the local time in a time zone.",
                                      "parameters": TIME}},
]
PARAMETERS = {tool["function"]["name"]: tool["function"]["parameters"] for tool in TOOLS}
SEEDS = [1, 2, 3]


def client_of(server):
    return openai.OpenAI(base_url=server.base + "/v1", api_key="unused", max_retries=0, timeout=300)


def check_calls(message, names=None):
    """Every call is complete, names an offered function and validates; returns the calls."""
    assert message.tool_calls, message
    for call in message.tool_calls:
        assert call.type == "function" and call.id
        assert call.function.name in (names or PARAMETERS), call
        jsonschema.validate(json.loads(call.function.arguments), PARAMETERS[call.function.name])
    assert len({call.id for call in message.tool_calls}) == len(message.tool_calls)
    return message.tool_calls


def test_required_calls_validate_at_temperature_one(qwen):
    client = client_of(qwen)
    for seed in SEEDS:
        reply = client.chat.completions.create(
            model=qwen.model, messages=[{"role": "user", "content": "What is the weather in Oslo, and the time in Europe/Oslo?"}],
            tools=TOOLS, tool_choice="required", temperature=1, seed=seed, max_tokens=200)
        choice = reply.choices[0]
        assert choice.finish_reason == "tool_calls", choice
        assert choice.message.content is None
        check_calls(choice.message)


def test_tool_round_trip(qwen):
    """call → tool result → answer: the assistant's calls and the tool message go back through
    Qwen's template (rendered as the reference renders them), and the model answers in text."""
    client = client_of(qwen)
    messages = [{"role": "user", "content": "What's the weather in Paris?"}]
    first = client.chat.completions.create(model=qwen.model, messages=messages, tools=TOOLS, tool_choice="required",
                                           temperature=0, max_tokens=100)
    call = check_calls(first.choices[0].message)[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments)["city"] == "Paris"
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temperature": 18, "sky": "clear"})})
    request = urllib.request.Request(qwen.base + "/apply-template", json.dumps({"messages": messages, "tools": TOOLS}).encode())
    with urllib.request.urlopen(request) as response:
        rendered = json.load(response)["prompt"]
    assert '<tool_call>\n{"name": "get_weather", "arguments": ' + call.function.arguments + "}\n</tool_call>" in rendered
    assert '<tool_response>\n{"temperature": 18, "sky": "clear"}\n</tool_response>' in rendered
    # The answer in words: with `auto` this 0.5B model tends to repeat its call after the result.
    final = client.chat.completions.create(model=qwen.model, messages=messages, tools=TOOLS, tool_choice="none",
                                           temperature=0, max_tokens=60)
    assert final.choices[0].finish_reason in ("stop", "length")
    assert final.choices[0].message.tool_calls is None
    assert final.choices[0].message.content.strip()


def reassemble(stream):
    """The calls and text a streamed answer tells, checking the deltas' order as OpenAI sends them."""
    calls, content, finish = {}, "", None
    for chunk in stream:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        content += delta.content or ""
        for piece in delta.tool_calls or []:
            if piece.index not in calls:
                assert piece.id and piece.type == "function" and piece.function.name, piece
                calls[piece.index] = {"id": piece.id, "name": piece.function.name, "arguments": ""}
            else:
                assert piece.id is None and piece.function.name is None, piece
            calls[piece.index]["arguments"] += piece.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert sorted(calls) == list(range(len(calls)))
    return [calls[index] for index in sorted(calls)], content, finish


def test_streamed_deltas_reassemble_into_valid_arguments(qwen):
    client = client_of(qwen)
    for seed in SEEDS:
        stream = client.chat.completions.create(
            model=qwen.model, messages=[{"role": "user", "content": "Weather in Tokyo and in Lima, please."}],
            tools=TOOLS, tool_choice="required", temperature=1, seed=seed, max_tokens=200, stream=True)
        calls, content, finish = reassemble(stream)
        assert finish == "tool_calls" and calls and content == ""
        for call in calls:
            jsonschema.validate(json.loads(call["arguments"]), PARAMETERS[call["name"]])
        # The same seed without streaming gives the same calls.
        plain = client.chat.completions.create(
            model=qwen.model, messages=[{"role": "user", "content": "Weather in Tokyo and in Lima, please."}],
            tools=TOOLS, tool_choice="required", temperature=1, seed=seed, max_tokens=200)
        assert [(c.function.name, c.function.arguments) for c in plain.choices[0].message.tool_calls] == \
            [(c["name"], c["arguments"]) for c in calls]


def test_named_function_and_parallel_calls_off(qwen):
    client = client_of(qwen)
    named = client.chat.completions.create(
        model=qwen.model, messages=[{"role": "user", "content": "What's the weather in Rome?"}], tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_time"}}, temperature=1, seed=4, max_tokens=100)
    calls = check_calls(named.choices[0].message, names={"get_time"})
    assert len(calls) == 1
    for seed in SEEDS:
        single = client.chat.completions.create(
            model=qwen.model, messages=[{"role": "user", "content": "Weather in Paris, Tokyo and Lima?"}], tools=TOOLS,
            tool_choice="required", parallel_tool_calls=False, temperature=1, seed=seed, max_tokens=100, n=2)
        for choice in single.choices:
            assert len(check_calls(choice.message)) == 1


@pytest.mark.parametrize("prompt", [
    "Use the get_weather tool to look up the weather in Paris.",  # Qwen answers in a json fence
    "What's the weather like in Madrid right now? Use a tool.",  # ... bare JSON
])
def test_auto_takes_the_calls_the_model_starts(qwen, prompt):
    """With `auto` the model writes its call as it likes (Qwen2.5-Coder-0.5B writes pretty-printed
    JSON, bare or in a Markdown fence, rather than the <tool_call> tags its template asks for): once
    it has started one, the rest is grammar-constrained, and the answer is a call, streamed or not."""
    client = client_of(qwen)
    reply = client.chat.completions.create(
        model=qwen.model, messages=[{"role": "user", "content": prompt}], tools=TOOLS, temperature=0, max_tokens=100)
    assert reply.choices[0].finish_reason == "tool_calls", reply.choices[0]
    calls = check_calls(reply.choices[0].message, names={"get_weather"})
    stream = client.chat.completions.create(
        model=qwen.model, messages=[{"role": "user", "content": prompt}], tools=TOOLS, temperature=0, max_tokens=100,
        stream=True)
    streamed, content, finish = reassemble(stream)
    assert finish == "tool_calls" and content == ""
    assert [(c["name"], c["arguments"]) for c in streamed] == [(c.function.name, c.function.arguments) for c in calls]


def test_auto_answers_in_text_when_no_tool_fits(qwen):
    client = client_of(qwen)
    reply = client.chat.completions.create(
        model=qwen.model, messages=[{"role": "user", "content": "Write a haiku about the sea."}], tools=TOOLS,
        temperature=0, max_tokens=60)
    choice = reply.choices[0]
    assert choice.message.tool_calls is None and choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")


def test_generic_syntax_on_a_template_without_tools(kiln):
    """SmolLM2's template shows no tools: Kiln describes them in the system message and constrains
    the answer to its JSON object (calls, or with auto a text response)."""
    client = client_of(kiln)
    for seed in SEEDS:
        reply = client.chat.completions.create(
            model=kiln.model, messages=[{"role": "user", "content": "What's the weather in Paris?"}], tools=TOOLS,
            tool_choice="required", temperature=1, seed=seed, max_tokens=120)
        choice = reply.choices[0]
        if choice.finish_reason == "tool_calls":
            check_calls(choice.message)
        else:
            # Out of tokens inside a call: the finished calls before it still validate.
            assert choice.finish_reason == "length"
            assert choice.message.tool_calls
        auto = client.chat.completions.create(
            model=kiln.model, messages=[{"role": "user", "content": "Say hello."}], tools=TOOLS, temperature=1, seed=seed,
            max_tokens=120)
        choice = auto.choices[0]
        assert choice.finish_reason in ("stop", "tool_calls", "length")
        if choice.finish_reason == "tool_calls":
            check_calls(choice.message)
        elif choice.finish_reason == "stop":
            assert choice.message.tool_calls is None and isinstance(choice.message.content, str)


@pytest.mark.parametrize("kwargs, param, fragment", [
    ({"tool_choice": {"type": "function", "function": {"name": "get_stock"}}}, "tool_choice.function.name", "get_stock"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}}]},
     "tools[0].function.parameters", "object"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}}}}]},
     "tools[0].function.parameters", "/properties/a"),
    ({"tools": [{"type": "function", "function": {"name": "f", "strict": True, "parameters": {
        "type": "object", "properties": {"a": {"type": "string", "contentEncoding": "base64"}}}}}]},
     "tools[0].function.parameters", "contentEncoding"),
])
def test_bad_tool_requests_are_400s_naming_the_member(kiln, kwargs, param, fragment):
    request = {"tools": TOOLS, **kwargs}
    with pytest.raises(openai.BadRequestError) as caught:
        client_of(kiln).chat.completions.create(
            model=kiln.model, messages=[{"role": "user", "content": "Hi"}], max_tokens=4, **request)
    assert caught.value.body["param"] == param, caught.value.body
    assert fragment in caught.value.body["message"], caught.value.body

"""The OpenAI-compatible API, driven by the official `openai` Python client against the real
binary serving the default model (SmolLM2-135M-Instruct, Q4_1)."""
import concurrent.futures
import json
import time
import urllib.request

import openai
import pytest


@pytest.fixture(scope="module")
def client(kiln):
    return openai.OpenAI(base_url=kiln.base + "/v1", api_key="unused", max_retries=0, timeout=120)


def chat(client, kiln, content, **kwargs):
    return client.chat.completions.create(model=kiln.model, messages=[{"role": "user", "content": content}], **kwargs)


def test_models(client, kiln):
    models = client.models.list()
    assert [m.id for m in models.data][0] == kiln.model  # then the default image model
    assert client.models.retrieve(kiln.model).id == kiln.model


def test_chat_greedy_answers_the_question(client, kiln):
    reply = chat(client, kiln, "What is the boiling point of water?", max_tokens=24, temperature=0)
    choice = reply.choices[0]
    assert "100" in choice.message.content
    assert choice.message.role == "assistant"
    assert choice.finish_reason in ("stop", "length")
    assert reply.usage.prompt_tokens > 10
    assert reply.usage.completion_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_chat_stream_matches_non_stream(client, kiln):
    whole = chat(client, kiln, "Name three colours.", max_tokens=20, temperature=0).choices[0].message.content
    chunks = list(chat(client, kiln, "Name three colours.", max_tokens=20, temperature=0, stream=True,
                       stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole
    finishing = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finishing) == 1
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0


def test_completions_prompt_shapes_and_n(client, kiln):
    text = client.completions.create(model=kiln.model, prompt="The capital of France is", max_tokens=4, temperature=0)
    assert "Paris" in text.choices[0].text
    ids = json.loads(urllib.request.urlopen(urllib.request.Request(
        kiln.base + "/tokenize", data=json.dumps({"content": "The capital of France is"}).encode(),
        headers={"Content-Type": "application/json"})).read())["tokens"]
    by_ids = client.completions.create(model=kiln.model, prompt=ids, max_tokens=4, temperature=0)
    assert by_ids.choices[0].text == text.choices[0].text
    several = client.completions.create(model=kiln.model, prompt=["One, two,", "Red, green,"], max_tokens=3,
                                        temperature=0, n=2)
    assert len(several.choices) == 4
    assert several.choices[0].text == several.choices[1].text  # greedy: both copies agree
    assert several.choices[0].text != several.choices[2].text


def test_stop_sequences(client, kiln):
    free = client.completions.create(model=kiln.model, prompt="1, 2, 3, 4,", max_tokens=12, temperature=0)
    stopped = client.completions.create(model=kiln.model, prompt="1, 2, 3, 4,", max_tokens=12, temperature=0,
                                        stop=["7"])
    assert "7" in free.choices[0].text
    assert stopped.choices[0].text == free.choices[0].text.split("7")[0]
    assert stopped.choices[0].finish_reason == "stop"


def test_seed_reproduces_sampling(client, kiln):
    def sample(seed):
        return chat(client, kiln, "Write a word.", max_tokens=12, temperature=1.0, seed=seed).choices[0].message.content
    assert sample(1234) == sample(1234)
    assert len({sample(s) for s in (1, 2, 3, 4)}) > 1


def test_logprobs(client, kiln):
    reply = chat(client, kiln, "Say yes.", max_tokens=4, temperature=0, logprobs=True, top_logprobs=3)
    content = reply.choices[0].logprobs.content
    assert len(content) >= 1
    for entry in content:
        assert entry.logprob <= 0
        assert len(entry.top_logprobs) == 3
        # Greedy: the chosen token is the most likely one.
        assert entry.top_logprobs[0].token == entry.token
        assert abs(entry.top_logprobs[0].logprob - entry.logprob) < 1e-6
    legacy = client.completions.create(model=kiln.model, prompt="Hello", max_tokens=3, temperature=0, logprobs=2)
    assert len(legacy.choices[0].logprobs.tokens) == 3
    assert all(len(top) == 2 for top in legacy.choices[0].logprobs.top_logprobs)


@pytest.mark.parametrize("kwargs,param", [
    ({"model": "no-such-model"}, "model"),
    ({"max_tokens": -1}, "max_tokens"),
    ({"temperature": 5}, "temperature"),
    ({"top_p": 1.5}, "top_p"),
    ({"n": 1000}, "n"),
    ({"max_tokens": 100000}, "max_tokens"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
])
def test_errors_name_the_parameter(client, kiln, kwargs, param):
    arguments = {"model": kiln.model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    arguments.update(kwargs)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(**arguments)
    assert caught.value.status_code in (400, 404)
    assert caught.value.body["param"] == param, caught.value.body


def test_empty_messages_and_bad_json(client, kiln):
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=kiln.model, messages=[])
    request = urllib.request.Request(kiln.base + "/v1/chat/completions", data=b"{not json",
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == 400
    assert json.loads(caught.value.read())["error"]["type"] == "invalid_request_error"


def test_prefix_cache_hit_gives_same_tokens(client, kiln):
    system = "You are a careful assistant. " * 12
    messages = [{"role": "system", "content": system}, {"role": "user", "content": "Count to five."}]
    first = client.chat.completions.create(model=kiln.model, messages=messages, max_tokens=16, temperature=0)
    second = client.chat.completions.create(model=kiln.model, messages=messages, max_tokens=16, temperature=0)
    assert second.usage.prompt_tokens_details.cached_tokens > 0
    assert second.choices[0].message.content == first.choices[0].message.content


def test_determinism_alone_and_batched(client, kiln):
    def run(seed):
        return chat(client, kiln, f"Tell me a fact about the number {seed}.", max_tokens=24, temperature=0.8,
                    seed=seed).choices[0].message.content
    alone = run(7)
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        futures = [pool.submit(run, 7)] + [pool.submit(run, s) for s in range(100, 115)]
        batched = futures[0].result()
        for f in futures[1:]:
            f.result()
    assert batched == alone


def test_apply_template_and_detokenize(kiln):
    def post(path, body):
        request = urllib.request.Request(kiln.base + path, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        return json.loads(urllib.request.urlopen(request).read())
    prompt = post("/apply-template", {"messages": [{"role": "user", "content": "Hi"}]})["prompt"]
    assert prompt.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    ids = post("/tokenize", {"content": "Hello world"})["tokens"]
    assert post("/detokenize", {"tokens": ids})["content"] == "Hello world"


def test_every_stream_event_is_a_json_object(kiln):
    """Tokens that complete no character (held back by the detokenizer) must not produce events."""
    import http.client
    connection = http.client.HTTPConnection("127.0.0.1", kiln.port, timeout=60)
    connection.request("POST", "/v1/completions", json.dumps({
        "model": kiln.model, "prompt": "Emoji: 🎉🚀🌍 and more", "max_tokens": 24, "stream": True,
        "temperature": 0.9, "seed": 3, "ignore_eos": True}), {"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.getheader("Content-Type").startswith("text/event-stream")
    lines = [line for line in response.read().decode().split("\n") if line]
    assert lines[-1] == "data: [DONE]"
    for line in lines[:-1]:
        assert line.startswith("data: ")
        assert isinstance(json.loads(line[6:]), dict), line


@pytest.mark.parametrize("kwargs, param", [
    ({"extra_body": {"mirostat": 2}}, "mirostat"),
])
def test_members_that_would_change_the_answer_are_not_ignored(client, kiln, kwargs, param):
    """A llama.cpp sampler Kiln lacks is a 400 naming the member. (JSON mode:
    test_structured_output.py; tools: test_tool_calls.py.)"""
    with pytest.raises(openai.BadRequestError) as caught:
        chat(client, kiln, "What is the weather in Paris?", max_tokens=4, **kwargs)
    assert caught.value.body["param"] == param, caught.value.body
    assert caught.value.body["code"] == "unsupported_parameter"


def test_members_without_effect_are_accepted_and_unknown_ones_refused(client, kiln):
    reply = chat(client, kiln, "Hi", max_tokens=2, temperature=0, metadata={"team": "a"}, store=False,
                 response_format={"type": "text"}, extra_body={"cache_prompt": True})
    assert reply.choices[0].finish_reason in ("stop", "length")
    with pytest.raises(openai.BadRequestError) as caught:
        chat(client, kiln, "Hi", max_tokens=2, extra_body={"temprature": 0.1})
    assert caught.value.body["message"] == "Unrecognized request argument supplied: temprature"

"""kiln-shapes-madformer, the autoregressive–diffusion hybrid, through /v1/images/generations on the
real binary.

With the tiny random-weight hybrid of the fixtures (Tests/Fixtures/madformer, made by
Scripts/madformer/make-madformer-fixtures.py) served alone (`--hybrid-model`): the PNG of a
(caption, seed) equals PyTorch's image within 8-bit rounding, concurrent requests (batched by the
scheduler) give what each gives alone, a streamed request's partial images show the bands
arriving top to bottom, and what the hybrid has no use for (another sampler or schedule, a
negative prompt, another size) is refused with a 400 naming the member. The default server serves
the shipped Models/kiln-shapes-madformer, and its images show what their captions ask for.
"""
import json
import os
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from conftest import ROOT, KilnServer
from test_gan import check_images_equal_pytorch, pixels, post

sys.path.insert(0, os.path.join(ROOT, "Scripts", "dit"))
import evaluate  # noqa: E402

FIXTURES = os.path.join(ROOT, "Tests", "Fixtures", "madformer")
TINY = os.path.join(FIXTURES, "tiny-madformer")
# Of the 20 captions of evaluate.caption_set(20) (10 seen, 10 held out), the shipped weights at the
# server's defaults (10 steps per band, guidance 4) draw 18 fully right (colour, shape and position).
MIN_FULLY_RIGHT = 16


def events_of(base, body):
    """The data objects of a streamed request's Server-Sent Events, which end with [DONE]."""
    request = urllib.request.Request(base + "/v1/images/generations", data=json.dumps({**body, "stream": True}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        text = response.read().decode()
    assert text.rstrip().endswith("data: [DONE]")
    return [json.loads(line[len("data: "):]) for line in text.splitlines() if line.startswith("data: ") and line != "data: [DONE]"]


def to_array(b64):
    return pixels({"data": [{"b64_json": b64}]})


@pytest.fixture(scope="module")
def tiny():
    server = KilnServer("--image-model", "none", "--hybrid-model", TINY, "--embedding-model", "none",
                        "--image-max-batch", "8")
    yield server
    server.stop()


def test_lists_the_hybrid(tiny):
    with urllib.request.urlopen(tiny.base + "/v1/models") as response:
        assert "tiny-madformer" in [model["id"] for model in json.load(response)["data"]]


def test_images_equal_pytorch(tiny):
    meta = json.load(open(os.path.join(FIXTURES, "reference.json")))
    check_images_equal_pytorch(tiny.base, "tiny-madformer", FIXTURES, steps=meta["steps"], guidance_scale=meta["guidance"],
                               sampler="ddim")


def test_concurrent_requests_give_what_each_gives_alone(tiny):
    bodies = [{"model": "tiny-madformer", "prompt": f"a red circle number {i}", "seed": i, "steps": 2} for i in range(4)]
    alone = [pixels(post(tiny.base, body)) for body in bodies]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda body: pixels(post(tiny.base, body)), bodies))
    for a, b in zip(alone, together):
        assert np.array_equal(a, b)
    assert not np.array_equal(alone[0], alone[1])


def test_streamed_partial_images_show_bands_arriving(tiny):
    events = events_of(tiny.base, {"model": "tiny-madformer", "prompt": "a green star", "seed": 5, "steps": 2})
    partials = [event for event in events if event["type"] == "image_generation.partial_image"]
    final = [event for event in events if event["type"] == "image_generation.completed"]
    assert len(final) == 1 and len(partials) == 3  # one as each band but the last is finished
    image = to_array(final[0]["b64_json"])
    # Rows of each partial that already hold the final image's pixels, from the top.
    finished = []
    for partial in partials:
        preview = to_array(partial["b64_json"])
        assert preview.shape == (32, 32, 3)
        same = [np.array_equal(preview[row], image[row]) for row in range(32)]
        finished.append(same.index(False) if False in same else 32)
    assert finished == [8, 16, 24], finished
    assert [partial["partial_image_index"] for partial in partials] == [0, 1, 2]
    # partial_images spreads that many over the run.
    events = events_of(tiny.base, {"model": "tiny-madformer", "prompt": "a green star", "seed": 5, "steps": 2,
                                   "partial_images": 1})
    assert [event["type"] for event in events] == ["image_generation.partial_image", "image_generation.completed"]


@pytest.mark.parametrize("member, value", [("sampler", "euler"), ("sampler", "dpm++2m"), ("scheduler", "karras"),
                                           ("negative_prompt", "blue")])
def test_what_the_hybrid_has_no_use_for_is_refused_by_name(tiny, member, value):
    with pytest.raises(urllib.error.HTTPError) as caught:
        post(tiny.base, {"model": "tiny-madformer", "prompt": "a red circle", member: value})
    assert caught.value.code == 400
    error = json.load(caught.value)["error"]
    assert error["param"] == member and error["type"] == "invalid_request_error"
    assert member in error["message"]


@pytest.mark.parametrize("body, param", [({"size": "64x64"}, "size"), ({"steps": 0}, "steps"),
                                         ({"steps": 100000}, "steps"), ({"guidance_scale": -1}, "guidance_scale"),
                                         ({"n": 99}, "n"), ({"prompt": ""}, "prompt")])
def test_bad_requests_get_openai_errors(tiny, body, param):
    with pytest.raises(urllib.error.HTTPError) as caught:
        post(tiny.base, {"model": "tiny-madformer", "prompt": "a red circle", **body})
    assert caught.value.code == 400 and json.load(caught.value)["error"]["param"] == param


def test_default_server_serves_the_shipped_hybrid(kiln):
    with urllib.request.urlopen(kiln.base + "/v1/models") as response:
        assert "kiln-shapes-madformer" in [model["id"] for model in json.load(response)["data"]]
    matched = 0
    for scene, held_out, seed in evaluate.caption_set(20):
        image = pixels(post(kiln.base, {"model": "kiln-shapes-madformer", "prompt": scene.caption(), "seed": seed}))
        matched += evaluate.judge(scene, evaluate.analyze(image))["match"]
    print(f"kiln-shapes-madformer: fully right in {matched}/20")
    assert matched >= MIN_FULLY_RIGHT

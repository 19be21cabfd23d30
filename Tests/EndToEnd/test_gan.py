"""kiln-shapes-gan through /v1/images/generations on the real binary.

With the tiny random-weight GAN of the fixtures (Tests/Fixtures/gan, made by
Scripts/gan/make-gan-fixtures.py) served alone, the PNG of a (caption, seed) equals PyTorch's image
within 8-bit rounding, concurrent requests (batched by the scheduler) give what each gives alone,
and members a GAN has no use for are refused with a 400 naming them. With no flags, the default
server lists the shipped GAN beside the DiT, and its images show what a few captions ask for
(judged by Scripts/dit/evaluate.py's pixel analysis; the full evaluation is in Docs/models.md).
"""
import base64
import json
import os
import struct
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from conftest import ROOT, KilnServer
from test_images import decode_png

sys.path.insert(0, os.path.join(ROOT, "Scripts", "dit"))
import evaluate  # noqa: E402

FIXTURES = os.path.join(ROOT, "Tests", "Fixtures", "gan")
TINY_GAN = os.path.join(FIXTURES, "tiny-gan")
# Of the 20 captions of evaluate.caption_set(20) (10 seen, 10 held out): the shipped weights get
# colour and position right in all 20.
MIN_COLOUR_AND_POSITION = 18


def read_safetensors(path):
    """{name: float32 array} of a safetensors file (the format is a length, a JSON header, bytes)."""
    with open(path, "rb") as handle:
        data = handle.read()
    length, = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        assert info["dtype"] == "F32"
        tensors[name] = np.frombuffer(data[8 + length + start:8 + length + end], dtype=np.float32).reshape(info["shape"])
    return tensors


def post(base, body):
    request = urllib.request.Request(base + "/v1/images/generations", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.load(response)


def pixels(payload, index=0):
    width, height, rows = decode_png(base64.b64decode(payload["data"][index]["b64_json"]))
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(height, width, 3)


@pytest.fixture(scope="module")
def tiny():
    server = KilnServer("--image-model", "none", "--gan-model", TINY_GAN, "--embedding-model", "none",
                        "--image-max-batch", "8")
    yield server
    server.stop()


def test_lists_the_gan(tiny):
    with urllib.request.urlopen(tiny.base + "/v1/models") as response:
        assert "tiny-gan" in [model["id"] for model in json.load(response)["data"]]


def check_images_equal_pytorch(base, model, fixtures, **fields):
    """The PNG of each (caption, seed) of `fixtures`' reference.json, asked of `model` with `fields`
    besides, equals the reference's image in [-1, 1] within 8-bit rounding."""
    meta = json.load(open(os.path.join(fixtures, "reference.json")))
    expected = read_safetensors(os.path.join(fixtures, "reference.safetensors"))["images"]
    for index, (caption, seed) in enumerate(zip(meta["captions"], meta["seeds"])):
        seed = int(seed)
        if seed >= 1 << 63:  # the API's seed is a JSON integer (int64); Kiln reads its bits unsigned
            seed -= 1 << 64
        image = pixels(post(base, {"model": model, "prompt": caption, "seed": seed, "size": "32x32", **fields}))
        reference = np.clip(expected[index] / 2 + 0.5, 0, 1).transpose(1, 2, 0) * 255
        assert image.shape == reference.shape
        assert np.abs(image.astype(np.float64) - reference).max() <= 1.0, caption


def test_images_equal_pytorch(tiny):
    check_images_equal_pytorch(tiny.base, "tiny-gan", FIXTURES)


def test_concurrent_requests_give_what_each_gives_alone(tiny):
    bodies = [{"model": "tiny-gan", "prompt": f"a red circle number {i}", "seed": i} for i in range(8)]
    alone = [pixels(post(tiny.base, body)) for body in bodies]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda body: pixels(post(tiny.base, body)), bodies))
    for a, b in zip(alone, together):
        assert np.array_equal(a, b)
    assert not np.array_equal(alone[0], alone[1])
    # n images use seeds seed, seed + 1, …
    several = post(tiny.base, {"model": "tiny-gan", "prompt": "a red circle number 0", "seed": 0, "n": 3})
    assert np.array_equal(pixels(several, 0), alone[0])
    assert not np.array_equal(pixels(several, 0), pixels(several, 1))


@pytest.mark.parametrize("member, value", [("steps", 20), ("sampler", "ddim"), ("guidance_scale", 4.0),
                                           ("negative_prompt", "blue"), ("scheduler", "karras")])
def test_diffusion_members_are_refused_by_name(tiny, member, value):
    with pytest.raises(urllib.error.HTTPError) as caught:
        post(tiny.base, {"model": "tiny-gan", "prompt": "a red circle", member: value})
    assert caught.value.code == 400
    error = json.load(caught.value)["error"]
    assert error["param"] == member and error["type"] == "invalid_request_error"
    assert member in error["message"]


@pytest.mark.parametrize("body, param", [({"size": "64x64"}, "size"), ({"n": 99}, "n"), ({"prompt": ""}, "prompt")])
def test_bad_requests_get_openai_errors(tiny, body, param):
    with pytest.raises(urllib.error.HTTPError) as caught:
        post(tiny.base, {"model": "tiny-gan", "prompt": "a red circle", **body})
    assert caught.value.code == 400 and json.load(caught.value)["error"]["param"] == param


def test_default_server_serves_the_shipped_gan(kiln):
    with urllib.request.urlopen(kiln.base + "/v1/models") as response:
        ids = [model["id"] for model in json.load(response)["data"]]
    assert "kiln-shapes-dit" in ids and "kiln-shapes-gan" in ids
    placed, matched = 0, 0
    for scene, held_out, seed in evaluate.caption_set(20):
        found = evaluate.analyze(pixels(post(kiln.base, {"model": "kiln-shapes-gan", "prompt": scene.caption(), "seed": seed})))
        verdict = evaluate.judge(scene, found)
        placed += verdict["colour"] and verdict["position"]
        matched += verdict["match"]
    print(f"kiln-shapes-gan: colour and position right in {placed}/20, shape too in {matched}/20")
    # The shipped GAN draws colour and place right (Docs/models.md) but not yet the shape's form;
    # this guards the first against a retrained model or an engine change that draws worse.
    assert placed >= MIN_COLOUR_AND_POSITION

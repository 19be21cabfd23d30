"""/v1/images/generations against the real binary serving the tiny random-weight SD pipeline of the
fixtures beside the language model, driven by the official openai client; PNGs are checked with
a decoder written here on zlib and struct (independent of Kiln's encoder)."""
import base64
import json
import os
import socket
import struct
import time
import urllib.request
import urllib.error
import zlib

import openai
import pytest

from conftest import ROOT, KilnServer, default_embedding_models
from test_cancellation_and_limits import scrape

TINY_SD = os.path.join(ROOT, "Tests", "Fixtures", "diffusion", "tiny-sd")


def decode_png(data):
    """(width, height, rows of RGB bytes) of an 8-bit RGB PNG; checks signature, CRCs and filters."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, chunks = 8, []
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        crc, = struct.unpack(">I", data[position + 8 + length:position + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, f"bad CRC in {kind}"
        chunks.append((kind, body))
        position += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, color, interlace) == (8, 2, 0), "expected 8-bit RGB, not interlaced"
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = width * 3
    assert len(raw) == height * (stride + 1)
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - 3] if x >= 3 else 0
            up, corner = previous[x], previous[x - 3] if x >= 3 else 0
            if kind == 1:
                line[x] = (line[x] + left) & 255
            elif kind == 2:
                line[x] = (line[x] + up) & 255
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
            else:
                assert kind == 0, f"unknown filter {kind}"
        rows.append(bytes(line))
        previous = line
    return width, height, rows


@pytest.fixture(scope="module")
def server():
    kiln = KilnServer("--image-model", TINY_SD, "--image-max-n", "3", "--image-max-steps", "400")
    yield kiln
    kiln.stop()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base + "/v1", api_key="unused", max_retries=0)


def test_models_lists_language_and_image_model(server, client):
    ids = [model.id for model in client.models.list().data]
    assert ids == [server.model, "tiny-sd"] + default_embedding_models()
    assert client.models.retrieve("tiny-sd").id == "tiny-sd"


def test_generates_pngs_of_the_asked_size(client):
    response = client.images.generate(model="tiny-sd", prompt="a red cube on a table", n=2, size="64x48",
                                      response_format="b64_json",
                                      extra_body={"steps": 3, "seed": 7, "sampler": "euler_a", "negative_prompt": "blur"})
    assert len(response.data) == 2
    images = [base64.b64decode(item.b64_json) for item in response.data]
    decoded = [decode_png(image) for image in images]
    assert all((width, height) == (64, 48) for width, height, _ in decoded)
    assert decoded[0][2] != decoded[1][2], "images of one request use different seeds"
    assert response.usage.input_tokens > 0
    # The same seed gives the same bytes, alone or batched with another image.
    again = client.images.generate(model="tiny-sd", prompt="a red cube on a table", size="64x48",
                                   extra_body={"steps": 3, "seed": 7, "sampler": "euler_a", "negative_prompt": "blur"})
    assert base64.b64decode(again.data[0].b64_json) == images[0]


def test_streams_previews_then_the_image_then_done(server, client):
    events = list(client.images.generate(model="tiny-sd", prompt="a blue sphere", size="64x64", stream=True,
                                         partial_images=2, extra_body={"steps": 6, "seed": 3, "sampler": "dpm++2m",
                                                                       "scheduler": "karras"}))
    types = [event.type for event in events]
    assert types == ["image_generation.partial_image"] * 2 + ["image_generation.completed"], types
    assert [event.partial_image_index for event in events[:2]] == [0, 1]
    preview_width, preview_height, _ = decode_png(base64.b64decode(events[0].b64_json))
    assert 0 < preview_width < 64 and preview_width == preview_height
    width, height, _ = decode_png(base64.b64decode(events[-1].b64_json))
    assert (width, height) == (64, 64) and events[-1].size == "64x64"
    # On the wire: named events, then a final data: [DONE].
    body = json.dumps({"prompt": "x", "size": "32x32", "stream": True, "steps": 2, "partial_image_interval": 1}).encode()
    request = urllib.request.Request(server.base + "/v1/images/generations", data=body,
                                     headers={"Content-Type": "application/json"})
    text = urllib.request.urlopen(request, timeout=60).read().decode()
    assert "event: image_generation.partial_image\n" in text and "event: image_generation.completed\n" in text
    assert text.rstrip().endswith("data: [DONE]")


@pytest.mark.parametrize("fields, param", [
    ({"size": "65x64"}, "size"), ({"size": "64x60"}, "size"), ({"size": "4096x4096"}, "size"),
    ({"response_format": "url"}, "response_format"), ({"n": 9}, "n"), ({"model": "nope"}, "model"),
])
def test_bad_requests_get_openai_errors(client, fields, param):
    arguments = {"model": "tiny-sd", "prompt": "x", "size": "64x64", **fields}
    extra = {"steps": 2}
    with pytest.raises(openai.APIStatusError) as caught:
        client.images.generate(**arguments, extra_body=extra)
    error = caught.value
    assert error.status_code == (404 if param == "model" else 400)
    assert error.body["param"] == param
    if param == "response_format":
        assert "b64_json" in error.body["message"]


def wait_images_idle(base, within):
    start = time.time()
    while True:
        values = scrape(base)
        if values.get("kiln_image_jobs_running") == 0 and values.get("kiln_image_jobs_waiting") == 0:
            return time.time() - start
        assert time.time() - start < within, values
        time.sleep(0.02)


def post_raw(port, body):
    payload = json.dumps(body).encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 + b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload)
    return sock


def test_disconnect_cancels_the_job_at_the_next_step(server):
    # Streaming: cut after the first preview.
    sock = post_raw(server.port, {"prompt": "long", "size": "64x64", "steps": 400, "stream": True,
                                  "partial_image_interval": 1})
    buffer = b""
    while b"partial_image" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, "stream ended early"
        buffer += chunk
    assert scrape(server.base)["kiln_image_jobs_running"] == 1
    steps_before = scrape(server.base)["kiln_image_denoising_steps_total"]
    sock.close()
    wait_images_idle(server.base, within=5)
    assert scrape(server.base)["kiln_image_denoising_steps_total"] - steps_before < 50, "the job ran on"
    # Not streaming: dropped while denoising.
    sock = post_raw(server.port, {"prompt": "long", "size": "64x64", "steps": 400})
    deadline = time.time() + 30
    while scrape(server.base).get("kiln_image_jobs_running", 0) < 1:
        assert time.time() < deadline
        time.sleep(0.02)
    sock.close()
    wait_images_idle(server.base, within=5)


def test_metrics_report_image_work(server, client):
    client.images.generate(model="tiny-sd", prompt="metrics", size="32x32", extra_body={"steps": 2})
    values = scrape(server.base)
    assert values["kiln_image_denoising_steps_total"] >= 2
    assert values["kiln_images_generated_total"] >= 1
    assert values["kiln_image_generation_latency_seconds_count"] >= 1
    assert "kiln_image_denoising_steps_per_second" in values


def test_text_streams_while_an_image_denoises(server, client):
    sock = post_raw(server.port, {"prompt": "background", "size": "64x64", "steps": 60})
    try:
        stream = client.chat.completions.create(model=server.model, messages=[{"role": "user", "content": "Count to ten."}],
                                                max_tokens=16, stream=True)
        pieces = [chunk.choices[0].delta.content for chunk in stream if chunk.choices and chunk.choices[0].delta.content]
        assert len(pieces) > 0
        assert scrape(server.base)["kiln_image_jobs_running"] == 1, "the image was still denoising"
    finally:
        sock.close()
    wait_images_idle(server.base, within=5)


def test_sigterm_drains_a_running_image_then_exits_zero():
    import signal
    import threading
    kiln = KilnServer("--image-model", TINY_SD)
    try:
        result = {}

        def generate():
            body = json.dumps({"prompt": "drain", "size": "32x32", "steps": 12}).encode()
            request = urllib.request.Request(kiln.base + "/v1/images/generations", data=body,
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=120) as response:
                result["body"] = json.load(response)

        worker = threading.Thread(target=generate)
        worker.start()
        deadline = time.time() + 30
        while scrape(kiln.base).get("kiln_image_jobs_running", 0) < 1:
            assert time.time() < deadline
            time.sleep(0.02)
        kiln.process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        try:
            body = json.dumps({"prompt": "late", "size": "32x32", "steps": 2}).encode()
            urllib.request.urlopen(urllib.request.Request(kiln.base + "/v1/images/generations", data=body), timeout=10)
            assert False, "a request during the drain was accepted"
        except urllib.error.HTTPError as error:
            assert error.code == 503
        except (urllib.error.URLError, ConnectionError):
            pass  # the listener may already be closed
        worker.join(timeout=120)
        width, height, _ = decode_png(base64.b64decode(result["body"]["data"][0]["b64_json"]))
        assert (width, height) == (32, 32)
        assert kiln.process.wait(timeout=60) == 0
    finally:
        if kiln.process.poll() is None:
            kiln.process.kill()

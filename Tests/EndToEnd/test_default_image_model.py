"""`kiln serve` with no flags serves SmolLM2 for text and Kiln's own kiln-shapes-dit for images (and
its GAN and its hybrid, kiln-shapes-gan and kiln-shapes-madformer: test_gan.py and test_madformer.py), and
the images show what their captions ask for, judged by the deterministic pixel analysis of
Scripts/dit/evaluate.py on PNGs decoded by the independent decoder of test_images.py.

The full fidelity figure (100 captions) is `Scripts/dit/evaluate.py --server`; here a smaller fixed
set keeps CI quick. Generation is deterministic (fixed seeds, Kiln's documented noise generator), so
these verdicts do not flake: a change that moves them is a change in the model or the engine.
"""
import base64
import json
import os
import sys
import urllib.request

import numpy as np

from conftest import ROOT, default_embedding_models
from test_images import decode_png

sys.path.insert(0, os.path.join(ROOT, "Scripts", "dit"))
import evaluate  # noqa: E402
import shapes  # noqa: E402

MODEL = "kiln-shapes-dit"
# The README's example request, verbatim.
README_PROMPT = "a large yellow star in the center on a blue background"
CAPTIONS = 20
# Issue 6's fidelity goal (90% of seen, 75% of held-out captions) on this 20-caption set. The
# shipped model passes it here (9/10 and 10/10) and on the full evaluation (Docs/models.md); these
# are a guard against a retrained model or an engine change that draws worse, not the verdict.
MIN_SEEN_MATCHES = 9
MIN_HELD_OUT_MATCHES = 8


def generate(kiln, prompt, seed, **extra):
    body = {"model": MODEL, "prompt": prompt, "size": "32x32", "seed": seed, "response_format": "b64_json", **extra}
    request = urllib.request.Request(kiln.base + "/v1/images/generations", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        payload = json.load(response)
    width, height, rows = decode_png(base64.b64decode(payload["data"][0]["b64_json"]))
    assert (width, height) == (32, 32)
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(32, 32, 3)


def test_no_flags_serves_both_models(kiln):
    with urllib.request.urlopen(kiln.base + "/v1/models") as response:
        ids = [model["id"] for model in json.load(response)["data"]]
    assert ids == ["SmolLM2-135M-Instruct.Q4_1", MODEL, "kiln-shapes-gan", "kiln-shapes-madformer"] + default_embedding_models()


def test_images_are_deterministic_pngs_of_the_native_size(kiln):
    first, second = generate(kiln, README_PROMPT, seed=7), generate(kiln, README_PROMPT, seed=7)
    assert np.array_equal(first, second)
    assert not np.array_equal(first, generate(kiln, README_PROMPT, seed=8))


def test_readme_prompt_shows_what_it_asks_for(kiln):
    found = evaluate.analyze(generate(kiln, README_PROMPT, seed=7))
    assert (found["colour"], found["shape"], found["position"]) == ("yellow", "star", "in the center"), found


def test_captions_seen_and_held_out_are_drawn(kiln):
    verdicts = {False: [], True: []}
    for scene, held_out, seed in evaluate.caption_set(CAPTIONS):
        found = evaluate.analyze(generate(kiln, scene.caption(), seed, steps=20, guidance_scale=4.0, sampler="ddim"))
        verdicts[held_out].append(evaluate.judge(scene, found)["match"])
    seen, held_out = sum(verdicts[False]), sum(verdicts[True])
    print(f"kiln-shapes-dit: {seen}/{len(verdicts[False])} seen, {held_out}/{len(verdicts[True])} held-out captions drawn right")
    assert seen >= MIN_SEEN_MATCHES and held_out >= MIN_HELD_OUT_MATCHES


def test_held_out_captions_are_combinations_never_trained_on():
    scenes = evaluate.caption_set(CAPTIONS)
    assert sum(h for _, h, _ in scenes) == CAPTIONS // 2
    for scene, held_out, _ in scenes:
        spec = scene.shapes[0]
        assert shapes.is_held_out(spec.colour, spec.shape, spec.position) == held_out

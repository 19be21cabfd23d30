"""`kiln serve` on the tiny Llama 3, Mistral and Phi-3 models of Tests/Fixtures/tiny-llamacpp: over a real
socket, each greedy continuation is llama.cpp's (its server's, in reference.json) up to llama.cpp's first
near-tie.

The server chooses its attention arithmetic by position alone (`.positionOnly`, so that results never depend
on chunking), where llama.cpp evaluated each prompt whole; a top-two gap of llama.cpp's under NEAR_TIE may
therefore come out the other way, and the comparison stops there. `--context-length` is llama.cpp's `-c` of
the case, which is what makes Phi-3 take its short LongRoPE factors (256, the original context) or its long
ones (512). llama.cpp was run with `ignore_eos`, which bans `</s>`; Kiln's `ignore_eos` bans it too, and that
alone is asked here: on `phi3-short-factors` `</s>` is llama.cpp's first choice at step 9 before the ban, so a
server that only stopped ending on it would answer `</s>` there.
"""
import json
import os
import urllib.request

import pytest

from conftest import ROOT, KilnServer

FIXTURES = os.path.join(ROOT, "Tests", "Fixtures", "tiny-llamacpp")
REFERENCE = json.load(open(os.path.join(FIXTURES, "reference.json")))
NEAR_TIE = 0.01


def agreed_prefix(case):
    """How many of llama.cpp's tokens come before its first top-two gap under NEAR_TIE (</s> left out)."""
    for step, row in enumerate(case["log_probabilities"]):
        ranked = sorted((value for token, value in enumerate(row) if token != REFERENCE["end_of_sequence"]),
                        reverse=True)
        if ranked[0] - ranked[1] < NEAR_TIE:
            return step
    return len(case["generated"])


@pytest.mark.parametrize("case", REFERENCE["cases"], ids=[case["name"] for case in REFERENCE["cases"]])
def test_greedy_continuation_is_llama_cpps(case):
    server = KilnServer("-m", os.path.join(FIXTURES, case["model"]), "--embedding-model", "none",
                        "--image-model", "none", "--threads", "2",
                        "--context-length", str(case["llama_cpp_context"]))
    try:
        body = {"model": server.model, "prompt": case["prompt"], "max_tokens": len(case["generated"]),
                "temperature": 0, "ignore_eos": True, "logprobs": 1}
        request = urllib.request.Request(server.base + "/v1/completions", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            tokens = json.load(response)["choices"][0]["logprobs"]["tokens"]
    finally:
        server.stop()
    names = ["<unk>", "<s>", "</s>"]
    expected = [names[t] if t < 3 else f"w{t}" for t in case["generated"]]
    compared = agreed_prefix(case)
    assert compared >= 2, "the case compares too few tokens to mean anything"
    assert [token.strip() for token in tokens[:compared]] == expected[:compared]

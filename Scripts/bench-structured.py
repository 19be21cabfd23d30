#!/usr/bin/env python3
"""Constrained against unconstrained decoding at the server, in one run.

Starts `kiln serve` (release build by default) on a free port and drives it with closed-loop
streaming clients, alternating rounds of plain completions and completions constrained by a
mid-size JSON Schema (llama.cpp's `json_schema` member, which Kiln and llama-server both take), at
each concurrency. Every request asks for `--tokens` tokens; the schema needs more than that, so
both kinds generate exactly as many. Prints tokens/s per round, the medians and the ratio
constrained / unconstrained (the issue's goal: >= 0.95 at 1 and 16 clients).

With `--llama-server URL` (a llama-server started with the same model and threads, e.g.
`llama-server -m MODEL -t 2 -np 16 -c 8192 --port 8081`), each round also runs the constrained
load against it, so the two servers' constrained tokens/s are compared in the same run.

    Scripts/bench-structured.py --rounds 3 --seconds 15 --concurrency 1 16
"""
import argparse
import http.client
import json
import statistics
import threading
import time
import urllib.parse

from kiln_bench import Server, default_binary

PROMPT = "List the animals of a small farm as JSON records."
# Mid-size: nested objects, an enum, bounded strings and integers, an optional member, an array of
# 24 records (far more than --tokens), so that no constrained request ends before its budget.
SCHEMA = {
    "type": "object",
    "properties": {
        "farm": {"type": "string", "maxLength": 24},
        "animals": {
            "type": "array", "minItems": 24, "maxItems": 24,
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 16},
                    "kind": {"enum": ["cow", "hen", "pig", "goat", "sheep", "horse"]},
                    "age": {"type": "integer", "minimum": 0, "maximum": 40},
                    "weight_kg": {"type": "number"},
                    "vaccinated": {"type": "boolean"},
                    "notes": {"type": ["string", "null"], "maxLength": 40},
                },
                "required": ["name", "kind", "age", "weight_kg", "vaccinated"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["farm", "animals"],
    "additionalProperties": False,
}


def one_request(host, port, model, tokens, constrained):
    body = {"model": model, "prompt": PROMPT, "max_tokens": tokens, "stream": True, "temperature": 0.8}
    if constrained:
        body["json_schema"] = SCHEMA
    else:
        body["ignore_eos"] = True
    connection = http.client.HTTPConnection(host, port, timeout=300)
    connection.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
    response = connection.getresponse()
    if response.status != 200:
        raise RuntimeError(f"status {response.status}: {response.read()[:300]}")
    text, tokens_seen = "", 0
    for line in response:
        if line.startswith(b"data: ") and not line.startswith(b"data: [DONE]"):
            event = json.loads(line[6:])
            if event.get("choices") and event["choices"][0].get("text"):
                text += event["choices"][0]["text"]
                tokens_seen += 1
    connection.close()
    return tokens_seen, text


def run_level(url, model, concurrency, seconds, tokens, constrained):
    parts = urllib.parse.urlparse(url)
    counts, lock = [], threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client():
        while time.perf_counter() < stop_at:
            count, text = one_request(parts.hostname, parts.port, model, tokens, constrained)
            if constrained:
                assert text.lstrip().startswith("{"), text[:80]
            with lock:
                counts.append(count)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kiln", default=None, help="kiln binary (default: .build/release/kiln, else debug)")
    parser.add_argument("--llama-server", default=None, help="URL of a llama-server to compare in the same run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    server = Server(args.kiln or default_binary(), ["--image-model", "none", "--embedding-model", "none"])
    kiln_url = f"http://127.0.0.1:{server.port}"
    model = server.models[0]
    try:
        run_level(kiln_url, model, 1, 1, 8, True)  # warm-up: compile the grammar, prepare the vocabulary
        for concurrency in args.concurrency:
            plain, constrained, llama = [], [], []
            for round_index in range(args.rounds):
                plain.append(run_level(kiln_url, model, concurrency, args.seconds, args.tokens, False))
                constrained.append(run_level(kiln_url, model, concurrency, args.seconds, args.tokens, True))
                line = f"{concurrency:>3} clients, round {round_index + 1}: kiln {plain[-1]:6.1f} tok/s plain, {constrained[-1]:6.1f} constrained"
                if args.llama_server:
                    llama.append(run_level(args.llama_server, model, concurrency, args.seconds, args.tokens, True))
                    line += f"; llama-server {llama[-1]:6.1f} constrained"
                print(line, flush=True)
            p, c = statistics.median(plain), statistics.median(constrained)
            summary = f"{concurrency:>3} clients, medians: plain {p:.1f}, constrained {c:.1f} tok/s, ratio {c / p:.3f}"
            if llama:
                summary += f"; llama-server constrained {statistics.median(llama):.1f} tok/s, kiln/llama {c / statistics.median(llama):.2f}"
            print(summary, flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes the seeds of the gbnf and schema fuzz targets (Fuzz/corpus/gbnf, Fuzz/corpus/schema)
from the grammar fixtures (Tests/Fixtures/grammar, themselves rewritten from llama.cpp's tests):
every grammar and every schema there, one file each."""
import hashlib
import json
import os

here = os.path.dirname(os.path.abspath(__file__))
fixtures = os.path.join(here, "..", "..", "Tests", "Fixtures", "grammar")
seeds = {"gbnf": [], "schema": []}
integration = json.load(open(os.path.join(fixtures, "integration.json"), encoding="utf-8"))
for case in integration["cases"] + integration["build_failures"]:
    if "grammar" in case:
        seeds["gbnf"].append(case["grammar"])
    if "schema" in case:
        seeds["schema"].append(json.dumps(case["schema"]))
for case in json.load(open(os.path.join(fixtures, "parser.json"), encoding="utf-8"))["cases"]:
    seeds["gbnf"].append(case["grammar"])
for case in json.load(open(os.path.join(fixtures, "schema-conversion.json"), encoding="utf-8"))["cases"]:
    seeds["schema"].append(case["schema_text"])
for target, texts in seeds.items():
    folder = os.path.join(here, "..", "corpus", target)
    os.makedirs(folder, exist_ok=True)
    for text in texts:
        data = text.encode("utf-8")
        with open(os.path.join(folder, "seed-" + hashlib.sha1(data).hexdigest()[:12]), "wb") as file:
            file.write(data)
    print(f"{target}: {len(set(texts))} seeds")

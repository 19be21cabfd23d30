#!/usr/bin/env python3
"""Makes vocab-random-cases.json: llama.cpp's ids for random texts in the vocabularies that
random-cases.json does not cover (see PROVENANCE.md).

    python3 Tests/Fixtures/vocab/make-vocab-random-cases.py TOKENIZE_BINARY MODELS_DIR

TOKENIZE_BINARY is llama-tokenize-cases.c built against llama.cpp; MODELS_DIR the source
distribution's vendor/llama.cpp/models. The texts are random-cases.json's SmolLM2 texts and a
few written here; ids are llama_tokenize's with add_special and parse_special off.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = ["aquila", "baichuan", "command-r", "deepseek-coder", "deepseek-llm", "falcon", "gemma-4",
         "gpt-neox", "mpt", "nomic-bert-moe", "qwen35", "refact", "starcoder"]
EXTRA = ["  Hello   world  ", "\u3000全角\u3000スペース　", "Ａｂｃ！？", "ﬁ ligature ﬀ", "①②③ ½ ²",
         "x\u200by", "tab\there\r\nline", "é vs e\u0301", "한국어 텍스트", "ǅemal ǈ", "µ ΩK", "\u0085next",
         "a\u00a0b", "<s> </s> <unk> <mask>", "\U0001F600\U0001F601 ok", "''' ``` \"\"\"",
         "9999999 12,345.67", "ÀÖØöøƺ", "\u2028\u2029", "   ", "\n\n\n", " \n \n "]


def main():
    binary, models = sys.argv[1], sys.argv[2]
    with open(os.path.join(HERE, "random-cases.json"), encoding="utf-8") as f:
        cases = json.load(f)["vocabularies"]["smollm2"]["cases"]
    texts = []
    for text in [case["text"] for case in cases] + EXTRA:
        if text not in texts and not any(0xD800 <= ord(c) <= 0xDFFF for c in text):
            texts.append(text)
    with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as f:
        for text in texts:
            data = text.encode("utf-8")
            f.write(struct.pack("<I", len(data)) + data)
        path = f.name
    ids = {}
    for name in NAMES:
        gguf = os.path.join(models, f"ggml-vocab-{name}.gguf")
        out = subprocess.run([binary, gguf, path, "0"], check=True, capture_output=True, text=True).stdout
        lines = out.split("\n")[: len(texts)]
        assert len(lines) == len(texts), name
        ids[name] = lines
    os.unlink(path)
    document = {"generator": "make-vocab-random-cases.py, llama.cpp of llama-cpp-python 0.3.36",
                "texts": texts, "ids": ids}
    with open(os.path.join(HERE, "vocab-random-cases.json"), "w", encoding="utf-8") as f:
        json.dump(document, f, ensure_ascii=False, indent=0)
        f.write("\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Makes random-cases.json: llama.cpp's tokenization of seeded random texts, for Kiln's tests.

Needs llama-cpp-python 0.3.36 (the version the other reference data comes from):
    python3 -m venv /tmp/llamaenv && /tmp/llamaenv/bin/pip install llama-cpp-python==0.3.36
    /tmp/llamaenv/bin/python Tests/Fixtures/vocab/make-random-cases.py MODEL.gguf

For each vocabulary in this folder and the SmolLM2 model given as the argument, it tokenizes
random texts (words, numbers, whitespace runs, many scripts, emoji, marks, control characters,
special-token texts, characters newer than Unicode 15.1) with every combination of add_special
and parse_special, and records the rendering of a sample of token ids (token_to_piece, special).
"""
import ctypes
import json
import os
import random
import sys

import llama_cpp
from llama_cpp import Llama

HERE = os.path.dirname(os.path.abspath(__file__))
VOCABS = ["gpt-2", "llama-bpe", "qwen2", "llama-spm", "phi-3"]
PIECES = [
    "the", "The", "hello", "World", "tokenizer", "don't", "I'm", "we've", "they'RE", "it'S", "y'all",
    "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'", "''", "n't", "3", "42", "1234", "1234567",
    "3.14159", "1,000", "0x1F", "٣٤٥", "①②", "²", "Ⅻ", "𝟙𝟚", "!", "!!", "...", "?!", "--", "==", "->",
    "(", ")", "[", "]", "{", "}", "<", ">", "<b>", "</b>", "&amp;", "$", "€", "%", "#", "@", "_", "`",
    "~", "|", "\\", "/", " ", "  ", "   ", "\t", "\n", "\r\n", "\n\n", "  \n", " \n ", "\r", "\x0b",
    "\x0c", "\u00a0", "\u3000", "\u2003", "\u0085", "\u200d", "\ufeff", "\x00", "\x07", "\x1b[0m",
    "naïve", "café", "Äpfel", "Привет", "мир", "日本語", "中文", "한국어", "العربية", "עברית",
    "हिन्दी", "ภาษาไทย", "ខ្មែរ", "Ελληνικά", "ქართული", "Tiếng Việt", "e\u0301", "a\u0308\u0323",
    "🦙", "🚀", "👍🏽", "👨‍👩‍👧", "🇫🇷", "🏳️‍🌈", "😶‍🌫️", "✅", "\u1c89", "\U00010d40", "\U00016100",
    "\U0001cc00", "\U0002ebf0", "\U00031350", "\ue000", "\U000e0041",
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<s>", "</s>", "<unk>", "<|user|>", "<|assistant|>",
    "<|end|>", "<|system|>", "[PAD151646]", "<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>",
    "<repo_name>", "<file_sep>", "<|fim_prefix|>", "<0x41>", "▁", "▁▁", "Ġ", "Ċ",
]
SEPARATORS = ["", " ", " ", " ", "  ", "\n", "\t", ", ", ". ", "-", "_"]


def random_text(rng):
    kind = rng.random()
    if kind < 0.05:
        return rng.choice(["a", "ab", "x", "9", " ", "\n", "é", "🦙"]) * rng.randint(20, 200)
    if kind < 0.10:
        return "".join(chr(rng.randint(0x20, 0x2FFF)) for _ in range(rng.randint(1, 40)))
    count = rng.randint(1, 24)
    return "".join(rng.choice(PIECES) + rng.choice(SEPARATORS) for _ in range(count))


def piece(llm, token):
    """llama_token_to_piece with special=True, no lstrip: the exact bytes llama.cpp renders."""
    size = 64
    while True:
        buffer = ctypes.create_string_buffer(size)
        length = llama_cpp.llama_token_to_piece(llm._model.vocab, token, buffer, size, 0, True)
        if length < 0:
            size = -length
            continue
        return buffer.raw[:length]


def main():
    model = sys.argv[1]
    # Defaults make the committed fixture; other values serve longer fuzzing runs by hand.
    count = int(os.environ.get("RANDOM_CASES_COUNT", "400"))
    rng = random.Random(int(os.environ.get("RANDOM_CASES_SEED", "20261129")))
    output = os.environ.get("RANDOM_CASES_OUTPUT", os.path.join(HERE, "random-cases.json"))
    out = {"generator": "llama-cpp-python 0.3.36 (llama.cpp llama_tokenize / llama_token_to_piece)",
           "vocabularies": {}}
    for name in VOCABS + ["smollm2"]:
        path = model if name == "smollm2" else os.path.join(HERE, f"ggml-vocab-{name}.gguf")
        llm = Llama(model_path=path, vocab_only=True, verbose=False)
        cases = []
        for index in range(count):
            text = random_text(rng)
            add_special = index % 4 in (1, 3)
            parse_special = index % 4 in (2, 3)
            ids = llm.tokenize(text.encode("utf-8"), add_bos=add_special, special=parse_special)
            cases.append({"text": text, "add_special": add_special, "parse_special": parse_special, "ids": ids})
        n_vocab = llm.n_vocab()
        sample = sorted(set(rng.sample(range(n_vocab), 400)) | set(range(min(300, n_vocab)))
                        | set(range(max(0, n_vocab - 300), n_vocab)))
        pieces = {str(i): piece(llm, i).hex() for i in sample}
        out["vocabularies"][name] = {"cases": cases, "pieces": pieces}
        print(name, len(cases), "cases,", len(pieces), "pieces", file=sys.stderr)
    with open(output, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()

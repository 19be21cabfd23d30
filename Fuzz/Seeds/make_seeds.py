#!/usr/bin/env python3
"""Writes the crafted seed inputs under Fuzz/corpus/{gguf,safetensors,json}/.

Every GGUF and safetensors seed is a whole, valid file (small), so that the fuzzer starts from
inputs the readers accept and mutates every field from there. Run from anywhere:
    python3 Fuzz/Seeds/make_seeds.py
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "corpus")

# GGUF metadata value type codes.
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
SCALAR_FORMATS = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f",
                  BOOL: "<B", U64: "<Q", I64: "<q", F64: "<d"}
# GGML type: (code, elements per block, bytes per block)
GGML = {"f32": (0, 1, 4), "f16": (1, 1, 2), "q4_0": (2, 32, 18), "q4_1": (3, 32, 20),
        "q8_0": (8, 32, 34), "q4_K": (12, 256, 144), "q6_K": (14, 256, 210), "bf16": (30, 1, 2),
        "i8": (24, 1, 1)}


def gguf_string(text):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return struct.pack("<Q", len(data)) + data


def gguf_value(kind, value):
    if kind == STR:
        return gguf_string(value)
    if kind == ARR:
        element_kind, items = value
        return struct.pack("<IQ", element_kind, len(items)) + b"".join(gguf_value(element_kind, i) for i in items)
    return struct.pack(SCALAR_FORMATS[kind], value)


def gguf(metadata, tensors, version=3, alignment=32):
    """metadata: [(key, kind, value)]; tensors: [(name, dims, ggml type name)] laid out in order."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(metadata))
    for key, kind, value in metadata:
        out += gguf_string(key) + struct.pack("<I", kind) + gguf_value(kind, value)
    offset, blobs = 0, []
    for name, dims, type_name in tensors:
        code, block, size = GGML[type_name]
        elements = 1
        for d in dims:
            elements *= d
        count = elements // block * size
        out += gguf_string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<q", d) for d in dims)
        out += struct.pack("<IQ", code, offset)
        blobs.append((offset, bytes((offset + i) % 251 for i in range(count))))
        offset = (offset + count + alignment - 1) // alignment * alignment
    out += b"\0" * (-len(out) % alignment)
    data = bytearray(offset)
    for start, blob in blobs:
        data[start:start + len(blob)] = blob
    return out + bytes(data)


def safetensors(tensors, metadata=None, pad_header=0):
    """tensors: [(name, dtype, shape, data bytes)] stored in order."""
    header, offset, data = {}, 0, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, blob in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        data += blob
    text = json.dumps(header, separators=(",", ":")).encode() + b" " * pad_header
    return struct.pack("<Q", len(text)) + text + data


def write(folder, name, data):
    path = os.path.join(CORPUS, folder)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))


def main():
    write("gguf", "empty-v3", gguf([], []))
    write("gguf", "empty-v2", gguf([], [], version=2))
    write("gguf", "every-value-type", gguf([
        ("general.architecture", STR, "llama"),
        ("u8", U8, 200), ("i8", I8, -3), ("u16", U16, 60000), ("i16", I16, -300),
        ("u32", U32, 4_000_000_000), ("i32", I32, -70000), ("f32", F32, 1.5), ("bool", BOOL, 1),
        ("u64", U64, 2**63), ("i64", I64, -2**40), ("f64", F64, -0.25),
        ("floats", ARR, (F32, [0.0, -1.0, 3.25])), ("ints", ARR, (I32, [1, -2, 3])),
        ("strings", ARR, (STR, ["a", "", "ü"])), ("empty", ARR, (U8, [])),
        ("nested", ARR, (ARR, [(U8, [1, 2]), (STR, ["x"])])),
    ], []))
    write("gguf", "tensors-plain", gguf([("general.name", STR, "tiny")], [
        ("a.weight", [4, 2], "f32"), ("b.bias", [4], "f16"), ("c", [3], "bf16"), ("d", [2, 1, 1, 2], "i8"),
    ]))
    write("gguf", "tensors-quant-align64", gguf([("general.alignment", U32, 64)], [
        ("q4_0", [32, 2], "q4_0"), ("q4_1", [32], "q4_1"), ("q8_0", [64], "q8_0"),
        ("q4_K", [256], "q4_K"), ("q6_K", [256], "q6_K"),
    ], alignment=64))
    write("gguf", "vocab-like", gguf([
        ("tokenizer.ggml.model", STR, "gpt2"),
        ("tokenizer.ggml.tokens", ARR, (STR, ["<s>", "</s>", "a", "b", "ab", "\u0120the"])),
        ("tokenizer.ggml.scores", ARR, (F32, [0.0, 0.0, -1.0, -1.0, -2.0, -3.0])),
        ("tokenizer.ggml.token_type", ARR, (I32, [3, 3, 1, 1, 1, 1])),
        ("tokenizer.ggml.merges", ARR, (STR, ["a b"])),
        ("tokenizer.ggml.bos_token_id", U32, 0), ("tokenizer.ggml.add_bos_token", BOOL, 1),
        ("tokenizer.chat_template", STR, "{% for m in messages %}{{ m['content'] }}{% endfor %}"),
    ], [("token_embd.weight", [32, 6], "q8_0")], version=2))

    write("safetensors", "empty-header", safetensors([]))
    write("safetensors", "dtypes", safetensors([
        ("f64", "F64", [1], struct.pack("<d", 1.0)), ("f32", "F32", [2], struct.pack("<2f", 1, 2)),
        ("f16", "F16", [1, 1], b"\x00\x3c"), ("bf16", "BF16", [1], b"\x80\x3f"),
        ("i64", "I64", [1], struct.pack("<q", -1)), ("i32", "I32", [1], struct.pack("<i", 7)),
        ("i16", "I16", [1], b"\x01\x00"), ("i8", "I8", [2], b"\x01\xff"), ("u8", "U8", [1], b"\x09"),
        ("bool", "BOOL", [1], b"\x01"),
    ], metadata={"format": "pt"}))
    write("safetensors", "zero-sized-and-padded", safetensors([
        ("empty", "F32", [0, 3], b""), ("scalar", "F32", [], struct.pack("<f", 2)),
        ("after", "U8", [2], b"\x01\x02"),
    ], metadata={}, pad_header=5))

    for name, text in {
        "scalars": '[null,true,false,0,-0,1.5e-3,-12E+2,9223372036854775807,-9223372036854775808,18446744073709551616]',
        "strings": '["", "a\\"b\\\\c\\/", "\\b\\f\\n\\r\\t", "\\u0000\\u001f\\u00e9\\u2028", "\\ud83d\\ude00", "ü€𝄞"]',
        "request": '{"model":"smollm2","messages":[{"role":"user","content":"Hi"}],"max_tokens":16,'
                   '"temperature":0.7,"stream":true,"stop":["\\n"],"logit_bias":{"42":-100}}',
        "nested": '{"a":[[[{"b":{}}]],[]],"c":{"d":[1,{"e":null}]}}',
        "whitespace": ' \t\r\n{ "k" : [ 1 , 2 ] }\n',
        "number": '-0.0e0',
        "dup-keys": '{"a":1,"a":2}',
    }.items():
        write("json", name, text)


if __name__ == "__main__":
    main()

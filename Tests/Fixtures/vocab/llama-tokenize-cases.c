// Prints llama.cpp's ids for texts, one line each: used by make-vocab-random-cases.py.
// Input: a file of texts, each a little-endian UInt32 byte count and the UTF-8 bytes.
// Usage: llama-tokenize-cases VOCAB.gguf TEXTS.bin PARSE_SPECIAL(0|1)
// Build against llama.cpp from the llama-cpp-python 0.3.36 source distribution (see PROVENANCE.md).
#include "llama.h"
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
int main(int argc, char ** argv) {
    struct llama_model_params mp = llama_model_default_params();
    mp.vocab_only = true;
    struct llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) return 1;
    const struct llama_vocab * vocab = llama_model_get_vocab(model);
    int parse = argc > 3 ? atoi(argv[3]) : 0;
    FILE * f = fopen(argv[2], "rb");
    llama_token * toks = malloc(sizeof(llama_token) * 1000000);
    uint32_t n;
    while (fread(&n, 4, 1, f) == 1) {
        char * buf = malloc(n + 1); fread(buf, 1, n, f); buf[n] = 0;
        int k = llama_tokenize(vocab, buf, n, toks, 1000000, false, parse);
        for (int i = 0; i < k; i++) printf(i ? " %d" : "%d", toks[i]);
        printf("\n");
        free(buf);
    }
    return 0;
}

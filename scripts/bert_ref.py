#!/usr/bin/python3
"""An independent float64 numpy reference for the bert architecture (BERT-family embedding
models), written from the BERT paper and the HF BertModel description over the GGUF layout
llama.cpp's converter writes: embeddings = LayerNorm(word + position + token_type[0]); per layer,
post-norm: x = LN(x + attn(x)), x = LN(x + W2 gelu(W1 x)); bidirectional attention; pooling
mean / first token (CLS) / last token. Run by hand, not in CI:

    /usr/bin/python3 scripts/bert_ref.py ../shared/data/gguf/arch > tests/fixtures/bert_ref.tsv

Output, one case per line: pooling TAB ids TAB pooled embedding, raw (128 values, %.6f).
GELU through ggml's f16 table as in arch_ref.py (llama.cpp computes it so; gptc mimics it).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from arch_ref import gelu  # noqa: E402
from refcommon import emit, floats_text, ids_text, read_gguf  # noqa: E402


def layernorm(x, w, b, eps):
    m = x.mean(axis=-1, keepdims=True)
    v = ((x - m) ** 2).mean(axis=-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b


def forward(kv, t, ids):
    D = kv["bert.embedding_length"]
    H = kv["bert.attention.head_count"]
    L = kv["bert.block_count"]
    eps = kv["bert.attention.layer_norm_epsilon"]
    hd = D // H
    n = len(ids)
    x = t["token_embd.weight"][ids] + t["position_embd.weight"][:n] + t["token_types.weight"][0]
    x = layernorm(x, t["token_embd_norm.weight"], t["token_embd_norm.bias"], eps)
    for l in range(L):
        p = "blk.%d." % l
        lin = lambda name, v: v @ t[p + name + ".weight"].T + t[p + name + ".bias"]
        q = lin("attn_q", x).reshape(n, H, hd).transpose(1, 0, 2)
        k = lin("attn_k", x).reshape(n, H, hd).transpose(1, 0, 2)
        v = lin("attn_v", x).reshape(n, H, hd).transpose(1, 0, 2)
        s = q @ k.transpose(0, 2, 1) / np.sqrt(hd)
        s = np.exp(s - s.max(axis=-1, keepdims=True))
        s /= s.sum(axis=-1, keepdims=True)
        a = (s @ v).transpose(1, 0, 2).reshape(n, D)
        x = layernorm(x + lin("attn_output", a), t[p + "attn_output_norm.weight"],
                      t[p + "attn_output_norm.bias"], eps)
        f = lin("ffn_down", gelu(lin("ffn_up", x)))
        x = layernorm(x + f, t[p + "layer_output_norm.weight"], t[p + "layer_output_norm.bias"], eps)
    return x


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/gguf/arch"
    kv, t = read_gguf(d + "/rand-bert-d128-F32.gguf")
    rng = np.random.default_rng(20261205)
    prompts = [[1, 403, 407, 261, 378, 2]] + [[1] + [int(i) for i in rng.integers(3, 512, n)] + [2]
                                               for n in (1, 9, 40, 130)]
    for ids in prompts:
        h = forward(kv, t, np.array(ids))
        for name, vec in (("mean", h.mean(axis=0)), ("cls", h[0]), ("last", h[-1])):
            emit(name, ids_text(ids), floats_text(vec))


if __name__ == "__main__":
    main()

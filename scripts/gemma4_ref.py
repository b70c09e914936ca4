#!/usr/bin/python3
"""An independent float64 numpy reference for gemma4 (the Gemma 4 text model of the small
E2B/E4B-style checkpoints), written from the published model description (the HF transformers
Gemma 4 / Gemma 3n text decoder: per-layer inputs, KV sharing, v norm, layer scalar,
local/global layers with their own head sizes and ropes) over the GGUF tensor layout
llama.cpp's converter writes. Run by hand, not in CI:

    /usr/bin/python3 scripts/gemma4_ref.py ../shared/data/gguf/arch > tests/fixtures/gemma4_ref.tsv

The output has the format of scripts/arch_ref.py (tests/test_arch.c reads both files): one case
per line, model TAB n_ctx TAB pos0 TAB prompt ids TAB greedy ids TAB logits after the prompt.
Our own prompts: random ids from a fixed seed, long enough to pass the sliding window of the
local layers (32), at position 0 and further on.

Numerics are float64 throughout, except the GELU, which llama.cpp computes through ggml's f16
table (gptc mimics it): arch_ref.gelu applies the same rounding. About 10 of the GELU inputs of
a prompt sit within 3e-7 of an f16 rounding tie, so float32 and float64 runs can differ by a
few 1e-3 in the logits (../shared/data/gguf/arch/README.md).
"""
import sys

import numpy as np

from arch_ref import gelu, rope
from refcommon import emit, floats_text, greedy, ids_text, read_gguf, rmsnorm

N_GEN = 16


def per_layer(v, L):
    return list(v) if isinstance(v, list) else [v] * L


class Gemma4:
    def __init__(self, path):
        kv, t = read_gguf(path)
        self.t = t
        g = lambda k, d=None: kv.get("gemma4." + k, d)
        self.D = g("embedding_length")
        self.L = L = g("block_count")
        self.H = per_layer(g("attention.head_count"), L)
        self.Hkv = per_layer(g("attention.head_count_kv", self.H), L)
        self.F = per_layer(g("feed_forward_length"), L)
        self.local = [bool(b) for b in per_layer(g("attention.sliding_window_pattern"), L)]
        hd_g = g("attention.key_length")
        hd_l = g("attention.key_length_swa", hd_g)
        self.hd = [hd_l if self.local[il] else hd_g for il in range(L)]
        self.n_rot = [g("rope.dimension_count_swa", hd_l) if self.local[il] else g("rope.dimension_count", hd_g)
                      for il in range(L)]
        base = g("rope.freq_base", 10000.0)
        self.base = [g("rope.freq_base_swa", base) if self.local[il] else base for il in range(L)]
        self.eps = g("attention.layer_norm_rms_epsilon", 1e-6)
        self.window = g("attention.sliding_window")
        self.P = g("embedding_length_per_layer_input", 0)
        self.final_cap = g("final_logit_softcapping", 30.0)
        # the proportional rope of the global layers: frequency factors (1e30: no rotation)
        self.factors = t.get("rope_freqs.weight")
        # KV sharing: the last n_shared layers reuse the K/V of the last earlier layer of their kind
        n_shared = g("attention.shared_kv_layers", 0)
        first_shared = L - n_shared
        self.kv_src = list(range(L))
        for il in range(first_shared, L):
            self.kv_src[il] = max(j for j in range(first_shared) if self.local[j] == self.local[il])
        self.out = t.get("output.weight", t["token_embd.weight"])

    def per_layer_inputs(self, ids, e):
        """(T, L, P): the token's per-layer embedding and the projection of its scaled embedding e"""
        t, T, L, P = self.t, len(ids), self.L, self.P
        tok = t["per_layer_token_embd.weight"][ids].reshape(T, L, P) * np.sqrt(P)
        proj = (e @ t["per_layer_model_proj.weight"].T) / np.sqrt(self.D)
        proj = rmsnorm(proj.reshape(T, L, P), t["per_layer_proj_norm.weight"], self.eps)
        return (proj + tok) / np.sqrt(2.0)

    def forward(self, ids, pos):
        """logits of the last token; ids, pos: the whole sequence so far (no cache: recompute)"""
        t, T = self.t, len(ids)
        pos = np.asarray(pos, dtype=np.float64)
        x = t["token_embd.weight"][ids] * np.sqrt(self.D)
        ple = self.per_layer_inputs(ids, x) if self.P else None
        cache = {}
        for il in range(self.L):
            p = "blk.%d." % il
            H, Hkv, hd = self.H[il], self.Hkv[il], self.hd[il]
            factors = None if self.local[il] else self.factors
            h = rmsnorm(x, t[p + "attn_norm.weight"], self.eps)
            q = (h @ t[p + "attn_q.weight"].T).reshape(T, H, hd)
            q = rmsnorm(q, t[p + "attn_q_norm.weight"], self.eps)
            q = rope(q, pos, self.n_rot[il], self.base[il], True, factors)
            if self.kv_src[il] == il:
                kp = h @ t[p + "attn_k.weight"].T
                vp = h @ t[p + "attn_v.weight"].T if p + "attn_v.weight" in t else kp
                k = rmsnorm(kp.reshape(T, Hkv, hd), t[p + "attn_k_norm.weight"], self.eps)
                k = rope(k, pos, self.n_rot[il], self.base[il], True, factors)
                v = rmsnorm(vp.reshape(T, Hkv, hd), 1.0, self.eps)
                cache[il] = (k, v)
            k, v = cache[self.kv_src[il]]
            grp = H // Hkv
            o = np.zeros((T, H, hd))
            mask = pos[None, :] > pos[:, None]
            if self.local[il]:
                mask = mask | (pos[:, None] - pos[None, :] >= self.window)
            for hh in range(H):
                s = q[:, hh, :] @ k[:, hh // grp, :].T  # attention scale 1
                s = np.where(mask, -np.inf, s)
                s = np.exp(s - s.max(axis=1, keepdims=True))
                s /= s.sum(axis=1, keepdims=True)
                o[:, hh, :] = s @ v[:, hh // grp, :]
            o = o.reshape(T, H * hd) @ t[p + "attn_output.weight"].T
            x = x + rmsnorm(o, t[p + "post_attention_norm.weight"], self.eps)
            h = rmsnorm(x, t[p + "ffn_norm.weight"], self.eps)
            f = gelu(h @ t[p + "ffn_gate.weight"].T) * (h @ t[p + "ffn_up.weight"].T)
            f = f @ t[p + "ffn_down.weight"].T
            x = x + rmsnorm(f, t[p + "post_ffw_norm.weight"], self.eps)
            if ple is not None:
                gte = gelu(x @ t[p + "inp_gate.weight"].T) * ple[:, il, :]
                y = gte @ t[p + "proj.weight"].T
                x = x + rmsnorm(y, t[p + "post_norm.weight"], self.eps)
            if p + "layer_output_scale.weight" in t:
                x = x * t[p + "layer_output_scale.weight"][0]
        y = rmsnorm(x[-1], t["output_norm.weight"], self.eps) @ self.out.T
        if self.final_cap:
            y = self.final_cap * np.tanh(y / self.final_cap)
        return y


def cases():
    rng = np.random.default_rng(20261206)
    ids = lambda n: [int(i) for i in rng.integers(3, 512, n)]
    name = "rand-gemma4-d128-F32"
    return [
        (name, 256, 0, ids(12)),
        (name, 256, 0, ids(48)),  # past the window of 32 in the prompt
        (name, 256, 30, ids(8)),  # the generation crosses the window
        (name, 512, 200, ids(40)),
    ]


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/gguf/arch"
    for name, n_ctx, pos0, prompt in cases():
        m = Gemma4("%s/%s.gguf" % (d, name))
        gen, logits0 = greedy(lambda seq: m.forward(np.array(seq), np.arange(pos0, pos0 + len(seq))), prompt, N_GEN)
        emit(name, str(n_ctx), str(pos0), ids_text(prompt), ids_text(gen), floats_text(logits0))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""An independent float64 reference of the lfm2 architecture (LiquidAI LFM2), written in numpy
from its definition: gated short-convolution layers (in_proj -> B, C, x; y = C * conv(B * x), a
causal depthwise convolution over the whole sequence with zero padding before it; out_proj) and
attention layers (q/k RMSNorm, NEOX rope, grouped-query causal softmax), each followed by a
SwiGLU feed-forward; final norm token_embd_norm; tied output. The whole sequence is recomputed
at every step (no recurrent state, no KV cache), so it shares nothing with gptc's windows.
Run by hand:

    /usr/bin/python3 scripts/lfm2_ref.py ../shared/data/gguf/arch [--check] > tests/fixtures/lfm2_ref.tsv

--check compares the logits after llama.cpp's prompt with its all-F32 reference
(reference/*.logits0-f32.tsv) and prints the max difference. Otherwise, for each prompt of
PROMPTS (token ids), it prints one line:
    <model file> TAB <prompt ids> TAB <greedy ids, N_NEW steps> TAB <first 16 logits after the prompt>

MIX=FILE arguments (a copy written by `gptc quantize` in MIX; types Q8_0, Q4_0, F16): the same
lines for that file, its first field <model file>@MIX. Its quantized weights are dequantized
exactly, and the activations they multiply are rounded to Q8_0 first, as llama.cpp's CPU backend
(and gptc) compute such products.
"""
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refcommon import (check_logits0, emit, floats_text, greedy, ids_text, q8_0, read_gguf,  # noqa: E402
                       rmsnorm, silu)

PROMPTS = [[1, 403, 407, 261, 378], [403], [17, 300, 45, 45, 45, 9, 200, 511, 0, 2, 88, 88],
           [250] * 3 + list(range(30, 60))]
N_NEW = 12
NAME = 'rand-lfm2-d64-F32'


class Model:
    def __init__(self, path):
        types = {}
        kv, self.t = read_gguf(path, types)
        self.quant = {n for n, ty in types.items() if ty in (2, 8)}
        g = lambda k: kv['lfm2.' + k]
        self.L = g('block_count')
        self.D = g('embedding_length')
        self.H = g('attention.head_count')
        self.Hkv = g('attention.head_count_kv')
        if not isinstance(self.Hkv, list):
            self.Hkv = [self.Hkv] * self.L
        self.hd = self.D // self.H
        self.eps = g('attention.layer_norm_rms_epsilon')
        self.base = g('rope.freq_base')
        self.K = g('shortconv.l_cache')
        self.out_name = 'output.weight' if 'output.weight' in self.t else 'token_embd.weight'

    def mm(self, x, name):  # x (T, in) @ W.T, with Q8_0 activations for a quantized W
        if name in self.quant:
            x = np.stack([q8_0(r) for r in np.atleast_2d(x)])
        return x @ self.t[name].T

    def rope(self, x, pos):  # x (heads, hd), NEOX pairs (i, i + hd/2)
        half = self.hd // 2
        th = pos * self.base ** (-2.0 * np.arange(half) / self.hd)
        c, s = np.cos(th), np.sin(th)
        a, b = x[:, :half], x[:, half:]
        return np.concatenate([a * c - b * s, a * s + b * c], axis=1)

    def shortconv(self, p, h):
        t, D, K = self.t, self.D, self.K
        bcx = self.mm(h, p + 'shortconv.in_proj.weight')  # (T, 3D)
        B, C, x = bcx[:, :D], bcx[:, D:2 * D], bcx[:, 2 * D:]
        u = np.concatenate([np.zeros((K - 1, D)), B * x])  # zero history
        w = t[p + 'shortconv.conv.weight']  # (D, K), tap 0 the oldest
        T = h.shape[0]
        conv = np.stack([np.sum(w.T * u[i:i + K], axis=0) for i in range(T)])
        return self.mm(C * conv, p + 'shortconv.out_proj.weight')

    def attention(self, p, l, h):
        t, H, hd = self.t, self.H, self.hd
        Hkv = self.Hkv[l]
        T = h.shape[0]
        q = self.mm(h, p + 'attn_q.weight').reshape(T, H, hd)
        k = self.mm(h, p + 'attn_k.weight').reshape(T, Hkv, hd)
        v = self.mm(h, p + 'attn_v.weight').reshape(T, Hkv, hd)
        q = rmsnorm(q, t[p + 'attn_q_norm.weight'], self.eps)
        k = rmsnorm(k, t[p + 'attn_k_norm.weight'], self.eps)
        q = np.stack([self.rope(q[i], i) for i in range(T)])
        k = np.stack([self.rope(k[i], i) for i in range(T)])
        att = np.zeros((T, H, hd))
        for i in range(T):
            for hh in range(H):
                kh = hh // (H // Hkv)
                s = k[:i + 1, kh] @ q[i, hh] / math.sqrt(hd)
                e = np.exp(s - s.max())
                att[i, hh] = e @ v[:i + 1, kh] / e.sum()
        return self.mm(att.reshape(T, H * hd), p + 'attn_output.weight')

    def forward(self, toks):
        t = self.t
        x = t['token_embd.weight'][toks].copy()
        for l in range(self.L):
            p = 'blk.%d.' % l
            h = rmsnorm(x, t[p + 'attn_norm.weight'], self.eps)
            x = x + (self.attention(p, l, h) if self.Hkv[l] > 0 else self.shortconv(p, h))
            h = rmsnorm(x, t[p + 'ffn_norm.weight'], self.eps)
            ff = silu(self.mm(h, p + 'ffn_gate.weight')) * self.mm(h, p + 'ffn_up.weight')
            x = x + self.mm(ff, p + 'ffn_down.weight')
        return self.mm(rmsnorm(x[-1:], t['token_embd_norm.weight'], self.eps), self.out_name)[0]


def main():
    d = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith('--') else '../shared/data/gguf/arch'
    m = Model(os.path.join(d, NAME + '.gguf'))
    if '--check' in sys.argv:
        check_logits0(d, NAME, m.forward(PROMPTS[0]))
        return
    runs = [(NAME + '.gguf', m)]
    for a in sys.argv[1:]:
        if '=' in a and not a.startswith('--'):
            mix, path = a.split('=', 1)
            runs.append((NAME + '.gguf@' + mix, Model(path)))
    for label, m in runs:
        run(label, m)


def run(label, m):
    for pr in PROMPTS:
        gen, first = greedy(m.forward, pr, N_NEW)
        emit(label, ids_text(pr), ids_text(gen), floats_text(first[:16]))


if __name__ == '__main__':
    main()

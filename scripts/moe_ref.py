#!/usr/bin/python3
"""An independent float64 reference of the mixture-of-experts architectures qwen3moe and gpt-oss,
written in numpy from the architectures' definitions (router, top-k with the family's
normalisation, experts, gpt-oss's sinks, YaRN, sliding window and clamped SwiGLU). Run by hand:

    /usr/bin/python3 scripts/moe_ref.py ../shared/data/gguf/arch [--check] > tests/fixtures/moe_ref.tsv

--check compares the logits after llama.cpp's prompt with its all-F32 reference
(reference/*.logits0-f32.tsv) and prints the max difference. Otherwise, for each model and each
prompt of PROMPTS (token ids), it prints one line:
    <model file> TAB <prompt ids> TAB <greedy ids, N_NEW steps> TAB <first 16 logits after the prompt>
gpt-oss's MXFP4 experts multiply activations rounded to Q8_0, as llama.cpp's CPU backend (and
gptc) do; everything else is exact float64.
"""
import math
import os
import sys

import numpy as np

from refcommon import check_logits0, emit, floats_text, greedy, ids_text, q8_0, read_gguf, rmsnorm

PROMPTS = [[403, 407, 261, 378], [1, 403, 407, 261, 378], [17, 300, 45, 45, 45, 9, 200, 511, 0, 2, 88, 88],
           [250] * 3 + list(range(30, 60))]
N_NEW = 12
class Model:
    def __init__(self, path):
        kv, t = read_gguf(path)
        self.t = t
        arch = kv['general.architecture']
        self.arch = arch
        g = lambda k, d=None: kv.get('%s.%s' % (arch, k), d)
        self.L = g('block_count')
        self.H = g('attention.head_count')
        self.Hkv = g('attention.head_count_kv')
        self.hd = g('attention.key_length')
        self.eps = g('attention.layer_norm_rms_epsilon')
        self.base = g('rope.freq_base')
        self.k = g('expert_used_count')
        self.swa = g('attention.sliding_window', 0)
        self.yarn = None
        if g('rope.scaling.type') == 'yarn':
            fs = 1.0 / g('rope.scaling.factor')
            n = self.hd
            corr = lambda beta: n * math.log(g('rope.scaling.original_context_length') / (beta * 2 * math.pi)) / (
                2 * math.log(self.base))
            lo = max(0, math.floor(corr(g('rope.scaling.yarn_beta_fast', 32.0))))
            hi = min(n - 1, math.ceil(corr(g('rope.scaling.yarn_beta_slow', 1.0))))
            self.yarn = (fs, lo, hi, 1.0 + 0.1 * math.log(1.0 / fs))
        self.out = t.get('output.weight', t['token_embd.weight'])

    def rope(self, x, pos):
        n = self.hd
        i = np.arange(n // 2)
        th = pos * self.base ** (-2.0 * i / n)
        ms = 1.0
        if self.yarn:
            fs, lo, hi, ms = self.yarn
            y = (i - lo) / max(0.001, hi - lo)
            mix = 1 - np.clip(y, 0, 1)
            th = th * fs * (1 - mix) + th * mix
        c, s = np.cos(th) * ms, np.sin(th) * ms
        a, b = x[..., :n // 2], x[..., n // 2:]
        return np.concatenate([a * c - b * s, a * s + b * c], axis=-1)

    def moe(self, l, h):
        t = self.t
        p = 'blk.%d.' % l
        logits = t[p + 'ffn_gate_inp.weight'] @ h
        if self.arch == 'gpt-oss':
            logits = logits + t[p + 'ffn_gate_inp.bias']
            sel = np.argsort(-logits, kind='stable')[:self.k]
            w = np.exp(logits[sel] - logits[sel].max())
            w /= w.sum()
        else:
            pr = np.exp(logits - logits.max())
            pr /= pr.sum()
            sel = np.argsort(-pr, kind='stable')[:self.k]
            w = pr[sel] / pr[sel].sum()
        out = np.zeros_like(h)
        for e, we in zip(sel, w):
            G, U, Dn = t[p + 'ffn_gate_exps.weight'][e], t[p + 'ffn_up_exps.weight'][e], t[p + 'ffn_down_exps.weight'][e]
            if self.arch == 'gpt-oss':
                hq = q8_0(h)
                g = G @ hq + t[p + 'ffn_gate_exps.bias'][e]
                u = U @ hq + t[p + 'ffn_up_exps.bias'][e]
                xg = np.minimum(g, 7.0)
                yu = np.clip(u, -7.0, 7.0)
                a = xg / (1 + np.exp(-1.702 * xg)) * (yu + 1)
                y = Dn @ q8_0(a) + t[p + 'ffn_down_exps.bias'][e]
            else:
                g, u = G @ h, U @ h
                y = Dn @ (g / (1 + np.exp(-g)) * u)
            out += we * y
        return out

    def forward(self, toks):
        t = self.t
        L, H, Hkv, hd = self.L, self.H, self.Hkv, self.hd
        x = t['token_embd.weight'][toks].copy()
        T = len(toks)
        for l in range(L):
            p = 'blk.%d.' % l
            h = np.stack([rmsnorm(r, t[p + 'attn_norm.weight'], self.eps) for r in x])
            q = h @ t[p + 'attn_q.weight'].T + t.get(p + 'attn_q.bias', 0)
            k = h @ t[p + 'attn_k.weight'].T + t.get(p + 'attn_k.bias', 0)
            v = h @ t[p + 'attn_v.weight'].T + t.get(p + 'attn_v.bias', 0)
            q, k, v = q.reshape(T, H, hd), k.reshape(T, Hkv, hd), v.reshape(T, Hkv, hd)
            if p + 'attn_q_norm.weight' in t:
                q = np.stack([[rmsnorm(q[i, j], t[p + 'attn_q_norm.weight'], self.eps) for j in range(H)] for i in range(T)])
                k = np.stack([[rmsnorm(k[i, j], t[p + 'attn_k_norm.weight'], self.eps) for j in range(Hkv)] for i in range(T)])
            q = np.stack([self.rope(q[i], i) for i in range(T)])
            k = np.stack([self.rope(k[i], i) for i in range(T)])
            local = self.arch == 'gpt-oss' and self.swa and l % 2 == 0
            att = np.zeros((T, H, hd))
            sinks = t.get(p + 'attn_sinks.weight')
            for i in range(T):
                js = [j for j in range(i + 1) if not local or i - j < self.swa]
                for hh in range(H):
                    kh = hh // (H // Hkv)
                    s = np.array([q[i, hh] @ k[j, kh] for j in js]) / math.sqrt(hd)
                    m = s.max() if sinks is None else max(s.max(), sinks[hh])
                    e = np.exp(s - m)
                    den = e.sum() + (0 if sinks is None else math.exp(sinks[hh] - m))
                    att[i, hh] = sum(e[n] * v[j, kh] for n, j in enumerate(js)) / den
            o = att.reshape(T, H * hd) @ t[p + 'attn_output.weight'].T + t.get(p + 'attn_output.bias', 0)
            x = x + o
            nw = t[p + ('post_attention_norm.weight' if self.arch == 'gpt-oss' else 'ffn_norm.weight')]
            x = x + np.stack([self.moe(l, rmsnorm(r, nw, self.eps)) for r in x])
        return rmsnorm(x[-1], t['output_norm.weight'], self.eps) @ self.out.T


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else '../shared/data/gguf/arch'
    names = ['rand-qwen3moe-d128-F32', 'rand-gptoss-d128-MXFP4']
    for n in names:
        m = Model(os.path.join(d, n + '.gguf'))
        if '--check' in sys.argv:
            check_logits0(d, n, m.forward([403, 407, 261, 378]))
            continue
        for pr in PROMPTS:
            gen, first = greedy(m.forward, pr, N_NEW)
            emit(n + '.gguf', ids_text(pr), ids_text(gen), floats_text(first[:16]))


if __name__ == '__main__':
    main()

#!/usr/bin/python3
"""An independent float64 reference of the Qwen3.5 hybrid architectures qwen35 and qwen35moe,
written in numpy from the published description of the layers (Gated DeltaNet; the Qwen3-Next /
Qwen3.5 model description) and the GGUF's tensor names, shapes and keys. Run by hand:

    /usr/bin/python3 scripts/qwen35_ref.py ../shared/data/gguf/arch [--check] > tests/fixtures/qwen35_ref.tsv

The layers:
  * linear (gated delta net) layers, every layer l with (l + 1) % full_attention_interval != 0:
      qkv = attn_qkv h (q: G key heads x dk, k: G x dk, v: H value heads x dv), z = attn_gate h,
      beta = sigmoid(ssm_beta h), g = softplus(ssm_alpha h + ssm_dt.bias) * ssm_a (ssm_a < 0);
      qkv goes through a causal depthwise conv (kernel ssm.conv_kernel, zero history) and SiLU;
      q, k are L2-normalised per head (x / max(|x|, eps)), q scaled by 1/sqrt(dk);
      per value head j (key head j mod G), state S (dv x dk), per token:
          S <- exp(g) S;  S <- S + beta (v - S k) k^T;  o = S q
      o is RMS-normed per head with ssm_norm, times silu(z), then ssm_out;
  * gated full attention layers: attn_q gives per head hd query rows then hd gate rows; q/k
    RMS-norms; NEOX rope on the first rope.dimension_count dims (M-RoPE with equal position
    components); softmax(q k / sqrt(hd)) v, times sigmoid(gate), then attn_output;
  * pre-norm blocks: x += mixer(attn_norm(x)); x += ffn(post_attention_norm(x)); SwiGLU FFN
    (qwen35) or 8 experts top 2 renormalised + a sigmoid-gated shared expert (qwen35moe);
  * block_count includes nextn_predict_layers multi-token-prediction blocks, which are not run.

--check compares the logits after llama.cpp's prompt with its all-F32 reference
(reference/*.logits0-f32.tsv) and prints the max difference. Otherwise, for each model and each
prompt of PROMPTS (token ids), it prints one line:
    <model file> TAB <prompt ids> TAB <greedy ids, N_NEW steps> TAB <first 16 logits after the prompt>
    TAB <the top-1 - top-2 margin of each step>
Generation runs the recurrence token by token and keeps the state, as a decoder does.

--files A.gguf B.gguf ... runs those files instead of the two models (lines named by the file's
base name). Quantized tensors (Q8_0, and F16) are read too; a Q8_0 weight multiplies
activations rounded to Q8_0 as llama.cpp and gptc do. tests/fixtures/qwen35_q8_ref.tsv is

    build/gptc quantize ../shared/data/gguf/arch/rand-qwen35-d128-F32.gguf /tmp/rand-qwen35-d128-F32.q8_0.gguf q8_0
    build/gptc quantize ../shared/data/gguf/arch/rand-qwen35moe-d128-F32.gguf /tmp/rand-qwen35moe-d128-F32.q8_0.gguf q8_0
    /usr/bin/python3 scripts/qwen35_ref.py --files /tmp/rand-qwen35*.q8_0.gguf > tests/fixtures/qwen35_q8_ref.tsv
"""
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refcommon import (check_logits0, emit, floats_text, ids_text, q8_0, read_gguf, rmsnorm,  # noqa: E402
                       sigmoid, silu)

PROMPTS = [[403, 407, 261, 378], [1, 403, 407, 261, 378], [17, 300, 45, 45, 45, 9, 200, 511, 0, 2, 88, 88],
           [250] * 3 + list(range(30, 60))]
N_NEW = 12


def softplus(x):
    return np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20))))


class Model:
    def __init__(self, path):
        self.types = {}
        kv, t = read_gguf(path, self.types)
        self.t = t
        a = kv['general.architecture']
        self.arch = a
        g = lambda k, d=None: kv.get('%s.%s' % (a, k), d)
        self.L = g('block_count') - g('nextn_predict_layers', 0)
        self.H = g('attention.head_count')
        self.Hkv = g('attention.head_count_kv')
        self.hd = g('attention.key_length')
        self.eps = g('attention.layer_norm_rms_epsilon')
        self.base = g('rope.freq_base')
        self.n_rot = g('rope.dimension_count')
        self.interval = g('full_attention_interval')
        self.kconv = g('ssm.conv_kernel')
        self.dk = g('ssm.state_size')
        self.G = g('ssm.group_count')
        self.Hv = g('ssm.time_step_rank')
        self.dv = g('ssm.inner_size') // self.Hv
        self.k = g('expert_used_count')
        self.out = 'output.weight' if 'output.weight' in t else 'token_embd.weight'
        self.reset()

    def lin(self, x, name, e=None):
        """x (T, cols) or (cols) times weight `name` (expert e of a 3-D one) transposed. A
        quantized weight (not F32/F16) multiplies activations rounded to Q8_0, as llama.cpp's CPU
        backend and gptc do."""
        w = self.t[name] if e is None else self.t[name][e]
        if self.types.get(name, 0) not in (0, 1):
            x = np.stack([q8_0(r) for r in np.atleast_2d(x)]).reshape(x.shape)
        return x @ w.T

    def reset(self):
        """per layer: the conv window (kconv - 1 previous qkv rows), the delta-net states,
        the K/V of the attention layers"""
        self.conv = {}
        self.S = {}
        self.kc = {}
        self.vc = {}
        self.n_past = 0

    def recurrent(self, l):
        return (l + 1) % self.interval != 0

    def rope(self, x, pos):
        n = self.n_rot
        i = np.arange(n // 2)
        th = pos * self.base ** (-2.0 * i / n)
        c, s = np.cos(th), np.sin(th)
        a, b = x[..., :n // 2], x[..., n // 2:n]
        return np.concatenate([a * c - b * s, a * s + b * c, x[..., n:]], axis=-1)

    def deltanet(self, l, h):
        t, p = self.t, 'blk.%d.' % l
        T = len(h)
        G, Hv, dk, dv, K = self.G, self.Hv, self.dk, self.dv, self.kconv
        qkv = self.lin(h, p + 'attn_qkv.weight')
        z = self.lin(h, p + 'attn_gate.weight')
        beta = sigmoid(self.lin(h, p + 'ssm_beta.weight'))
        gate = softplus(self.lin(h, p + 'ssm_alpha.weight') + t[p + 'ssm_dt.bias']) * t[p + 'ssm_a']
        C = qkv.shape[1]
        hist = self.conv.get(l, np.zeros((K - 1, C)))
        full = np.concatenate([hist, qkv])
        w = t[p + 'ssm_conv1d.weight']  # (C, K): tap K-1 multiplies the current row
        conv = np.stack([np.sum(full[i:i + K] * w.T, axis=0) for i in range(T)])
        self.conv[l] = full[-(K - 1):]
        conv = silu(conv)
        q = conv[:, :G * dk].reshape(T, G, dk)
        k = conv[:, G * dk:2 * G * dk].reshape(T, G, dk)
        v = conv[:, 2 * G * dk:].reshape(T, Hv, dv)
        l2 = lambda x: x / np.maximum(np.sqrt(np.sum(x * x, axis=-1, keepdims=True)), self.eps)
        q = l2(q) / math.sqrt(dk)
        k = l2(k)
        S = self.S.get(l, np.zeros((Hv, dv, dk)))
        o = np.zeros((T, Hv, dv))
        for i in range(T):
            for j in range(Hv):
                kh = j % G
                S[j] *= math.exp(gate[i, j])
                S[j] += beta[i, j] * np.outer(v[i, j] - S[j] @ k[i, kh], k[i, kh])
                o[i, j] = S[j] @ q[i, kh]
        self.S[l] = S
        o = rmsnorm(o, t[p + 'ssm_norm.weight'], self.eps) * silu(z.reshape(T, Hv, dv))
        return self.lin(o.reshape(T, Hv * dv), p + 'ssm_out.weight')

    def attention(self, l, h):
        t, p = self.t, 'blk.%d.' % l
        T, H, Hkv, hd = len(h), self.H, self.Hkv, self.hd
        qg = self.lin(h, p + 'attn_q.weight').reshape(T, H, 2 * hd)
        q, gate = qg[:, :, :hd], qg[:, :, hd:]
        k = self.lin(h, p + 'attn_k.weight').reshape(T, Hkv, hd)
        v = self.lin(h, p + 'attn_v.weight').reshape(T, Hkv, hd)
        q = rmsnorm(q, t[p + 'attn_q_norm.weight'], self.eps)
        k = rmsnorm(k, t[p + 'attn_k_norm.weight'], self.eps)
        pos = np.arange(self.n_past, self.n_past + T)
        q = np.stack([self.rope(q[i], pos[i]) for i in range(T)])
        k = np.stack([self.rope(k[i], pos[i]) for i in range(T)])
        K = np.concatenate([self.kc.get(l, np.zeros((0, Hkv, hd))), k])
        V = np.concatenate([self.vc.get(l, np.zeros((0, Hkv, hd))), v])
        self.kc[l], self.vc[l] = K, V
        att = np.zeros((T, H, hd))
        for i in range(T):
            n = self.n_past + i + 1
            for hh in range(H):
                kh = hh // (H // Hkv)
                s = K[:n, kh] @ q[i, hh] / math.sqrt(hd)
                e = np.exp(s - s.max())
                att[i, hh] = e @ V[:n, kh] / e.sum()
        att = att * sigmoid(gate)
        return self.lin(att.reshape(T, H * hd), p + 'attn_output.weight')

    def ffn(self, l, h):
        t, p = self.t, 'blk.%d.' % l
        lin = self.lin
        if p + 'ffn_gate_inp.weight' not in t:
            return lin(silu(lin(h, p + 'ffn_gate.weight')) * lin(h, p + 'ffn_up.weight'), p + 'ffn_down.weight')
        out = np.zeros_like(h)
        for i, x in enumerate(h):
            lg = lin(x, p + 'ffn_gate_inp.weight')
            pr = np.exp(lg - lg.max())
            pr /= pr.sum()
            sel = np.argsort(-pr, kind='stable')[:self.k]
            for e, we in zip(sel, pr[sel] / pr[sel].sum()):
                a = silu(lin(x, p + 'ffn_gate_exps.weight', e)) * lin(x, p + 'ffn_up_exps.weight', e)
                out[i] += we * lin(a, p + 'ffn_down_exps.weight', e)
            sh = silu(lin(x, p + 'ffn_gate_shexp.weight')) * lin(x, p + 'ffn_up_shexp.weight')
            out[i] += lin(sh, p + 'ffn_down_shexp.weight') * sigmoid(lin(x, p + 'ffn_gate_inp_shexp.weight'))
        return out

    def forward(self, toks):
        """logits of the last token of toks, continuing the current state"""
        t = self.t
        x = t['token_embd.weight'][toks].copy()
        for l in range(self.L):
            p = 'blk.%d.' % l
            h = rmsnorm(x, t[p + 'attn_norm.weight'], self.eps)
            x = x + (self.deltanet(l, h) if self.recurrent(l) else self.attention(l, h))
            x = x + self.ffn(l, rmsnorm(x, t[p + 'post_attention_norm.weight'], self.eps))
        self.n_past += len(toks)
        return self.lin(rmsnorm(x[-1], t['output_norm.weight'], self.eps), self.out)


def main():
    d = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith('-') else '../shared/data/gguf/arch'
    files = [os.path.join(d, n + '.gguf') for n in ('rand-qwen35-d128-F32', 'rand-qwen35moe-d128-F32')]
    if '--files' in sys.argv:
        files = sys.argv[sys.argv.index('--files') + 1:]
    for path in files:
        n = os.path.basename(path)[:-len('.gguf')]
        m = Model(path)
        if '--check' in sys.argv:
            got = m.forward([403, 407, 261, 378])
            check_logits0(d, n, got)
            # the greedy steps, one token at a time with the kept state, against llama.cpp's top-5
            top = [ln.split('\t') for ln in open(os.path.join(d, 'reference', n + '.top5.tsv'))
                   if not ln.startswith('#')]
            worst, same = 0.0, 0
            lg = got
            for row in top:
                nxt = int(np.argmax(lg))
                for pair in row[3].split():
                    i, v = pair.split(':')
                    worst = max(worst, abs(lg[int(i)] - float(v)))
                if nxt != int(row[2]):
                    break
                same += 1
                lg = m.forward([nxt])
            print('%s: greedy %d/%d steps as llama.cpp, top-5 max |d| %.3g' % (n, same, len(top), worst))
            continue
        for pr in PROMPTS:
            m.reset()
            first = lg = m.forward(list(pr))
            gen, gaps = [], []
            for s in range(N_NEW):
                nxt = int(np.argmax(lg))
                gaps.append(lg[nxt] - np.sort(lg)[-2])
                gen.append(nxt)
                if s + 1 < N_NEW:
                    lg = m.forward([nxt])
            emit(n + '.gguf', ids_text(pr), ids_text(gen), floats_text(first[:16]), floats_text(gaps, '%.4f'))


if __name__ == '__main__':
    main()

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
Generation runs the recurrence token by token and keeps the state, as a decoder does.
"""
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from moe_ref import read_gguf  # noqa: E402  (the shared GGUF reader)

PROMPTS = [[403, 407, 261, 378], [1, 403, 407, 261, 378], [17, 300, 45, 45, 45, 9, 200, 511, 0, 2, 88, 88],
           [250] * 3 + list(range(30, 60))]
N_NEW = 12


def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1 + np.exp(-x))


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softplus(x):
    return np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20))))


class Model:
    def __init__(self, path):
        kv, t = read_gguf(path)
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
        self.out = t.get('output.weight', t['token_embd.weight'])
        self.reset()

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
        qkv = h @ t[p + 'attn_qkv.weight'].T
        z = h @ t[p + 'attn_gate.weight'].T
        beta = sigmoid(h @ t[p + 'ssm_beta.weight'].T)
        gate = softplus(h @ t[p + 'ssm_alpha.weight'].T + t[p + 'ssm_dt.bias']) * t[p + 'ssm_a']
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
        return o.reshape(T, Hv * dv) @ t[p + 'ssm_out.weight'].T

    def attention(self, l, h):
        t, p = self.t, 'blk.%d.' % l
        T, H, Hkv, hd = len(h), self.H, self.Hkv, self.hd
        qg = (h @ t[p + 'attn_q.weight'].T).reshape(T, H, 2 * hd)
        q, gate = qg[:, :, :hd], qg[:, :, hd:]
        k = (h @ t[p + 'attn_k.weight'].T).reshape(T, Hkv, hd)
        v = (h @ t[p + 'attn_v.weight'].T).reshape(T, Hkv, hd)
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
        return att.reshape(T, H * hd) @ t[p + 'attn_output.weight'].T

    def ffn(self, l, h):
        t, p = self.t, 'blk.%d.' % l
        if p + 'ffn_gate_inp.weight' not in t:
            return (silu(h @ t[p + 'ffn_gate.weight'].T) * (h @ t[p + 'ffn_up.weight'].T)) @ t[p + 'ffn_down.weight'].T
        out = np.zeros_like(h)
        for i, x in enumerate(h):
            lg = t[p + 'ffn_gate_inp.weight'] @ x
            pr = np.exp(lg - lg.max())
            pr /= pr.sum()
            sel = np.argsort(-pr, kind='stable')[:self.k]
            for e, we in zip(sel, pr[sel] / pr[sel].sum()):
                G, U, Dn = (t[p + n][e] for n in ('ffn_gate_exps.weight', 'ffn_up_exps.weight', 'ffn_down_exps.weight'))
                out[i] += we * (Dn @ (silu(G @ x) * (U @ x)))
            sh = t[p + 'ffn_down_shexp.weight'] @ (silu(t[p + 'ffn_gate_shexp.weight'] @ x) * (t[p + 'ffn_up_shexp.weight'] @ x))
            out[i] += sh * sigmoid(t[p + 'ffn_gate_inp_shexp.weight'] @ x)
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
        return rmsnorm(x[-1], t['output_norm.weight'], self.eps) @ self.out.T


def main():
    d = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith('-') else '../shared/data/gguf/arch'
    names = ['rand-qwen35-d128-F32', 'rand-qwen35moe-d128-F32']
    for n in names:
        m = Model(os.path.join(d, n + '.gguf'))
        if '--check' in sys.argv:
            ref = np.loadtxt(os.path.join(d, 'reference', n + '.logits0-f32.tsv'))[:, 1]
            got = m.forward([403, 407, 261, 378])
            print('%s: max |logits - llama.cpp all-F32| = %.3g (range %.3g .. %.3g)' %
                  (n, np.max(np.abs(got - ref)), ref.min(), ref.max()))
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
            gen, gap = [], 1e9
            for s in range(N_NEW):
                nxt = int(np.argmax(lg))
                gap = min(gap, lg[nxt] - np.sort(lg)[-2])
                gen.append(nxt)
                if s + 1 < N_NEW:
                    lg = m.forward([nxt])
            print('%s.gguf\t%s\t%s\t%s' % (n, ' '.join(map(str, pr)), ' '.join(map(str, gen)),
                                           ' '.join('%.6f' % v for v in first[:16])))
            sys.stdout.flush()
            print('# %s, prompt of %d: smallest top-2 gap %.3f' % (n, len(pr), gap), file=sys.stderr)


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""Generate the fixtures tests/test_quant.c checks IQ4_NL, IQ4_XS and MXFP4 against: an
independent float64 numpy implementation of each format's published quantization algorithm
(ggml's reference quantizers without an importance matrix, as described in quant/iq4_nl.c,
iq4_xs.c and mxfp4.c), applied to random rows and to real weight rows of stories260K.

    /usr/bin/python3 scripts/gen-quant-fixtures.py [--data ../shared/data]

writes tests/fixtures/quant/
    input.f32      ROWS x 256 float32 (little-endian): the rows quantized
    iq4_nl.f32     the same shape: the float64 reference's quantize -> dequantize, as float32
    iq4_xs.f32     (exact: every value is an f16 scale times a small integer)
    mxfp4.f32

The C quantizers work in float32, this reference in float64, so a search may end on another
candidate where two are within rounding of each other; the test allows that on a few blocks and
then checks that gptc's choice is no worse. Needs numpy (Debian: python3-numpy). Deterministic.
"""
import argparse
import os

import numpy as np

from refcommon import MX, read_gguf

IQ4 = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113], dtype=np.float64)


def f16(v):
    """round to IEEE half (nearest even), back to float64"""
    return float(np.float16(v))


def nearest_index(x):
    """index of the IQ4 grid value nearest x; the lower one on a tie"""
    if x <= IQ4[0]:
        return 0
    if x >= IQ4[15]:
        return 15
    hi = int(np.searchsorted(IQ4, x, side='right'))
    return hi - 1 if x - IQ4[hi - 1] < IQ4[hi] - x else hi


def iq4_scales(x, nsub, ntry=7):
    """per 32-element sub-block: the least-squares scale (weights x^2) over 2 ntry + 2 candidates"""
    scales = np.zeros(nsub)
    for ib in range(nsub):
        xb = x[32 * ib:32 * ib + 32]
        w = xb * xb
        amax = np.max(np.abs(xb))
        if amax < 1e-15:
            continue
        mx = xb[int(np.argmax(np.abs(xb)))]
        d = -mx / IQ4[0]
        q = IQ4[[nearest_index(v / d) for v in xb]]
        sqx, sq2 = np.sum(w * q * xb), np.sum(w * q * q)
        d = sqx / sq2
        best = d * sqx
        for itry in range(-ntry, ntry + 1):
            idd = (itry + IQ4[0]) / mx
            q = IQ4[[nearest_index(idd * v) for v in xb]]
            sqx, sq2 = np.sum(w * q * xb), np.sum(w * q * q)
            if sq2 > 0 and sqx * sqx > best * sq2:
                d = sqx / sq2
                best = d * sqx
        scales[ib] = d
    return scales


def iq4_nl(x):
    out = np.zeros_like(x)
    for b in range(0, len(x), 32):
        xb = x[b:b + 32]
        d = iq4_scales(xb, 1)[0]
        idd = 1 / d if d != 0 else 0.0
        out[b:b + 32] = f16(d) * IQ4[[nearest_index(idd * v) for v in xb]]
    return out


def iq4_xs(x):
    out = np.zeros_like(x)
    for b in range(0, len(x), 256):
        xs = x[b:b + 256]
        sc = iq4_scales(xs, 8)
        max_scale = sc[int(np.argmax(np.abs(sc)))] if np.any(sc != 0) else 0.0
        d = -max_scale / 32
        dh = f16(d)
        idd = 1 / d if d != 0 else 0.0
        for ib in range(8):
            l = int(np.clip(np.round(idd * sc[ib]), -32, 31))  # ties: see note in main()
            dl = d * l
            idl = 1 / dl if dl != 0 else 0.0
            xb = xs[32 * ib:32 * ib + 32]
            out[b + 32 * ib:b + 32 * ib + 32] = dh * l * IQ4[[nearest_index(idl * v) for v in xb]]
    return out


def mxfp4(x):
    out = np.zeros_like(x)
    for b in range(0, len(x), 32):
        xb = x[b:b + 32]
        amax = np.max(np.abs(xb))
        e = max(0, int(np.floor(np.log2(amax))) - 2 + 127) if amax > 0 else 0
        d = 2.0 ** (e - 128)
        for j, v in enumerate(xb):
            err = np.abs(MX * d - v)
            out[b + j] = MX[int(np.argmin(err))] * d  # argmin: the first of equals
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default='../shared/data')
    ap.add_argument('--out', default='tests/fixtures/quant')
    a = ap.parse_args()
    rng = np.random.default_rng(20261205)
    rows = []
    for k in range(24):  # random rows of several shapes
        kind = k % 6
        mag = [1.0, 0.02, 3e-4, 50.0][k % 4]
        if kind == 0:
            r = rng.standard_normal(256) * mag
        elif kind == 1:
            r = rng.uniform(-mag, mag, 256)
        elif kind == 2:
            r = rng.standard_normal(256) * mag
            r[rng.integers(0, 256, 5)] *= 40  # outliers
        elif kind == 3:
            r = rng.standard_normal(256) * mag
            r[32:64] = 0.0  # a zero block
            r[100:132] = mag  # a constant block
        elif kind == 4:
            r = np.abs(rng.standard_normal(256)) * mag + mag  # one-signed
        else:
            r = rng.laplace(0, mag, 256)
        rows.append(r.astype(np.float32))
    kv, t = read_gguf(os.path.join(a.data, 'gguf/stories260K.gguf'))
    for name in sorted({'token_embd.weight', 'blk.0.ffn_down.weight', 'blk.2.attn_q.weight'}):
        v = t[name].reshape(-1)
        for i in range(3):  # 256 consecutive weights (rows of 64 or 172: joined)
            rows.append(v[256 * 7 * i:256 * 7 * i + 256].astype(np.float32))
    x = np.stack(rows)
    os.makedirs(a.out, exist_ok=True)
    x.astype('<f4').tofile(os.path.join(a.out, 'input.f32'))
    for name, fn in (('iq4_nl', iq4_nl), ('iq4_xs', iq4_xs), ('mxfp4', mxfp4)):
        y = np.stack([fn(r.astype(np.float64)) for r in x])
        y.astype('<f4').tofile(os.path.join(a.out, name + '.f32'))
    print('%d rows of 256 written to %s' % (len(x), a.out))


if __name__ == '__main__':
    main()

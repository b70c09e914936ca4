"""What the float64 numpy references (scripts/*_ref.py) share: the GGUF reader, the elementwise
functions, llama.cpp's Q8_0 rounding of activations, the greedy loop, the check against
llama.cpp's all-F32 logits and the fixture lines. Imported by the scripts beside it; not a
program itself.
"""
import os
import struct
import sys

import numpy as np

MX = np.array([0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12], dtype=np.float64)


def read_gguf(path, types=None):
    """(kv, tensors as float64 arrays): F32, F16, Q8_0, Q4_0 and MXFP4 tensors, dequantized
    exactly; types, when given, receives each tensor's GGUF type"""
    buf = open(path, 'rb').read()
    o = 4
    ver, nt, nkv = struct.unpack_from('<IQQ', buf, o)
    o += 20
    fmt = {0: 'B', 1: 'b', 2: 'H', 3: 'h', 4: 'I', 5: 'i', 6: 'f', 7: '?', 10: 'Q', 11: 'q', 12: 'd'}

    def val(t, o):
        if t == 8:
            n, = struct.unpack_from('<Q', buf, o)
            return buf[o + 8:o + 8 + n].decode('utf-8', 'replace'), o + 8 + n
        if t == 9:
            et, n = struct.unpack_from('<IQ', buf, o)
            o += 12
            arr = []
            for _ in range(n):
                v, o = val(et, o)
                arr.append(v)
            return arr, o
        v, = struct.unpack_from('<' + fmt[t], buf, o)
        return v, o + struct.calcsize(fmt[t])

    kv = {}
    for _ in range(nkv):
        n, = struct.unpack_from('<Q', buf, o)
        key = buf[o + 8:o + 8 + n].decode()
        o += 8 + n
        t, = struct.unpack_from('<I', buf, o)
        kv[key], o = val(t, o + 4)
    infos = []
    for _ in range(nt):
        n, = struct.unpack_from('<Q', buf, o)
        name = buf[o + 8:o + 8 + n].decode()
        o += 8 + n
        nd, = struct.unpack_from('<I', buf, o)
        ne = struct.unpack_from('<%dQ' % nd, buf, o + 4)
        o += 4 + 8 * nd
        t, off = struct.unpack_from('<IQ', buf, o)
        o += 12
        infos.append((name, ne, t, off))
    align = kv.get('general.alignment', 32)
    base = (o + align - 1) // align * align
    tens = {}
    for name, ne, t, off in infos:
        cnt = int(np.prod(ne))
        shape = tuple(reversed(ne))
        if t == 0:
            a = np.frombuffer(buf, dtype='<f4', count=cnt, offset=base + off).astype(np.float64)
        elif t == 1:
            a = np.frombuffer(buf, dtype='<f2', count=cnt, offset=base + off).astype(np.float64)
        elif t == 8:  # Q8_0: per 32 values, an f16 scale then 32 int8 codes
            raw = np.frombuffer(buf, dtype=np.uint8, count=cnt // 32 * 34, offset=base + off).reshape(-1, 34)
            d = raw[:, :2].copy().view('<f2').astype(np.float64)
            a = (raw[:, 2:].view(np.int8).astype(np.float64) * d).reshape(-1)
        elif t == 39:  # MXFP4: per 32 values, an E8M0 byte then 16 bytes of nibbles
            raw = np.frombuffer(buf, dtype=np.uint8, count=cnt // 32 * 17, offset=base + off).reshape(-1, 17)
            d = np.ldexp(1.0, raw[:, 0].astype(np.int64) - 128)
            lo, hi = MX[raw[:, 1:] & 15], MX[raw[:, 1:] >> 4]
            a = (np.concatenate([lo, hi], axis=1) * d[:, None]).reshape(-1)
        elif t == 2:  # Q4_0: per 32 values, an f16 scale then 16 bytes: low nibbles 0..15, high 16..31
            raw = np.frombuffer(buf, dtype=np.uint8, count=cnt // 32 * 18, offset=base + off).reshape(-1, 18)
            d = raw[:, :2].copy().view('<f2').astype(np.float64)
            q = np.concatenate([raw[:, 2:] & 15, raw[:, 2:] >> 4], axis=1).astype(np.float64) - 8
            a = (q * d).reshape(-1)
        else:
            raise SystemExit('%s: type %d not handled' % (name, t))
        if types is not None:
            types[name] = t
        tens[name] = a.reshape(shape)
    return kv, tens


# ----- elementwise ---------------------------------------------------------------------------

def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1 + np.exp(-x))


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def gelu(x, f16=True):
    """tanh GELU; f16: through ggml's f16 table as llama.cpp computes it (gptc mimics it)"""
    if f16:
        h = x.astype(np.float16).astype(np.float64)
        g = 0.5 * h * (1 + np.tanh(np.sqrt(2 / np.pi) * h * (1 + 0.044715 * h * h)))
        g = g.astype(np.float16).astype(np.float64)
        return np.where(x <= -10, 0.0, np.where(x >= 10, x, g))
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def q8_0(x):
    """x rounded as llama.cpp's Q8_0 activations: d = f16(max|x| / 127) per 32, codes from the
    float32 d, half away from zero"""
    x32 = x.astype(np.float32)
    out = np.empty(len(x))
    for b in range(0, len(x), 32):
        blk = x32[b:b + 32]
        d = np.float32(np.max(np.abs(blk)) / np.float32(127))
        idd = np.float32(1) / d if d != 0 else np.float32(0)
        q = np.trunc(blk * idd + np.copysign(np.float32(0.5), blk * idd))
        out[b:b + 32] = q * float(np.float16(d))
    return out


# ----- runs and fixture lines ----------------------------------------------------------------

def greedy(logits_of, prompt, n):
    """n greedy ids after prompt, each step recomputing the whole sequence: logits_of(ids) gives
    the last token's logits. Returns (the ids, the logits after the prompt)."""
    seq = list(prompt)
    first = None
    gen = []
    for _ in range(n):
        lg = logits_of(seq)
        if first is None:
            first = lg
        nxt = int(np.argmax(lg))
        gen.append(nxt)
        seq.append(nxt)
    return gen, first


def ids_text(ids):
    return ' '.join(map(str, ids))


def floats_text(v, fmt='%.6f'):
    return ' '.join(fmt % x for x in v)


def emit(*fields):
    """one fixture line: the fields joined by tabs"""
    print('\t'.join(fields))
    sys.stdout.flush()


def check_logits0(d, name, got):
    """print how far got (the logits after llama.cpp's prompt) is from its all-F32 reference;
    returns that reference"""
    ref = np.loadtxt(os.path.join(d, 'reference', name + '.logits0-f32.tsv'))[:, 1]
    print('%s: max |logits - llama.cpp all-F32| = %.3g (range %.3g .. %.3g)' %
          (name, np.max(np.abs(got - ref)), ref.min(), ref.max()))
    return ref

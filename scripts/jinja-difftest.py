#!/usr/bin/env python3
"""Differential test of gptc's Jinja engine against Python's Jinja2 on random templates.

    python3 scripts/jinja-difftest.py [--gptc build/gptc] [--seed 1] [--n 500]

Generates random expressions and statements over a fixed set of variables (operators,
filters, tests, methods, slicing, loops, sets), renders each with Jinja2 in transformers'
environment (see gen-chat-fixtures.py) and with `gptc template --template FILE --var ...`, and
prints the templates whose outputs differ (or where only one side raised). Differences that
cannot be reproduced (reprs holding memory addresses, Python big integers, Markup reprs) are
skipped. A developer tool, not part of `make test`; cases it finds belong in
gen-chat-fixtures.py's FEATURES table.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from importlib import import_module  # noqa: E402

fixtures = import_module("gen-chat-fixtures")

VARS = {"s": "  Hé llo World \t", "n": 3, "z": 0, "f": 2.5, "neg": -7, "l": [1, "a", None, 2.5, [3]],
        "d": {"k": "v", "n": 1, "items": "x", "l": [1, 2]}, "e": "", "u": "日本語🙂", "b": True,
        "msgs": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " ok "}],
        "big": 123456789012, "fl": 0.1, "nl": "a\nb\n\nc"}
LITS = ["0", "1", "-1", "2", "7", "0.5", "1e20", "1.0", "-2.5", "'x'", "''", "'a b'", "\"it's\"",
        "'日本'", "'\\n'", "'  pad  '", "none", "true", "false", "[]", "[1, 2]", "['b', 'a']", "{}",
        "{'a': 1}", "(1, 'x')", "1e-7"]
NAMES = list(VARS) + ["undef"]
FILTERS = ["trim", "length", "upper", "lower", "title", "capitalize", "tojson", "string", "list",
           "first", "last", "default('D')", "default('D', true)", "join(',')", "replace('a', 'X')",
           "reverse|list", "sort", "unique|list", "int", "float", "abs", "round", "round(1)",
           "items|list", "sum", "min", "max", "wordcount", "indent(2)", "tojson(indent=2)",
           "tojson(sort_keys=true)", "select('string')|list", "reject('none')|list",
           "map('string')|list", "selectattr('role', 'eq', 'user')|list", "map(attribute='role')|list",
           "dictsort", "count", "trim('l')", "batch(2)|list"]
TESTS = ["defined", "undefined", "none", "string", "number", "integer", "float", "mapping",
         "iterable", "sequence", "odd", "even", "divisibleby 2", "true", "false", "boolean",
         "lower", "upper", "eq 1", "in [1, 'a']"]
METHODS = ["strip()", "lstrip()", "rstrip()", "split()", "split('l')", "split(' ', 1)",
           "rsplit(None, 1)", "upper()", "lower()", "title()", "startswith('H')", "endswith('d')",
           "replace('l', 'L')", "find('l')", "count('l')", "splitlines()", "capitalize()",
           "isdigit()", "strip(' H')", "partition(' ')", "get('k')", "get('zz', 0)"]
BIN = ["+", "-", "*", "/", "//", "%", "~", "==", "!=", "<", ">", "<=", ">=", "in", "not in",
       "and", "or", "**"]


def gen(rng):
    def expr(d):
        r = rng.random()
        if d <= 0 or r < 0.25:
            return rng.choice(LITS) if rng.random() < 0.5 else rng.choice(NAMES)
        if r < 0.45:
            return "(%s %s %s)" % (expr(d - 1), rng.choice(BIN), expr(d - 1))
        if r < 0.6:
            return "(%s)|%s" % (expr(d - 1), rng.choice(FILTERS))
        if r < 0.68:
            return "(%s is %s%s)" % (expr(d - 1), rng.choice(["", "not "]), rng.choice(TESTS))
        if r < 0.76:
            return "(%s).%s" % (expr(d - 1), rng.choice(METHODS))
        if r < 0.84:
            sub = rng.choice(["0", "-1", "1:", ":-1", "::-1", "'k'", "1:3", "::2", "5", "'role'"])
            base = "(%s)" % expr(d - 1) if ":" not in sub else rng.choice(NAMES)  # constant slices fold in Jinja
            return "%s[%s]" % (base, sub)
        if r < 0.92:
            return "(%s if %s else %s)" % (expr(d - 1), expr(d - 1), expr(d - 1))
        return "[%s, (not %s)]" % (expr(d - 1), expr(d - 1))

    def stmt():
        r = rng.random()
        if r < 0.6:
            return "{{ %s }}" % expr(3)
        if r < 0.75:
            return "{%% for x in %s %%}[{{ x }}|{{ loop.index }}]{%% else %%}E{%% endfor %%}" % expr(2)
        if r < 0.9:
            return "{%% if %s %%}T{%% else %%}F{%% endif %%}" % expr(2)
        return "{%% set q = %s %%}{{ q }}" % expr(2)

    return " ".join(stmt() for _ in range(rng.randint(1, 3)))


def unreproducible(text):
    return any(k in text for k in ("object at 0x", "<generator", "Markup(", "OBJECT AT 0X"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gptc", default="build/gptc")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--n", type=int, default=500)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    rng = random.Random(args.seed)
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        tpath, mpath = os.path.join(tmp, "t.jinja"), os.path.join(tmp, "m.json")
        with open(mpath, "w") as f:
            f.write("[]")
        var_args = []
        for k, v in VARS.items():
            var_args += ["--var", "%s=%s" % (k, json.dumps(v, ensure_ascii=False))]
        for _ in range(args.n):
            src = gen(rng)
            py, err = fixtures.render(src, **VARS)
            with open(tpath, "w", encoding="utf-8") as f:
                f.write(src)
            p = subprocess.run([args.gptc, "template", "--template", tpath, "--messages", mpath,
                                "--date", "2024-07-26"] + var_args, capture_output=True)
            c_ok = p.returncode == 0
            c_out = p.stdout.decode("utf-8", "replace")
            if err is None and (not c_ok or c_out != py):
                if unreproducible(py) or (not c_ok and b"64-bit" in p.stderr):
                    continue
                bad += 1
                print("DIFF %s\n  jinja2: %r\n  gptc:   %r" % (src, py[:300], (c_out if c_ok else p.stderr.decode())[:300]))
            elif err is not None and c_ok:
                bad += 1
                print("ONLY JINJA2 RAISED %s\n  jinja2: %s: %s\n  gptc:   %r" % (src, err[0], err[1][:200], c_out[:300]))
    print("%d templates, %d differences" % (args.n, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

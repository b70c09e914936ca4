// bench.cjs — the reference side of bench_tokenizer: OpenAI's tiktoken (npm "tiktoken", the
// Rust core built to WASM) encodes a file with one encoding, 1 thread; prints "MBPS <value>" and
// writes the ids (uint32 little-endian) for bench_tokenizer to compare with gptc's.
//   node bench/tiktoken/bench.cjs ENCODING TEXT_FILE IDS_OUT [RUNS]
"use strict";
const fs = require("fs");
const { get_encoding } = require("tiktoken");
const [enc_name, file, ids_out, runs_s] = process.argv.slice(2);
const runs = Number(runs_s || 5);
const text = fs.readFileSync(file, "utf8");
const bytes = Buffer.byteLength(text, "utf8");
const enc = get_encoding(enc_name);
let ids = enc.encode_ordinary(text); // warm-up, and the ids to compare
let best = Infinity;
for (let r = 0; r < runs; r++) {
  const t0 = process.hrtime.bigint();
  ids = enc.encode_ordinary(text);
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  if (dt < best) best = dt;
}
fs.writeFileSync(ids_out, Buffer.from(new Uint32Array(ids).buffer));
console.log(`TOKENS ${ids.length}`);
console.log(`MBPS ${(bytes / 1e6 / best).toFixed(3)}`);
enc.free();

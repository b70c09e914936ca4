/*
 * gptc.h — the one public header of libgptc.
 *
 * libgptc loads GPT models (GGUF files, llama2.c checkpoints), tokenizes text, runs the forward
 * pass over batches of tokens from one or more sequences, and samples the next token.
 *
 * Conventions:
 *   - Every fallible call returns gptc_status and fills a caller-owned gptc_err with a one-line,
 *     human-readable message. The library never prints, exits or aborts on bad input.
 *   - Handles are opaque; each *_init/_load has a matching *_free that accepts NULL.
 *   - A gptc_model is immutable after load and may be shared by many threads; a gptc_ctx and a
 *     gptc_sampler belong to one thread at a time.
 */
#ifndef GPTC_H
#define GPTC_H

#include <stddef.h>
#include <stdint.h>

/* The version of this header; gptc_version() gives the library's (they differ only when a
 * program runs against a shared libgptc other than the one it was built with). */
#define GPTC_VERSION_MAJOR 0
#define GPTC_VERSION_MINOR 1
#define GPTC_VERSION_PATCH 0
#define GPTC_VERSION_STRING "0.1.0"

/* GPTC_API marks what libgptc exports: the library is built with -fvisibility=hidden, so a
 * shared libgptc.so exports these functions and nothing else. */
#ifndef GPTC_API
#if defined(__GNUC__) || defined(__clang__)
#define GPTC_API __attribute__((visibility("default")))
#else
#define GPTC_API
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gptc_status {
    GPTC_OK = 0,
    GPTC_E_IO,          /* the file system said no: missing file, not a regular file, read error */
    GPTC_E_FORMAT,      /* the bytes are not a valid file of the expected format */
    GPTC_E_NOMEM,       /* an allocation failed */
    GPTC_E_INVALID,     /* a bad argument from the caller */
    GPTC_E_UNSUPPORTED, /* valid, but a feature gptc does not implement (yet) */
    GPTC_E_RANGE,       /* a value out of range: token id, position, sequence id */
    GPTC_E_KV_FULL,     /* the KV cache has no free cell for the batch (free some, retry) */
    GPTC_E_CANCELLED,   /* the caller asked to stop (a callback said so) */
} gptc_status;

typedef struct gptc_err {
    gptc_status status;
    char msg[256]; /* NUL-terminated; empty when status == GPTC_OK */
} gptc_err;

GPTC_API const char *gptc_status_name(gptc_status s);
/* The library's version, "MAJOR.MINOR.PATCH" (GPTC_VERSION_STRING when it was built). */
GPTC_API const char *gptc_version(void);

/* ---------------------------------------------------------------------------------------------
 * Model
 */
typedef struct gptc_model gptc_model;

typedef struct gptc_model_params {
    const char *tokenizer_path; /* llama2.c checkpoints: tokenizer.bin; NULL: look beside model */
    int no_repack; /* 1: keep every weight in the file's layout; 0 (default): copy the matrices
                    * the CPU's kernels run faster packed (Q4_0, Q8_0, Q4_K, Q6_K; IQ4_NL and
                    * Q5_K with AVX-512 VNNI) into a 16-row interleave at load
                    * (gptc_model_packed_bytes) */
} gptc_model_params;

typedef struct gptc_hparams {
    char arch[32]; /* "llama" */
    int n_vocab;
    int n_ctx_train; /* context length the model was trained for */
    int n_embd;      /* dim */
    int n_ff;        /* hidden dim of the feed-forward block */
    int n_layer;
    int n_head;
    int n_head_kv;
    int head_dim;    /* n_embd / n_head */
    int n_rot;       /* rotary dimensions per head (<= head_dim) */
    float rope_base; /* rope.freq_base, 10000 by default */
    float norm_eps;  /* layer_norm_rms_epsilon */
    int tied_output; /* 1: the classifier is token_embd */
} gptc_hparams;

GPTC_API gptc_model_params gptc_model_default_params(void);
/* Load a model: GGUF (by magic) or a llama2.c checkpoint (anything else). OUT: *model, owned,
 * free with gptc_model_free. */
GPTC_API gptc_status gptc_model_load(const char *path, const gptc_model_params *params,
                                     gptc_model **model /* OUT */, gptc_err *err);
GPTC_API void gptc_model_free(gptc_model *model);
GPTC_API const gptc_hparams *gptc_model_hparams(const gptc_model *model);
/* Bytes of weight data the forward pass reads per token (for bandwidth bounds). */
GPTC_API uint64_t gptc_model_weight_bytes(const gptc_model *model);
/* Bytes of memory the packed copies of weights take (0: none packed; see no_repack). */
GPTC_API uint64_t gptc_model_packed_bytes(const gptc_model *model);
/* Look up a metadata string ("general.name", "tokenizer.chat_template"); NULL if absent.
 * Borrowed: valid while the model lives. *len receives the length (strings may hold NULs). */
GPTC_API const char *gptc_model_meta_str(const gptc_model *model, const char *key, size_t *len);
/* One line (no newline) describing the architecture's own hyperparameters as gptc runs them:
 * rope kind, bases and factors, sliding window and its layers, soft-caps, norms, activation.
 * Writes at most n bytes (NUL-terminated) into buf; returns buf. */
GPTC_API char *gptc_model_describe(const gptc_model *model, char *buf, size_t n);

/* ---------------------------------------------------------------------------------------------
 * Tokenizer: owned by a model, or loaded alone (a GGUF's vocabulary, a tiktoken encoding).
 * Kinds: SentencePiece-style (tokenizer.ggml.model "llama") and byte-level BPE (GGUF "gpt2" with
 * its tokenizer.ggml.pre regexes: GPT-2, Llama 3, Qwen2, StarCoder, DeepSeek ...; and the
 * tiktoken encodings). Immutable after load: one tokenizer may serve many threads.
 */
typedef struct gptc_tokenizer gptc_tokenizer;

GPTC_API const gptc_tokenizer *gptc_model_tokenizer(const gptc_model *model);
/* The tokenizer of a GGUF file (a model or a vocabulary-only file), without the weights.
 * OUT: *tok, owned, free with gptc_tok_free. */
GPTC_API gptc_status gptc_tok_load_gguf(const char *path, gptc_tokenizer **tok /* OUT */,
                                        gptc_err *err);
/* A tiktoken encoding: "r50k_base", "p50k_base", "p50k_edit", "cl100k_base", "o200k_base",
 * "gpt2" (= r50k_base), or "llama3" (Meta's Llama 3 tokenizer.model, the same format), with
 * the encoding's own split regex and special tokens. path: its rank file; NULL: look for
 * NAME.tiktoken (gpt2: r50k_base, p50k_edit: p50k_base) in $GPTC_TIKTOKEN_DIR, then
 * $XDG_CACHE_HOME/gptc/tiktoken or ~/.cache/gptc/tiktoken, DIR/../share/gptc/tiktoken where DIR
 * holds the running program (gptc ships OpenAI's four rank files there, in its repository and
 * after `make install`), /usr/local/share/gptc/tiktoken, /usr/share/gptc/tiktoken; a file found
 * so must have OpenAI's published sha256 (else GPTC_E_FORMAT). Nothing is downloaded.
 * OUT: *tok, owned, free with gptc_tok_free. */
GPTC_API gptc_status gptc_tok_load_tiktoken(const char *name, const char *path,
                                            gptc_tokenizer **tok /* OUT */, gptc_err *err);
/* Free a tokenizer loaded by gptc_tok_load_*; never one a model owns. NULL is fine. */
GPTC_API void gptc_tok_free(gptc_tokenizer *tok);
GPTC_API int gptc_tok_n_vocab(const gptc_tokenizer *tok);
GPTC_API int gptc_tok_bos(const gptc_tokenizer *tok); /* -1 if none */
GPTC_API int gptc_tok_eos(const gptc_tokenizer *tok); /* -1 if none */
/* does the model expect BOS before a prompt */
GPTC_API int gptc_tok_add_bos(const gptc_tokenizer *tok);
/* 1 for end-of-generation tokens (EOS, EOT ...) */
GPTC_API int gptc_tok_is_eog(const gptc_tokenizer *tok, int32_t id);

/* Encode len bytes of text. add_bos: prepend BOS if the vocabulary has one. parse_special:
 * recognise control-token text such as "<s>" or "<|endoftext|>" (otherwise it is ordinary
 * text). Writes up to cap ids to out and sets *n_out to the number of ids the text needs: if
 * *n_out > cap, nothing beyond cap was written and the caller retries with a larger buffer
 * (out = NULL, cap = 0 only counts). Byte-level BPE takes any bytes: invalid UTF-8 is split as
 * if each bad byte were U+FFFD and encoded as that byte's token, so decoding gives it back. */
GPTC_API gptc_status gptc_tok_encode(const gptc_tokenizer *tok, const char *text, size_t len,
                                     int add_bos, int parse_special, int32_t *out, size_t cap,
                                     size_t *n_out /* OUT */, gptc_err *err);
/* As gptc_tok_encode with parse_special on, except that no special token that parse_special
 * alone enables (CONTROL) is read over a byte marked in literal (len bytes, nonzero where the
 * text is data from a user, e.g. chat message content; NULL: none): a user who types
 * "<|im_end|>" gets those characters as text, never the control token. USER_DEFINED tokens
 * are read inside a literal span as gptc_tok_encode without parse_special reads them. */
GPTC_API gptc_status gptc_tok_encode_lit(const gptc_tokenizer *tok, const char *text, size_t len,
                                         int add_bos, const uint8_t *literal, int32_t *out,
                                         size_t cap, size_t *n_out /* OUT */, gptc_err *err);
/* The special tokens that only parse_special reads (CONTROL and the like): how many, and the
 * text of the i-th (borrowed; NULL when i is out of range). */
GPTC_API size_t gptc_tok_n_control(const gptc_tokenizer *tok);
GPTC_API const char *gptc_tok_control_text(const gptc_tokenizer *tok, size_t i,
                                           size_t *len /* OUT */);
/* The number of tokens of text (no BOS), as gptc_tok_encode counts them. */
GPTC_API gptc_status gptc_tok_count(const gptc_tokenizer *tok, const char *text, size_t len,
                                    int parse_special, size_t *n /* OUT */, gptc_err *err);
/* Token ids -> the bytes they stand for, as one buffer (cap and n_out as in gptc_tok_encode).
 * Byte-level BPE gives exactly the bytes that were encoded (invalid UTF-8 included);
 * SentencePiece gives pieces with U+2581 as ' ' and <0xNN> as its byte. Control tokens give
 * their text when special is nonzero, else nothing. GPTC_E_RANGE for an id outside the
 * vocabulary. For text to show a person while it streams, use gptc_detok_push. */
GPTC_API gptc_status gptc_tok_decode(const gptc_tokenizer *tok, const int32_t *ids, size_t n,
                                     int special, char *out, size_t cap, size_t *n_out /* OUT */,
                                     gptc_err *err);
/* The raw piece of a token as stored in the vocabulary (e.g. "▁Once", "<0x0A>", GPT-2's
 * "Ġthe"; a tiktoken token's bytes). Borrowed; NULL when id is out of range. */
GPTC_API const char *gptc_tok_piece(const gptc_tokenizer *tok, int32_t id, size_t *len /* OUT */);

/* Streaming detokenizer: turns ids into text bytes, holding back an incomplete UTF-8 sequence
 * until the token that completes it arrives. Control tokens (BOS/EOS) produce no text. */
typedef struct gptc_detok {
    uint8_t pending[8];
    int n_pending;
    int strip_space; /* drop the leading space of the next piece (SentencePiece prefix) */
    int special;     /* 1: control tokens print their text (set after gptc_detok_init) */
} gptc_detok;
GPTC_API void gptc_detok_init(gptc_detok *d);
/* Writes at most cap bytes to out; *n_out receives the count. Needs cap >= 64 + 8.
 * GPTC_E_RANGE if id is out of the vocabulary. */
GPTC_API gptc_status gptc_detok_push(const gptc_tokenizer *tok, gptc_detok *d, int32_t id,
                                     char *out, size_t cap, size_t *n_out /* OUT */, gptc_err *err);
/* Flush what is pending at the end of a stream (invalid UTF-8 becomes U+FFFD). */
GPTC_API size_t gptc_detok_flush(gptc_detok *d, char *out, size_t cap);

/* ---------------------------------------------------------------------------------------------
 * Context: KV cache + scratch for running the model over sequences
 */
typedef struct gptc_ctx gptc_ctx;

typedef struct gptc_ctx_params {
    int n_ctx;          /* KV cells shared by all sequences; 0: gptc_ctx_auto_n_ctx (the model's
                         * n_ctx_train, capped by the default KV memory budget) */
    int n_batch;        /* most tokens one gptc_decode call may carry; 0: 512 */
    int n_threads;      /* 0: all online cores */
    int n_seq_max;      /* distinct sequence ids, 1..64 */
    int embeddings;     /* nonzero: gptc_decode also pools each sequence's final hidden states, for
                         * gptc_get_embeddings (costs one norm of n_embd per token) */
    int type_k, type_v; /* KV cache element types, GGUF/ggml numbers: 0 f32, 1 f16, 8 q8_0
                         * (q8_0: K and V rows of each layer a multiple of 32 values).
                         * gptc_ctx_default_params: f16, as llama.cpp. */
    int n_ckpt;         /* hybrid models: recurrent-state checkpoints kept per sequence
                         * (gptc_kv_seq_checkpoint); 0: 4. Each takes gptc_state_bytes,
                         * allocated when first saved. */
    int swa_full;       /* models mixing sliding-window and global layers: 0 (default) keeps the
                         * window layers' K/V in a ring of window + n_batch rows per sequence
                         * when that is smaller than n_ctx; 1: in every cell, as global ones */
} gptc_ctx_params;

/* "f32", "f16", "q8_0" -> the type_k/type_v number; -1 for anything else. */
GPTC_API int gptc_cache_type(const char *name);
/* Bytes of KV cache a context of n_ctx cells takes for model with these types. */
GPTC_API uint64_t gptc_kv_bytes(const gptc_model *model, int n_ctx, int type_k, int type_v);
/* Bytes of KV cache one token at position pos (from 0) reads in attention: in every layer with
 * its own cache, the K and V rows it sees (pos + 1, or a sliding window's rows). */
GPTC_API uint64_t gptc_kv_read_bytes(const gptc_model *model, int pos, int type_k, int type_v);
/* The default KV cache memory budget: GPTC_KV_BUDGET_MIB, or a quarter of the machine's
 * physical memory when that is less. */
#define GPTC_KV_BUDGET_MIB 1024
GPTC_API uint64_t gptc_kv_budget_default(void);
/* The context a model gets when none is asked for: its trained context (n_ctx_train), capped so
 * that n_seq sequences of that many cells of these cache types fit in budget bytes (0: the
 * default budget); when capped, a multiple of 256 and at least 256. Per sequence: a context
 * for n_seq sequences has n_seq times as many cells. The window layers of a model that mixes
 * sliding-window and global layers count as the ring gptc_ctx_init gives them (window + 512
 * rows per sequence, with the default n_batch and swa_full). */
GPTC_API int gptc_ctx_auto_n_ctx(const gptc_model *model, uint64_t budget, int type_k, int type_v,
                                 int n_seq);

GPTC_API gptc_ctx_params gptc_ctx_default_params(void);
GPTC_API gptc_status gptc_ctx_init(const gptc_model *model, const gptc_ctx_params *params,
                                   gptc_ctx **ctx /* OUT */, gptc_err *err);
GPTC_API void gptc_ctx_free(gptc_ctx *ctx);
GPTC_API int gptc_ctx_n_ctx(const gptc_ctx *ctx);

/* A batch of tokens, each with its sequence and position. Arrays are borrowed for the call. */
typedef struct gptc_batch {
    int n_tokens;
    const int32_t *token;  /* (n_tokens) */
    const int32_t *pos;    /* (n_tokens) position within its sequence */
    const int32_t *seq_id; /* (n_tokens) 0..n_seq_max-1; NULL: all 0 */
    const int8_t *logits;  /* (n_tokens) nonzero: compute logits for it; NULL: only the last */
} gptc_batch;

/* Run the forward pass over a batch, appending every token's keys/values to the KV cache.
 * GPTC_E_KV_FULL when the cache has fewer free cells than the batch has tokens (nothing was
 * done: free cells with gptc_kv_seq_rm and retry); GPTC_E_RANGE for a token id, position or
 * sequence id out of range; GPTC_E_INVALID for an empty or oversized batch. */
GPTC_API gptc_status gptc_decode(gptc_ctx *ctx, const gptc_batch *batch, gptc_err *err);
/* Logits of the i-th token of the last batch that asked for them, (n_vocab). Borrowed until the
 * next gptc_decode; NULL when that token did not ask. */
GPTC_API float *gptc_get_logits(gptc_ctx *ctx, int i);

/* The embedding of sequence seq (needs gptc_ctx_params.embeddings): the model's final normalised
 * hidden state (the input of the output projection), mean-pooled over every token decoded for seq
 * since it was last emptied (gptc_kv_seq_rm(ctx, seq, 0, -1) or gptc_kv_clear), L2-normalised.
 * Tokens that reached seq through gptc_kv_seq_cp are not counted. Returns (n_embd) floats,
 * borrowed until the next call on ctx; NULL when embeddings are off, seq is out of range or no
 * token has been decoded for it. */
GPTC_API const float *gptc_get_embeddings(gptc_ctx *ctx, int seq);
/* The same before L2 normalisation (the pooled hidden state itself, as llama.cpp's
 * llama_get_embeddings_seq). */
GPTC_API const float *gptc_get_embeddings_raw(gptc_ctx *ctx, int seq);
/* How an embedding model pools (its pooling_type): 1 mean, 2 the first token (CLS), 3 the last
 * token; 0 for a text generator. An embedding model has no classifier: gptc_get_logits returns
 * NULL, embeddings are always on, and since its attention is bidirectional each sequence must
 * be decoded in one batch into an empty sequence. Decoders pool by mean. */
GPTC_API int gptc_model_pooling(const gptc_model *model);

/* KV cache operations over sequences. p1 < 0 means "to the end".
 *
 * Hybrid models (gptc_model_recurrent nonzero: lfm2's short convolutions, Qwen3.5's delta-net)
 * also keep a recurrent state per sequence: the summary of all its tokens so far, which cannot
 * be cut at an arbitrary position. For them:
 *   - a sequence's tokens must be decoded in order: the next token of seq is at position
 *     gptc_kv_seq_pos_max(ctx, seq) + 1 (GPTC_E_INVALID from gptc_decode otherwise);
 *   - gptc_kv_seq_rm of the whole sequence (p0 <= 0, p1 < 0) resets its state; of a suffix
 *     (p1 < 0 or past the end) only at p0 = 0, at the end, or at a position where a checkpoint
 *     was saved (gptc_kv_seq_checkpoint), whose state it restores; anything else (a suffix with
 *     no checkpoint, a range in the middle) returns GPTC_E_UNSUPPORTED and changes nothing;
 *   - gptc_kv_seq_cp copies a prefix [0, p1) and gives seq_dst the state src had at p1 (its
 *     current state when p1 covers it, else a checkpoint at p1; GPTC_E_UNSUPPORTED and nothing
 *     changed otherwise, or when p0 > 0), and the checkpoints at or below p1. seq_dst should be
 *     empty: its state and checkpoints are replaced;
 *   - gptc_kv_seq_cut says where a sequence can be cut; callers that reuse a cached prefix
 *     (chat, the server) cut there and decode the rest again.
 * For other models every cut is possible and these never fail except for a sequence id out of
 * range (GPTC_E_RANGE). */
GPTC_API void gptc_kv_clear(gptc_ctx *ctx);
GPTC_API gptc_status gptc_kv_seq_rm(gptc_ctx *ctx, int seq, int p0, int p1);
GPTC_API gptc_status gptc_kv_seq_cp(gptc_ctx *ctx, int seq_src, int seq_dst, int p0, int p1);
GPTC_API int gptc_kv_seq_pos_max(const gptc_ctx *ctx, int seq); /* -1 if the sequence is empty */
/* The largest p' <= p at which seq can be cut: gptc_kv_seq_rm(ctx, seq, p', -1) and
 * gptc_kv_seq_cp(ctx, seq, other, 0, p') succeed. p for models without recurrent state and
 * for p at or past the sequence's end; else the highest checkpoint <= p, or 0. */
GPTC_API int gptc_kv_seq_cut(const gptc_ctx *ctx, int seq, int p);
/* Save seq's current recurrent state as a checkpoint at its current length (pos_max + 1), so
 * the sequence can later be cut back to it. A checkpoint at the same length is replaced; when
 * all n_ckpt are taken the least recently saved one goes. A no-op (GPTC_OK) for models without
 * recurrent state. GPTC_E_NOMEM when its memory cannot be allocated (first use of a slot). */
GPTC_API gptc_status gptc_kv_seq_checkpoint(gptc_ctx *ctx, int seq);
/* Nonzero when the model keeps recurrent state per sequence (the rules above apply). */
GPTC_API int gptc_model_recurrent(const gptc_model *model);
/* Bytes of recurrent state one sequence takes (each checkpoint takes as much again). */
GPTC_API uint64_t gptc_state_bytes(const gptc_model *model);
/* How many of sequence seq's first n_keep positions can be kept to continue it at position
 * n_keep: n_keep, or 0 when the window layers' ring has already overwritten positions the token
 * at n_keep would see (then clear the sequence and decode it again). Contexts without rings:
 * n_keep. */
GPTC_API int gptc_kv_seq_reusable(const gptc_ctx *ctx, int seq, int n_keep);
/* Bytes the context's KV cache holds (rings included). */
GPTC_API uint64_t gptc_ctx_kv_bytes(const gptc_ctx *ctx);

/* ---------------------------------------------------------------------------------------------
 * Sampler: turns logits into a token id; holds its own RNG, so samplers never share randomness
 */
typedef struct gptc_sampler gptc_sampler;

typedef struct gptc_sampler_params {
    float temp;  /* <= 0: greedy (argmax) */
    int top_k;   /* <= 0: off */
    float top_p; /* >= 1: off */
    float min_p; /* <= 0: off */
    float
        repeat_penalty; /* 1: off; divides positive logits of recent tokens, multiplies negative */
    int repeat_last_n;  /* how many recent tokens the penalties look at; 64 */
    float presence_penalty;  /* 0: off */
    float frequency_penalty; /* 0: off */
    uint64_t seed;
} gptc_sampler_params;

GPTC_API gptc_sampler_params gptc_sampler_default_params(void);
GPTC_API gptc_status gptc_sampler_init(const gptc_sampler_params *params, int n_vocab,
                                       gptc_sampler **s /* OUT */, gptc_err *err);
GPTC_API void gptc_sampler_free(gptc_sampler *s);
/* Pick a token from logits (n_vocab); logits may be modified in place. */
GPTC_API int32_t gptc_sampler_sample(gptc_sampler *s, float *logits);
/* Tell the sampler a token was added to the sequence (prompt or generated), for penalties. */
GPTC_API void gptc_sampler_accept(gptc_sampler *s, int32_t id);
/* Forget the history; reseed. */
GPTC_API void gptc_sampler_reset(gptc_sampler *s, uint64_t seed);
/* The chain's final distribution for logits (sanitize, penalties, temperature, top-k, top-p,
 * min-p; logits modified in place as by gptc_sampler_sample), without drawing: returns the
 * number of candidates n, and sets *ids and *probs (either may be NULL) to n ids and their
 * probabilities, which sum to 1; borrowed until the next call on s. Greedy (temp <= 0): one
 * candidate, the argmax, with probability 1. Apply a grammar to the logits first, as for
 * gptc_sampler_sample. */
GPTC_API int gptc_sampler_probs(gptc_sampler *s, float *logits, const int32_t **ids,
                                const float **probs);
/* Speculative decoding (docs/speculative.md): sample the next token given a draft token that
 * was proposed with certainty (draft < 0: none). The draft is accepted with probability
 * p(draft), the chain's probability of it; otherwise the token is drawn from p without the
 * draft (the residual (p - q)+ of a point-mass draft distribution q, renormalised). So the
 * token's distribution is exactly p, whatever the draft; greedy returns the argmax. *accepted
 * (may be NULL) is 1 when the token returned is the draft. Uses the RNG differently from
 * gptc_sampler_sample: the same seed gives the same distribution, not the same tokens. */
GPTC_API int32_t gptc_sampler_sample_draft(gptc_sampler *s, float *logits, int32_t draft,
                                           int *accepted);

/* ---------------------------------------------------------------------------------------------
 * Speculative decoding drafts (docs/speculative.md). Verify a draft d[0..n) after the last
 * sampled token t by decoding [t, d[0], ..., d[n-1]] in one gptc_decode with logits for all, then
 * gptc_sampler_sample_draft on row i against d[i] until one is not accepted (its token replaces
 * the draft) or row n gives a bonus token; remove the cells of rejected drafts with
 * gptc_kv_seq_rm. Models with recurrent state cannot cut those cells (gptc_kv_seq_rm fails).
 */
/* Prompt lookup: for n from ngram_max down to ngram_min, find the latest earlier occurrence of
 * the last n tokens of hist and copy up to n_max tokens that followed it to out. Returns the
 * number written (0: no match). */
GPTC_API int gptc_spec_lookup(const int32_t *hist, int n_hist, int ngram_min, int ngram_max,
                              int32_t *out, int n_max);
/* GPTC_OK when draft's vocabulary is target's (same tokens, same BOS/EOS); else GPTC_E_INVALID
 * with a message saying what differs. */
GPTC_API gptc_status gptc_spec_check_vocab(const gptc_model *target, const gptc_model *draft,
                                           gptc_err *err);
/* A draft model in a context of its own (params: its n_ctx, n_seq_max, threads ...) that keeps
 * each sequence in step with the target's tokens and drafts greedily. Fails for a vocabulary
 * other than target's, or a draft model with recurrent state. draft must outlive it. */
typedef struct gptc_drafter gptc_drafter;
GPTC_API gptc_status gptc_drafter_init(const gptc_model *target, const gptc_model *draft,
                                       const gptc_ctx_params *params, gptc_drafter **out /* OUT */,
                                       gptc_err *err);
GPTC_API void gptc_drafter_free(gptc_drafter *d);
/* Up to n_max greedy draft tokens to follow hist (n_hist tokens: the whole sequence, the last
 * sampled token included) for sequence seq; *n_out receives how many (it stops after an
 * end-of-generation token). Decodes only what the draft context does not share with hist. */
GPTC_API gptc_status gptc_drafter_draft(gptc_drafter *d, int seq, const int32_t *hist, int n_hist,
                                        int32_t *out, int n_max, int *n_out /* OUT */,
                                        gptc_err *err);
/* Drop sequence seq from the draft context. */
GPTC_API void gptc_drafter_forget(gptc_drafter *d, int seq);

/* ---------------------------------------------------------------------------------------------
 * Grammar constraints: decoding that can only produce text of a grammar (GBNF, llama.cpp's
 * format, see docs/agents.md) or of a JSON schema. Per step: gptc_grammar_apply masks the
 * logits (forbidden tokens get -inf), the sampler picks, gptc_grammar_accept advances.
 * End-of-generation tokens are allowed exactly when the grammar can end.
 */
typedef struct gptc_gvocab gptc_gvocab;   /* a vocabulary's token bytes as a trie; shareable */
typedef struct gptc_grammar gptc_grammar; /* one generation's constraint; one thread */

GPTC_API gptc_status gptc_gvocab_from_tokenizer(const gptc_tokenizer *tok,
                                                gptc_gvocab **out /* OUT */, gptc_err *err);
GPTC_API void gptc_gvocab_free(gptc_gvocab *v);
/* v must outlive the grammar. root: the start rule (NULL: "root"). */
GPTC_API gptc_status gptc_grammar_from_gbnf(const gptc_gvocab *v, const char *gbnf, size_t len,
                                            const char *root, gptc_grammar **out /* OUT */,
                                            gptc_err *err);
/* A JSON schema (text) compiled to GBNF; unsupported keywords are an error naming them. */
GPTC_API gptc_status gptc_grammar_from_json_schema(const gptc_gvocab *v, const char *schema,
                                                   size_t len, gptc_grammar **out /* OUT */,
                                                   gptc_err *err);
GPTC_API void gptc_grammar_free(gptc_grammar *g);
/* Set the logits (n_vocab) of the tokens the grammar forbids now to -inf. GPTC_E_INVALID when
 * no token is allowed (a grammar that cannot continue nor end). */
GPTC_API gptc_status gptc_grammar_apply(gptc_grammar *g, float *logits, gptc_err *err);
/* Advance over the token chosen (must be allowed). */
GPTC_API gptc_status gptc_grammar_accept(gptc_grammar *g, int32_t id, gptc_err *err);
/* The text so far is complete under the grammar / nothing else may follow. */
GPTC_API int gptc_grammar_can_end(const gptc_grammar *g);
GPTC_API int gptc_grammar_must_end(const gptc_grammar *g);
/* Lazy: the text is free (apply masks nothing, the grammar may end anywhere) until `trigger`
 * (1..32 bytes) appears in it, or the token trigger_id (-1: none) is generated, outside a
 * <think>...</think> block (in_think: the text starts inside one); from there on the grammar
 * constrains what follows the trigger. What tool_choice "auto" uses: the tool-call opener. A
 * token that runs on past the trigger in a way the grammar cannot take leaves the text free. */
GPTC_API gptc_status gptc_grammar_set_lazy(gptc_grammar *g, const char *trigger, size_t len,
                                           int32_t trigger_id, int in_think, gptc_err *err);
/* The grammar constrains the text now (not lazy, or its trigger was seen). */
GPTC_API int gptc_grammar_engaged(const gptc_grammar *g);

/* ---------------------------------------------------------------------------------------------
 * Chat session: a conversation with a model, as `gptc chat` holds it. The session renders the
 * whole conversation with the model's chat template at each reply, decodes only the tokens its
 * KV cache does not hold yet (the longest common prefix with the previous turn is kept; hybrid
 * models go back to a recurrent-state checkpoint saved one token before each prompt's end),
 * drops the oldest turns after the system prompt when the conversation outgrows the context,
 * stops at the template's end-of-turn token or text, and splits the reply into content,
 * reasoning (<think>...</think>) and tool calls in the template's format. One thread at a time.
 */
typedef struct gptc_chat_session gptc_chat_session;

typedef struct gptc_chat_params {
    const char *system;          /* the system prompt (copied); NULL or "": none */
    const char *chat_template;   /* a built-in template's name ("chatml", "llama2", "llama3",
                                  * "mistral", "gemma", "phi3", "zephyr") or Jinja source
                                  * (copied); NULL: the model's tokenizer.chat_template, ChatML
                                  * when it has none */
    const char *date;            /* "YYYY-MM-DD" the template's strftime_now sees (copied);
                                  * NULL: today */
    gptc_sampler_params sampler; /* gptc_chat_session_default_params: gptc_sampler_default_params */
    int n_predict;               /* most tokens per reply; -1: until the turn ends */
    int reasoning_budget;        /* tokens a reply may think before "</think>" is forced; 0: no
                                  * thinking (the template sees enable_thinking = false);
                                  * -1: unlimited */
    gptc_ctx_params ctx;         /* the session's own context (n_seq_max is ignored: 1) */
    int spec;                    /* speculative decoding (docs/speculative.md): 0 none, 1 prompt
                                  * lookup, 2 drafts from drafter; not for models with recurrent
                                  * state (GPTC_E_UNSUPPORTED) */
    int spec_n;                  /* most draft tokens per pass, 1..64; 0: 8 */
    int spec_ngram;              /* prompt lookup's longest matched suffix, 1..16; 0: 3 */
    gptc_drafter *drafter;       /* spec 2: borrowed, must outlive the session (its sequence 0) */
} gptc_chat_params;

/* What a piece of streamed reply is. */
typedef enum gptc_chat_piece {
    GPTC_CHAT_CONTENT = 0,   /* the answer's text */
    GPTC_CHAT_REASONING = 1, /* text inside the reply's thinking block (tags not included) */
    GPTC_CHAT_TOOL_CALL = 2, /* one whole tool call, at the end of the reply, as compact JSON:
                              * {"name":N,"arguments":A} (A an object, or the text when it is
                              * not JSON) */
} gptc_chat_piece;

/* Why a reply ended. */
typedef enum gptc_chat_stop {
    GPTC_CHAT_STOP_EOG = 0,   /* an end-of-turn token or string */
    GPTC_CHAT_STOP_LENGTH,    /* n_predict tokens */
    GPTC_CHAT_STOP_CTX_FULL,  /* the context is full */
    GPTC_CHAT_STOP_CANCELLED, /* on_piece or should_stop said stop */
    GPTC_CHAT_STOP_ERROR,     /* an error after the reply began (the status says which) */
} gptc_chat_stop;

typedef struct gptc_chat_stats {
    size_t n_prompt;     /* tokens of the rendered prompt */
    size_t n_cached;     /* of those, reused from the KV cache */
    size_t n_decoded;    /* of those, decoded for this reply (n_prompt - n_cached) */
    size_t n_reply;      /* tokens generated */
    int n_dropped;       /* messages dropped (oldest first) so that the prompt fits */
    gptc_chat_stop stop; /* why the reply ended */
    double reply_ms;     /* wall time of the generation (after the prompt) */
    size_t n_drafted, n_accepted, n_passes; /* speculative decoding: draft tokens verified,
                                             * accepted; decode passes of the reply */
} gptc_chat_stats;

/* Callbacks of one reply; each may be NULL. ud is passed back. */
typedef struct gptc_chat_callbacks {
    /* A piece of the reply as soon as it is known (text: n bytes, not NUL-terminated, valid until
     * the call returns). Nonzero stops the reply there (GPTC_CHAT_STOP_CANCELLED). */
    int (*on_piece)(void *ud, gptc_chat_piece kind, const char *text, size_t n);
    /* Once the prompt is known, before it is decoded: st has n_prompt, n_cached, n_decoded and
     * n_dropped (e.g. to tell the user that old turns were dropped). */
    void (*on_prompt)(void *ud, const gptc_chat_stats *st);
    /* Polled before each batch of the prompt and each generated token; nonzero stops (from
     * another thread or a signal handler's flag: this is the way to cancel). */
    int (*should_stop)(void *ud);
    void *ud;
} gptc_chat_callbacks;

/* sampler: gptc_sampler_default_params(); n_predict -1; reasoning_budget -1; ctx:
 * gptc_ctx_default_params(); everything else NULL. */
GPTC_API gptc_chat_params gptc_chat_session_default_params(void);
/* A session over model (borrowed: it must outlive the session); params NULL: the defaults.
 * Errors: GPTC_E_INVALID for NULL model or out, an embedding model, n_predict or
 * reasoning_budget below -1, or a system prompt that is not UTF-8; a template that does not
 * parse (GPTC_E_FORMAT, GPTC_E_UNSUPPORTED: "template: ..." with its line and column);
 * gptc_ctx_init's and gptc_sampler_init's errors; GPTC_E_NOMEM. *out is NULL on error.
 * OUT: *out, owned, free with gptc_chat_session_free. */
GPTC_API gptc_status gptc_chat_session_create(const gptc_model *model,
                                              const gptc_chat_params *params,
                                              gptc_chat_session **out /* OUT */, gptc_err *err);
GPTC_API void gptc_chat_session_free(gptc_chat_session *s); /* NULL is fine */

/* Append a message: role "user", "assistant" or "tool", content UTF-8 text (copied).
 * GPTC_E_INVALID for a NULL or unknown role ("system": use gptc_chat_session_set_system), NULL
 * content, an empty user message, or content that is not valid UTF-8. */
GPTC_API gptc_status gptc_chat_session_add(gptc_chat_session *s, const char *role,
                                           const char *content, gptc_err *err);
/* Generate the assistant's reply to the conversation (which must end with a user or tool
 * message: GPTC_E_INVALID otherwise), streaming it through cb (may be NULL), and append it to
 * the conversation as an assistant message (its raw text: thinking and tool-call markup
 * included, as the template expects it back). st (may be NULL) receives the statistics.
 * Errors before the reply begins leave no assistant message (the messages dropped to fit stay
 * dropped): GPTC_E_KV_FULL when the last message alone does not fit in the context,
 * GPTC_E_INVALID when the template refuses the conversation, GPTC_E_CANCELLED when should_stop
 * said so during the prompt, and gptc_decode's errors (the KV cache is then cleared). A reply
 * cut short by the callbacks, n_predict or a full context is GPTC_OK (st->stop says why). An
 * error after the reply began keeps the partial reply and returns its status. */
GPTC_API gptc_status gptc_chat_session_generate(gptc_chat_session *s, const gptc_chat_callbacks *cb,
                                                gptc_chat_stats *st /* OUT, may be NULL */,
                                                gptc_err *err);
/* Remove the last message (e.g. a user message whose reply failed); 0 if there was none
 * besides the system prompt, else 1. */
GPTC_API int gptc_chat_session_pop(gptc_chat_session *s);
/* Forget the conversation and the KV cache; the system prompt stays. */
GPTC_API void gptc_chat_session_clear(gptc_chat_session *s);
/* Set (copied), replace or, with NULL or "", remove the system prompt. GPTC_E_INVALID when text
 * is not valid UTF-8. */
GPTC_API gptc_status gptc_chat_session_set_system(gptc_chat_session *s, const char *text,
                                                  gptc_err *err);
/* New sampling parameters for the next replies (the sampler starts afresh: no penalty history).
 * On error (gptc_sampler_init's) the old ones stay. */
GPTC_API gptc_status gptc_chat_session_set_sampler(gptc_chat_session *s,
                                                   const gptc_sampler_params *p, gptc_err *err);
GPTC_API void gptc_chat_session_set_n_predict(gptc_chat_session *s, int n_predict);

/* The conversation: how many messages (the system prompt included), and the i-th one's role
 * and content (borrowed from the session: valid until it next changes the conversation).
 * GPTC_E_RANGE for i out of range. */
GPTC_API size_t gptc_chat_session_n_messages(const gptc_chat_session *s);
GPTC_API gptc_status gptc_chat_session_message(const gptc_chat_session *s, size_t i,
                                               const char **role /* OUT */,
                                               const char **content /* OUT */, gptc_err *err);
/* The conversation as a JSON array of message objects. OUT: *json, malloc'd, NUL-terminated,
 * free with free(). */
GPTC_API gptc_status gptc_chat_session_save_json(const gptc_chat_session *s, char **json /* OUT */,
                                                 gptc_err *err);
/* Replace the conversation with a JSON array of message objects (len bytes), or an object
 * whose "messages" is one; every message an object with a string "role" (further fields such as
 * tool_calls are kept for the template). GPTC_E_FORMAT otherwise; the conversation is then
 * unchanged. The KV cache is kept: the next reply reuses what still matches. */
GPTC_API gptc_status gptc_chat_session_load_json(gptc_chat_session *s, const char *json, size_t len,
                                                 gptc_err *err);
/* The context size in tokens, and how many tokens the KV cache holds now. */
GPTC_API int gptc_chat_session_n_ctx(const gptc_chat_session *s);
GPTC_API size_t gptc_chat_session_n_cached(const gptc_chat_session *s);
/* The template in use (Jinja source, borrowed from the session), and whether it is the ChatML
 * fallback for a model without one (is_fallback may be NULL). */
GPTC_API const char *gptc_chat_session_template(const gptc_chat_session *s, size_t *len /* OUT */,
                                                int *is_fallback /* OUT, may be NULL */);

#ifdef __cplusplus
}
#endif
#endif /* GPTC_H */

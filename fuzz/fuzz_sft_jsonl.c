/*
 * fuzz_sft_jsonl.c — libFuzzer target for the chat JSONL line parser of fine-tuning
 * (src/train/sft.c, gptc_sft_parse_line): arbitrary bytes, split at newlines, each line parsed,
 * validated, rendered with a chat template and tokenized (byte tokenizer). The first byte picks
 * the template (ChatML, Llama 3, Gemma, Mistral) and the window (16 or 512 tokens). Every line
 * ends in a conversation whose mask teaches at least one token and that fits the window, or in
 * an error with a message; nothing may crash, leak or overflow.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "format/gguf.h"
#include "fuzz.h"
#include "tokenizer/tokenizer.h"
#include "train/ckpt.h"
#include "train/sft.h"

static gptc_tokenizer *g_tok;
static gguf_file *g_gguf;

static const char *const k_tmpl[] = {"chatml", "llama3", "gemma", "mistral"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gptc_err err;
    if (!g_tok &&
        (gptc_tok_byte_gguf(&g_gguf, &err) || gptc_tokenizer_from_gguf(g_gguf, &g_tok, &err)))
        abort();
    if (size == 0) return 0;
    gptc_sft_opts o = {
        .tok = g_tok, .tmpl = gptc_chat_builtin(k_tmpl[data[0] & 3]), .T = data[0] & 4 ? 16 : 512};
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        int32_t *ids;
        uint8_t *learn;
        size_t n;
        memset(&err, 0, sizeof err);
        gptc_status s = gptc_sft_parse_line(&o, p, len, &ids, &learn, &n, &err);
        if (s == GPTC_OK) {
            size_t nl_ = 0;
            if (n == 0 || n > (size_t)o.T + 1) abort();
            for (size_t i = 0; i < n; i++) {
                if (ids[i] < 0 || ids[i] >= gptc_tok_n_vocab(g_tok) || learn[i] > 1) abort();
                nl_ += learn[i];
            }
            if (!nl_) abort(); /* a conversation must teach something */
            free(ids), free(learn);
        } else {
            if (ids || learn || !err.msg[0]) abort();
        }
        p += len + 1;
    }
    return 0;
}

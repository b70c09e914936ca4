/*
 * test_bench_ref.c — the reference-results reader of `gptc bench --compare`
 * (format/bench_ref.h): gptc's own entries, llama-bench's -o json and -o jsonl rows, which runs
 * an entry matches, and a table of bad files, each an error naming what is wrong.
 */
#include <string.h>

#include "format/bench_ref.h"
#include "test.h"

static int parse(const char *text, gptc_bench_ref **r, int *n, gptc_err *err)
{
    return gptc_bench_ref_parse(text, strlen(text), r, n, err) == GPTC_OK;
}

int main(void)
{
    gptc_err err;
    gptc_bench_ref *r = NULL;
    int n = 0;

    /* gptc's own form */
    CHECK(parse("[{\"model\": \"Llama-3.2-1B\", \"type\": \"Q4_K_M\", \"threads\": 2, \"depth\": "
                "4096, \"prefill_tok_s\": 124, \"decode_tok_s\": 37.1, \"source\": \"llama.cpp\", "
                "\"n_prompt\": 128, \"n_gen\": 64},\n {\"threads\": 1, \"decode_tok_s\": 5}]",
                &r, &n, &err),
          "gptc form parses: %s", err.msg);
    if (n == 2) {
        CHECK(!strcmp(r[0].model, "Llama-3.2-1B") && !strcmp(r[0].type, "Q4_K_M") &&
                  r[0].threads == 2 && r[0].depth == 4096 && r[0].prefill_ts == 124 &&
                  r[0].decode_ts == 37.1 && !strcmp(r[0].source, "llama.cpp") &&
                  r[0].n_prompt == 128 && r[0].n_gen == 64,
              "gptc form: every field read");
        CHECK(r[1].depth == 0 && r[1].prefill_ts == 0 && !r[1].model[0], "gptc form: defaults");
        CHECK(gptc_bench_ref_matches(&r[0], "/tmp/x/llama-3.2-1b-Q4_K_M.gguf", 2, 4096),
              "model and type match the base name, case and - _ . alike");
        CHECK(!gptc_bench_ref_matches(&r[0], "/tmp/x/llama-3.2-1b-Q8_0.gguf", 2, 4096),
              "another type does not match");
        CHECK(!gptc_bench_ref_matches(&r[0], "/Q4_K_M/llama-3.2-1b.gguf", 2, 4096),
              "only the base name is matched");
        CHECK(!gptc_bench_ref_matches(&r[0], "llama-3.2-1b-Q4_K_M.gguf", 1, 4096),
              "another thread count does not match");
        CHECK(!gptc_bench_ref_matches(&r[0], "llama-3.2-1b-Q4_K_M.gguf", 2, 0),
              "another depth does not match");
        CHECK(gptc_bench_ref_matches(&r[1], "anything.gguf", 1, 0), "no model: any file");
    } else
        CHECK(0, "gptc form: 2 entries, got %d", n);
    free(r);

    /* llama-bench -o json (a pp and a tg row; n_depth absent in older builds) and -o jsonl */
    static const char *lb =
        "[{\"build_commit\": \"82bb485\", \"build_number\": 6000, \"model_filename\": "
        "\"/m/Llama-Q4_K_M.gguf\", \"model_type\": \"llama 1B Q4_K - Medium\", \"n_threads\": 2, "
        "\"n_prompt\": 128, \"n_gen\": 0, \"avg_ts\": 124.5, \"samples_ts\": [124, 125]},"
        "{\"build_commit\": \"82bb485\", \"model_filename\": \"/m/Llama-Q4_K_M.gguf\", "
        "\"n_threads\": 2, \"n_prompt\": 0, \"n_gen\": 64, \"n_depth\": 512, \"avg_ts\": 37.1}]";
    CHECK(parse(lb, &r, &n, &err) && n == 2, "llama-bench json parses: %s", err.msg);
    if (n == 2) {
        CHECK(!strcmp(r[0].model, "Llama-Q4_K_M.gguf") && r[0].threads == 2 && r[0].depth == 0 &&
                  r[0].n_prompt == 128 && r[0].prefill_ts == 124.5 && r[0].decode_ts == 0 &&
                  !strcmp(r[0].source, "llama-bench 82bb485"),
              "llama-bench pp row");
        CHECK(r[1].depth == 512 && r[1].n_gen == 64 && r[1].decode_ts == 37.1 &&
                  r[1].prefill_ts == 0,
              "llama-bench tg row");
        CHECK(gptc_bench_ref_matches(&r[1], "/other/dir/Llama-Q4_K_M.gguf", 2, 512),
              "llama-bench row matches the same file name elsewhere");
    }
    free(r);
    CHECK(parse("{\"n_threads\": 1, \"n_prompt\": 0, \"n_gen\": 8, \"avg_ts\": 3}\n\n"
                "{\"threads\": 1, \"prefill_tok_s\": 9}\n",
                &r, &n, &err) &&
              n == 2 && r[0].decode_ts == 3 && r[1].prefill_ts == 9,
          "JSON Lines (both forms): %s", err.msg);
    free(r);

    /* bad files: each an error, nothing returned */
    static const struct {
        const char *text, *says;
    } bad[] = {
        {"", "empty"},
        {"  \n", "empty"},
        {"[]", "empty array"},
        {"[", "not JSON"},
        {"{\"threads\": 1, \"decode_tok_s\": 5,}", "not JSON"},
        {"[{\"threads\": 1, \"decode_tok_s\": 5}] [{\"threads\": 1, \"decode_tok_s\": 5}]",
         "whole file"},
        {"{\"threads\": 1, \"decode_tok_s\": 5}\n[{\"threads\": 1, \"decode_tok_s\": 5}]",
         "whole file"},
        {"[{\"threads\": 1, \"decode_tok_s\": 5}] x", "whole file"},
        {"[1]", "entry 1: not a JSON object"},
        {"[{\"threads\": 1, \"decode_tok_s\": 5}, \"x\"]", "entry 2: not a JSON object"},
        {"[{\"decode_tok_s\": 5}]", "no \"threads\""},
        {"[{\"threads\": 0, \"decode_tok_s\": 5}]", "\"threads\" must be an integer"},
        {"[{\"threads\": 1.5, \"decode_tok_s\": 5}]", "\"threads\" must be an integer"},
        {"[{\"threads\": \"2\", \"decode_tok_s\": 5}]", "\"threads\" must be an integer"},
        {"[{\"threads\": 1e30, \"decode_tok_s\": 5}]", "\"threads\" must be an integer"},
        {"[{\"threads\": 1, \"depth\": -1, \"decode_tok_s\": 5}]", "\"depth\" must be"},
        {"[{\"threads\": 1}]", "neither"},
        {"[{\"threads\": 1, \"decode_tok_s\": 0}]", "tokens/s > 0"},
        {"[{\"threads\": 1, \"decode_tok_s\": -3}]", "tokens/s > 0"},
        {"[{\"threads\": 1, \"decode_tok_s\": \"fast\"}]", "tokens/s > 0"},
        {"[{\"threads\": 1, \"decode_tok_s\": 5, \"decode_toks\": 1}]",
         "unknown key \"decode_toks\""},
        {"[{\"threads\": 1, \"decode_tok_s\": 5, \"model\": 3}]", "\"model\" must be a string"},
        {"[{\"threads\": 1, \"decode_tok_s\": 5, \"source\": \"a\\u0000b\"}]", "not JSON"},
        {"[{\"threads\": 1, \"decode_tok_s\": 5, \"threads\": 2}]", "not JSON"},
        {"[{\"n_threads\": 1, \"n_prompt\": 8, \"n_gen\": 8, \"avg_ts\": 3}]", "pp+tg"},
        {"[{\"n_threads\": 1, \"n_prompt\": 0, \"n_gen\": 0, \"avg_ts\": 3}]", "n_gen 0"},
        {"[{\"n_prompt\": 8, \"n_gen\": 0, \"avg_ts\": 3}]", "without \"n_threads\""},
        {"[{\"n_threads\": 1, \"n_prompt\": 8, \"n_gen\": 0, \"avg_ts\": null}]", "tokens/s > 0"},
        {"[{\"n_threads\": 1, \"n_prompt\": 8, \"n_gen\": 0, \"avg_ts\": 3, \"model_filename\": "
         "7}]",
         "\"model_filename\" must be a string"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = (gptc_bench_ref *)&err; /* must come back NULL */
        n = -1;
        gptc_err_clear(&err);
        gptc_status st = gptc_bench_ref_parse(bad[i].text, strlen(bad[i].text), &r, &n, &err);
        CHECK(st == GPTC_E_FORMAT && !r && n == 0 && strstr(err.msg, bad[i].says),
              "bad %zu (%s): status %d, message '%s' should say '%s'", i, bad[i].text, (int)st,
              err.msg, bad[i].says);
    }
    /* a NUL inside the bytes */
    static const char nul[] = "[{\"threads\": 1, \"decode_tok_s\": 5}]\0x";
    CHECK(gptc_bench_ref_parse(nul, sizeof nul - 1, &r, &n, &err) == GPTC_E_FORMAT && !r,
          "a NUL byte is an error");
    return test_summary();
}

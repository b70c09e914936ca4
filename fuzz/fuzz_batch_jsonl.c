/*
 * fuzz_batch_jsonl.c — libFuzzer target for the Batch API input parser (src/server/
 * batch_input.c): arbitrary bytes as a JSONL input file through gptc_srv_batch_validate, and each
 * line through gptc_srv_batch_parse_line. Every input ends in requests or per-line errors of the
 * documented shape; nothing may crash, leak or overflow.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *errors = json_array();
    gptc_store_req *reqs = NULL;
    int n = 0;
    const char *ep = size && (data[0] & 1) ? "/v1/completions" : "/v1/chat/completions";
    if (gptc_srv_batch_validate((const char *)data, size, ep, (size && (data[0] & 2)) ? "m" : NULL,
                                64, 4096, &reqs, &n, errors) == 0) {
        if (json_array_size(errors) == 0 && n == 0) abort(); /* an empty file is an error */
        if (json_array_size(errors) > 0 && reqs) abort();
        size_t i;
        json_t *e;
        json_array_foreach(errors, i, e)
        {
            if (!json_is_string(json_object_get(e, "code")) ||
                !json_is_string(json_object_get(e, "message")))
                abort();
        }
        for (int k = 0; k < n; k++)
            if (!reqs[k].body || !reqs[k].custom_id[0]) abort();
    }
    gptc_store_reqs_free(reqs, n);
    json_decref(errors);
    char cid[240], msg[256];
    json_t *body = NULL;
    const char *code, *param;
    if (gptc_srv_batch_parse_line((const char *)data, size, ep, NULL, cid, sizeof cid, &body, &code,
                                  msg, sizeof msg, &param) == 0) {
        if (!json_is_object(body)) abort();
        json_decref(body);
    }
    return 0;
}

/*
 * fuzz_web.c — the web pages' parsers of request bytes (src/server/ui.c): the file-name check
 * of a URL path, If-None-Match against an ETag, Accept-Encoding for gzip.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/ui.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    if (gptc_web_name_ok(s)) {
        /* an accepted name has no way out of its directory */
        if (strchr(s, '/') || s[0] == '.' || strlen(s) > 100) abort();
        (void)gptc_web_find(s);
        (void)gptc_web_type(s);
    }
    (void)gptc_web_etag_in(s, "\"1234abcd-10\"");
    (void)gptc_web_gzip_ok(s);
    free(s);
    return 0;
}

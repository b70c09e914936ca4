/*
 * test_web.c — the compiled-in web pages (src/server/ui.c, scripts/embed-web.sh): every file
 * is there, compressed bytes are gzip and as long as they say, types by extension, the CSP
 * allows no inline script and no other origin, and the file-name check refuses every way out
 * of the page's directory. The pages in a browser: tests/e2e/test_web.sh.
 */
#include <string.h>

#include "server/ui.h"
#include "test.h"

int main(void)
{
    const char *need[] = {"index.html", "chat.js",  "md.js",      "style.css",
                          "train.html", "train.js", "favicon.svg"};
    for (size_t i = 0; i < sizeof need / sizeof *need; i++) {
        const gptc_web_asset *a = gptc_web_find(need[i]);
        CHECK(a != NULL, "asset %s compiled in", need[i]);
        if (!a) continue;
        CHECK(a->gz_len > 18 && a->gz[0] == 0x1f && a->gz[1] == 0x8b, "%s: gzip bytes", need[i]);
        /* gzip's trailer: the uncompressed length mod 2^32, little-endian */
        const unsigned char *t = a->gz + a->gz_len - 4;
        size_t isize = t[0] | t[1] << 8 | t[2] << 16 | (size_t)t[3] << 24;
        CHECK(isize == a->raw_len, "%s: gzip length %zu = raw %zu", need[i], isize, a->raw_len);
        CHECK(a->etag[0] == '"' && a->etag[strlen(a->etag) - 1] == '"', "%s: quoted ETag", need[i]);
        CHECK(a->raw[a->raw_len] == 0, "%s: raw bytes end in a NUL past the length", need[i]);
    }
    const gptc_web_asset *idx = gptc_web_find("index.html");
    CHECK(idx && !strstr((const char *)idx->raw, "<script>") &&
              !strstr((const char *)idx->raw, "style=\""),
          "index.html: no inline script or style");
    CHECK(gptc_web_find("nope.js") == NULL, "no such asset");
    for (int i = 0; i < gptc_web_n_assets; i++)
        for (int k = i + 1; k < gptc_web_n_assets; k++)
            CHECK(strcmp(gptc_web_assets[i].etag, gptc_web_assets[k].etag) != 0,
                  "distinct ETags: %s %s", gptc_web_assets[i].name, gptc_web_assets[k].name);

    CHECK(strcmp(gptc_web_type("a.html"), "text/html; charset=utf-8") == 0, "html type");
    CHECK(strcmp(gptc_web_type("a.js"), "text/javascript; charset=utf-8") == 0, "js type");
    CHECK(strcmp(gptc_web_type("a.css"), "text/css; charset=utf-8") == 0, "css type");
    CHECK(strcmp(gptc_web_type("a.svg"), "image/svg+xml") == 0, "svg type");
    CHECK(strcmp(gptc_web_type("Makefile"), "application/octet-stream") == 0, "unknown type");

    CHECK(strstr(GPTC_WEB_CSP, "default-src 'none'") && strstr(GPTC_WEB_CSP, "script-src 'self'") &&
              !strstr(GPTC_WEB_CSP, "unsafe") && !strstr(GPTC_WEB_CSP, "http") &&
              !strstr(GPTC_WEB_CSP, "*"),
          "CSP: own origin only, nothing unsafe");

    /* clang-format off */
    static const char *k_bad[] = {
        "", ".", "..", "../x", "..%2f", "a/b", "/etc/passwd", ".hidden", "a\\b", "a b", "a%2e",
        "a\nb", "index.html?x", "x#y", "\xc3\xa9.js", "~", "a:b",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    };
    static const char *k_good[] = {"index.html", "chat.js", "a-b_c.1.css", "favicon.svg", "x..y"};
    /* clang-format on */
    for (size_t i = 0; i < sizeof k_bad / sizeof *k_bad; i++)
        CHECK(!gptc_web_name_ok(k_bad[i]), "name refused: '%s'", k_bad[i]);
    for (size_t i = 0; i < sizeof k_good / sizeof *k_good; i++)
        CHECK(gptc_web_name_ok(k_good[i]), "name accepted: '%s'", k_good[i]);
    /* If-None-Match and Accept-Encoding */
    const char *e = "\"ab-12\"";
    CHECK(gptc_web_etag_in("\"ab-12\"", e) && gptc_web_etag_in("W/\"ab-12\"", e) &&
              gptc_web_etag_in("\"x\", \"ab-12\"", e) && gptc_web_etag_in("*", e),
          "If-None-Match matches");
    CHECK(!gptc_web_etag_in(NULL, e) && !gptc_web_etag_in("", e) &&
              !gptc_web_etag_in("\"ab-123\"", e) && !gptc_web_etag_in("ab-12", e),
          "If-None-Match does not match");
    CHECK(gptc_web_gzip_ok("gzip") && gptc_web_gzip_ok("gzip, deflate, br") &&
              gptc_web_gzip_ok("br;q=1, gzip;q=0.5") && gptc_web_gzip_ok("gzip;q=1, br;q=0"),
          "gzip accepted");
    CHECK(!gptc_web_gzip_ok(NULL) && !gptc_web_gzip_ok("br") && !gptc_web_gzip_ok("gzip;q=0") &&
              !gptc_web_gzip_ok("gzip; q=0.0, br") && !gptc_web_gzip_ok("x-gzipx"),
          "gzip refused");
    return test_summary();
}

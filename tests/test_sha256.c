/* test_sha256.c — SHA-256 against FIPS 180-4's examples, fed whole and in odd pieces, and the
 * shipped tiktoken rank files against their published digests (share/gptc/tiktoken/SHA256SUMS). */
#include <string.h>

#include "core/sha256.h"
#include "test.h"

static void hex_of(const uint8_t d[32], char hex[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static void check_vector(const char *msg, size_t len, const char *want)
{
    char hex[65];
    gptc_sha256_hex(msg, len, hex);
    CHECK(strcmp(hex, want) == 0, "sha256 of %zu bytes: %s, expected %s", len, hex, want);
    /* the same bytes in pieces of 1, 3, 63, 64 and 65 bytes */
    static const size_t pieces[] = {1, 3, 63, 64, 65};
    for (size_t k = 0; k < sizeof pieces / sizeof pieces[0]; k++) {
        gptc_sha256_ctx c;
        uint8_t d[32];
        gptc_sha256_init(&c);
        for (size_t i = 0; i < len; i += pieces[k])
            gptc_sha256_update(&c, msg + i, len - i < pieces[k] ? len - i : pieces[k]);
        gptc_sha256_final(&c, d);
        hex_of(d, hex);
        CHECK(strcmp(hex, want) == 0, "sha256 of %zu bytes in pieces of %zu: %s", len, pieces[k],
              hex);
    }
}

static void check_shipped(void)
{
    FILE *sums = fopen("share/gptc/tiktoken/SHA256SUMS", "r");
    CHECK(sums != NULL, "share/gptc/tiktoken/SHA256SUMS is readable (run from the repository)");
    if (!sums) return;
    char want[65], name[256], path[512];
    int n = 0;
    while (fscanf(sums, "%64s %255s", want, name) == 2) {
        snprintf(path, sizeof path, "share/gptc/tiktoken/%s", name);
        FILE *f = fopen(path, "rb");
        CHECK(f != NULL, "%s is readable", path);
        if (!f) continue;
        gptc_sha256_ctx c;
        uint8_t d[32], buf[4096];
        size_t got;
        gptc_sha256_init(&c);
        while ((got = fread(buf, 1, sizeof buf, f)) > 0)
            gptc_sha256_update(&c, buf, got);
        fclose(f);
        gptc_sha256_final(&c, d);
        char hex[65];
        hex_of(d, hex);
        CHECK(strcmp(hex, want) == 0, "%s: %s, expected %s", path, hex, want);
        n++;
    }
    fclose(sums);
    CHECK(n == 4, "four shipped rank files, got %d", n);
}

int main(void)
{
    check_vector("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check_vector("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_vector(two, strlen(two),
                 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* 55, 56, 63 and 64 bytes: the padding boundaries */
    static char a[1000000];
    memset(a, 'a', sizeof a);
    check_vector(a, 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
    check_vector(a, 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
    check_vector(a, 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
    check_vector(a, sizeof a, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    check_shipped();
    return test_summary();
}

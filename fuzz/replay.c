/*
 * replay.c — runs a libFuzzer target over saved inputs without libFuzzer, so that every
 * `make test` and `make san` feeds each target its seeds (fuzz/seeds/<target>/) and every input
 * that once crashed it (fuzz/crashes/<target>/). Linked with one fuzz/fuzz_*.c, it becomes
 * BUILD/fuzz/replay_<target>:
 *
 *   build/fuzz/replay_fuzz_gguf fuzz/seeds/fuzz_gguf fuzz/crashes/fuzz_gguf
 *
 * Each argument is a directory (every regular file in it, in name order; a missing directory
 * is skipped) or a file. An input passes when the target returns (0, or -1: "do not add to the
 * corpus"); a crash or sanitizer report ends the process, which the test runner counts as a
 * failure. The last line is "N passed, N failed".
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int n_pass, n_fail;

static void run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("FAIL %s: %s\n", path, strerror(errno));
        n_fail++;
        return;
    }
    size_t cap = 1 << 16, n = 0, got;
    uint8_t *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            uint8_t *b2 = realloc(buf, cap *= 2);
            if (!b2) {
                free(buf);
                buf = NULL;
            }
            buf = b2;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        printf("FAIL %s: %s\n", path, buf ? "read error" : "out of memory");
        free(buf);
        n_fail++;
        return;
    }
    /* an exact-size copy, so that a read past the end of the input is caught by ASan */
    uint8_t *in = malloc(n ? n : 1);
    if (!in) {
        printf("FAIL %s: out of memory\n", path);
        free(buf);
        n_fail++;
        return;
    }
    memcpy(in, buf, n);
    free(buf);
    int rc = LLVMFuzzerTestOneInput(in, n);
    free(in);
    if (rc == 0 || rc == -1) {
        n_pass++;
    } else {
        printf("FAIL %s: the target returned %d\n", path, rc);
        n_fail++;
    }
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return; /* fuzz/crashes/<target> exists only once something crashed */
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            char **n2 = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names);
            if (!n2) break;
            names = n2;
        }
        if (!(names[n] = strdup(e->d_name))) break;
        n++;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) run_file(path);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISREG(st.st_mode))
            run_file(argv[i]);
        else
            run_dir(argv[i]);
    }
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}

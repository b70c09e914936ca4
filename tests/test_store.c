/*
 * test_store.c — src/store: the data directory (mode 0700, lock), schema version and migration,
 * refusal of a non-SQLite file and of a future schema, files written atomically and listed with
 * pagination, batches and their request rows, stored responses, ids that could escape the
 * directory, and what survives closing and reopening.
 */
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "test.h"

static char g_root[256];

static void rm_rf(const char *p)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    if (system(cmd) != 0) fprintf(stderr, "rm -rf %s failed\n", p);
}

static int count_entries(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
    FILE *f = popen(cmd, "r");
    int n = -1;
    if (f) {
        if (fscanf(f, "%d", &n) != 1) n = -1;
        pclose(f);
    }
    return n;
}

static void test_ids(void)
{
    static const struct {
        const char *id, *prefix;
        int ok;
    } cases[] = {
        {"file-abc", "file-", 1},
        {"file-A_b-9", "file-", 1},
        {"file-", "file-", 0},
        {"file-../../etc/passwd", "file-", 0},
        {"file-a/b", "file-", 0},
        {"file-a.b", "file-", 0},
        {"../file-a", "file-", 0},
        {"file-a%2f", "file-", 0},
        {"file-a\nb", "file-", 0},
        {"batch_x", "file-", 0},
        {"batch_x", "batch_", 1},
        {"file-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "file-", 0},
        {"", "file-", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(gptc_store_id_ok(cases[i].id, cases[i].prefix) == cases[i].ok, "id_ok('%s') == %d",
              cases[i].id, cases[i].ok);
    char a[64], b[64];
    gptc_store_new_id("file-", a, sizeof a);
    gptc_store_new_id("file-", b, sizeof b);
    CHECK(gptc_store_id_ok(a, "file-") && strcmp(a, b) != 0, "new ids are valid and differ");
}

static void test_open_refusals(void)
{
    char dir[400], p[500];
    gptc_err err;
    gptc_store *st = NULL;
    /* a file that is not SQLite */
    snprintf(dir, sizeof dir, "%s/notdb", g_root);
    mkdir(dir, 0700);
    snprintf(p, sizeof p, "%s/gptc.db", dir);
    FILE *f = fopen(p, "wb");
    for (int i = 0; i < 200; i++)
        fputs("this is not a database, just text. ", f);
    fclose(f);
    CHECK(gptc_store_open(dir, &st, &err) != GPTC_OK && !st, "a non-SQLite file is refused");
    CHECK(strstr(err.msg, "not an SQLite database") != NULL, "says so: %s", err.msg);

    /* a future schema version */
    snprintf(dir, sizeof dir, "%s/future", g_root);
    mkdir(dir, 0700);
    snprintf(p, sizeof p, "%s/gptc.db", dir);
    sqlite3 *db;
    sqlite3_open(p, &db);
    sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL);
    sqlite3_close(db);
    CHECK(gptc_store_open(dir, &st, &err) != GPTC_OK && !st, "a future schema is refused");
    CHECK(strstr(err.msg, "schema version 99") != NULL, "says so: %s", err.msg);

    /* a data directory that is a file */
    snprintf(dir, sizeof dir, "%s/afile", g_root);
    f = fopen(dir, "wb");
    fclose(f);
    CHECK(gptc_store_open(dir, &st, &err) != GPTC_OK, "a file as data dir is refused: %s", err.msg);
    CHECK(gptc_store_open("", &st, &err) != GPTC_OK, "an empty path is refused");
}

static void test_files(void)
{
    char dir[400];
    snprintf(dir, sizeof dir, "%s/data/nested", g_root);
    gptc_err err;
    gptc_store *st = NULL;
    CHECK(gptc_store_open(dir, &st, &err) == GPTC_OK, "open a new nested dir: %s", err.msg);
    if (!st) return;
    struct stat sb;
    CHECK(stat(dir, &sb) == 0 && (sb.st_mode & 0777) == 0700, "created 0700 (%o)",
          sb.st_mode & 0777);
    /* a second open of the same directory is refused (the lock) */
    gptc_store *st2 = NULL;
    CHECK(gptc_store_open(dir, &st2, &err) != GPTC_OK && strstr(err.msg, "in use"),
          "a second process is refused: %s", err.msg);

    char msg[128];
    CHECK(gptc_store_integrity(st, msg, sizeof msg) == 0, "integrity ok: %s", msg);

    gptc_store_file f[5];
    for (int i = 0; i < 5; i++) {
        memset(&f[i], 0, sizeof f[i]);
        snprintf(f[i].purpose, sizeof f[i].purpose, "%s", i % 2 ? "user_data" : "batch");
        snprintf(f[i].filename, sizeof f[i].filename, "f%d.jsonl", i);
        char data[32];
        int n = snprintf(data, sizeof data, "content %d\n", i);
        CHECK(gptc_store_file_put(st, data, (size_t)n, &f[i], &err) == GPTC_OK, "put %d: %s", i,
              err.msg);
        CHECK(f[i].bytes == n, "bytes %d", i);
    }
    char tmpdir[500];
    snprintf(tmpdir, sizeof tmpdir, "%s/tmp", dir);
    CHECK(count_entries(tmpdir) == 0, "no temporaries left");
    gptc_store_file g;
    CHECK(gptc_store_file_get(st, f[2].id, &g, &err) == 1 && strcmp(g.filename, "f2.jsonl") == 0,
          "get");
    CHECK(gptc_store_file_get(st, "file-nothere", &g, &err) == 0, "unknown id");
    CHECK(gptc_store_file_get(st, "file-../../gptc.db", &g, &err) == 0, "traversal id");
    char *data;
    size_t n;
    CHECK(gptc_store_file_read(st, f[3].id, &data, &n, &err) == 1 && n == 10 &&
              memcmp(data, "content 3\n", 10) == 0,
          "read back");
    free(data);

    /* pagination, newest first */
    gptc_store_file *list;
    int cnt, more;
    CHECK(gptc_store_file_list(st, NULL, 2, NULL, &list, &cnt, &more, &err) == GPTC_OK &&
              cnt == 2 && more && strcmp(list[0].id, f[4].id) == 0 &&
              strcmp(list[1].id, f[3].id) == 0,
          "first page");
    char after[GPTC_STORE_ID_MAX];
    snprintf(after, sizeof after, "%s", list[1].id);
    free(list);
    CHECK(gptc_store_file_list(st, after, 10, NULL, &list, &cnt, &more, &err) == GPTC_OK &&
              cnt == 3 && !more && strcmp(list[0].id, f[2].id) == 0,
          "second page");
    free(list);
    CHECK(gptc_store_file_list(st, NULL, 10, "user_data", &list, &cnt, &more, &err) == GPTC_OK &&
              cnt == 2,
          "by purpose");
    free(list);

    CHECK(gptc_store_file_delete(st, f[0].id, &err) == 1, "delete");
    CHECK(gptc_store_file_delete(st, f[0].id, &err) == 0, "delete twice");
    CHECK(gptc_store_file_delete(st, "file-../lock", &err) == 0, "delete traversal");
    char files[500];
    snprintf(files, sizeof files, "%s/files", dir);
    CHECK(count_entries(files) == 4, "bytes removed with the row");

    /* an upload left half-written is gone after reopening */
    gptc_store_upload up;
    CHECK(gptc_store_upload_begin(st, &up, &err) == GPTC_OK, "upload begin");
    gptc_store_upload_write(&up, "partial", 7);
    close(up.fd);
    gptc_store_close(st);
    st = NULL;
    CHECK(gptc_store_open(dir, &st, &err) == GPTC_OK, "reopen: %s", err.msg);
    CHECK(count_entries(tmpdir) == 0, "temporaries removed at open");
    CHECK(gptc_store_file_get(st, f[4].id, &g, &err) == 1, "files survive reopening");

    /* batches and requests */
    gptc_store_batch b = {0};
    snprintf(b.id, sizeof b.id, "batch_one");
    snprintf(b.endpoint, sizeof b.endpoint, "/v1/chat/completions");
    snprintf(b.input_file_id, sizeof b.input_file_id, "%s", f[4].id);
    snprintf(b.completion_window, sizeof b.completion_window, "24h");
    snprintf(b.status, sizeof b.status, "validating");
    b.metadata = "{\"k\":\"v\"}";
    b.created_at = 1000;
    b.expires_at = 1000 + 86400;
    CHECK(gptc_store_batch_create(st, &b, &err) == GPTC_OK, "create batch: %s", err.msg);
    CHECK(gptc_store_batch_create(st, &b, &err) != GPTC_OK, "duplicate batch id refused");
    gptc_store_req reqs[3] = {{0, "a", "{}", 0}, {1, "b", "{}", 0}, {2, "c", "{}", 0}};
    CHECK(gptc_store_batch_start(st, "batch_one", reqs, 3, &err) == 1, "start");
    CHECK(gptc_store_batch_start(st, "batch_one", reqs, 3, &err) == 0, "start only once");
    gptc_store_req *pend;
    int np;
    int64_t skip[1] = {0};
    CHECK(gptc_store_req_pending(st, "batch_one", 10, skip, 1, &pend, &np, &err) == GPTC_OK &&
              np == 2 && strcmp(pend[0].custom_id, "b") == 0,
          "pending skips in-flight lines");
    gptc_store_reqs_free(pend, np);
    CHECK(gptc_store_req_finish(st, "batch_one", "a", GPTC_REQ_OK, &err) == 1, "finish a");
    CHECK(gptc_store_req_finish(st, "batch_one", "a", GPTC_REQ_OK, &err) == 0, "finish a twice");
    CHECK(gptc_store_req_finish(st, "batch_one", "c", GPTC_REQ_FAILED, &err) == 1, "fail c");
    gptc_store_batch got;
    CHECK(gptc_store_batch_get(st, "batch_one", &got, &err) == 1 && got.total == 3 &&
              got.completed == 1 && got.failed == 1 && strcmp(got.status, "in_progress") == 0 &&
              got.in_progress_at > 0 && got.metadata && strcmp(got.metadata, b.metadata) == 0,
          "batch counts and status");
    gptc_store_batch_clear(&got);
    const char *from[] = {"validating", "in_progress", NULL};
    CHECK(gptc_store_batch_move(st, "batch_one", from, "cancelling", &err) == 1, "cancel");
    CHECK(gptc_store_batch_move(st, "batch_one", from, "cancelling", &err) == 0, "cancel twice");
    CHECK(gptc_store_batch_move(st, "batch_one", from, "bogus", &err) == -1, "unknown status");
    const char *want[] = {"cancelling"};
    char(*ids)[GPTC_STORE_ID_MAX];
    int nid;
    CHECK(gptc_store_batch_ids(st, want, 1, &ids, &nid, &err) == GPTC_OK && nid == 1 &&
              strcmp(ids[0], "batch_one") == 0,
          "ids by status");
    free(ids);
    CHECK(gptc_store_batch_get(st, "batch_../x", &got, &err) == 0, "traversal batch id");

    /* responses */
    CHECK(gptc_store_response_put(st, "resp_1", "{\"id\":\"resp_1\"}", "[]", "[]", &err) == GPTC_OK,
          "put response");
    char *obj = NULL;
    CHECK(gptc_store_response_get(st, "resp_1", &obj, NULL, NULL, &err) == 1 && obj &&
              strstr(obj, "resp_1"),
          "get response");
    free(obj);
    CHECK(gptc_store_response_delete(st, "resp_1", &err) == 1, "delete response");
    CHECK(gptc_store_response_get(st, "resp_1", &obj, NULL, NULL, &err) == 0, "deleted");
    CHECK(gptc_store_integrity(st, msg, sizeof msg) == 0, "integrity ok at the end: %s", msg);
    gptc_store_close(st);

    /* an old schema (version 0, empty) is migrated: the database opens and has our tables */
    char d0[400], p[500];
    snprintf(d0, sizeof d0, "%s/old", g_root);
    mkdir(d0, 0700);
    snprintf(p, sizeof p, "%s/gptc.db", d0);
    sqlite3 *db;
    sqlite3_open(p, &db);
    sqlite3_exec(db, "CREATE TABLE unrelated(x)", NULL, NULL, NULL);
    sqlite3_close(db);
    CHECK(gptc_store_open(d0, &st, &err) == GPTC_OK, "version 0 migrates: %s", err.msg);
    if (st) {
        CHECK(gptc_store_file_list(st, NULL, 5, NULL, &list, &cnt, &more, &err) == GPTC_OK &&
                  cnt == 0,
              "migrated tables work");
        free(list);
        gptc_store_close(st);
    }
    sqlite3_open(p, &db);
    sqlite3_stmt *s;
    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL);
    sqlite3_step(s);
    CHECK(sqlite3_column_int(s, 0) == GPTC_STORE_SCHEMA, "user_version is now %d",
          GPTC_STORE_SCHEMA);
    sqlite3_finalize(s);
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL);
    sqlite3_step(s);
    CHECK(strcmp((const char *)sqlite3_column_text(s, 0), "wal") == 0, "WAL mode");
    sqlite3_finalize(s);
    sqlite3_close(db);
}

int main(void)
{
    snprintf(g_root, sizeof g_root, "/tmp/gptc_test_store_%d", (int)getpid());
    rm_rf(g_root);
    mkdir(g_root, 0700);
    test_ids();
    test_open_refusals();
    test_files();
    rm_rf(g_root);
    return test_summary();
}

/*
 * test_chat_session.c — the chat session API (gptc_chat_session_*, src/chat/session.c) on real
 * small models from ../shared/data, through include/gptc.h alone:
 *   1. stories260K (ChatML fallback): three turns; turns 2 and 3 decode fewer tokens than their
 *      prompt (the cache holds the rest) and each greedy reply equals a cold session's reply
 *      on the same history; the streamed pieces add up to the reply; save/load round trip.
 *   2. a tiny context: the oldest turns are dropped (the system prompt stays), every prompt
 *      leaves room for a reply, and a message larger than the context is GPTC_E_KV_FULL.
 *   3. hybrid models (lfm2 with the LFM2.5 template, qwen35 with ChatML): reuse through the
 *      recurrent-state checkpoint gives the cold reply; qwen35 with DeepSeek-R1's template
 *      streams reasoning pieces.
 *   4. bad arguments and refusals: NULL, empty and non-UTF-8 messages, roles, a conversation
 *      that does not end with the user, a bad template, an embedding model, bad JSON, bad
 *      sampler parameters; cancelling from should_stop and from on_piece; n_predict.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gptc.h"
#include "test.h"

typedef struct collect {
    char text[8192];
    size_t n;
    int n_pieces, n_reasoning, n_calls;
    int stop_after; /* on_piece: stop after this many pieces (0: never) */
    int n_prompt_calls;
    gptc_chat_stats at_prompt;
} collect;

static int on_piece(void *ud, gptc_chat_piece kind, const char *t, size_t n)
{
    collect *c = ud;
    c->n_pieces++;
    if (kind == GPTC_CHAT_REASONING) c->n_reasoning++;
    if (kind == GPTC_CHAT_TOOL_CALL) c->n_calls++;
    if (kind == GPTC_CHAT_CONTENT && c->n + n < sizeof c->text) {
        memcpy(c->text + c->n, t, n);
        c->n += n;
        c->text[c->n] = '\0';
    }
    return c->stop_after && c->n_pieces >= c->stop_after;
}

static void on_prompt(void *ud, const gptc_chat_stats *st)
{
    collect *c = ud;
    c->n_prompt_calls++;
    c->at_prompt = *st;
}

static int stop_now(void *ud)
{
    (void)ud;
    return 1;
}

static gptc_model *load(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", test_data_dir(), name);
    gptc_model_params mp = gptc_model_default_params();
    gptc_model *m = NULL;
    gptc_err err;
    if (gptc_model_load(path, &mp, &m, &err)) {
        printf("FAIL: cannot load %s: %s\n", path, err.msg);
        return NULL;
    }
    return m;
}

static gptc_chat_params greedy(int n_ctx, int n_predict)
{
    gptc_chat_params p = gptc_chat_session_default_params();
    p.sampler.temp = 0;
    p.n_predict = n_predict;
    p.ctx.n_ctx = n_ctx;
    p.ctx.n_threads = 1;
    p.date = "2025-01-02";
    return p;
}

/* the content of the session's last message (borrowed) */
static const char *last_content(const gptc_chat_session *s, const char **role)
{
    const char *r = NULL, *c = NULL;
    size_t n = gptc_chat_session_n_messages(s);
    if (n) gptc_chat_session_message(s, n - 1, &r, &c, NULL);
    if (role) *role = r;
    return c ? c : "";
}

/* A conversation of len(users) turns in one session; each reply from turn 2 on is compared with
 * a cold session's on the same history, and must have reused part of its prompt. */
static void multi_turn(const char *what, const gptc_model *m, const gptc_chat_params *p,
                       const char *const *users, int n_users, int check_pieces)
{
    gptc_err err;
    gptc_chat_session *s = NULL;
    gptc_status st = gptc_chat_session_create(m, p, &s, &err);
    CHECK(st == GPTC_OK, "%s: create: %s", what, err.msg);
    if (st) return;
    for (int t = 0; t < n_users; t++) {
        CHECK(gptc_chat_session_add(s, "user", users[t], &err) == GPTC_OK, "%s: add: %s", what,
              err.msg);
        /* the history to replay cold: everything up to and including this user message */
        char *hist = NULL;
        gptc_chat_session_save_json(s, &hist, &err);
        collect c = {0};
        gptc_chat_callbacks cb = {.on_piece = on_piece, .on_prompt = on_prompt, .ud = &c};
        gptc_chat_stats warm;
        st = gptc_chat_session_generate(s, &cb, &warm, &err);
        CHECK(st == GPTC_OK, "%s turn %d: generate: %s", what, t + 1, err.msg);
        const char *role;
        const char *reply = last_content(s, &role);
        CHECK(role && !strcmp(role, "assistant"), "%s turn %d: the reply is appended", what, t + 1);
        CHECK(warm.n_prompt == warm.n_cached + warm.n_decoded && warm.n_reply > 0,
              "%s turn %d: stats %zu = %zu + %zu, reply %zu", what, t + 1, warm.n_prompt,
              warm.n_cached, warm.n_decoded, warm.n_reply);
        CHECK(c.n_prompt_calls == 1 && c.at_prompt.n_prompt == warm.n_prompt &&
                  c.at_prompt.n_cached == warm.n_cached,
              "%s turn %d: on_prompt once with the prompt's stats", what, t + 1);
        if (check_pieces)
            CHECK(!strcmp(c.text, reply), "%s turn %d: pieces '%s' = reply '%s'", what, t + 1,
                  c.text, reply);
        CHECK(gptc_chat_session_n_cached(s) <= (size_t)gptc_chat_session_n_ctx(s),
              "%s: cache within the context", what);
        if (t > 0) {
            CHECK(warm.n_cached > 0 && warm.n_decoded < warm.n_prompt,
                  "%s turn %d: reuses the cache (%zu of %zu decoded)", what, t + 1, warm.n_decoded,
                  warm.n_prompt);
            gptc_chat_session *cold = NULL;
            gptc_chat_params pc = *p;
            pc.system = NULL; /* the history has it */
            st = gptc_chat_session_create(m, &pc, &cold, &err);
            CHECK(st == GPTC_OK, "%s: cold create: %s", what, err.msg);
            if (!st) {
                CHECK(gptc_chat_session_load_json(cold, hist, strlen(hist), &err) == GPTC_OK,
                      "%s: load: %s", what, err.msg);
                gptc_chat_stats cs;
                st = gptc_chat_session_generate(cold, NULL, &cs, &err);
                CHECK(st == GPTC_OK, "%s: cold generate: %s", what, err.msg);
                CHECK(cs.n_cached == 0 && cs.n_prompt == warm.n_prompt,
                      "%s turn %d: cold prompt %zu (%zu cached), warm %zu", what, t + 1,
                      cs.n_prompt, cs.n_cached, warm.n_prompt);
                const char *cold_reply = last_content(cold, NULL);
                CHECK(!strcmp(cold_reply, reply), "%s turn %d: warm reply '%s' = cold '%s'", what,
                      t + 1, reply, cold_reply);
            }
            gptc_chat_session_free(cold);
        }
        free(hist);
    }
    CHECK(gptc_chat_session_n_messages(s) == (size_t)(2 * n_users + (p->system ? 1 : 0)),
          "%s: %zu messages", what, gptc_chat_session_n_messages(s));
    gptc_chat_session_free(s);
}

static const char *const k_users[] = {"Hello there", "Once upon a time", "Tell me more"};

static void test_stories(const gptc_model *m)
{
    gptc_chat_params p = greedy(2048, 24);
    multi_turn("stories260K", m, &p, k_users, 3, 1);
    p.system = "You are a storyteller.";
    multi_turn("stories260K + system", m, &p, k_users, 2, 1);

    /* the fallback template, history, save/load, clear */
    gptc_err err;
    gptc_chat_session *s = NULL;
    CHECK(gptc_chat_session_create(m, &p, &s, &err) == GPTC_OK, "create: %s", err.msg);
    if (!s) return;
    int fb = 0;
    size_t n_tmpl = 0;
    const char *tmpl = gptc_chat_session_template(s, &n_tmpl, &fb);
    CHECK(fb == 1 && tmpl && strstr(tmpl, "<|im_start|>") && n_tmpl == strlen(tmpl),
          "stories260K has no template: ChatML fallback");
    const char *role, *content;
    CHECK(gptc_chat_session_n_messages(s) == 1 &&
              gptc_chat_session_message(s, 0, &role, &content, &err) == GPTC_OK &&
              !strcmp(role, "system") && !strcmp(content, p.system),
          "the system prompt is the first message");
    gptc_chat_session_add(s, "user", "Hi", &err);
    gptc_chat_session_generate(s, NULL, NULL, &err);
    CHECK(gptc_chat_session_n_cached(s) > 0, "the cache holds the turn");
    char *json = NULL;
    CHECK(gptc_chat_session_save_json(s, &json, &err) == GPTC_OK && json, "save: %s", err.msg);
    gptc_chat_session *t = NULL;
    gptc_chat_session_create(m, NULL, &t, &err);
    CHECK(t && gptc_chat_session_load_json(t, json, strlen(json), &err) == GPTC_OK, "load: %s",
          err.msg);
    char *json2 = NULL;
    gptc_chat_session_save_json(t, &json2, &err);
    CHECK(json && json2 && !strcmp(json, json2), "save/load round trip: %s / %s", json, json2);
    free(json2);
    free(json);
    /* an object with "messages" also loads */
    const char *obj = "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}";
    CHECK(gptc_chat_session_load_json(t, obj, strlen(obj), &err) == GPTC_OK &&
              gptc_chat_session_n_messages(t) == 1,
          "load {\"messages\": [...]}: %s", err.msg);
    gptc_chat_session_free(t);
    gptc_chat_session_clear(s);
    CHECK(gptc_chat_session_n_messages(s) == 1 && gptc_chat_session_n_cached(s) == 0,
          "clear keeps the system prompt and empties the cache");
    CHECK(gptc_chat_session_set_system(s, NULL, &err) == GPTC_OK &&
              gptc_chat_session_n_messages(s) == 0,
          "set_system(NULL) removes it");
    CHECK(gptc_chat_session_set_system(s, "New", &err) == GPTC_OK &&
              gptc_chat_session_set_system(s, "Newer", &err) == GPTC_OK &&
              gptc_chat_session_n_messages(s) == 1 &&
              gptc_chat_session_message(s, 0, &role, &content, &err) == GPTC_OK &&
              !strcmp(content, "Newer"),
          "set_system replaces");
    gptc_chat_session_free(s);
}

static void test_full(const gptc_model *m)
{
    gptc_err err;
    gptc_chat_params p = greedy(128, 40);
    p.sampler.temp = 0.8f;
    p.sampler.seed = 2;
    p.system = "Be nice.";
    gptc_chat_session *s = NULL;
    CHECK(gptc_chat_session_create(m, &p, &s, &err) == GPTC_OK, "create: %s", err.msg);
    if (!s) return;
    CHECK(gptc_chat_session_n_ctx(s) == 128, "n_ctx %d", gptc_chat_session_n_ctx(s));
    const char *users[] = {"one", "two", "three", "four", "five"};
    int dropped = 0;
    for (int t = 0; t < 5; t++) {
        gptc_chat_session_add(s, "user", users[t], &err);
        gptc_chat_stats st;
        gptc_status r = gptc_chat_session_generate(s, NULL, &st, &err);
        CHECK(r == GPTC_OK, "small context turn %d: %s", t + 1, err.msg);
        CHECK(st.n_prompt + 128 / 8 <= 128, "turn %d: the prompt (%zu) leaves room for a reply",
              t + 1, st.n_prompt);
        dropped += st.n_dropped;
    }
    CHECK(dropped > 0, "the oldest turns were dropped (%d messages)", dropped);
    const char *role, *content;
    gptc_chat_session_message(s, 0, &role, &content, &err);
    CHECK(!strcmp(role, "system") && !strcmp(content, "Be nice."), "the system prompt stays");
    gptc_chat_session_message(s, 1, &role, &content, &err);
    CHECK(!strcmp(role, "user") && strcmp(content, "one"),
          "the conversation starts with a user "
          "message, not the oldest one ('%s')",
          content);
    size_t n = gptc_chat_session_n_messages(s);
    gptc_chat_session_message(s, n - 2, &role, &content, &err);
    CHECK(!strcmp(role, "user") && !strcmp(content, "five"), "the newest turn stays");

    /* a message longer than the context: refused, no reply; the caller pops it */
    char big[3001];
    memset(big, 'a', 3000);
    big[3000] = '\0';
    gptc_chat_session_add(s, "user", big, &err);
    gptc_chat_stats st;
    gptc_status r = gptc_chat_session_generate(s, NULL, &st, &err);
    CHECK(r == GPTC_E_KV_FULL && strstr(err.msg, "does not fit in the context"),
          "oversize message: %s: %s", gptc_status_name(r), err.msg);
    const char *last_role;
    CHECK(!strcmp(last_content(s, &last_role), big) && !strcmp(last_role, "user"),
          "no reply was appended");
    CHECK(gptc_chat_session_pop(s) == 1, "pop");
    gptc_chat_session_add(s, "user", "hi", &err);
    CHECK(gptc_chat_session_generate(s, NULL, NULL, &err) == GPTC_OK, "the session goes on: %s",
          err.msg);
    gptc_chat_session_free(s);
}

static void test_hybrid(void)
{
    gptc_model *m = load("gguf/arch/rand-lfm2-d64-F32.gguf");
    char *tpl = test_read_data("chat-templates/real/lfm2.5-instruct.jinja", NULL);
    CHECK(m && tpl, "lfm2 model and template");
    if (m && tpl) {
        gptc_chat_params p = greedy(1024, 16);
        p.chat_template = tpl;
        multi_turn("lfm2", m, &p, k_users, 3, 0);
    }
    free(tpl);
    gptc_model_free(m);

    m = load("gguf/arch/rand-qwen35-d128-F32.gguf");
    tpl = test_read_data("chat-templates/real/deepseek-r1-distill-qwen-32b.jinja", NULL);
    CHECK(m && tpl, "qwen35 model and template");
    if (m && tpl) {
        /* reuse with ChatML (the model has no template). With R1's template a hybrid model
         * reuses nothing: the next prompt drops the "<think>\n" the previous one ended with,
         * before the checkpoint one token short of its end */
        gptc_chat_params p = greedy(1024, 12);
        multi_turn("qwen35", m, &p, k_users, 3, 1);
        p.chat_template = tpl;
        /* the template opens <think> for the reply: the pieces are reasoning until "</think>" */
        gptc_err err;
        gptc_chat_session *s = NULL;
        gptc_chat_session_create(m, &p, &s, &err);
        gptc_chat_session_add(s, "user", "hi", &err);
        collect c = {0};
        gptc_chat_callbacks cb = {.on_piece = on_piece, .ud = &c};
        CHECK(gptc_chat_session_generate(s, &cb, NULL, &err) == GPTC_OK && c.n_reasoning > 0,
              "qwen35 + R1 template: reasoning pieces (%d of %d): %s", c.n_reasoning, c.n_pieces,
              err.msg);
        gptc_chat_session_free(s);
    }
    free(tpl);
    gptc_model_free(m);
}

static void test_errors(const gptc_model *m)
{
    gptc_err err;
    gptc_chat_session *s = (gptc_chat_session *)&err; /* must be set to NULL on failure */
    CHECK(gptc_chat_session_create(NULL, NULL, &s, &err) == GPTC_E_INVALID && s == NULL,
          "create(NULL model): %s", err.msg);
    CHECK(gptc_chat_session_create(m, NULL, NULL, &err) == GPTC_E_INVALID, "create(NULL out)");
    gptc_chat_params p = greedy(256, 8);
    p.chat_template = "{% if x %}";
    gptc_status r = gptc_chat_session_create(m, &p, &s, &err);
    CHECK(r != GPTC_OK && s == NULL && strstr(err.msg, "template:") && strstr(err.msg, "line 1"),
          "bad template: %s: %s", gptc_status_name(r), err.msg);
    p = greedy(256, 8);
    p.n_predict = -2;
    CHECK(gptc_chat_session_create(m, &p, &s, &err) == GPTC_E_INVALID, "n_predict -2: %s", err.msg);
    p = greedy(256, 8);
    p.system = "bad \xff";
    CHECK(gptc_chat_session_create(m, &p, &s, &err) == GPTC_E_INVALID && strstr(err.msg, "UTF-8"),
          "system prompt not UTF-8: %s", err.msg);
    gptc_model *bert = load("gguf/arch/rand-bert-d128-F32.gguf");
    if (bert) {
        CHECK(gptc_chat_session_create(bert, NULL, &s, &err) == GPTC_E_INVALID &&
                  strstr(err.msg, "embedding"),
              "an embedding model: %s", err.msg);
        gptc_model_free(bert);
    }

    p = greedy(256, 8);
    p.chat_template = "chatml"; /* a built-in by name */
    CHECK(gptc_chat_session_create(m, &p, &s, &err) == GPTC_OK, "create chatml: %s", err.msg);
    if (!s) return;
    int fb = 1;
    gptc_chat_session_template(s, NULL, &fb);
    CHECK(fb == 0, "a template asked for is not the fallback");

    /* nothing to reply to */
    CHECK(gptc_chat_session_generate(s, NULL, NULL, &err) == GPTC_E_INVALID &&
              strstr(err.msg, "no message"),
          "generate on an empty conversation: %s", err.msg);
    /* NULLs, roles, empty and non-UTF-8 messages */
    CHECK(gptc_chat_session_add(NULL, "user", "x", &err) == GPTC_E_INVALID, "add(NULL session)");
    CHECK(gptc_chat_session_add(s, NULL, "x", &err) == GPTC_E_INVALID && strstr(err.msg, "role"),
          "NULL role: %s", err.msg);
    CHECK(gptc_chat_session_add(s, "user", NULL, &err) == GPTC_E_INVALID, "NULL content");
    CHECK(gptc_chat_session_add(s, "user", "", &err) == GPTC_E_INVALID && strstr(err.msg, "empty"),
          "empty user message: %s", err.msg);
    CHECK(gptc_chat_session_add(s, "wizard", "x", &err) == GPTC_E_INVALID &&
              strstr(err.msg, "wizard"),
          "unknown role: %s", err.msg);
    CHECK(gptc_chat_session_add(s, "system", "x", &err) == GPTC_E_INVALID &&
              strstr(err.msg, "set_system"),
          "system role: %s", err.msg);
    CHECK(gptc_chat_session_add(s, "user", "a\xc3(b", &err) == GPTC_E_INVALID &&
              strstr(err.msg, "UTF-8"),
          "not UTF-8: %s", err.msg);
    CHECK(gptc_chat_session_n_messages(s) == 0, "no bad message was added");
    CHECK(gptc_chat_session_add(s, "assistant", "", &err) == GPTC_OK, "empty assistant message");
    CHECK(gptc_chat_session_generate(s, NULL, NULL, &err) == GPTC_E_INVALID &&
              strstr(err.msg, "assistant"),
          "the conversation ends with the assistant: %s", err.msg);
    CHECK(gptc_chat_session_generate(NULL, NULL, NULL, &err) == GPTC_E_INVALID, "generate(NULL)");
    const char *role = "x", *content = "x";
    CHECK(gptc_chat_session_message(s, 5, &role, &content, &err) == GPTC_E_RANGE && !role &&
              !content,
          "message out of range");
    CHECK(gptc_chat_session_pop(s) == 1 && gptc_chat_session_pop(s) == 0, "pop");
    /* bad JSON leaves the conversation as it was */
    gptc_chat_session_add(s, "user", "kept", &err);
    const char *bad[] = {"[{\"role\":", "{\"x\": 1}", "[{\"content\": \"no role\"}]", "[1]",
                         "[{\"role\": 5}]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(gptc_chat_session_load_json(s, bad[i], strlen(bad[i]), &err) == GPTC_E_FORMAT &&
                  gptc_chat_session_n_messages(s) == 1,
              "load '%s': %s", bad[i], err.msg);
    CHECK(gptc_chat_session_load_json(s, NULL, 0, &err) == GPTC_E_INVALID, "load(NULL)");
    /* bad sampler parameters: refused, the old ones stay */
    gptc_sampler_params sp = gptc_sampler_default_params();
    sp.repeat_penalty = -1;
    CHECK(gptc_chat_session_set_sampler(s, &sp, &err) == GPTC_E_INVALID, "bad sampler: %s",
          err.msg);
    CHECK(gptc_chat_session_set_sampler(s, NULL, &err) == GPTC_E_INVALID, "NULL sampler");

    /* cancelled during the prompt: no reply, the user message stays */
    gptc_chat_callbacks stop = {.should_stop = stop_now};
    r = gptc_chat_session_generate(s, &stop, NULL, &err);
    CHECK(r == GPTC_E_CANCELLED && gptc_chat_session_n_messages(s) == 1,
          "should_stop: %s, %zu messages", gptc_status_name(r), gptc_chat_session_n_messages(s));
    /* cancelled by on_piece after the first piece: a partial reply */
    collect c = {.stop_after = 1};
    gptc_chat_callbacks cb = {.on_piece = on_piece, .ud = &c};
    gptc_chat_session_set_n_predict(s, 50);
    gptc_chat_stats st;
    r = gptc_chat_session_generate(s, &cb, &st, &err);
    CHECK(r == GPTC_OK && st.stop == GPTC_CHAT_STOP_CANCELLED && c.n_pieces == 1 &&
              st.n_reply < 50 && gptc_chat_session_n_messages(s) == 2,
          "on_piece stops: stop %d, %d pieces, %zu tokens", st.stop, c.n_pieces, st.n_reply);
    /* n_predict */
    gptc_chat_session_add(s, "user", "more", &err);
    gptc_chat_session_set_n_predict(s, 3);
    r = gptc_chat_session_generate(s, NULL, &st, &err);
    CHECK(r == GPTC_OK && ((st.stop == GPTC_CHAT_STOP_LENGTH && st.n_reply == 3) ||
                           (st.stop == GPTC_CHAT_STOP_EOG && st.n_reply < 3)),
          "n_predict 3: stop %d, %zu tokens", st.stop, st.n_reply);
    CHECK(!strcmp(gptc_status_name(GPTC_E_CANCELLED), "cancelled"), "status name");
    gptc_chat_session_free(s);
    gptc_chat_session_free(NULL);
}

/* Speculative decoding (docs/speculative.md): three greedy turns with lookup drafts and with a
 * draft model (stories260K drafting for itself) give the replies of plain decoding; bad spec
 * parameters and a model with recurrent state are refused. */
static void test_spec(const gptc_model *m)
{
    static const char *const users[] = {"Lily and Ben went to the park. Lily and Ben",
                                        "Tell me more about Ben", "Once upon a time"};
    gptc_err err;
    gptc_chat_params p = greedy(512, 60);
    gptc_drafter *dr = NULL;
    CHECK(gptc_drafter_init(m, m, &p.ctx, &dr, &err) == GPTC_OK, "drafter: %s", err.msg);
    gptc_chat_session *s[3] = {0};
    for (int k = 0; k < 3; k++) {
        gptc_chat_params q = p;
        q.spec = k;
        q.drafter = dr;
        CHECK(gptc_chat_session_create(m, &q, &s[k], &err) == GPTC_OK, "create spec %d: %s", k,
              err.msg);
    }
    size_t drafted = 0, accepted = 0;
    for (int t = 0; t < 3 && s[0] && s[1] && s[2]; t++) {
        char *reply[3];
        for (int k = 0; k < 3; k++) {
            gptc_chat_stats st;
            gptc_chat_session_add(s[k], "user", users[t], &err);
            CHECK(gptc_chat_session_generate(s[k], NULL, &st, &err) == GPTC_OK, "turn %d: %s", t,
                  err.msg);
            reply[k] = strdup(last_content(s[k], NULL));
            if (k) {
                drafted += st.n_drafted;
                accepted += st.n_accepted;
            }
        }
        CHECK(!strcmp(reply[0], reply[1]) && !strcmp(reply[0], reply[2]),
              "turn %d: replies with drafts differ:\n%s\n%s\n%s", t, reply[0], reply[1], reply[2]);
        for (int k = 0; k < 3; k++)
            free(reply[k]);
    }
    CHECK(accepted > 0 && drafted >= accepted, "drafts accepted: %zu of %zu", accepted, drafted);
    for (int k = 0; k < 3; k++)
        gptc_chat_session_free(s[k]);
    gptc_drafter_free(dr);

    gptc_chat_session *bad = NULL;
    gptc_chat_params q = p;
    q.spec = 2; /* no drafter */
    CHECK(gptc_chat_session_create(m, &q, &bad, &err) == GPTC_E_INVALID && !bad,
          "spec 2 without a drafter: %s", err.msg);
    q.spec = 3;
    CHECK(gptc_chat_session_create(m, &q, &bad, &err) == GPTC_E_INVALID && !bad, "spec 3: %s",
          err.msg);
    q.spec = 1;
    q.spec_n = 65;
    CHECK(gptc_chat_session_create(m, &q, &bad, &err) == GPTC_E_INVALID && !bad, "spec_n 65: %s",
          err.msg);
    gptc_model *rec = load("gguf/arch/rand-lfm2-d64-F32.gguf");
    if (rec) {
        q = greedy(256, 10);
        q.spec = 1;
        CHECK(gptc_chat_session_create(rec, &q, &bad, &err) == GPTC_E_UNSUPPORTED && !bad &&
                  strstr(err.msg, "recurrent"),
              "spec on lfm2: %s", err.msg);
        gptc_model_free(rec);
    }
}

int main(void)
{
    gptc_model *m = load("gguf/stories260K.gguf");
    CHECK(m != NULL, "stories260K");
    if (m) {
        test_stories(m);
        test_full(m);
        test_errors(m);
        test_spec(m);
    }
    gptc_model_free(m);
    test_hybrid();
    return test_summary();
}

/*
 * test_harmony.c — the gpt-oss reply parser (src/chat/harmony.c) against replies rendered by the
 * real gpt-oss template (../shared/data/chat-templates/real/gpt-oss-120b.jinja): a conversation
 * ending in an assistant message (reasoning in "thinking", the answer in "content", or a tool
 * call) is rendered whole, and the reply is what follows the rendering of the conversation
 * without it (with the generation prompt "<|start|>assistant"). The parser must give back the
 * reasoning, the content and the tool call, fed in one piece, byte by byte and in random
 * chunkings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "chat/harmony.h"
#include "test.h"

typedef struct got {
    char text[3][4096];
    size_t n[3];
    char recipient[128];
    int calls;
} got;

static void on_piece(void *ud, int kind, const char *recipient, int call_index, const char *t,
                     size_t n)
{
    got *g = ud;
    if (kind < 0 || kind > 2 || g->n[kind] + n >= sizeof g->text[kind]) return;
    memcpy(g->text[kind] + g->n[kind], t, n);
    g->n[kind] += n;
    g->text[kind][g->n[kind]] = 0;
    if (kind == GPTC_HARMONY_TOOL_CALL) {
        snprintf(g->recipient, sizeof g->recipient, "%s", recipient);
        g->calls = call_index + 1;
    }
}

/* Parse reply with chunking mode (0 whole, 1 bytes, else random sizes up to mode). */
static void parse(const char *reply, size_t n, int mode, got *g)
{
    memset(g, 0, sizeof *g);
    gptc_harmony h;
    gptc_harmony_init(&h);
    size_t i = 0;
    while (i < n) {
        size_t k = mode == 0 ? n - i : mode == 1 ? 1 : 1 + (size_t)test_rnd_int(mode);
        if (k > n - i) k = n - i;
        gptc_harmony_feed(&h, reply + i, k, on_piece, g);
        i += k;
    }
    gptc_harmony_finish(&h, on_piece, g);
}

static char *render(const gptc_chat_template *t, const char *msgs, int add_gen)
{
    gptc_chat_opts o = gptc_chat_default_opts();
    o.add_generation_prompt = add_gen;
    o.date = "2024-07-26";
    o.bos_token = "<|startoftext|>";
    o.eos_token = "<|return|>";
    char *out = NULL;
    size_t n;
    gptc_err err;
    if (gptc_chat_render(t, msgs, NULL, &o, &out, &n, &err)) {
        CHECK(0, "render: %s", err.msg);
        return NULL;
    }
    return out;
}

int main(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/chat-templates/real/gpt-oss-120b.jinja", test_data_dir());
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("  (skipped: %s not found)\n", path);
        return test_summary();
    }
    static char src[1 << 16];
    size_t sn = fread(src, 1, sizeof src - 1, f);
    fclose(f);
    gptc_chat_template *t = NULL;
    gptc_err err;
    CHECK(gptc_chat_template_init(src, sn, &t, &err) == GPTC_OK, "parse the gpt-oss template: %s",
          err.msg);
    if (!t) return test_summary();
    static const struct {
        const char *prefix, *last, *reasoning, *content, *recipient, *args;
    } cases[] = {
        {"[{\"role\":\"user\",\"content\":\"What is 2+2?\"}",
         ",{\"role\":\"assistant\",\"thinking\":\"Add them: 4.\",\"content\":\"4\"}]",
         "Add them: 4.", "4", "", ""},
        {"[{\"role\":\"user\",\"content\":\"Hi\"}",
         ",{\"role\":\"assistant\",\"content\":\"Hello! How can I help?\"}]", "",
         "Hello! How can I help?", "", ""},
        {"[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Line "
         "1\\nLine 2 \\u2014 caf\\u00e9\"}",
         ",{\"role\":\"assistant\",\"thinking\":\"The user wrote <| and |> and <|end and a < "
         "sign.\\nThink \\u65e5\\u672c.\","
         "\"content\":\"  R\\u00e9ponse :\\n\\tLigne 2 \\u2014 na\\u00efve \\u2713 <|ret  \"}]",
         "The user wrote <| and |> and <|end and a < sign.\nThink \xe6\x97\xa5\xe6\x9c\xac.",
         "  R\xc3\xa9ponse :\n\tLigne 2 \xe2\x80\x94 na\xc3\xafve \xe2\x9c\x93 <|ret  ", "", ""},
        {"[{\"role\":\"user\",\"content\":\"Weather in Paris?\"}",
         ",{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"id\":\"c1\",\"type\":"
         "\"function\",\"function\":"
         "{\"name\":\"get_weather\",\"arguments\":{\"location\":\"Paris\",\"unit\":\"C\"}}}]}]",
         "", "", "functions.get_weather", "{\"location\": \"Paris\", \"unit\": \"C\"}"},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        char full_msgs[2048], prompt_msgs[1024];
        snprintf(prompt_msgs, sizeof prompt_msgs, "%s]", cases[ci].prefix);
        snprintf(full_msgs, sizeof full_msgs, "%s%s", cases[ci].prefix, cases[ci].last);
        char *prompt = render(t, prompt_msgs, 1), *full = render(t, full_msgs, 0);
        if (!prompt || !full) {
            free(prompt), free(full);
            continue;
        }
        size_t pn = strlen(prompt);
        CHECK(strncmp(full, prompt, pn) == 0,
              "case %zu: the prompt is a prefix of the whole conversation", ci);
        const char *reply = full + pn;
        size_t rn = strlen(reply);
        int bad = 0;
        for (int mode = 0; mode < 40; mode++) {
            got g;
            parse(reply, rn, mode < 2 ? mode : 2 + mode % 9, &g);
            int ok = strcmp(g.text[GPTC_HARMONY_REASONING], cases[ci].reasoning) == 0 &&
                     strcmp(g.text[GPTC_HARMONY_CONTENT], cases[ci].content) == 0 &&
                     strcmp(g.text[GPTC_HARMONY_TOOL_CALL], cases[ci].args) == 0 &&
                     strcmp(g.recipient, cases[ci].recipient) == 0 &&
                     g.calls == (cases[ci].args[0] ? 1 : 0);
            if (!ok && bad++ == 0)
                printf(
                    "  case %zu mode %d: reasoning [%s] content [%s] call %s [%s]\n    reply: %s\n",
                    ci, mode, g.text[0], g.text[1], g.recipient, g.text[2], reply);
        }
        CHECK(bad == 0,
              "case %zu: reasoning, content and tool call recovered in 40 chunkings (%d wrong)", ci,
              bad);
        free(prompt), free(full);
    }
    /* a reply cut before <|message|>, or plain text without a header, is not lost */
    got g;
    parse("<|channel|>fin", 14, 1, &g);
    CHECK(strcmp(g.text[GPTC_HARMONY_CONTENT], "<|channel|>fin") == 0,
          "an unfinished header comes back as content");
    parse("<|channel|>analysis<|message|>thinking<|en", 42, 3, &g);
    CHECK(strcmp(g.text[GPTC_HARMONY_REASONING], "thinking<|en") == 0,
          "a held tail is reported at the end");
    parse("<|channel|>analysis<|message|>a<|end|><|start|>assistant<|channel|>final<|message|>b<|"
          "return|>junk",
          96, 2, &g);
    CHECK(strcmp(g.text[0], "a") == 0 && strcmp(g.text[1], "b") == 0,
          "text after <|return|> is ignored (%s|%s)", g.text[0], g.text[1]);
    gptc_chat_template_free(t);
    return test_summary();
}

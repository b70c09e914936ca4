/*
 * chat.c — a chat with a model through the library's chat session, with nothing but <gptc.h>:
 * each line of stdin is a user message, each reply streams to stdout followed by a newline, as
 * `gptc chat MODEL --temp 0` prints them when stdin is not a terminal. The session renders the
 * conversation with the model's chat template (ChatML when it has none), reuses the KV cache
 * between turns and drops the oldest turns when the context is full.
 *
 *   printf 'Hello\nTell me more\n' | build/examples/chat MODEL [-n N_PREDICT] [-c N_CTX]
 *
 * Greedy (temperature 0), so the replies are the same on every run. Build it against an
 * installed gptc with: cc chat.c $(pkg-config --cflags --libs gptc)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gptc.h>

/* the reply as it streams: content only (thinking and tool calls are left out here) */
static int on_piece(void *ud, gptc_chat_piece kind, const char *text, size_t n)
{
    (void)ud;
    if (kind == GPTC_CHAT_CONTENT) {
        fwrite(text, 1, n, stdout);
        fflush(stdout);
    }
    return 0; /* nonzero would stop the reply */
}

int main(int argc, char **argv)
{
    const char *model_path = NULL;
    gptc_chat_params params = gptc_chat_session_default_params();
    params.sampler.temp = 0;
    params.ctx.n_threads = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            params.n_predict = atoi(argv[++i]);
        else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
            params.ctx.n_ctx = atoi(argv[++i]);
        else if (!model_path)
            model_path = argv[i];
    }
    if (!model_path) {
        fprintf(stderr, "usage: %s MODEL [-n N_PREDICT] [-c N_CTX] < messages\n", argv[0]);
        return 2;
    }

    /* 1. load the model; the session owns its context, sampler and conversation */
    gptc_err err;
    gptc_model *model = NULL;
    gptc_model_params mp = gptc_model_default_params();
    if (gptc_model_load(model_path, &mp, &model, &err)) {
        fprintf(stderr, "chat: load: %s\n", err.msg);
        return 1;
    }
    gptc_chat_session *chat = NULL;
    if (gptc_chat_session_create(model, &params, &chat, &err)) {
        fprintf(stderr, "chat: %s\n", err.msg);
        gptc_model_free(model);
        return 1;
    }

    /* 2. one turn per line: add the user's message, generate the reply */
    char line[4096];
    int rc = 0;
    gptc_chat_callbacks cb = {.on_piece = on_piece};
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0]) continue;
        if (gptc_chat_session_add(chat, "user", line, &err)) {
            fprintf(stderr, "chat: %s\n", err.msg);
            rc = 1;
        } else if (gptc_chat_session_generate(chat, &cb, NULL, &err)) {
            fprintf(stderr, "chat: %s\n", err.msg);
            /* no reply (the message did not fit, the template refused it): forget it */
            const char *role = NULL;
            gptc_chat_session_message(chat, gptc_chat_session_n_messages(chat) - 1, &role, NULL,
                                      NULL);
            if (role && !strcmp(role, "user")) gptc_chat_session_pop(chat);
            rc = 1;
        }
        putchar('\n');
    }

    gptc_chat_session_free(chat);
    gptc_model_free(model);
    return rc;
}

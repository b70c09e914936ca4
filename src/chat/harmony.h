/*
 * harmony.h — the reply side of OpenAI's harmony format (gpt-oss): split what the model
 * generates after the prompt's "<|start|>assistant" into its messages, streaming.
 *
 * A reply is one or more messages
 *     [<|start|>assistant] [ to=RECIPIENT] <|channel|>CHANNEL [ to=RECIPIENT] [ TYPE |
 * <|constrain|>TYPE]
 *     <|message|> BODY <|end|> | <|return|> | <|call|>
 * (the first one's "<|start|>assistant" is the prompt's). Channel "analysis" is the reasoning,
 * "final" the answer, "commentary" with a recipient ("functions.NAME") a tool call whose body
 * is its JSON arguments; commentary without a recipient is text shown to the user, like final.
 * <|return|> and <|call|> end the reply; <|end|> is followed by the next message.
 *
 * Text arrives in chunks of any size (a special token may be split between chunks); each body
 * byte is reported once, as soon as it cannot be the start of a terminator, through the
 * callback. The parser never fails on text: anything outside the grammar (a body without a
 * header, an unknown channel) is reported as final content, so no generated text is lost.
 */
#ifndef GPTC_HARMONY_H
#define GPTC_HARMONY_H

#include <stddef.h>

enum gptc_harmony_kind {
    GPTC_HARMONY_REASONING = 0, /* analysis channel */
    GPTC_HARMONY_CONTENT,       /* final channel, commentary to the user, or stray text */
    GPTC_HARMONY_TOOL_CALL,     /* commentary to a recipient: the body is the arguments */
};

/* A piece of a message body. recipient: the tool's name ("functions.get_weather"), for tool
 * calls ("" otherwise); call_index counts the reply's tool calls from 0. */
typedef void (*gptc_harmony_fn)(void *ud, int kind, const char *recipient, int call_index,
                                const char *text, size_t n);

typedef struct gptc_harmony {
    int state;     /* header, body, done */
    char hdr[256]; /* the header so far (truncated) */
    size_t hdr_n;
    char hold[16]; /* body bytes that may begin a terminator */
    size_t hold_n;
    int kind, n_calls;
    char recipient[128];
    int ended; /* 1: <|return|> or <|call|> seen */
} gptc_harmony;

/* Start a reply: text follows "<|start|>assistant". */
void gptc_harmony_init(gptc_harmony *h);
/* Feed n bytes of generated text. */
void gptc_harmony_feed(gptc_harmony *h, const char *text, size_t n, gptc_harmony_fn fn, void *ud);
/* End of generation: report what is held back. */
void gptc_harmony_finish(gptc_harmony *h, gptc_harmony_fn fn, void *ud);

#endif

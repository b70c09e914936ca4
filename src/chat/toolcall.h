/*
 * toolcall.h — tool calls in generated text: which format a chat template's family writes, and a
 * streaming parser that splits a reply into content, reasoning and tool calls.
 *
 * Formats (docs/agents.md, "Tools"), detected from the template source (gptc_toolcall_detect):
 *   hermes       <tool_call>{"name": N, "arguments": {...}}</tool_call>  (Hermes, Qwen2.5/3,
 *                QwQ, Granite 4, Falcon 3's list form); also the default for templates without one
 *   qwen3-xml    <tool_call><function=N><parameter=K>V</parameter></function></tool_call>
 *                (Qwen3-Coder, Qwen3.5, Nemotron 3)
 *   glm          <tool_call>N<arg_key>K</arg_key><arg_value>V</arg_value></tool_call> (GLM-4.5)
 *   llama3       {"name": N, "parameters": {...}} as the whole reply, or after <|python_tag|>
 *   mistral      [TOOL_CALLS][{"name": N, "arguments": {...}}, ...]
 *   mistral-args [TOOL_CALLS]N[ARGS]{...} (and [CALL_ID]ID before [ARGS])
 *   deepseek
 * <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>N\n```json\n{...}\n```
 *                <｜tool▁call▁end｜>...<｜tool▁calls▁end｜> (R1, V3) or N<｜tool▁sep｜>{...} (V3.1)
 *   dsml         <｜DSML｜function_calls><｜DSML｜invoke name="N"><｜DSML｜parameter name="K"
 *                string="true">V</｜DSML｜parameter>...</｜DSML｜function_calls> (DeepSeek V3.2)
 *   harmony      gpt-oss: a commentary message to=functions.N whose body is the arguments
 *   gemma4       <|tool_call>call:N{k:<|"|>text<|"|>,n:1}<tool_call|>
 *   command-r    <|START_ACTION|>[{"tool_name": N, "parameters": {...}}]<|END_ACTION|>
 *   functionary  N\n{...}>>>N\n{...} (the prompt ends in ">>>"; the recipient "all" is text)
 *
 * The parser takes text in chunks of any size and reports, through a callback, content and
 * reasoning pieces as soon as they cannot start a marker, and each tool call once it is whole:
 * its name, then its arguments (a JSON object as compact JSON text). Whatever the chunking, the
 * concatenated pieces of each kind and the calls are the same. A call that does not parse, or
 * names a function outside the given list, is reported as content (no text is lost).
 */
#ifndef GPTC_TOOLCALL_H
#define GPTC_TOOLCALL_H

#include <stddef.h>

#include "core/base.h"

enum gptc_tc_format {
    GPTC_TC_NONE = 0, /* the template writes no tool calls: parse and generate hermes */
    GPTC_TC_HERMES,
    GPTC_TC_QWEN3_XML,
    GPTC_TC_GLM,
    GPTC_TC_LLAMA3,
    GPTC_TC_MISTRAL,
    GPTC_TC_MISTRAL_ARGS,
    GPTC_TC_DEEPSEEK,
    GPTC_TC_DSML,
    GPTC_TC_HARMONY,
    GPTC_TC_GEMMA4,
    GPTC_TC_COMMAND_R,
    GPTC_TC_FUNCTIONARY,
    GPTC_TC_COUNT
};

/* The family of a chat template's source (GPTC_TC_NONE when it renders no tool calls). */
int gptc_toolcall_detect(const char *src, size_t n);
/* "hermes", "qwen3-xml", ... ("none" for GPTC_TC_NONE). */
const char *gptc_toolcall_format_name(int format);
/* The format named so, or -1. */
int gptc_toolcall_format_from_name(const char *name);

enum gptc_tc_event {
    GPTC_TC_EV_CONTENT = 0, /* text for message.content */
    GPTC_TC_EV_REASONING,   /* text inside <think>...</think> (or the harmony analysis channel) */
    GPTC_TC_EV_NAME,        /* a call begins: text is the function's name */
    GPTC_TC_EV_ARGS,        /* a piece of that call's arguments (JSON text) */
};
/* call_index: the call's number in the reply (from 0) for NAME/ARGS, -1 otherwise. */
typedef void (*gptc_toolcall_fn)(void *ud, int event, int call_index, const char *text, size_t n);

typedef struct gptc_toolcall_opts {
    int format;               /* GPTC_TC_* */
    int think;                /* 0: no reasoning split; 1: a leading <think>...</think> is
                               * reasoning; 2: the prompt opened <think> (the reply starts in it) */
    const char *const *names; /* the functions a call may name (NULL: any) */
    int n_names;
} gptc_toolcall_opts;

typedef struct gptc_toolcall_parser gptc_toolcall_parser;

gptc_status gptc_toolcall_new(const gptc_toolcall_opts *o, gptc_toolcall_parser **out,
                              gptc_err *err);
void gptc_toolcall_free(gptc_toolcall_parser *p);
/* Feed n bytes of generated text. */
void gptc_toolcall_feed(gptc_toolcall_parser *p, const char *text, size_t n, gptc_toolcall_fn fn,
                        void *ud);
/* End of the reply: report what is held back (an unclosed call is parsed as it stands). */
void gptc_toolcall_finish(gptc_toolcall_parser *p, gptc_toolcall_fn fn, void *ud);
/* Calls reported so far. */
int gptc_toolcall_n_calls(const gptc_toolcall_parser *p);

/* Does the prompt's end leave a <think> block open (the template opened it for the reply)? */
int gptc_toolcall_prompt_opens_think(const char *prompt, size_t n);

/* DeepSeek V3/R1/V3.1 tool-call markers (fullwidth bars, U+2581) and V3.2's DSML bar, for the
 * parser (toolcall.c) and the forcing grammar (grammar/tool_grammar.c) */
#define DS_CALLS_BEGIN                                                                             \
    "<\xef\xbd\x9ctool\xe2\x96\x81"                                                                \
    "calls\xe2\x96\x81"                                                                            \
    "begin\xef\xbd\x9c>"
#define DS_CALLS_END                                                                               \
    "<\xef\xbd\x9ctool\xe2\x96\x81"                                                                \
    "calls\xe2\x96\x81"                                                                            \
    "end\xef\xbd\x9c>"
#define DS_CALL_BEGIN                                                                              \
    "<\xef\xbd\x9ctool\xe2\x96\x81"                                                                \
    "call\xe2\x96\x81"                                                                             \
    "begin\xef\xbd\x9c>"
#define DS_CALL_END                                                                                \
    "<\xef\xbd\x9ctool\xe2\x96\x81"                                                                \
    "call\xe2\x96\x81"                                                                             \
    "end\xef\xbd\x9c>"
#define DS_SEP                                                                                     \
    "<\xef\xbd\x9ctool\xe2\x96\x81"                                                                \
    "sep\xef\xbd\x9c>"
#define DSML                                                                                       \
    "\xef\xbd\x9c"                                                                                 \
    "DSML"                                                                                         \
    "\xef\xbd\x9c"

#endif

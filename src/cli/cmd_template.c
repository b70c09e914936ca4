/*
 * cmd_template.c — `gptc template`: render a chat template for a conversation and print the
 * prompt exactly (no newline added), for people debugging a template and for scripts.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chat/chat.h"
#include "cli/cli.h"

static const char *k_help =
    "usage: gptc template [MODEL] [--template NAME|FILE] --messages FILE.json [options]\n"
    "\n"
    "Render a chat template for a conversation and print the prompt exactly as the model would\n"
    "see it (byte for byte what Python's Jinja2 renders with Hugging Face's settings).\n"
    "\n"
    "  MODEL                    a GGUF model: its tokenizer.chat_template, BOS and EOS texts\n"
    "      --template NAME|FILE a built-in template (chatml, llama2, llama3, mistral, gemma,\n"
    "                           phi3, zephyr) or a Jinja file; overrides the model's\n"
    "      --messages FILE      a JSON array of messages, or an object with \"messages\" (and\n"
    "                           \"tools\"); - reads stdin\n"
    "      --tools FILE         a JSON array of tools (OpenAI format)\n"
    "      --add-generation-prompt  end with the opening of an assistant turn\n"
    "      --bos S, --eos S     the bos_token / eos_token texts (default: the model's)\n"
    "      --date YYYY-MM-DD    the date strftime_now() sees (default: env GPTC_DATE, else today)\n"
    "      --var NAME=JSON      a further template variable, e.g. --var enable_thinking=false\n"
    "      --tokenizer FILE     tokenizer.bin for a llama2.c checkpoint\n";

static json_t *load_json_file(const char *what, const char *path)
{
    size_t n;
    char *text = cli_read_file(path, &n);
    json_error_t je;
    json_t *j = json_loadb(text, n, JSON_ALLOW_NUL, &je);
    free(text);
    if (!j)
        cli_die("template: %s %s: invalid JSON at line %d col %d: %s", what, path, je.line,
                je.column, je.text);
    return j;
}

int cmd_template(int argc, char **argv)
{
    const char *model_path = NULL, *tmpl_arg = NULL, *messages_path = NULL, *tools_path = NULL;
    const char *bos = NULL, *eos = NULL, *date = getenv("GPTC_DATE");
    gptc_model_params mp = gptc_model_default_params();
    int agp = 0;
    json_t *extra = json_object();
    if (!extra) cli_die("out of memory");

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is(a, "-h", "--help")) {
            fputs(k_help, stdout);
            json_decref(extra);
            return 0;
        } else if (cli_is(a, "--template", "--chat-template"))
            tmpl_arg = cli_value(argc, argv, &i);
        else if (cli_is(a, "--messages", "-m"))
            messages_path = cli_value(argc, argv, &i);
        else if (cli_is(a, "--tools", NULL))
            tools_path = cli_value(argc, argv, &i);
        else if (cli_is(a, "--add-generation-prompt", NULL))
            agp = 1;
        else if (cli_is(a, "--bos", NULL))
            bos = cli_value(argc, argv, &i);
        else if (cli_is(a, "--eos", NULL))
            eos = cli_value(argc, argv, &i);
        else if (cli_is(a, "--date", NULL))
            date = cli_value(argc, argv, &i);
        else if (cli_is(a, "--tokenizer", NULL))
            mp.tokenizer_path = cli_value(argc, argv, &i);
        else if (cli_is(a, "--var", NULL)) {
            const char *kv = cli_value(argc, argv, &i);
            const char *eq = strchr(kv, '=');
            if (!eq || eq == kv) cli_die("template: --var wants NAME=JSON, got '%s'", kv);
            json_error_t je;
            json_t *v = json_loads(eq + 1, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
            if (!v) cli_die("template: --var %s: invalid JSON: %s", kv, je.text);
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)(eq - kv), kv);
            json_object_set_new(extra, name, v);
        } else if (a[0] == '-' && a[1])
            cli_die("template: unknown option '%s' (see gptc template --help)", a);
        else if (!model_path)
            model_path = a;
        else
            cli_die("template: unexpected argument '%s'", a);
    }
    if (!messages_path) cli_die("template: no conversation given (--messages FILE.json)");
    if (!model_path && !tmpl_arg)
        cli_die("template: give a MODEL or --template NAME|FILE (see gptc template --help)");

    gptc_err err;
    gptc_model *model = NULL;
    if (model_path && gptc_model_load(model_path, &mp, &model, &err)) cli_die_err(&err);

    /* the template source */
    const char *src = NULL;
    size_t n_src = 0;
    char *file_src = NULL;
    if (tmpl_arg) {
        src = gptc_chat_builtin(tmpl_arg);
        if (src) {
            n_src = strlen(src);
        } else if (access(tmpl_arg, F_OK) == 0) {
            file_src = cli_read_file(tmpl_arg, &n_src);
            src = file_src;
        } else {
            cli_die("template: '%s' is neither a built-in template (chatml, llama2, llama3, "
                    "mistral, gemma, phi3, zephyr) nor a file",
                    tmpl_arg);
        }
    } else {
        int fallback = 0;
        src = gptc_chat_model_template(model, &n_src, &fallback);
        if (fallback)
            fprintf(stderr, "gptc: warning: %s has no chat template; using ChatML\n", model_path);
    }

    char bos_buf[256], eos_buf[256];
    if (!bos && model) bos = gptc_chat_bos_text(model, bos_buf, sizeof bos_buf);
    if (!eos && model) eos = gptc_chat_eos_text(model, eos_buf, sizeof eos_buf);

    json_t *messages = load_json_file("messages", messages_path), *tools = NULL;
    if (json_is_object(messages)) { /* {"messages": [...], "tools": [...]} */
        json_t *m = json_incref(json_object_get(messages, "messages"));
        json_t *t = json_incref(json_object_get(messages, "tools"));
        json_decref(messages);
        messages = m;
        tools = json_is_null(t) ? NULL : t;
        if (json_is_null(t)) json_decref(t);
        if (!messages) cli_die("template: %s has no \"messages\"", messages_path);
    }
    if (tools_path) {
        json_decref(tools);
        tools = load_json_file("tools", tools_path);
    }

    gptc_chat_template *t;
    if (gptc_chat_template_init(src, n_src, &t, &err)) cli_die("template: %s", err.msg);
    gptc_chat_opts o = gptc_chat_default_opts();
    o.add_generation_prompt = agp;
    o.bos_token = bos;
    o.eos_token = eos;
    o.date = date && *date ? date : NULL;
    char *extra_text = json_object_size(extra) ? json_dumps(extra, JSON_COMPACT) : NULL;
    o.extra_json = extra_text;
    char *out;
    size_t n_out;
    if (gptc_chat_render_json(t, messages, tools, &o, &out, &n_out, &err))
        cli_die("template: %s", err.msg);
    fwrite(out, 1, n_out, stdout);
    fflush(stdout);

    free(out);
    free(extra_text);
    gptc_chat_template_free(t);
    json_decref(messages);
    json_decref(tools);
    json_decref(extra);
    free(file_src);
    gptc_model_free(model);
    return 0;
}

/*
 * template.c — built-in chat templates, written as Jinja sources, for models whose GGUF has no
 * tokenizer.chat_template (`--chat-template NAME`). Each lays out a conversation the way its
 * model family was trained; tests render them with this engine and with Python's Jinja2.
 */
#include <string.h>

#include "chat/chat.h"

/* <|im_start|>role\ncontent<|im_end|>\n ... (Qwen, SmolLM, OpenHermes, many fine-tunes) */
static const char k_chatml[] =
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

/* [INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] answer </s> (Llama 2 chat) */
static const char k_llama2[] =
    "{%- if messages and messages[0]['role'] == 'system' %}"
    "{%- set system = messages[0]['content'] %}{%- set loop_messages = messages[1:] %}"
    "{%- else %}{%- set system = none %}{%- set loop_messages = messages %}{%- endif %}"
    "{%- for message in loop_messages %}"
    "{%- if message['role'] == 'user' %}"
    "{%- if loop.first and system is not none %}"
    "{{- bos_token ~ '[INST] <<SYS>>\\n' + system + '\\n<</SYS>>\\n\\n' + message['content'] | "
    "trim + ' [/INST]' }}"
    "{%- else %}"
    "{{- bos_token ~ '[INST] ' + message['content'] | trim + ' [/INST]' }}"
    "{%- endif %}"
    "{%- elif message['role'] == 'assistant' %}"
    "{{- ' ' + message['content'] | trim + ' ' ~ eos_token }}"
    "{%- endif %}"
    "{%- endfor %}";

/* <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|> (Llama 3) */
static const char k_llama3[] =
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] "
    "| trim + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' "
    "}}{%- endif %}";

/* <s>[INST] user [/INST] answer</s> (Mistral Instruct; a system message joins the last
 * user turn, as Mistral's v0.3 template does) */
static const char k_mistral[] =
    "{%- if messages and messages[0]['role'] == 'system' %}"
    "{%- set system = messages[0]['content'] %}{%- set loop_messages = messages[1:] %}"
    "{%- else %}{%- set loop_messages = messages %}{%- endif %}"
    "{{- bos_token }}"
    "{%- for message in loop_messages %}"
    "{%- if message['role'] == 'user' %}"
    "{%- if loop.last and system is defined %}"
    "{{- '[INST] ' + system + '\\n\\n' + message['content'] + '[/INST]' }}"
    "{%- else %}"
    "{{- '[INST] ' + message['content'] + '[/INST]' }}"
    "{%- endif %}"
    "{%- elif message['role'] == 'assistant' %}"
    "{{- ' ' + message['content'] | trim ~ eos_token }}"
    "{%- endif %}"
    "{%- endfor %}";

/* <start_of_turn>user\n...<end_of_turn>\n<start_of_turn>model\n (Gemma; a system message
 * is put before the first user message, as Gemma has no system role) */
static const char k_gemma[] =
    "{{- bos_token }}"
    "{%- if messages and messages[0]['role'] == 'system' %}"
    "{%- set system = messages[0]['content'] | trim + '\\n\\n' %}{%- set loop_messages = "
    "messages[1:] %}"
    "{%- else %}{%- set system = '' %}{%- set loop_messages = messages %}{%- endif %}"
    "{%- for message in loop_messages %}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{%- set prefix = system if loop.first and role == 'user' else '' %}"
    "{{- '<start_of_turn>' + role + '\\n' + prefix + message['content'] | trim + "
    "'<end_of_turn>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<start_of_turn>model\\n' }}{%- endif %}";

/* <|system|>\n...<|end|>\n<|user|>\n...<|end|>\n<|assistant|>\n (Phi-3) */
static const char k_phi3[] =
    "{%- for message in messages %}"
    "{{- '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|assistant|>\\n' }}{%- endif %}";

/* <|user|>\n...</s>\n<|assistant|>\n (Zephyr) */
static const char k_zephyr[] =
    "{%- for message in messages %}"
    "{{- '<|' + message['role'] + '|>\\n' + message['content'] ~ eos_token + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|assistant|>\\n' }}{%- endif %}";

static const struct {
    const char *name;
    const char *src;
} k_builtin[] = {
    {"chatml", k_chatml}, {"llama2", k_llama2}, {"llama3", k_llama3}, {"mistral", k_mistral},
    {"gemma", k_gemma},   {"phi3", k_phi3},     {"zephyr", k_zephyr},
};

static const char *const k_names[] = {"chatml", "llama2", "llama3", "mistral",
                                      "gemma",  "phi3",   "zephyr", NULL};

const char *gptc_chat_builtin(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof k_builtin / sizeof k_builtin[0]; i++)
        if (strcmp(k_builtin[i].name, name) == 0) return k_builtin[i].src;
    return NULL;
}

const char *const *gptc_chat_builtin_names(void)
{
    return k_names;
}

#!/usr/bin/env python3
"""Generate the chat-template fixtures that tests/test_jinja.c and tests/test_chat_render.c
compare gptc against: what Python's Jinja2 renders, with exactly the environment Hugging Face
transformers uses for apply_chat_template.

    python3 scripts/gen-chat-fixtures.py [--data ../shared/data]

writes
    tests/fixtures/jinja_features.jsonl  small templates, one feature or edge case each:
                                         {"name", "template", "vars", "expected"} or
                                         {"name", "template", "vars", "error_type", "error"}
    tests/fixtures/chat_generated.jsonl  generated conversations (empty content, unicode,
                                         long histories, tool calls and results, whitespace)
                                         rendered with every real template of
                                         ../shared/data/chat-templates/real and every built-in
                                         template of src/chat/template.c:
                                         {"template", "conv", "add_generation_prompt",
                                          "bos_token", "eos_token", "expected" | "error_type"}
                                         plus one {"conversations": [...]} header line.

Needs python3 with jinja2 (Debian: python3-jinja2). The outputs are committed; tests do not run
Python. Deterministic: fixed seeds, fixed date (2024-07-26) for strftime_now.
"""
import argparse
import datetime
import json
import os
import random
import re
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ------------------------------------------------------------------------------------------
# The environment of transformers' apply_chat_template (chat_template_utils.py)
def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.datetime(2024, 7, 26, 0, 0, 0).strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


ENV = make_env()


def render(src, **variables):
    """(expected, None) or (None, (error_type, message))"""
    try:
        return ENV.from_string(src).render(**variables), None
    except Exception as e:  # noqa: BLE001 - every failure is a recorded outcome
        return None, (type(e).__name__, str(e))


# ------------------------------------------------------------------------------------------
# Feature table: (name, template, vars)
D = {"a": 1, "b": [1, 2], "s": "x"}
MSGS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Bye"}]
TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                       "required": ["location"]}}}

FEATURES = [
    # whitespace control, trim_blocks, lstrip_blocks
    ("ws_trim_blocks", "a\n{% if true %}\nb\n{% endif %}\nc", {}),
    ("ws_lstrip", "  {% if true %}x{% endif %}  \ny", {}),
    ("ws_lstrip_not_var", "  {{ 'v' }}\n  {% if true %}w{% endif %}", {}),
    ("ws_minus_both", "a  {%- if true -%}  x  {%- endif -%}  b", {}),
    ("ws_minus_var", "a {{- ' x ' -}} b", {}),
    ("ws_plus", "  {%+ if true %}x{% endif +%}\ny", {}),
    ("ws_comment", "x {# c #}\ny", {}),
    ("ws_comment_minus", "a  {#- c -#}  \n  b", {}),
    ("ws_comment_lstrip", "x\n  {# c #}\ny", {}),
    ("ws_raw", "{% raw %}{{ a }} {% b %}{% endraw %}\nz", {}),
    ("ws_raw_minus", "x {%- raw -%}\n  a  \n{%- endraw %} y", {}),
    ("ws_raw_newline", "{% raw %}\nx{% endraw %}\ny", {}),
    ("ws_crlf", "a\r\nb\rc\r\n{% if true %}\r\nd{% endif %}", {}),
    ("ws_trailing_newline", "line\n", {}),
    ("ws_trailing_two", "line\n\n", {}),
    ("ws_tabs", "\t{% for x in [1,2] %}\n\t{{ x }}\n\t{% endfor %}\n", {}),
    ("ws_lstrip_text_before", "a {% if true %}b{% endif %}", {}),
    ("ws_nbsp_minus", "x\u00a0\u3000 {%- if true %}y{% endif %}", {}),
    ("ws_var_no_trim", "{{ 'a' }}\n{{ 'b' }}\n", {}),
    ("ws_nested", "{% for i in [1, 2] %}\n  {% if i > 1 %}\n    big {{ i }}\n  {% else %}\n    small\n  {% endif %}\n{% endfor %}\n", {}),
    ("ws_block_end_newline_only_once", "{% if true %}\n\nx{% endif %}", {}),
    ("ws_minus_newlines", "a\n\n  {%- if true %}b{% endif -%}\n\n  c", {}),
    ("ws_set_lines", "{% set x = 1 %}\n{% set y = 2 %}\n{{ x + y }}\n", {}),
    ("ws_brace_data", "a { b } {c} {{ '{' }}", {}),
    ("ws_dict_in_var", "{{ {'a': {'b': 1}} }}", {}),
    # literals
    ("lit_ints", "{{ 1 }} {{ -1 }} {{ 1_000 }} {{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ 0_0 }} {{ 9223372036854775807 }}", {}),
    ("err_leading_zero", "{{ 007 }}", {}),
    ("lit_floats", "{{ 1.5 }} {{ 1e3 }} {{ 1E-3 }} {{ 2.50 }} {{ 1_0.5 }} {{ 3.0 }}", {}),
    ("lit_float_repr", "{{ 1e16 }} {{ 1e15 }} {{ 1e-5 }} {{ 0.0001 }} {{ 1.5e300 }} {{ -0.0 }} {{ 123456.789 }} {{ 0.1 }} {{ 2.675 }} {{ 1e22 }} {{ 5e-324 }}", {}),
    ("lit_float_math", "{{ 0.1 + 0.2 }} {{ 1 / 3 }} {{ 2 / 2 }} {{ 2 ** 0.5 }} {{ 10 / 4 }} {{ 1e308 * 10 }} {{ -1e308 * 10 }}", {}),
    ("lit_strings", "{{ 'a\\nb' }}|{{ \"q\\\"\" }}|{{ 'it\\'s' }}|{{ '\\\\' }}|{{ '\\x41\\u00e9\\U0001F600\\101' }}|{{ '\\d\\w' }}|{{ 'a' \"b\" 'c' }}", {}),
    ("lit_string_raw_newline", "{{ 'a\nb' }}", {}),
    ("lit_string_escape_nonascii", "{{ '\\é' }}", {}),
    ("lit_string_continuation", "{{ 'a\\\nb' }}", {}),
    ("lit_consts", "{{ true }} {{ True }} {{ false }} {{ none }} {{ None }} {{ False }}", {}),
    ("lit_list_repr", "{{ [1, 'a', none, true, 1.5, [2]] }} {{ [] }}", {}),
    ("lit_tuple_repr", "{{ (1,) }} {{ () }} {{ (1, 'b') }} {{ 1, 2 }}", {}),
    ("lit_dict_repr", "{{ {'a': [1, {'b': none}], 2: 'x', (1, 2): 3} }} {{ {} }}", {}),
    ("lit_str_repr_quotes", "{{ [\"it's\", 'say \"hi\"', 'both \\' and \"', '\\n\\t\\r\\\\'] }}", {}),
    ("lit_str_repr_unicode", "{{ ['é日本🙂', '\\x00\\x07\\x1b\\x7f', '\\x80\\x9f\\xa0\\xad\\xff', '\\u200b\\u2028\\u3000\\ufeff', '\\U0001F600'] }}", {}),
    ("lit_nested_dict_list", "{{ {'k': {'k2': ['v', {'z': (1,)}]}} }}", {}),
    ("lit_trailing_commas", "{{ [1, 2,] }} {{ {'a': 1,} }} {{ (1, 2,) }}", {}),
    # operators
    ("op_arith", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 2.5 ** 2 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}", {}),
    ("op_pow_assoc", "{{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ (-2) ** 2 }}", {}),
    ("op_bool_arith", "{{ true + 1 }} {{ true * 3 }} {{ false - 1 }} {{ true / 2 }}", {}),
    ("op_concat", "{{ 'a' + 'b' }} {{ 'a' ~ 1 ~ none ~ true ~ 1.5 ~ [1] ~ x ~ {'a': 1} }}", {}),
    ("op_concat_prec", "{{ 1 + 2 ~ 3 }} {{ 'x' ~ 2 * 3 }} {{ 'a' ~ (1 + 2) }} {{ 1 ~ 2 | length }}", {}),
    ("op_concat_prec_err", "{{ 'a' ~ 1 + 2 }}", {}),
    ("op_list_concat", "{{ [1] + [2, 3] }} {{ (1,) + (2,) }} {{ [1] * 3 }} {{ 'ab' * 3 }} {{ 3 * 'x' }} {{ 'ab' * 0 }} {{ [1] * -1 }}", {}),
    ("op_compare", "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' < 'b' }} {{ 'é' > 'z' }} {{ [1, 2] < [1, 3] }} {{ [1] < [1, 0] }} {{ (1, 2) == (1, 2) }} {{ [1] == (1,) }} {{ none == none }} {{ 1 != 2 }}", {}),
    ("op_compare_dicts", "{{ {'a': 1, 'b': 2} == {'b': 2, 'a': 1} }} {{ {'a': 1} == {'a': 2} }}", {}),
    ("op_in", "{{ 'b' in 'abc' }} {{ '' in 'abc' }} {{ 2 in [1, 2] }} {{ 'a' in {'a': 1} }} {{ 1 in {'a': 1} }} {{ 3 not in [1] }} {{ not 3 in [1] }} {{ 1.0 in [1] }} {{ x in [1] }} {{ 1 in x }}", {}),
    ("op_and_or", "{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ none or [] }} {{ '' and 1 }} {{ 1 and 0 or 5 }} {{ not none }} {{ not 'a' }} {{ [] or {} or 0 or 'last' }}", {}),
    ("op_cond", "{{ 'y' if true else 'n' }} {{ 'y' if false else 'n' }} [{{ 'y' if false }}] {{ 1 if none else 2 if 0 else 3 }}", {}),
    ("op_not_prec", "{{ not 1 == 2 }} {{ not true and false }} {{ not (true and false) }}", {}),
    ("op_neg_filter", "{{ -3|abs }} {{ - 3 | abs }} {{ -(3|abs) }} {{ +2 }}", {}),
    ("op_truthiness", "{% for v in [0, 1, '', 'a', [], [0], {}, none, 0.0, false] %}{{ 'T' if v else 'F' }}{% endfor %}", {}),
    ("op_str_format", "{{ 'a%sb%d' % ('x', 3) }}|{{ '%s' % none }}|{{ '%-5s|%3d' % ('ab', 7) }}|{{ '100%%' % () }}|{{ 'x' % {'a': 1} }}|{{ '%s' % [1, 2] }}|{{ '%r' % 'q' }}|{{ '%i' % 2.9 }}", {}),
    ("op_str_format_few", "{{ '%s %s' % 1 }}", {}),
    ("op_str_format_many", "{{ 'x' % 1 }}", {}),
    ("op_str_format_type", "{{ '%d' % 'a' }}", {}),
    ("op_dict_views", "{{ d.keys() }} {{ d.values() }} {{ d.items() }} {{ {}.keys() }}", {"d": {"a": 1, "b": [2]}}),
    ("op_generators", "{% if [1]|map('nosuch') %}T{% endif %}{% if 5|selectattr('x') %}T{% endif %}{% if []|reverse %}T{% endif %}{% if {}|items %}T{% endif %}{{ none|select|list }}{{ ([1, 'a']|map('int'))|first }}{{ [1, 2]|select is sequence }}{{ [1]|select == [1] }}", {}),
    ("op_generator_len", "{{ [1, 2]|select|length }}", {}),
    ("op_generator_err", "{{ [1]|map('nosuch')|list }}", {}),
    ("f_batch_slice", "{{ [1, 2, 3, 4, 5]|batch(2)|list }}{{ [1, 2, 3, 4, 5]|batch(2, 0)|list }}{{ [1, 2, 3, 4, 5]|slice(2)|list }}{{ [1, 2, 3, 4, 5]|slice(3, 0)|list }}{{ [1, 2, 3, 4]|slice(2, 0)|list }}{{ []|batch(3)|list }}", {}),
    ("acc_slice_types", "{{ n[1:2] }}", {"n": 2}),
    ("acc_slice_none", "{{ n[1:2] }}", {"n": None}),
    ("acc_slice_dict", "{{ n[1:2] }}", {"n": {"a": 1}}),
    ("acc_slice_float_bound", "{{ n[1.5:] }}", {"n": [1, 2]}),
    ("f_indent_nonstr", "{{ n|indent }}", {"n": 5}),
    ("f_dictsort_nondict", "{{ n|dictsort }}", {"n": "abc"}),
    ("f_wordcount_unicode", "{{ '日本語🙂3 e\u0301t\u00e9 x_y-z'|wordcount }}", {}),
    ("op_err_str_int", "{{ 'a' + 1 }}", {}),
    ("op_err_int_str", "{{ 1 + 'a' }}", {}),
    ("op_err_none_int", "{{ none + 1 }}", {}),
    ("op_err_str_none", "{{ 'a' + none }}", {}),
    ("op_err_list_str", "{{ [1] + 'a' }}", {}),
    ("op_err_in_int", "{{ 'a' in 1 }}", {}),
    ("op_err_in_none", "{{ 'a' in none }}", {}),
    ("op_err_in_str_int", "{{ 1 in 'abc' }}", {}),
    ("op_err_div0", "{{ 1 / 0 }}", {}),
    ("op_err_mod0", "{{ 1 % 0 }}", {}),
    ("op_err_undef_add", "{{ x + 1 }}", {}),
    ("op_err_undef_lt", "{{ x < 1 }}", {}),
    ("op_err_lt_mixed", "{{ 'a' < 1 }}", {}),
    ("op_err_neg_str", "{{ -'a' }}", {}),
    ("op_undef_eq", "{{ x == y }} {{ x == none }} {{ x != 1 }}", {}),
    # variables and scope
    ("var_set", "{% set a = 1 %}{% set b, c = [2, 3] %}{% set d = 4, 5 %}{{ a }}{{ b }}{{ c }}{{ d }}", {}),
    ("var_loop_scope", "{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}", {}),
    ("var_loop_iter_reset", "{% for i in [1, 2] %}{% if loop.first %}{% set a = 5 %}{% endif %}{{ a }},{% endfor %}", {}),
    ("var_loop_leak", "{% for a in [1] %}{% set q = 1 %}{% endfor %}{{ q }}{{ a }}", {}),
    ("var_if_no_scope", "{% if true %}{% set z = 3 %}{% endif %}{{ z }}", {}),
    ("var_namespace", "{% set ns = namespace(n=0, s='') %}{% for i in [1, 2, 3] %}{% set ns.n = ns.n + i %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.n }} {{ ns.s }} {{ ns.missing is defined }}", {}),
    ("var_namespace_dict", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}{{ ns['a'] }}", {}),
    ("var_namespace_repr", "{% set ns = namespace(a=1) %}{{ ns.a }}", {}),
    ("var_namespace_err", "{% set x = 1 %}{% set x.a = 2 %}", {}),
    ("var_with", "{% set a = 1 %}{% with a = 2, b = a %}{{ a }}{{ b }}{% endwith %}{{ a }}", {}),
    ("var_globals", "{{ messages|length }} {{ messages[0].role }} {{ messages[-1]['content'] }}", {"messages": MSGS}),
    ("var_overwrite_global", "{% set messages = messages[1:] %}{{ messages|length }}", {"messages": MSGS}),
    ("var_set_block", "{% set x %}a{{ 1 }}b{% endset %}[{{ x }}]{% set y | upper | trim %} hi {% endset %}[{{ y }}]", {}),
    # loops
    ("loop_vars", "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.depth }}{{ loop.depth0 }};{% endfor %}", {}),
    ("loop_prev_next", "{% for x in [1, 2, 3] %}{{ loop.previtem }}/{{ loop.nextitem }}/{{ loop.previtem is defined }};{% endfor %}", {}),
    ("loop_cycle", "{% for x in range(5) %}{{ loop.cycle('a', 'b') }}{% endfor %}", {}),
    ("loop_else", "{% for x in [] %}x{% else %}empty{% endfor %}{% for x in [1] %}x{% else %}e{% endfor %}", {}),
    ("loop_dict", "{% for k in {'b': 1, 'a': 2} %}{{ k }}{% endfor %} {% for k, v in {'b': 1, 'a': 2}.items() %}{{ k }}={{ v }};{% endfor %} {% for k, v in {'b': 1}|items %}{{ k }}{{ v }}{% endfor %}", {}),
    ("loop_string_unicode", "{% for c in 'héy🙂' %}[{{ c }}]{% endfor %}", {}),
    ("loop_filter", "{% for x in [1, 2, 3, 4] if x is even %}{{ x }}{{ loop.index }}/{{ loop.length }} {% endfor %}", {}),
    ("loop_nested", "{% for a in [1, 2] %}{% for b in 'xy' %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }}|{% endfor %}", {}),
    ("loop_break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("loop_unpack", "{% for a, b in [[1, 2], (3, 4), 'xy'] %}{{ a }}{{ b }}{% endfor %}", {}),
    ("loop_unpack_err", "{% for a, b in [[1, 2, 3]] %}{% endfor %}", {}),
    ("loop_over_none", "{% for x in none %}{% endfor %}", {}),
    ("loop_over_undefined", "{% for x in nothing %}x{% else %}none{% endfor %}", {}),
    ("loop_over_int", "{% for x in 3 %}{% endfor %}", {}),
    ("loop_range", "{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ range(5, 0, -2)|list }} {{ range(0)|list }}", {}),
    ("loop_index_outer", "{% for m in messages %}{% if loop.index0 > 0 and messages[loop.index0 - 1].role == 'user' %}{{ m.role }}{% endif %}{% endfor %}", {"messages": MSGS}),
    ("loop_reversed_slice", "{% for m in messages[::-1] %}{{ m.role[0] }}{% endfor %}", {"messages": MSGS}),
    ("loop_loop_after", "{% for x in [1] %}{% endfor %}{{ loop is defined }}", {}),
    # filters
    ("f_trim", "[{{ '  a b \\n\\t'|trim }}][{{ 'xxaxx'|trim('x') }}][{{ none|trim }}][{{ x|trim }}][{{ '\\u00a0a\\u3000'|trim }}]", {}),
    ("f_length", "{{ 'héllo'|length }} {{ [1, 2]|length }} {{ {'a': 1}|length }} {{ x|length }} {{ ''|count }}", {}),
    ("f_length_err", "{{ 5|length }}", {}),
    ("f_case", "{{ 'hello WORLD'|upper }} {{ 'HeLLo'|lower }} {{ 'hello world-foo (bar) x_y'|title }} {{ \"they're bill's\"|title }} {{ 'hELLO world'|capitalize }} {{ 'éa ÀÉ'|upper }} {{ 'ÉCOLE Straße'|lower }}", {}),
    ("f_case_none", "{{ none|upper }} {{ none|lower }} {{ 12|string }}", {}),
    ("f_tojson_basic", "{{ [1, 'a', none, true, 1.5, {'k': 'v'}]|tojson }} {{ 'é\"\\n\\u2028'|tojson }} {{ {}|tojson }} {{ []|tojson }}", {}),
    ("f_tojson_indent", "{{ {'a': [1, {'b': []}], 'c': {}}|tojson(indent=2) }}", {}),
    ("f_tojson_indent0", "{{ [1, [2]]|tojson(indent=0) }}", {}),
    ("f_tojson_indent_str", "{{ {'a': 1}|tojson(indent='\\t') }}", {}),
    ("f_tojson_opts", "{{ {'b': 1, 'a': [1, 2]}|tojson(sort_keys=true) }} {{ {'a': 1}|tojson(separators=(',', ':')) }} {{ 'é🙂\\x7f'|tojson(ensure_ascii=true) }}", {}),
    ("f_tojson_keys", "{{ {1: 'a', 1.5: 'b', true: 'c', none: 'd'}|tojson }}", {}),
    ("f_tojson_floats", "{{ [1.0, 0.1, 1e16, 1e-7, -0.0]|tojson }}", {}),
    ("f_tojson_undefined", "{{ x|tojson }}", {}),
    ("f_tojson_tools", "{{ tools|tojson(indent=4) }}", {"tools": [TOOL]}),
    ("f_default", "{{ x|default('d') }} {{ none|default('d') }} {{ ''|default('d', true) }} {{ 'v'|d('d') }} [{{ x|default }}]", {}),
    ("f_join", "{{ [1, 'a', none]|join(', ') }} {{ 'abc'|join('-') }} {{ messages|join('|', attribute='role') }} {{ []|join(',') }} {{ {'a': 1, 'b': 2}|join }}", {"messages": MSGS}),
    ("f_replace", "{{ 'aaa'|replace('a', 'b') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'abc'|replace('', '-') }} {{ 123|replace('2', 'x') }} {{ \"it's\"|replace(\"'\", '\"') }}", {}),
    ("f_first_last", "{{ [1, 2]|first }} {{ [1, 2]|last }} {{ 'héy'|first }} {{ 'héy'|last }} [{{ []|first }}] {{ {'a': 1, 'b': 2}|first }} {{ {'a': 1, 'b': 2}|last }}", {}),
    ("f_items", "{{ {'a': 1, 'b': [2]}|items|list }} {{ x|items|list }}", {}),
    ("f_items_err", "{{ [1]|items|list }}", {}),
    ("f_selectattr", "{{ messages|selectattr('role', 'equalto', 'user')|map(attribute='content')|join(',') }} {{ messages|rejectattr('role', 'eq', 'user')|list|length }} {{ [{'a': 1}, {'b': 2}]|selectattr('a', 'defined')|list }} {{ [{'a': 0}, {'a': 2}]|selectattr('a')|list }}", {"messages": MSGS}),
    ("f_select", "{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3]|reject('even')|list }} {{ [0, 1, '', 'a']|select|list }} {{ ['a', 1, none]|select('string')|list }} {{ [1, 5, 9]|select('gt', 4)|list }} {{ [1, 5]|select('in', [5])|list }}", {}),
    ("f_map", "{{ ['a', 'B']|map('upper')|list }} {{ [{'a': 1}, {}]|map(attribute='a', default=0)|list }} {{ [[1, 2], [3]]|map('length')|list }} {{ ['1', '2']|map('int')|sum }} {{ [' a ']|map('trim')|first }} {{ ['a,b']|map('replace', ',', ';')|list }}", {}),
    ("f_map_no_default", "{{ ['ab', {'role': 'r'}]|map(attribute='role')|list }}|{% for x in 'ab'|map(attribute='role') %}[{{ x }}]{% endfor %}|{{ [{}]|map(attribute='a', default=none)|list }}", {}),
    ("f_map_nested_attr", "{{ tools|map(attribute='function.name')|list }} {{ [[1, 2]]|map(attribute='1')|list }}", {"tools": [TOOL]}),
    ("f_list_string", "{{ 'ab'|list }} {{ {'a': 1}|list }} {{ (1, 2)|list }} {{ [1, 'a']|string }} {{ none|string }} {{ 1.0|string }} {{ x|list }}", {}),
    ("f_unique", "{{ ['a', 'A', 'b', 'a']|unique|list }} {{ ['a', 'A']|unique(case_sensitive=true)|list }} {{ [1, 1.0, 2]|unique|list }} {{ [{'t': 'x'}, {'t': 'X'}]|unique(attribute='t')|list }}", {}),
    ("f_int_float", "{{ '42'|int }} {{ ' 7 '|int }} {{ '3.9'|int }} {{ 'x'|int }} {{ 'x'|int(5) }} {{ 4.7|int }} {{ true|int }} {{ none|int }} {{ '0x1f'|int(base=16) }} {{ '1_000'|int }} {{ '1e3'|int }} {{ '2.5'|float }} {{ 'x'|float }} {{ 3|float }} {{ '1e3'|float }} {{ ' inf '|float }} {{ '1_0.5'|float }}", {}),
    ("f_int_undef", "{{ x|int }}", {}),
    ("f_abs_round", "{{ -3|abs }} {{ -2.5|abs }} {{ 2.675|round(2) }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.4|round(0, 'ceil') }} {{ 2.6|round(0, 'floor') }} {{ 3|round }} {{ 1234|round(-2) }} {{ 1250|round(-2) }} {{ 1.23456|round(3) }} {{ -0.5|round }}", {}),
    ("f_indent", "{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, blank=true) }}|{{ 'a\\nb'|indent('> ') }}|{{ 'x\\r\\ny'|indent(1) }}", {}),
    ("f_reverse_sort", "{{ 'abc'|reverse }} {{ [1, 3, 2]|reverse|list }} {{ [3, 1, 2]|sort }} {{ ['b', 'A', 'c']|sort }} {{ ['b', 'A', 'c']|sort(case_sensitive=true) }} {{ [3, 1]|sort(reverse=true) }} {{ messages|sort(attribute='role')|map(attribute='content')|list }}", {"messages": MSGS}),
    ("f_sort_err", "{{ [1, 'a']|sort }}", {}),
    ("f_dictsort", "{{ {'b': 1, 'a': 2, 'C': 0}|dictsort }} {{ {'b': 1, 'a': 2}|dictsort(by='value') }} {{ {'b': 1, 'a': 2}|dictsort(reverse=true) }}", {}),
    ("f_sum_min_max", "{{ [1, 2, 3]|sum }} {{ [1.5, 2]|sum }} {{ [[1], [2]]|sum(start=[]) }} {{ [3, 1, 2]|min }} {{ [3, 1, 2]|max }} {{ ['b', 'A']|min }} {{ ['b', 'A']|max }} [{{ []|max }}] {{ messages|max(attribute='content') }}", {"messages": MSGS}),
    ("f_wordcount_escape", "{{ 'hello big  world'|wordcount }} {{ '<a href=\"x\">&\\'</a>'|e }} {{ '<b>'|escape }}", {}),
    ("f_chain", "{{ messages|map(attribute='role')|unique|list|join('/')|upper }}", {"messages": MSGS}),
    ("f_filter_block", "{% filter upper %}hello {{ 'x' }}{% endfilter %}{% filter trim|replace('a', 'b') %}  aa  {% endfilter %}", {}),
    ("f_attr", "[{{ {'a': 1}|attr('a') }}] [{{ messages[0]|attr('role') }}] {{ 'ab'|attr('upper') is defined }} {% set ns = namespace(v=1) %}{{ ns|attr('v') }}", {"messages": MSGS}),
    ("f_safe", "{{ '<b>'|safe }} {{ 1|safe }}", {}),
    # tests
    ("t_types", "{% for v in [none, true, 1, 1.5, 'a', [1], {'a': 1}, (1,)] %}{{ v is none }}{{ v is boolean }}{{ v is integer }}{{ v is float }}{{ v is number }}{{ v is string }}{{ v is mapping }}{{ v is iterable }}{{ v is sequence }}{{ v is callable }};{% endfor %}", {}),
    ("t_undef", "{{ x is defined }}{{ x is undefined }}{{ x is iterable }}{{ x is sequence }}{{ x is none }}{{ x is string }}{{ x is mapping }}{{ x is number }}", {}),
    ("t_true_false", "{{ true is true }}{{ 1 is true }}{{ false is false }}{{ 0 is false }}{{ none is false }}", {}),
    ("t_compare", "{{ 1 is eq 1 }}{{ 1 is equalto 2 }}{{ 1 is ne 2 }}{{ 1 is lt 2 }}{{ 2 is gt 1 }}{{ 2 is ge 2 }}{{ 2 is le 1 }}{{ 2 is greaterthan 1 }}{{ 1 is lessthan(2) }}{{ 'a' is in 'abc' }}{{ 2 is in [1] }}", {}),
    ("t_numbers", "{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(4) }}{{ 1 is sameas 1 }}{{ none is sameas none }}{{ true is sameas 1 }}", {}),
    ("t_case", "{{ 'abc' is lower }}{{ 'aBc' is lower }}{{ 'ABC' is upper }}{{ '123' is upper }}", {}),
    ("t_not", "{{ x is not defined }}{{ 1 is not string }}{{ not x is defined }}", {}),
    ("t_filter_test", "{{ 'upper' is filter }}{{ 'nope' is filter }}{{ 'odd' is test }}{{ 'nope' is test }}", {}),
    ("t_defined_attr", "{{ messages[0].role is defined }}{{ messages[0].nothing is defined }}{{ messages[0]['tool_calls'] is not defined }}{{ messages[9] is defined }}", {"messages": MSGS}),
    # attribute and item access
    ("acc_dict", "{{ d.a }} {{ d['a'] }} {{ d.b[1] }} {{ d.b.0 }} {{ d.s }} [{{ d.missing }}] {{ d.missing is defined }}", {"d": D}),
    ("acc_methods_vs_items", "{{ {'items': 1}['items'] }} {{ {'a': 1}.get('a') }} {{ {'a': 1}.get('b', 'dflt') }} {{ {'a': 1}.get('b') }} {{ d.keys()|list }} {{ d.values()|list|length }}", {"d": D}),
    ("acc_undefined_attr", "{{ nothing.attr }}", {}),
    ("acc_undefined_item", "{{ nothing['x'] }}", {}),
    ("acc_none_attr", "[{{ none.x }}] {{ none.x is defined }}", {}),
    ("acc_none_call", "{{ none.split('a') }}", {}),
    ("acc_missing_chain", "{{ d.missing.x }}", {"d": D}),
    ("acc_list", "{{ [1, 2][-1] }} [{{ [1][5] }}] {{ 'héy'[1] }} {{ 'abc'[-1] }} [{{ 'ab'[5] }}] {{ [1, 2]['x'] is defined }}", {}),
    ("acc_slices", "{{ [1, 2, 3, 4][1:3] }} {{ [1, 2, 3][::-1] }} {{ 'héllo'[1:3] }} {{ 'abcdef'[::2] }} {{ 'abc'[-2:] }} {{ [1, 2, 3][:-1] }} {{ [1, 2, 3][5:] }} {{ 'abc'[::-1] }} {{ [1, 2, 3, 4, 5][4:0:-2] }} {{ (1, 2, 3)[1:] }}", {}),
    ("acc_slice_step0", "{{ [1][::0] }}", {}),
    ("acc_unsafe", "{{ [].append is defined }} {{ {}.update is defined }} {{ {}.pop is defined }} {{ [].count is defined }}", {}),
    ("acc_unsafe_call", "{{ [1].append(2) }}", {}),
    ("acc_ns_item", "{% set ns = namespace(v=3) %}{{ ns['v'] }}", {}),
    # methods
    ("m_strip", "[{{ '  a  '.strip() }}][{{ '  a  '.lstrip() }}][{{ '  a  '.rstrip() }}][{{ 'xxaxx'.strip('x') }}][{{ '\\n\\na\\n'.strip('\\n') }}][{{ 'abc'.lstrip('ba') }}]", {}),
    ("m_split", "{{ 'a b  c'.split() }} {{ '  a b  '.split(None, 1) }} {{ 'a,b,,c'.split(',') }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ '  a b  '.rsplit(None, 1) }} {{ ''.split(',') }} {{ ''.split() }} {{ 'x</think>y</think>z'.split('</think>')[-1] }}", {}),
    ("m_split_empty_sep", "{{ 'a'.split('') }}", {}),
    ("m_startswith", "{{ 'hello'.startswith('he') }} {{ 'hello'.endswith('lo') }} {{ 'hello'.startswith(('x', 'h')) }} {{ ''.endswith('') }} {{ 'a'.endswith('ab') }}", {}),
    ("m_case", "{{ 'ab CD'.upper() }} {{ 'ab CD'.lower() }} {{ \"they're bill's\".title() }} {{ 'hELLO'.capitalize() }} {{ 'Straße'.casefold() }}", {}),
    ("m_find", "{{ 'héllo'.find('l') }} {{ 'hello'.rfind('l') }} {{ 'hello'.find('z') }} {{ 'hello'.index('e') }} {{ 'aaa'.count('a') }} {{ 'abc'.count('') }}", {}),
    ("m_index_err", "{{ 'abc'.index('z') }}", {}),
    ("m_replace_join", "{{ 'a-b-c'.replace('-', '+') }} {{ 'a-b-c'.replace('-', '', 1) }} {{ ', '.join(['a', 'b']) }} {{ ''.join('xyz') }}", {}),
    ("m_join_err", "{{ ', '.join([1, 2]) }}", {}),
    ("m_partition", "{{ 'a=b=c'.partition('=') }} {{ 'a=b=c'.rpartition('=') }} {{ 'abc'.partition('x') }} {{ 'abc'.rpartition('x') }}", {}),
    ("m_misc", "{{ 'prefix_x'.removeprefix('prefix_') }} {{ 'x.py'.removesuffix('.py') }} {{ 'a\\nb\\r\\nc'.splitlines() }} {{ '123'.isdigit() }} {{ 'ab1'.isalnum() }} {{ 'ab'.isalpha() }} {{ ' '.isspace() }} {{ 'ab'.islower() }} {{ 'AB'.isupper() }}", {}),
    ("m_list", "{{ [1, 2, 1].count(1) }} {{ [1, 2].index(2) }} {{ (1, 2).index(1) }}", {}),
    ("m_dict_items_loop", "{% for k, v in tools[0].function.items() if k != 'parameters' %}{{ k }}={{ v }};{% endfor %}", {"tools": [TOOL]}),
    # macros
    ("mac_basic", "{% macro hi(name, greet='Hello') %}{{ greet }}, {{ name }}!{% endmacro %}{{ hi('Ann') }} {{ hi('Bob', 'Hey') }} {{ hi(greet='Yo', name='Cy') }} [{{ hi() }}]", {}),
    ("mac_default_refs_param", "{% macro f(a, b=a ~ '!') %}{{ a }}{{ b }}{% endmacro %}{{ f('x') }}", {}),
    ("mac_outer_var", "{% macro f() %}{{ y }}{% endmacro %}{% set y = 1 %}{{ f() }}{% set y = 2 %}{{ f() }}", {}),
    ("mac_recursion", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}{{ fact(6) }}", {}),
    ("mac_returns_str", "{% macro f() %} x {% endmacro %}{% set r = f() %}[{{ r }}] {{ r|trim == 'x' }} {{ f() is string }}", {}),
    ("mac_varargs_kwargs", "{% macro f(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ f(1, 2, 3, k='v') }}", {}),
    ("mac_too_many", "{% macro f(a) %}{% endmacro %}{{ f(1, 2) }}", {}),
    ("mac_bad_kw", "{% macro f(a) %}{% endmacro %}{{ f(b=1) }}", {}),
    ("mac_caller", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}inside {{ 1 + 1 }}{% endcall %}", {}),
    ("mac_caller_args", "{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}{% call(v) each([1, 2]) %}[{{ v }}]{% endcall %}", {}),
    ("mac_json_to_python", "{% macro t(s) %}{% set m = {'string': 'str', 'integer': 'int'} %}{% if m[s.type] is defined %}{{ m[s.type] }}{% elif s.type == 'array' %}{{ 'list[' + t(s['items']) + ']' }}{% else %}Any{% endif %}{% endmacro %}{{ t({'type': 'array', 'items': {'type': 'integer'}}) }} {{ t({'type': 'object'}) }}", {}),
    ("mac_ns_in_macro", "{% macro count(xs) %}{% set ns = namespace(n=0) %}{% for x in xs %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}{% endmacro %}{{ count([1, 2, 3]) }}", {}),
    # globals
    ("g_raise", "{{ raise_exception('Bad role: ' ~ 'x') }}", {}),
    ("g_raise_in_if", "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}ok", {"messages": MSGS}),
    ("g_strftime", "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%B %d, %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S') }}|{{ strftime_now('%A %a %j %U %W %w %y %p %I %%') }}|{{ strftime_now('%-d %-m') }}|{{ strftime_now('%c|%x|%X') }}", {}),
    ("g_strftime_defined", "{{ strftime_now is defined }} {{ raise_exception is defined }} {{ range is defined }} {{ namespace is defined }}", {}),
    ("g_dict", "{{ dict(a=1, b='x') }} {{ dict({'a': 1}, b=2) }}", {}),
    ("g_range_big", "{{ range(200000)|length }}", {}),
    # real-template idioms
    ("idiom_llama3_system", "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content']|trim %}{%- set messages = messages[1:] %}{%- else %}{%- set system_message = '' %}{%- endif %}[{{ system_message }}]{{ messages|length }}", {"messages": MSGS}),
    ("idiom_content_none", "{{ '<|im_start|>' + message.role + '\\n' + message.content }}", {"message": {"role": "assistant", "content": None}}),
    ("idiom_tool_args_string", "{% if args is string %}{{ args }}{% else %}{{ args|tojson }}{% endif %}", {"args": "{\"a\": 1}"}),
    ("idiom_tool_args_dict", "{% if args is string %}{{ args }}{% else %}{{ args|tojson }}{% endif %}", {"args": {"a": 1, "b": [True, None]}}),
    ("idiom_think_split", "{% set c = m.content %}{% if '</think>' in c %}{{ c.split('</think>')[-1].lstrip('\\n') }}|{{ c.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}{% endif %}", {"m": {"content": "<think>\nhmm\n</think>\n\nanswer"}}),
    ("idiom_tool_id_len", "{{ tool_call.id|length != 9 }}", {"tool_call": {"id": "call00001"}}),
    ("idiom_out_slice", "{% set out = {'name': 'f', 'arguments': {'a': 1}}|tojson %}{{ out[:-1] }}", {}),
    ("idiom_message_equality", "{% set user_messages = messages|selectattr('role', 'equalto', 'user')|list %}{% for m in messages %}{{ m == user_messages[-1] }}{% endfor %}", {"messages": MSGS}),
    ("idiom_loop_controls_in_if", "{% for m in messages %}{% if m.role == 'assistant' %}{% break %}{% endif %}{{ m.role }};{% endfor %}", {"messages": MSGS}),
    # syntax errors (Jinja2 refuses to compile these)
    ("err_unclosed_if", "{% if true %}x", {}),
    ("err_unclosed_for", "{% for x in y %}x", {}),
    ("err_stray_endif", "x{% endif %}", {}),
    ("err_unknown_filter", "{{ x|nosuchfilter }}", {}),
    ("err_unknown_test", "{{ x is nosuchtest }}", {}),
    ("err_unknown_tag", "{% frobnicate %}", {}),
    ("err_unclosed_var", "{{ x ", {}),
    ("err_unclosed_string", "{{ 'abc }}", {}),
    ("err_unclosed_comment", "{# abc", {}),
    ("err_break_outside", "{% break %}", {}),
    ("err_bad_paren", "{{ (1 }}", {}),
    ("err_extra_paren", "{{ 1) }}", {}),
    ("err_missing_expr", "{{ }}", {}),
    ("err_elif_after_else", "{% if a %}{% else %}{% elif b %}{% endif %}", {}),
    ("err_default_order", "{% macro f(a=1, b) %}{% endmacro %}", {}),
    ("err_set_no_value", "{% set %}", {}),
    ("err_do_tag", "{% do x %}", {}),
    ("err_endfor_for_if", "{% if x %}{% endfor %}", {}),
]


# ------------------------------------------------------------------------------------------
# Generated conversations
def conversations():
    rng = random.Random(20240726)
    words = ["hello", "world", "été", "日本語", "🙂", "naïve", "Grüße", "«ok»", "—", "x²",
             "what", "is", "the", "answer", "{{", "}}", "{%", "\\n", "\"quoted\"", "it's",
             "<tag>", "&amp;", "\t", "  ", "مرحبا", "שלום", "Ω", "e\u0301", "\u200b", "0.1"]

    def text(k):
        return " ".join(rng.choice(words) for _ in range(k))

    convs = []
    # 1. empty content in every role
    convs.append([{"role": "user", "content": ""}])
    convs.append([{"role": "system", "content": ""}, {"role": "user", "content": ""},
                  {"role": "assistant", "content": ""}, {"role": "user", "content": ""}])
    # 2. unicode and whitespace edges
    convs.append([{"role": "user", "content": "  Réponse\u00a0: 日本語 🙂\n\tline2  \n"},
                  {"role": "assistant", "content": "\n\n 答え \u3000"},
                  {"role": "user", "content": "\u200bzero-width, e\u0301, RTL مرحبا, emoji 👩‍💻"}])
    convs.append([{"role": "system", "content": "Sys with {{ braces }} and {% tags %} and \\ backslash"},
                  {"role": "user", "content": "quotes ' \" and </s> <|im_end|> [INST]"}])
    convs.append([{"role": "user", "content": "a\r\nb\rc\x0bd\x0ce\x1cf\x85g\u2028h"}])
    # 3. long histories
    for n_turns, k in ((20, 3), (60, 1)):
        c = [{"role": "system", "content": text(5)}]
        for i in range(n_turns):
            c.append({"role": "user", "content": text(rng.randint(0, k + 4))})
            c.append({"role": "assistant", "content": text(rng.randint(0, k + 6))})
        c.append({"role": "user", "content": text(k)})
        convs.append(c)
    # 4. tool calls and results
    call = {"id": "call12345", "type": "function",
            "function": {"name": "get_weather", "arguments": {"location": "Paris", "unit": "C"}}}
    call_str = {"id": "call67890", "type": "function",
                "function": {"name": "get_time", "arguments": "{\"tz\": \"Europe/Paris\"}"}}
    convs.append([{"role": "user", "content": "Weather and time in Paris?"},
                  {"role": "assistant", "content": "", "tool_calls": [call]},
                  {"role": "tool", "tool_call_id": "call12345", "name": "get_weather",
                   "content": "{\"temp\": 21.5, \"sky\": \"clair ☀\"}"},
                  {"role": "assistant", "content": "It is 21.5°C."}])
    convs.append([{"role": "system", "content": "You can call tools."},
                  {"role": "user", "content": "Time?"},
                  {"role": "assistant", "content": None, "tool_calls": [call_str]},
                  {"role": "tool", "tool_call_id": "call67890", "content": "12:00"},
                  {"role": "user", "content": "Thanks"}])
    convs.append([{"role": "user", "content": "Two calls"},
                  {"role": "assistant", "content": "Calling.", "tool_calls": [call, call_str]},
                  {"role": "tool", "tool_call_id": "call12345", "content": "sunny"},
                  {"role": "tool", "tool_call_id": "call67890", "content": "noon"}])
    # 5. a trailing assistant turn (prefill) and assistant-first
    convs.append([{"role": "user", "content": "Finish this:"},
                  {"role": "assistant", "content": "Once upon"}])
    convs.append([{"role": "assistant", "content": "I speak first."},
                  {"role": "user", "content": "ok"}])
    # 6. thinking content
    convs.append([{"role": "user", "content": "2+2?"},
                  {"role": "assistant", "content": "<think>\nadd\n</think>\n\n4"},
                  {"role": "user", "content": "3+3?"}])
    return convs


TOOLS = [TOOL, {"type": "function", "function": {
    "name": "get_time", "description": "Current time in a zone",
    "parameters": {"type": "object",
                   "properties": {"tz": {"type": "string", "description": "IANA zone",
                                         "enum": ["UTC", "Europe/Paris"]},
                                  "format": {"type": ["string", "null"], "default": "24h"}},
                   "required": ["tz"]}}}]

BUILTIN_TOKENS = {"chatml": (None, None), "llama2": ("<s>", "</s>"),
                  "llama3": ("<|begin_of_text|>", "<|eot_id|>"), "mistral": ("<s>", "</s>"),
                  "gemma": ("<bos>", "<eos>"), "phi3": ("<s>", "<|endoftext|>"),
                  "zephyr": ("<s>", "</s>")}


def builtin_templates():
    """The Jinja sources of src/chat/template.c (C string literals, simple escapes only)."""
    src = open(os.path.join(ROOT, "src", "chat", "template.c"), encoding="utf-8").read()
    out = {}
    for m in re.finditer(r"static const char k_(\w+)\[\] =(.*?);\n", src, re.S):
        lits = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2))
        text = "".join(lits)
        text = re.sub(r"\\(.)", lambda e: {"n": "\n", "t": "\t"}.get(e.group(1), e.group(1)), text)
        out[m.group(1)] = text
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    with open(os.path.join(args.out, "jinja_features.jsonl"), "w", encoding="utf-8") as f:
        names = set()
        for name, src, variables in FEATURES:
            assert name not in names, name
            names.add(name)
            rec = {"name": name, "template": src, "vars": variables}
            exp, err = render(src, **variables)
            if err:
                rec["error_type"], rec["error"] = err
            else:
                rec["expected"] = exp
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")

    convs = conversations()
    real_dir = os.path.join(args.data, "chat-templates", "real")
    templates = []
    for fn in sorted(os.listdir(real_dir)):
        if not fn.endswith(".jinja"):
            continue
        name = fn[:-6]
        src = open(os.path.join(real_dir, fn), encoding="utf-8").read()
        with open(os.path.join(real_dir, name + ".cases.jsonl"), encoding="utf-8") as cf:
            first = json.loads(cf.readline())
        templates.append(("real/" + name, src, first["bos_token"], first["eos_token"]))
    for name, src in sorted(builtin_templates().items()):
        bos, eos = BUILTIN_TOKENS[name]
        templates.append(("builtin/" + name, src, bos, eos))

    n = 0
    with open(os.path.join(args.out, "chat_generated.jsonl"), "w", encoding="utf-8") as f:
        f.write(json.dumps({"conversations": convs, "tools": TOOLS}, ensure_ascii=False) + "\n")
        for tname, src, bos, eos in templates:
            for ci, conv in enumerate(convs):
                has_tools = any("tool_calls" in m or m["role"] == "tool" for m in conv)
                for agp in (True, False):
                    if agp is False and ci % 3:
                        continue  # both settings for every third conversation
                    kw = {"messages": conv, "tools": TOOLS if has_tools else None,
                          "documents": None, "add_generation_prompt": agp}
                    if bos is not None:
                        kw["bos_token"] = bos
                    if eos is not None:
                        kw["eos_token"] = eos
                    rec = {"template": tname, "conv": ci, "tools": has_tools,
                           "add_generation_prompt": agp, "bos_token": bos, "eos_token": eos}
                    exp, err = render(src, **kw)
                    if err:
                        rec["error_type"], rec["error"] = err
                    else:
                        rec["expected"] = exp
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                    n += 1
    print(f"{len(FEATURES)} feature cases, {n} generated renders "
          f"({len(templates)} templates x {len(convs)} conversations)", file=sys.stderr)


if __name__ == "__main__":
    main()

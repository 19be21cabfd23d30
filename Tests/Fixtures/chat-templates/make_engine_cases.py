#!/usr/bin/env python3
"""Regenerates engine-cases.json: small templates exercising one engine feature each, rendered by
Python's jinja2 3.1.6 in the environment Hugging Face's apply_chat_template uses (sandboxed and
immutable, trim_blocks, lstrip_blocks, loop controls, the generation block, raise_exception,
a json.dumps tojson, strftime_now fixed at 2026-01-15 09:30:00).

    pip install jinja2==3.1.6 && python3 make_engine_cases.py
"""
import json
import os

import sys
from datetime import datetime
import jinja2
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2 import nodes

class AssistantTracker(Extension):
    tags = {"generation"}
    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)
    def _render(self, caller):
        return caller()

def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)

def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

def strftime_now(fmt):
    return datetime(2026, 1, 15, 9, 30, 0).strftime(fmt)

env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
    extensions=[AssistantTracker, jinja2.ext.loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = strftime_now

def render(src, ctx=None):
    try:
        return {"expected": env.from_string(src).render(**(ctx or {}))}
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}


# (name, template, context): one entry per feature; a case whose rendering raises records the
# exception as "ExceptionClass: message" in "error" instead of "expected".
# Each entry: (name, template, context). Context defaults to {}.
S = []
def add(name, tpl, ctx=None): S.append((name, tpl, ctx or {}))
M = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}
# --- literals and printing
add("print_none_bool", "{{ none }} {{ None }} {{ true }} {{ False }} {{ 1 }} {{ 1.0 }} {{ -0.0 }} {{ 1.5e3 }} {{ 1e16 }} {{ 1e-5 }} {{ 0.1 + 0.2 }}")
add("print_containers", "{{ [1, 'a', none, true, 2.5] }} {{ (1,) }} {{ () }} {{ (1, 2) }} {{ {'a': 1, 'b': [1, {'c': none}]} }} {{ {} }} {{ [] }}")
add("print_string_repr", """{{ ["it's", 'say "hi"', "both ' and \\"", "tab\\tnl\\n", "uni é 世界 🚀", "\\x01\\x7f"] }}""")
add("print_tuple_in_list", "{{ [(1, 'a'), ('b',)] }}")
add("print_top_tuple", "{{ 1, 2 }}|{{ 'a', }}")
add("string_literals", r"""{{ 'a\'b' }} {{ "c\"d" }} {{ 'x\ny' }} {{ '\u00e9\x41\101' }} {{ '\d' }} {{ 'ab' 'cd' }}""")
add("numbers", "{{ 1_000 }} {{ 0x1f }} {{ 0o17 }} {{ 0b101 }} {{ 1.5_0 }} {{ 3e2 }}")
# --- arithmetic
add("arith_int", "{{ 7 + 3 }} {{ 7 - 10 }} {{ 7 * 3 }} {{ 7 / 2 }} {{ 8 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 2 ** 3 ** 2 }}")
add("arith_float", "{{ 7.5 + 1 }} {{ 1 - 0.5 }} {{ 2.5 * 2 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 1.1 * 3 }} {{ 10 / 3 }}")
add("arith_bool", "{{ true + true }} {{ true * 3 }} {{ false - 1 }}")
add("unary", "{{ -3 }} {{ -(3) }} {{ +4 }} {{ - 2 ** 2 }} {{ not true }} {{ not 0 }}")
add("string_ops", "{{ 'ab' + 'cd' }} {{ 'ab' * 3 }} {{ 3 * 'x' }} {{ [1] * 2 }} {{ [1, 2] + [3] }} {{ (1,) + (2,) }} {{ 'a' ~ 1 ~ none ~ [1] ~ 2.0 }}")
add("concat_undefined", "[{{ 'a' ~ missing ~ 'b' }}]")
add("precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 * 3 ~ 4 }} {{ 1 ~ 2 + 3 }} {{ 10 - 2 - 3 }} {{ 2 ** 2 * 3 }}")
add("err_str_plus_int", "{{ 'a' + 1 }}")
add("err_int_plus_str", "{{ 1 + 'a' }}")
add("err_list_plus_str", "{{ [1] + 'a' }}")
add("err_undefined_plus", "{{ missing + 1 }}")
add("err_div_zero", "{{ 1 / 0 }}")
add("err_floordiv_zero", "{{ 1 // 0 }}")
add("err_mod_zero", "{{ 1 % 0 }}")
add("err_unary_str", "{{ -'a' }}")
add("err_str_times_float", "{{ 'a' * 1.5 }}")
# --- comparisons
add("compare", "{{ 1 == 1.0 }} {{ 1 == true }} {{ 'a' == 'a' }} {{ 'a' != 'b' }} {{ [1, 2] == [1, 2] }} {{ (1,) == [1] }} {{ {'a': 1, 'b': 2} == {'b': 2, 'a': 1} }} {{ none == none }} {{ none == 0 }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 2 >= 2.0 }} {{ 'B' < 'a' }}")
add("compare_undefined", "{{ missing == missing }} {{ missing == none }} {{ missing != 1 }}")
add("err_compare_types", "{{ 'a' < 1 }}")
add("err_compare_none", "{{ none > 1 }}")
add("err_compare_undefined", "{{ missing < 1 }}")
add("in_operator", "{{ 'a' in 'cat' }} {{ 'x' in ['x'] }} {{ 'k' in {'k': 1} }} {{ 1 in [1.0] }} {{ 'z' not in 'abc' }} {{ 1 in missing }} {{ (1, 2) in [(1, 2)] }}")
add("err_in_string_int", "{{ 1 in 'abc' }}")
add("err_in_none", "{{ 'a' in none }}")
# --- logic
add("and_or_values", "{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ '' and 'b' }} {{ none or [] }} {{ missing or 'd' }} [{{ missing and 1 }}]")
add("truthiness", "{% for v in [0, 1, '', 'a', [], [0], {}, {'a': 1}, none, 0.0, 0.1] %}{{ 'T' if v else 'F' }}{% endfor %}")
add("cond_expr", "{{ 'y' if true else 'n' }} {{ 'y' if false else 'n' }} [{{ 'y' if false }}] {{ 1 if 0 else 2 if 0 else 3 }}")
add("not_precedence", "{{ not 1 == 2 }} {{ not missing is defined }} {{ not (true and false) }}")
# --- variables, attributes, items
add("attr_dict", "{{ m.role }} {{ m['content'] }} {{ m.get('role') }} {{ m.get('x', 'dflt') }} [{{ m.get('x') }}] [{{ m.missing }}]", {"m": {"role": "user", "content": "hi"}})
add("attr_items_method", "{{ d.items is defined }} {{ d['items'] }} {{ d.keys() | list }} {{ d.values() | list }} {{ d.items() | list }}", {"d": {"items": "X", "k": 1}})
add("attr_items_missing_key", "{{ 'yes' if d['items'] else 'no' }}", {"d": {"type": "array"}})
add("index_list", "{{ l[0] }} {{ l[-1] }} {{ l.1 }} [{{ l[10] }}] {{ l[1:] }} {{ l[:2] }} {{ l[::-1] }} {{ l[::2] }} {{ l[-2:] }} {{ l[1:-1] }} {{ l[5:] }}", {"l": [1, 2, 3, 4]})
add("index_string", "{{ s[0] }} {{ s[-1] }} {{ s[1:3] }} {{ s[::-1] }} {{ s[2:] }} {{ s|length }}", {"s": "héllo🚀"})
add("dict_int_keys", "{{ d[1] }} {{ d[1.0] }} {{ d[true] }} {{ {1: 'a', true: 'b'} }}", {"d": {"1": "str"}})
add("err_attr_of_undefined", "{{ missing.attr }}")
add("err_item_of_undefined", "{{ missing['x'] }}")
add("err_attr_of_missing_attr", "{{ m.nope.deeper }}", {"m": {"a": 1}})
add("err_index_missing", "{{ l[5].x }}", {"l": [1]})
add("err_attr_none", "{{ n.x.y }}", {"n": None})
add("undefined_printing", "[{{ missing }}] [{{ m.nope }}] [{{ l[9] }}] {{ missing is defined }} {{ m.nope is undefined }}", {"m": {}, "l": []})
add("unsafe_attr_print", "[{{ l.append }}] [{{ d.update }}] [{{ d.pop }}] {{ l.copy() }} {{ l.count(1) }} {{ l.index(2) }}", {"l": [1, 2], "d": {}})
add("err_list_append", "{{ l.append(3) }}", {"l": [1]})
add("err_dict_pop", "{{ d.pop('a') }}", {"d": {"a": 1}})
add("err_dunder", "{{ d.__class__ }}{{ d.__class__.x }}", {"d": {}})
add("err_call_string", "{{ 'abc'() }}")
add("err_call_undefined", "{{ nothing() }}")
# --- statements: set, if, for
add("set_basic", "{% set x = 1 %}{% set y, z = 2, 3 %}{% set t = 4, 5 %}{{ x }}{{ y }}{{ z }}{{ t }}")
add("set_block", "{% set x %}a{{ 1 + 1 }}b{% endset %}[{{ x }}]{% set y | upper %}hi{% endset %}{{ y }}")
add("if_chain", "{% for v in [1, 2, 3] %}{% if v == 1 %}one{% elif v == 2 %}two{% else %}other{% endif %},{% endfor %}")
add("for_basic", "{% for x in [1, 2, 3] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}")
add("for_prev_next", "{% for x in 'abc' %}[{{ loop.previtem }}|{{ loop.nextitem }}]{% endfor %}")
add("for_else", "{% for x in [] %}x{% else %}empty{% endfor %}{% for x in [1] %}x{% else %}empty{% endfor %}")
add("for_filter", "{% for x in range(10) if x is odd %}{{ x }}:{{ loop.index }}/{{ loop.length }} {% endfor %}")
add("for_unpack", "{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}{% for a, b in [(1, 2), [3, 4]] %}{{ a + b }}{% endfor %}")
add("for_dict_keys", "{% for k in {'z': 1, 'a': 2} %}{{ k }}{% endfor %}")
add("for_string", "{% for c in 'héy' %}[{{ c }}]{% endfor %}")
add("for_undefined", "[{% for x in missing %}x{% endfor %}]")
add("err_for_none", "{% for x in n %}{% endfor %}", {"n": None})
add("err_for_int", "{% for x in 5 %}{% endfor %}")
add("err_unpack", "{% for a, b in [1] %}{% endfor %}")
add("loop_scoping", "{% set x = 'outer' %}{% for i in [1, 2] %}{{ x }}{% set x = i %}{{ x }}{% endfor %}{{ x }}")
add("loop_scoping2", "{% for i in [1, 2] %}{% if i == 2 %}[{{ y }}]{% endif %}{% set y = i %}{% endfor %}[{{ y }}]")
add("if_no_scope", "{% if true %}{% set z = 3 %}{% endif %}{{ z }}")
add("namespace", "{% set ns = namespace(n=0, items=[]) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}{% set ns.items = ns.items + [i] %}{% endfor %}{{ ns.n }} {{ ns.items }} {{ ns }}")
add("namespace_dict_arg", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}{{ ns['a'] }}")
add("err_set_attr_non_namespace", "{% set d = {} %}{% set d.x = 1 %}")
add("break_continue", "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}")
add("nested_loops", "{% for a in [1, 2] %}{% for b in 'xy' %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }}|{% endfor %}")
add("loop_cycle_changed", "{% for x in [1, 1, 2, 3, 3] %}{{ loop.cycle('a', 'b') }}{% if loop.changed(x) %}!{% endif %}{% endfor %}")
add("recursive_loop", "{% for item in tree recursive %}[{{ item.name }}{% if item.children %}:{{ loop(item.children) }}{% endif %}@{{ loop.depth }}]{% endfor %}",
    {"tree": [{"name": "a", "children": [{"name": "b", "children": []}, {"name": "c"}]}, {"name": "d"}]})
add("with_block", "{% set a = 1 %}{% with a = 2, b = a %}{{ a }}{{ b }}{% endwith %}{{ a }}")
add("filter_block", "{% filter upper %}hello {{ 'x' }}{% endfilter %}|{% filter trim | replace('a', 'b') %}  aaa  {% endfilter %}|")
add("generation_block", "A{% generation %}B{{ 1 }}{% set g = 1 %}{% endgeneration %}C[{{ g }}]")
add("raw_block", "{% raw %}{{ not evaluated }}{% endraw %}")
add("comments", "a{# comment {{ x }} #}b{#- trimmed -#}  c")
# --- macros
add("macro_basic", "{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', greeting='Hi') }} {{ greet(greeting='Yo', name='Cy') }}")
add("macro_missing_arg", "{% macro m(a, b) %}[{{ a }}|{{ b }}|{{ b is defined }}]{% endmacro %}{{ m(1) }}")
add("macro_defaults_ref", "{% macro m(a, b=a * 2) %}{{ a }},{{ b }}{% endmacro %}{{ m(3) }}")
add("macro_varargs_kwargs", "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, x=4) }}")
add("err_macro_too_many", "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}")
add("err_macro_bad_kw", "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(b=1) }}")
add("macro_recursion", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * (fact(n - 1)|int) }}{% endif %}{% endmacro %}{{ fact(10) }}")
add("macro_scope_late_binding", "{% macro m() %}{{ y }}{% endmacro %}{% set y = 1 %}{{ m() }}{% set y = 2 %}{{ m() }}")
add("macro_no_caller_locals", "{% macro m() %}[{{ v }}]{% endmacro %}{% for v in [7] %}{{ m() }}{% endfor %}")
add("macro_in_loop_sees_loopvar", "{% for v in [7, 8] %}{% macro m() %}{{ v }}{% endmacro %}{{ m() }}{% endfor %}")
add("macro_call_block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ 1 + 1 }}{% endcall %}")
add("macro_call_block_args", "{% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(x) each([1, 2]) %}<{{ x }}>{% endcall %}")
add("macro_returns_string", "{% macro m() %}5{% endmacro %}{{ m() ~ 1 }} {{ (m() | int) + 1 }} {{ m() is string }}")
# --- filters
add("f_default", "{{ missing|default('d') }} {{ none|default('d') }} {{ ''|default('d') }} {{ ''|default('d', true) }} {{ 0|d('z', true) }} {{ missing|default }}|")
add("f_length", "{{ 'héllo'|length }} {{ [1, 2]|length }} {{ {'a': 1}|length }} {{ missing|length }} {{ 'abc'|count }}")
add("err_f_length_int", "{{ 5|length }}")
add("err_f_length_none", "{{ none|length }}")
add("err_f_length_generator", "{{ [1]|map('string')|length }}")
add("f_string_case", "{{ 'hello WORLD'|upper }} {{ 'HeLLo'|lower }} {{ 'hello world-foo(bar'|title }} {{ 'hELLO wORLD'|capitalize }} {{ 'ß'|upper }}")
add("f_trim", "[{{ '  a b  '|trim }}] [{{ 'xxaxx'|trim('x') }}] [{{ ' \u3000a\u00a0'|trim }}] [{{ 5|trim }}]")
add("f_join", "{{ [1, 'a', none]|join(', ') }} {{ ['a', 'b']|join }} {{ [{'n': 'x'}, {'n': 'y'}]|join('-', attribute='n') }} {{ 'abc'|join('.') }}")
add("f_first_last", "{{ [1, 2, 3]|first }} {{ [1, 2, 3]|last }} {{ 'abc'|first }} {{ {'a': 1, 'b': 2}|last }} [{{ []|first }}]")
add("f_list", "{{ 'ab'|list }} {{ {'a': 1}|list }} {{ (1, 2)|list }} {{ missing|list }}")
add("f_replace", "{{ 'aaa'|replace('a', 'b') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'abc'|replace('', '-') }} {{ 123|replace('2', 'x') }}")
add("f_reverse", "{{ 'abc'|reverse }} {{ [1, 2, 3]|reverse|list }} {{ {'a': 1, 'b': 2}|reverse|list }}")
add("f_sort", "{{ [3, 1, 2]|sort }} {{ [3, 1, 2]|sort(reverse=true) }} {{ ['b', 'A', 'c']|sort }} {{ ['b', 'A', 'c']|sort(case_sensitive=true) }} {{ [{'n': 2}, {'n': 1}]|sort(attribute='n') }}")
add("f_sort_stable", "{{ [{'k': 1, 'v': 'a'}, {'k': 0, 'v': 'b'}, {'k': 1, 'v': 'c'}, {'k': 0, 'v': 'd'}]|sort(attribute='k', reverse=true)|map(attribute='v')|join }}")
add("err_f_sort_mixed", "{{ [1, 'a']|sort }}")
add("f_dictsort", "{{ {'b': 1, 'A': 2, 'c': 0}|dictsort }} {{ {'b': 1, 'A': 2}|dictsort(true) }} {{ {'b': 1, 'a': 2}|dictsort(by='value') }} {{ {'b': 1, 'a': 2}|dictsort(reverse=true) }}")
add("f_items", "{% for k, v in {'x': 1, 'y': [2]}|items %}{{ k }}{{ v }}{% endfor %}{{ missing|items|list }}")
add("err_f_items_list", "{{ [1]|items|list }}")
add("f_map", "{{ ['a', 'b']|map('upper')|list }} {{ [{'n': 1}, {}]|map(attribute='n')|list }} {{ [{'n': 1}, {}]|map(attribute='n', default=0)|list }} {{ [[1, 2], [3]]|map('join', ',')|list }} {{ [{'a': {'b': 5}}]|map(attribute='a.b')|list }}")
add("f_select_reject", "{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('odd')|list }} {{ [0, 1, '', 'a']|select|list }} {{ [1, 2, 3]|select('>', 1)|list }} {{ ['a', 'b']|select('equalto', 'a')|list }} {{ [1, 2]|select('in', [2, 3])|list }}")
add("f_selectattr", "{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }} {{ msgs|rejectattr('role', 'eq', 'user')|list|length }} {{ msgs|selectattr('tool_calls')|list }} {{ msgs|selectattr('tool_calls', 'defined')|list|length }}",
    {"msgs": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "tool_calls": [1]}]})
add("f_generator_truthy", "{{ 'yes' if ([]|select) else 'no' }} {{ [1]|map('string') is iterable }} {{ ([1, 2]|map('string'))|first }}")
add("f_generator_single_use", "{% set g = [1, 2]|map('string') %}{{ g|list }}{{ g|list }}")
add("f_unique", "{{ ['a', 'A', 'b', 'a']|unique|list }} {{ ['a', 'A']|unique(case_sensitive=true)|list }} {{ [{'k': 1}, {'k': 1}, {'k': 2}]|unique(attribute='k')|list }}")
add("f_min_max_sum", "{{ [3, 1, 2]|min }} {{ [3, 1, 2]|max }} {{ ['b', 'A']|min }} {{ [1, 2, 3]|sum }} {{ [{'v': 1}, {'v': 2}]|sum(attribute='v') }} {{ [1.5, 2]|sum(start=10) }} [{{ []|max }}]")
add("f_int_float", "{{ '42'|int }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 3.9|int }} {{ '0x1A'|int(base=16) }} {{ ' 12 '|int }} {{ '3.5'|float }} {{ 'x'|float }} {{ 2|float }} {{ true|int }} {{ none|int }}")
add("f_round_abs", "{{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 3|round }} {{ 2.1|round(0, 'ceil') }} {{ 2.9|round(method='floor') }} {{ -3|abs }} {{ -2.5|abs }} {{ 1234.5|round(-2) }}")
add("f_string", "{{ 1|string }} {{ none|string }} {{ [1, 'a']|string }} {{ {'a': none}|string }} {{ true|string }} [{{ missing|string }}] {{ 1.0|string }}")
add("f_indent", "{{ 'a\nb\n\nc'|indent(2) }}|{{ 'a\nb'|indent(2, true) }}|{{ 'a\n\nb'|indent(2, blank=true) }}|{{ 'x\ny'|indent('>>') }}|{{ ''|indent }}|{{ 'a\n'|indent(first=true) }}")
add("f_center_truncate", "[{{ 'ab'|center(7) }}] [{{ 'abc'|center(6) }}] {{ 'hello world foo bar'|truncate(12) }} {{ 'hello world foo bar'|truncate(12, true) }} {{ 'short'|truncate(3) }} {{ 'a b c d e f g h'|truncate(9, leeway=0) }}")
add("f_wordcount_wordwrap", "{{ 'Hello, wörld 42 foo_bar!'|wordcount }} {{ 'the quick brown fox jumps over'|wordwrap(10) }}")
add("f_format", "{{ '%s and %s'|format('a', 1) }} {{ '%d%%'|format(50) }} {{ '%.2f'|format(3.14159) }} {{ '%5s|%-5s|'|format('a', 'b') }} {{ '%(x)s'|format(x=1) }} {{ '%r'|format('q') }} {{ '%05d %x %o %e'|format(42, 255, 8, 12345.678) }}")
add("string_modulo", "{{ 'Hi %s' % 'you' }} {{ '%s-%s' % (1, 2) }} {{ '%(a)s' % {'a': 'b'} }}")
add("f_batch_slice", "{{ [1, 2, 3, 4, 5]|batch(2)|list }} {{ [1, 2, 3]|batch(2, 0)|list }} {{ [1, 2, 3, 4, 5]|slice(2)|list }} {{ [1, 2, 3]|slice(2, 'x')|list }}")
add("f_groupby", "{% for g, items in [{'c': 'x', 'v': 1}, {'c': 'y', 'v': 2}, {'c': 'x', 'v': 3}]|groupby('c') %}{{ g }}:{{ items|map(attribute='v')|join(',') }};{% endfor %}")
add("f_escape_safe", "{{ '<a & b>'|e }} {{ '<x>'|safe }} {{ '<x>'|safe + '<y>' }} {{ '<y>' + '<x>'|safe }} {{ ('<x>'|safe) ~ '<y>' }} {{ '\"q\\''|escape }} {{ '<b>'|escape|escape }} {{ '<b>'|forceescape }}")
add("f_striptags_urlencode", "{{ '<p>Hello <b>World</b></p>  x'|striptags }} {{ 'a b&c/d'|urlencode }} {{ {'q': 'a b', 'n': 1}|urlencode }}")
add("f_xmlattr_filesize", "[{{ {'class': 'x', 'id': none, 'data': '<\"'}|xmlattr }}] {{ 1|filesizeformat }} {{ 999|filesizeformat }} {{ 1500|filesizeformat }} {{ 2048|filesizeformat(true) }} {{ 3000000000|filesizeformat }}")
add("f_attr", "{% set ns = namespace(v=3) %}{{ {'items': 1}|attr('items') is defined }} [{{ {'x': 1}|attr('x') }}] {{ ns|attr('v') }}")
add("err_unary_binds_before_filter", "{{ -'a'|length }}")
add("f_pprint", "{{ {'a': [1, 'x']}|pprint }}")
add("err_unknown_filter_toplevel", "{{ x|nosuchfilter }}")
add("err_unknown_filter_runtime", "{% if true %}{{ x|nosuchfilter }}{% endif %}")
add("unknown_filter_not_reached", "{% if false %}{{ x|nosuchfilter }}{% endif %}ok{{ 'a' if true else (1|nosuch2) }}")
add("err_unknown_test", "{{ x is nosuchtest }}")
# --- tojson
add("tojson_basic", "{{ v|tojson }}", {"v": {"s": "é \"q\" \\ \n\t\u0001 </script>", "i": 1, "f": 1.0, "g": 0.1, "b": True, "n": None, "l": [1, [2, []]], "e": {}}})
add("tojson_indent", "{{ v|tojson(indent=2) }}|{{ v|tojson(indent=0) }}|{{ v|tojson(indent='\t') }}", {"v": {"a": [1, {"b": 2}], "c": [], "d": {}}})
add("tojson_separators_sort", "{{ v|tojson(separators=(',', ':')) }} {{ v|tojson(sort_keys=true) }} {{ v|tojson(ensure_ascii=true) }}", {"v": {"z": "é🚀", "a": [1, 2]}})
add("tojson_template_values", "{{ (1, 2)|tojson }} {{ 'x'|safe|tojson }} {{ {1: 'a', none: 'b', true: 'c', 2.5: 'd'}|tojson }} {{ 1e20|tojson }} {{ -0.0|tojson }}")
add("err_tojson_undefined", "{{ missing|tojson }}")
add("err_tojson_namespace", "{{ namespace(a=1)|tojson }}")
add("err_tojson_generator", "{{ [1]|select|tojson }}")
# --- tests
add("tests_types", "{% for v in [none, true, 1, 1.5, 'a', [1], {'a': 1}, (1,)] %}{{ v is none }}{{ v is boolean }}{{ v is integer }}{{ v is float }}{{ v is number }}{{ v is string }}{{ v is mapping }}{{ v is iterable }}{{ v is sequence }}{{ v is callable }};{% endfor %}")
add("tests_undefined", "{{ missing is defined }}{{ missing is undefined }}{{ missing is none }}{{ missing is iterable }}{{ missing is sequence }}{{ missing is string }}{{ missing is mapping }}")
add("tests_values", "{{ 4 is even }}{{ 3 is odd }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(2) }}{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ 1 is eq 1 }}{{ 2 is gt 1 }}{{ 2 is lt 1 }}{{ 2 is ge 2 }}{{ 'a' is in 'abc' }}{{ none is sameas none }}{{ true is true }}{{ 1 is true }}{{ false is false }}{{ 'upper' is filter }}{{ 'odd' is test }}{{ 'x' is ne 'y' }}")
add("tests_not", "{{ 1 is not none }} {{ missing is not defined }} {{ 'a' is not string }}")
add("test_callable", "{{ range is callable }} {{ 'a'.upper is callable }} {{ 1 is callable }}")
# --- string methods
add("m_strip_split", "[{{ '  x  '.strip() }}] [{{ 'xxyxx'.strip('x') }}] [{{ '  x '.lstrip() }}] [{{ ' x  '.rstrip() }}] {{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ 'l1\nl2\r\nl3'.splitlines() }}")
add("m_case_find", "{{ 'Hello'.upper() }} {{ 'Hello'.lower() }} {{ 'hello world'.title() }} {{ 'hello World'.capitalize() }} {{ 'Hi'.swapcase() }} {{ 'hello'.find('l') }} {{ 'hello'.rfind('l') }} {{ 'hello'.find('z') }} {{ 'hello'.count('l') }} {{ 'hello'.index('e') }}")
add("m_starts_ends", "{{ 'hello'.startswith('he') }} {{ 'hello'.endswith('lo') }} {{ 'hello'.startswith(('x', 'h')) }} {{ 'hello'.startswith('l', 2) }} {{ ''.startswith('') }}")
add("m_replace_join", "{{ 'a-b-c'.replace('-', '+') }} {{ 'a-b-c'.replace('-', '', 1) }} {{ ', '.join(['a', 'b']) }} {{ '-'.join('abc') }}")
add("m_misc", "{{ 'a=b=c'.partition('=') }} {{ 'a=b=c'.rpartition('=') }} {{ 'prefix_x'.removeprefix('prefix_') }} {{ 'x.txt'.removesuffix('.txt') }} [{{ 'ab'.center(6, '*') }}] [{{ 'ab'.ljust(4) }}] [{{ 'ab'.rjust(4) }}] {{ '42'.zfill(5) }} {{ '-42'.zfill(5) }} {{ '123'.isdigit() }} {{ 'ab'.isalpha() }} {{ ' '.isspace() }} {{ 'a1'.isalnum() }} {{ 'abc'.islower() }}")
add("m_format", "{{ '{} and {}'.format('a', 'b') }} {{ '{1}{0}'.format('x', 'y') }} {{ '{name}!'.format(name='n') }} {{ '{:>5}|{:<5}|{:^5}'.format('a', 'b', 'c') }} {{ '{:.2f} {:05d} {:,}'.format(3.14159, 42, 1234567) }} {{ '{!r}'.format('q') }}")
add("m_get_items", "{% for k, v in d.items() %}{{ k }}{{ v }}{% endfor %} {{ d.get('a') }} {{ d.get('z', 0) }} {{ d.keys()|list }} {{ d.values()|list }}", {"d": {"a": 1, "b": 2}})
# --- globals
add("g_range", "{{ range(3)|list }} {{ range(1, 4)|list }} {{ range(10, 0, -3)|list }} {{ range(0)|list }} {{ range(3)|length }}")
add("err_range_too_big", "{{ range(1000000)|length }}")
add("g_dict", "{{ dict(a=1, b=2) }} {{ dict([('x', 1)]) }} {{ dict({'k': 'v'}, z=0) }}")
add("g_raise", "{{ raise_exception('custom failure: ' ~ 42) }}")
add("g_strftime", "{{ strftime_now('%Y-%m-%d %H:%M:%S') }}|{{ strftime_now('%d %B %Y') }}|{{ strftime_now('%a %b %-d %j %p %I %y %A') }}|{{ strftime_now('%e|%U|%W|%u|%w|%%|%D|%T|%F|%c') }}")
# --- whitespace control
add("ws_trim_blocks", "{% if true %}\nA\n{% endif %}\nB\n{% for i in [1, 2] %}\n  {{ i }}\n{% endfor %}\nC")
add("ws_lstrip_blocks", "X\n    {% if true %}\n    Y\n    {% endif %}\n  Z {% if true %}W{% endif %}\n\t{# comment #}\nV")
add("ws_minus", "a   {%- if true -%}   b   {%- endif -%}   c\n  {{- ' d ' -}}  \n e")
add("ws_plus", "a\n    {%+ if true +%}\nb\n{% endif %}\nc")
add("ws_variable_not_lstripped", "x\n    {{ 'y' }}\n    {% if true %}z{% endif %}\n")
add("ws_comment_trim", "a\n{# c #}\nb\n  {#- c -#}  \nc")
add("ws_crlf", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\nc\r\n")
add("ws_trailing_newline", "line\n\n")
add("ws_raw_trim", "{% raw %}\n  {{ x }}\n{% endraw %}\nafter")
add("ws_unicode_space_minus", "a\u3000\u00a0 {%- if true %}b{% endif %}")
add("ws_nested_indented", "<s>\n{%- for m in messages %}\n    {%- if m.role == 'system' %}\n        {{- m.content }}\n    {%- else %}\n        {{- '[' + m.role + ']' + m.content }}\n    {%- endif %}\n{%- endfor %}\n", M)
# --- syntax errors
add("err_syntax_unclosed_if", "{% if true %}x")
add("err_syntax_unknown_tag", "{% frobnicate %}")
add("err_syntax_bad_expr", "{{ 1 + }}")
add("err_syntax_unclosed_var", "{{ x ")
add("err_syntax_endfor_mismatch", "{% for x in y %}{% endif %}")
add("err_syntax_break_outside", "{% break %}")
add("err_syntax_bang", "{{ !x }}")
# --- second batch: edge cases
add("float_repr_edges", "{{ 0.0001 }} {{ 1.23e-7 }} {{ 5e-324 }} {{ 1.7976931348623157e308 }} {{ 100.0 }} {{ 1e15 }} {{ 12345678901234567890.0 }} {{ 1/3*3 }} {{ 2.5e-5 }} {{ 123456.789 }} {{ 9007199254740993.0 }}")
add("int_edges", "{{ 9223372036854775807 }} {{ -9223372036854775807 - 1 }} {{ 10 ** 18 }} {{ 7 // 2 * 2 }}")
add("repr_control_chars", "{{ ['\\x0b\\x85\\u2028\\ufeff\\u00a0 é\\x00'] }}")
add("dict_duplicate_keys", "{{ {'a': 1, 'b': 2, 'a': 3} }} {{ {'a': 1, 'a': 2}|length }}")
add("lexer_braces_in_strings", "{{ '{{' }}{{ \"}}\" }}{{ '%}' }} {{ {'a': {'b': 1}} }} {{ [[1, [2]]] }}")
add("lexer_raw_minus", "a {%- raw -%}  {{ x }}  {%- endraw -%} b")
add("lexer_names", "{% set _x1 = 1 %}{% set café = 2 %}{{ _x1 }}{{ café }}")
add("loop_outside", "[{{ loop }}] {{ loop is defined }}")
add("nested_loop_previtem", "{% for a in [1, 2] %}{% for b in [3, 4] %}{{ loop.previtem }}{% endfor %}{{ loop.previtem }}|{% endfor %}")
add("macro_late_defined", "{% macro a() %}A{{ b() }}{% endmacro %}{% macro b() %}B{% endmacro %}{{ a() }}")
add("macro_set_no_leak", "{% set x = 1 %}{% macro m() %}{% set x = 2 %}{{ x }}{% endmacro %}{{ m() }}{{ x }}")
add("macro_default_outer", "{% set base = 10 %}{% macro m(v=base + 1) %}{{ v }}{% endmacro %}{{ m() }}")
add("macro_no_caller", "{% macro m() %}[{{ caller is defined }}]{% endmacro %}{{ m() }}")
add("macro_varargs_empty", "{% macro m() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m() }}")
add("macro_nested_call_blocks", "{% macro outer() %}({{ caller() }}){% endmacro %}{% macro inner() %}[{{ caller() }}]{% endmacro %}{% call outer() %}{% call inner() %}x{% endcall %}{% endcall %}")
add("macro_print_itself", "{% macro m() %}{% endmacro %}{{ m is defined }} {{ m is callable }}")
add("set_filter_block", "{% set x | trim | upper %}   spaced   {% endset %}[{{ x }}]")
add("markup_ops", "{{ ('<a>'|safe) ~ '<b>' }} {{ ('<a>'|safe) + '<b>' }} {{ ('a%sb'|safe) % '<' }} {{ ('<a>'|safe)|length }} {{ ('<a>'|safe) == '<a>' }} {{ ['<x>'|safe]|join }} {{ ('<x>'|safe).upper() }} {{ ('<x>'|safe)|replace('x', '<') }}")
add("percent_none", "{{ '%s' % none }} {{ '%s|%s' % ('a', none) }} {{ '%r' % [1] }}")
add("in_dict_numbers", "{{ 1 in {1.0: 'a'} }} {{ 'a' in {'a': none} }} {{ none in [none] }} {{ missing in [1] }}")
add("join_dict_map_dict", "{{ {'a': 1, 'b': 2}|join(',') }} {{ {'a': 1}|map('upper')|list }}")
add("messages_access", "{{ messages[-1].content }} {{ (messages|last).role }} {{ messages[1:]|length }} {{ messages|map(attribute='role')|join(',') }} {{ messages|selectattr('role', 'eq', 'user')|first }}", M)
add("tuple_slicing", "{{ (1, 2, 3)[1:] }} {{ (1, 2, 3)[0] }} {{ ((1, 2, 3)|list)[::-1] }}")
add("range_variants", "{{ range(5, 0, -2)|list }} {{ range(-3)|list }} {{ range(2, 2)|list }}")
add("err_range_step_zero", "{{ range(1, 2, 0) }}")
add("strftime_more", "{{ strftime_now('%-m/%-d/%Y') }} {{ strftime_now('%B %d, %Y') }} {{ strftime_now('%H:%M') }} {{ strftime_now('%_m|%-H|%Z|%z|%G-W%V') }}")
add("ws_lstrip_comment_lines", "a\n  {# note #}\n  {%- if true %}\n  b\n  {%- endif %}\nc")
add("ws_blocks_after_text", "x {% if true %}\ny{% endif %}\n z")
add("ws_var_minus_newlines", "a\n\n{{- 'b' -}}\n\nc")
add("ws_block_end_plus_minus", "{% if true +%}\nA{%- endif +%}\nB")
add("ws_lstrip_tabs_mixed", "\t {% if true %}x{% endif %}\n \t{%+ if true %}y{% endif %}")
add("ws_line_starting_after_var", "{{ 'a' }}\n  {% if true %}b{% endif %}")
add("ws_lstrip_after_minus_var", "{{ 'a' -}}\n  {% if true %}b{% endif %}")
add("ws_end_of_template_block", "a\n{% if true %}b{% endif %}\n")
add("for_loop_else_scope", "{% set x = 1 %}{% for i in [] %}{% else %}{% set x = 2 %}{% endfor %}{{ x }}")
add("for_filter_uses_outer", "{% set lim = 2 %}{% for i in range(5) if i < lim %}{{ i }}{% endfor %}")
add("for_tuple_target_parens", "{% for (a, b) in [(1, 2)] %}{{ a }}{{ b }}{% endfor %}")
add("set_tuple_unpack_string", "{% set a, b = 'xy' %}{{ b }}{{ a }}")
add("namespace_undefined_attr", "{% set ns = namespace() %}[{{ ns.nope }}] {{ ns.nope is defined }}")
add("err_namespace_attr_chain", "{% set ns = namespace() %}{{ ns.nope.x }}")
add("is_sequence_dict", "{{ {} is sequence }} {{ 'a' is sequence }} {{ 1 is sequence }} {{ none is iterable }}")
add("bool_number_tests", "{{ true is number }} {{ true is integer }} {{ 1.0 is integer }} {{ 1 is float }}")
add("unicode_case", "{{ 'éCOLE straße'|upper }} {{ 'ÉCOLE'|lower }} {{ 'élan vital'|title }} {{ 'élan'|capitalize }} {{ 'ǆemal'.title() }}")
add("tojson_nested_unicode", "{{ v|tojson(indent=4) }}", {"v": [{"k": "日本", "n": [1.5, None, {"x": ["é"]}]}]})
add("tojson_int_like_floats", "{{ [1.0, 2.50, 1e100, 123e-10, 0.5]|tojson }}")
add("context_floats", "{{ a }} {{ b }} {{ c }} {{ a + b }} {{ a is integer }} {{ b is float }}", {"a": 1, "b": 2.0, "c": 1e-7})
add("string_multiply_zero", "[{{ 'ab' * 0 }}] [{{ 'ab' * -1 }}] {{ [1] * 0 }}")
add("compare_chain_mixed", "{{ 1 < 2 > 0 }} {{ 1 == 1 != 2 }} {{ 'a' in 'abc' in 'xabcx' }}")
add("attr_on_string_methods", "{{ 'abc'.upper is defined }} {{ 'abc'.nope is defined }} [{{ 'abc'.nope }}]")
add("getitem_string_key_on_list", "[{{ [1, 2]['count'] is defined }}] [{{ [1, 2]['nope'] }}]")
add("default_chain", "{{ a.b|default('x') if a is defined else 'undef' }} {{ (d.x|default({})).y|default('deep') }}", {"d": {}})
add("items_on_messages_dict", "{% for k, v in m|dictsort %}{{ k }}={{ v }};{% endfor %}", {"m": {"role": "user", "content": "x", "name": None}})

# --- third batch: found by differential fuzzing
add("err_slice_int", "{{ n[1:] }}", {"n": 5})
add("err_slice_dict", "{{ d[:1] }}", {"d": {"a": 1}})
add("err_slice_none", "{{ z[:1] }}", {"z": None})
add("percent_subscriptable_args", "{{ '%s' % missing }}|{{ '%s' % [1] }}|{{ 'x' % [] }}|{{ 'x' % {} }}|{{ '0' % missing }}")
add("err_percent_extra_args", "{{ 'x' % 5 }}")
add("err_percent_key_undefined", "{{ '%(a)s' % missing }}")
add("undefined_is_callable", "{{ missing is callable }} {{ none is callable }}")
add("err_indent_list", "{{ [1]|indent }}")
add("err_dictsort_string", "{{ 'ab'|dictsort }}")
add("err_reverse_bool", "{{ true|reverse }}")
add("macro_reads_then_sets", "{% set x = 1 %}{% macro m() %}{{ x }}{% set x = 2 %}{{ x }}{% endmacro %}{{ m() }}{{ x }}")
add("nested_loops_outer_then_set", "{% set x = 1 %}{% for i in [1] %}{% for j in [1, 2] %}{{ x }}{% set x = j %}{% endfor %}{{ x }}{% endfor %}")
add("macro_sets_namespace", "{% set ns = namespace(a=1) %}{% macro m() %}{% set ns.a = 9 %}{% endmacro %}{{ m() }}{{ ns.a }}")
add("filtered_loop_first_last", "{% for i in [1, 2, 3] if i > 1 %}{{ loop.first }}{{ loop.last }}{% endfor %}")


def main():
    assert jinja2.__version__ == "3.1.6", jinja2.__version__
    cases = []
    for name, template, context in S:
        cases.append({"name": name, "template": template, "context": context, **render(template, context)})
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "engine-cases.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{len(cases)} cases, {sum('error' in c for c in cases)} expecting an error")


if __name__ == "__main__":
    main()

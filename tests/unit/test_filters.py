"""berth.core.filters: containerd's filter language."""
from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.core.errors import InvalidArgument
from berth.core.filters import ALWAYS, Filter, Operator, Selector, adapt_fields, parse

# The corpus of containerd's filters/filter_test.go, as plain field values.
CORPUS: list[dict[str, object]] = [
    {"name": "foo", "labels": {"foo": "true"}},
    {"name": "bar"},
    {"name": "foo", "labels": {"foo": "present", "more complex label": "present"}},
    {"name": "bar", "labels": {"bar": "true"}},
    {"name": "fooer", "labels": {'more complex label with \\ and "': "present"}},
    {"name": "fooer", "labels": {'more complex label with \\ and ".post': "present"}},
    {"name": "baz", "other": "too complex, yo"},
    {"name": "bazo", "other": "abc"},
    {"name": "compound", "labels": {"foo": "omg_asdf.asdf-qwer"}},
]

ALL = list(range(len(CORPUS)))


def matching(*filters: str) -> list[int]:
    f = parse(*filters)
    return [i for i, fields in enumerate(CORPUS) if f.match(adapt_fields(fields))]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ALL),
        ("name", ALL),
        ("labels.foo", [0, 2, 8]),
        ("labels.foo,name", [0, 2, 8]),
        ("labels.foo==true", [0]),
        ("labels.foo==omg_asdf.asdf-qwer", [8]),
        ("name==bar", [1, 3]),
        ("name!=bar", [0, 2, 4, 5, 6, 7, 8]),
        ("name==bar,labels.bar", [3]),
        ('other=="too complex, yo"', [6]),
        ("other~=[abc]+,name!=foo", [6, 7]),
        ("other~=/[abc]+/,name!=foo", [6, 7]),
        ("other~=/[abc]{1,2}/,name!=foo", [6, 7]),
        ('other~=/[abc]{0,1}"\\//,name!=foo', []),  # valid syntax, matches nothing
        ("name==bar,labels.bar==true", [3]),
        ("name==bar,labels.bar==wrong", []),
        ('name==foo,labels."more complex label"', [2]),
        ('labels."more complex label with \\\\ and \\""==present', [4]),
        ('labels."more complex label with \\\\ and \\"".post==present', [5]),
        # berth additions
        ("name == bar", [1, 3]),  # whitespace before tokens is skipped
        ("labels.foo!=true", [1, 2, 3, 4, 5, 6, 7, 8]),  # absent compares as ""
        ("other~=^$", [0, 1, 2, 3, 4, 5, 8]),  # ~= does not test presence
        ("name~=^ba", [1, 3, 6, 7]),
        ("name==fooer,labels", []),  # a map is never a present value
        ("labels.missing", []),
        ("name=='foo'", []),  # single quotes are not quotes
    ],
)
def test_containerd_examples(text: str, expected: list[int]) -> None:
    assert matching(text) == expected


def test_several_filters_are_or() -> None:
    assert matching("name==bar", "labels.foo==true") == [0, 1, 3]
    assert matching("name==nope", "") == ALL
    assert matching() == ALL


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'labels.?"more complex label with \\\\ and \\"".post==present',
            'filters: parse error: [labels. >|?|< "more complex label with \\\\ and \\"".post==present]: '
            "expected field or quoted",
        ),
        ("name==foo,", "filters: parse error: [name==foo,]: expected field or quoted"),
        ("labels.", "filters: parse error: [labels.]: expected field or quoted"),
        ("image~=,id?=?fbaq", "filters: parse error: [image~= >|,|< id?=?fbaq]: expected value or quoted"),
        (
            "labels.ns/key==value",
            "filters: parse error: [labels.ns >|/|< key==value]: quoted literal not terminated",
        ),
        ("labels.key==/value", "filters: parse error: [labels.key== >|/|< value]: quoted literal not terminated"),
        (
            "labels.|foo|==omg_asdf.asdf-qwer",
            "filters: parse error: [labels. >|||< foo|==omg_asdf.asdf-qwer]: invalid quote encountered",
        ),
        ("name==/foo/", "filters: parse error: [name== >|/|< foo/]: invalid quote encountered"),
        ("name=foo", 'filters: parse error: [name >|=|< foo]: unsupported operator "="'),
        ("name===foo", 'filters: parse error: [name >|=|< ==foo]: unsupported operator "==="'),
        ("name?foo", 'filters: parse error: [name >|?|< foo]: expected an operator ("=="|"!="|"~=")'),
        ("name ", 'filters: parse error: [name ]: expected an operator ("=="|"!="|"~=")'),
        ("name==foo bar", "filters: parse error: [name==foo >| |< bar]: unexpected input:  "),
        ("name ,x", 'filters: parse error: [name  >|,|< x]: expected an operator ("=="|"!="|"~=")'),
        ("labels .a", 'filters: parse error: [labels  >|.|< a]: expected an operator ("=="|"!="|"~=")'),
        ('name=="foo"bar', "filters: parse error: [name==\"foo\" >|b|< ar]: unexpected input: b"),
        ('labels."a\\q"==b', 'filters: parse error: [labels. >|"|< a\\q"==b]: illegal escape sequence'),
        ('labels."a\\x4"==b', 'filters: parse error: [labels. >|"|< a\\x4"==b]: illegal numeric escape sequence'),
        ('name=="\\777"', 'filters: parse error: [name== >|"|< \\777"]: unquoting failed: quote syntax error'),
        ('name=="abc', 'filters: parse error: [name== >|"|< abc]: quoted literal not terminated'),
        ("name==a\0b", "filters: parse error: [name==a >|\0|< b]: unexpected null"),
        ("'name'==x", "filters: parse error: [ >|'|< name'==x]: expected field or quoted"),
        (
            "name~=(",
            "filters: parse error: [name~= >|(|< ]: invalid regular expression: "
            "missing ), unterminated subpattern at position 0",
        ),
        (" ", "filters: parse error: [ ]: expected field or quoted"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse(text)
    assert str(info.value) == message


def test_error_in_second_filter() -> None:
    with pytest.raises(InvalidArgument, match=r"\[labels\.\]"):
        parse("name==x", "labels.")


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        ("name", "name"),
        (" name  ==  foo, labels.a", "name==foo,labels.a"),
        ('labels."com.example/x"=="y"', 'labels."com.example/x"==y'),
        ('labels."plain"==y', "labels.plain==y"),
        ('name==""', 'name==""'),
        ('name=="a b"', 'name=="a b"'),
        ('name=="/x"', 'name=="/x"'),
        ('name==".x"', 'name==".x"'),
        ('name=="=x"', 'name=="=x"'),
        ("name==a=b", "name==a=b"),
        ("name~=/a\\/b/", "name~=a/b"),
        ("name~=|a\\|b|", "name~=a|b"),
        ('name~=/\\\\d+"/', 'name~=\\d+"'),  # inside quotes Go escapes apply: \\d, not \d
        ('name=="tab\\there"', 'name=="tab\\there"'),
        ('name=="\\x00"', 'name=="\\x00"'),
        ('name=="caf\\u00e9"', "name==café"),
        ("labels.foo-bar", "labels.foo-bar"),
        ('labels.""', 'labels.""'),
    ],
)
def test_canonical_form(text: str, canonical: str) -> None:
    f = parse(text)
    assert str(f) == canonical
    assert parse(canonical) == f


def test_filter_values() -> None:
    f = parse('labels."a.b"==c,name')
    assert f.alternatives == (
        (Selector(("labels", "a.b"), Operator.EQUAL, "c"), Selector(("name",))),
    )
    assert parse() == ALWAYS == parse("")
    assert ALWAYS.matches_everything and not f.matches_everything
    assert parse("a", "b==c").strings() == ("a", "b==c")
    assert str(parse("a", "b==c")) == "a || b==c"
    with pytest.raises(AttributeError):
        f.alternatives = ()  # type: ignore[misc]


def test_regexp_compiled_once_at_parse() -> None:
    (sel,) = parse("name~=^fo+$").alternatives[0]
    assert isinstance(sel.pattern, re.Pattern)
    assert sel == Selector(("name",), Operator.MATCHES, "^fo+$")
    with pytest.raises(InvalidArgument, match="invalid regular expression"):
        Selector(("name",), Operator.MATCHES, "(")


def test_adapt_fields() -> None:
    adapt = adapt_fields({"name": "x", "empty": "", "labels": {"a": "b", "a.b": "c"}, "rt": {"name": "r"}})
    assert adapt(["name"]) == ("x", True)
    assert adapt(["empty"]) == ("", False)
    assert adapt(["missing"]) == ("", False)
    assert adapt(["labels"]) == ("", False)
    assert adapt(["labels", "a"]) == ("b", True)
    assert adapt(["labels", "a", "b"]) == ("c", True)
    assert adapt(["rt", "name"]) == ("r", True)
    assert adapt(["name", "x"]) == ("", False)
    f = parse('labels."a"==b,labels.a.b==c,rt.name~=r')
    assert f.match(adapt)


# --- property tests -----------------------------------------------------------

_bare_field = st.from_regex(r"[A-Za-z0-9_-]{1,8}", fullmatch=True)
_any_text = st.text(max_size=12)
_bare_value = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.:/=~!-]{0,8}", fullmatch=True)
_regexps = st.sampled_from(["a", "^x$", "[abc]+", "a|b", r"\d{2,3}", "(?i)foo", ".*", "a/b", 'q"'])


def _go_quote(text: str) -> str:
    # JSON's escapes without ensure_ascii are a subset of Go's.
    return json.dumps(text, ensure_ascii=False)


def _space() -> st.SearchStrategy[str]:
    return st.sampled_from(["", "", " ", "\t"])


@st.composite
def _selector_text(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.one_of(_bare_field, _any_text.map(_go_quote)), min_size=1, max_size=3))
    # Whitespace may precede a field, an operator or a value, never a "." or ",".
    path = draw(_space()) + ".".join(parts)
    op = draw(st.sampled_from(["", "==", "!=", "~="]))
    if not op:
        return path
    if op == "~=":
        pattern = draw(st.one_of(_regexps, _any_text.map(re.escape)))
        style = draw(st.sampled_from(["bare", "double", "slash", "pipe"]))
        if style == "bare" and pattern and all(c.isprintable() and not c.isspace() and c != "," for c in pattern) \
                and pattern[0] not in '"/|.,=!~':
            value = pattern
        elif style in ("slash", "pipe"):
            delimiter = "/" if style == "slash" else "|"
            body = _go_quote(pattern)[1:-1].replace('\\"', '"').replace(delimiter, "\\" + delimiter)
            value = delimiter + body + delimiter
        else:
            value = _go_quote(pattern)
    else:
        value = draw(st.one_of(_bare_value, _any_text.map(_go_quote)))
    return f"{path}{draw(_space())}{op}{draw(_space())}{value}"


_filter_text = st.lists(_selector_text(), min_size=1, max_size=4).map(",".join)


@settings(max_examples=400)
@given(_filter_text)
def test_canonical_form_reparses_to_equal_filter(text: str) -> None:
    f = parse(text)
    canonical = str(f)
    assert parse(canonical) == f
    assert str(parse(canonical)) == canonical


@given(st.lists(_filter_text, max_size=3))
def test_strings_round_trip_any_filter(texts: list[str]) -> None:
    f = parse(*texts)
    assert parse(*f.strings()) == f


@settings(max_examples=400)
@given(st.text(alphabet=st.sampled_from('ab.,=!~"/|\\ \'_-x0\n'), max_size=16) | st.text(max_size=16))
def test_any_text_parses_or_raises_invalid_argument(text: str) -> None:
    try:
        f = parse(text)
    except InvalidArgument as e:
        assert str(e).startswith("filters: parse error: [")
    else:
        assert parse(str(f)) == f


@given(
    st.lists(_any_text, min_size=1, max_size=3),
    st.sampled_from([Operator.PRESENT, Operator.EQUAL, Operator.NOT_EQUAL, Operator.MATCHES]),
    _any_text,
)
def test_any_selector_round_trips(path: list[str], op: Operator, value: str) -> None:
    if op is Operator.PRESENT:
        value = ""
    elif op is Operator.MATCHES:
        value = re.escape(value)
    f = Filter(((Selector(tuple(path), op, value),),))
    assert parse(str(f)) == f

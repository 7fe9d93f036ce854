"""containerd's filter language, used by list calls and event subscriptions.

Pure: no I/O, no trio. A *filter string* is one or more *selectors* joined by
``,``; an object matches when every selector matches (AND). Several filter
strings match when any of them does (OR), and no filter strings (or one empty
string) match everything::

    selectors := selector ("," selector)*
    selector  := fieldpath [operator value]
    fieldpath := field ("." field)*
    field     := [A-Za-z0-9_-]+ | quoted
    operator  := "==" | "!=" | "~="
    value     := quoted | [^\\s,]+
    quoted    := "..." (Go string escapes); after "~=" also /.../ or |...|

Semantics, as containerd's ``filters`` package:

- ``fieldpath`` alone is true when the field is *present* (the adaptor says so;
  :func:`adapt_fields` calls a field present when it exists and is non-empty).
- ``==`` is true when the field is present and equal to the value.
- ``!=`` is true when the field's value differs; an absent field has the value
  ``""``, so ``labels.a!=x`` matches objects without label ``a``.
- ``~=`` is true when the regular expression is found anywhere in the field's
  value (``re.search``; Python's syntax, which agrees with Go's RE2 on the
  common subset). It is compiled once, when the filter is parsed.

Quoting, also as containerd: a field may be a double-quoted string
(``labels."com.example/x"==y``); a value may be double-quoted
(``other=="too complex, yo"``), and after ``~=`` also quoted with ``/`` or
``|`` so patterns need fewer escapes (``name~=/^[a-z]+$/``). Single quotes are
not quotes in containerd's scanner: ``name=='x'`` compares with the three
characters ``'x'``. Whitespace before a token is skipped.

Examples::

    >>> f = parse('name==foo,labels."com.example/x"')
    >>> f.match(adapt_fields({"name": "foo", "labels": {"com.example/x": "1"}}))
    True
    >>> str(parse("labels.a == b"))
    'labels.a==b'

A malformed filter raises :class:`~berth.core.errors.InvalidArgument` with
containerd's message shape, pointing at the offending character::

    filters: parse error: [name==foo >|,|< ]: expected field or quoted
"""
from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Union, final

from berth.core.errors import InvalidArgument

__all__ = ["Operator", "Selector", "Filter", "Adaptor", "Fields", "ALWAYS", "parse", "adapt_fields"]

Adaptor = Callable[[Sequence[str]], tuple[str, bool]]
"""Looks up a field path on one object: returns ``(value, present)``."""

Fields = Mapping[str, Union[str, "Fields"]]
"""Field values by name; a nested mapping holds a sub-object or a label map."""


class Operator(enum.Enum):
    """How a selector compares a field; the value is its spelling."""

    PRESENT = ""
    EQUAL = "=="
    NOT_EQUAL = "!="
    MATCHES = "~="


# --- scanner ---------------------------------------------------------------

# Sentinels are longer than one character, so they are never members of the
# character sets below.
_EOF = "<eof>"
_ILLEGAL = "<illegal>"

_QUOTES = frozenset('"/|')
_SEPARATORS = frozenset(",.")
_OPERATOR_CHARS = frozenset("=!~")
_SIMPLE_ESCAPES = frozenset("abfnrtv\\")
_FIELD = re.compile(r"[A-Za-z0-9_-]+")
# Go's unicode.IsSpace, which unlike str.isspace leaves out \x1c-\x1f.
_NOT_GO_SPACE = frozenset("\x1c\x1d\x1e\x1f")


def _is_space(ch: str) -> bool:
    return len(ch) == 1 and ch.isspace() and ch not in _NOT_GO_SPACE


def _is_field_char(ch: str) -> bool:
    return len(ch) == 1 and (ch in "_-" or ("a" <= ch <= "z") or ("A" <= ch <= "Z") or ("0" <= ch <= "9"))


def _is_value_char(ch: str) -> bool:
    return len(ch) == 1 and ch != "," and not _is_space(ch) and ch.isprintable()


def _digit_value(ch: str) -> int:
    if len(ch) == 1 and ch in "0123456789abcdefABCDEF":
        return int(ch, 16)
    return 16


class _Token(enum.Enum):
    EOF = "EOF"
    QUOTED = "Quoted"
    VALUE = "Value"
    FIELD = "Field"
    SEPARATOR = "Separator"
    OPERATOR = "Operator"
    ILLEGAL = "Illegal"
    CHAR = "Char"  # any other single character, returned as is


class _Scanner:
    """Tokenizer with containerd's rules (one character of lookahead).

    ``pos`` is where the current character starts, ``ppos`` where the next
    one does. ``value`` is set after an operator: the next bare token is a
    value (which may hold punctuation) rather than a field.
    """

    def __init__(self, text: str) -> None:
        self.input = text
        self.pos = 0
        self.ppos = 0
        self.value = False
        self.err = ""

    def next(self) -> str:
        if self.pos >= len(self.input):
            return _EOF
        self.pos = self.ppos
        if self.ppos >= len(self.input):
            return _EOF
        ch = self.input[self.ppos]
        self.ppos += 1
        if ch == "\0":
            self.error("unexpected null")
            return _ILLEGAL
        return ch

    def peek(self) -> str:
        pos, ppos = self.pos, self.ppos
        ch = self.next()
        self.pos, self.ppos = pos, ppos
        return ch

    def error(self, message: str) -> None:
        if not self.err:
            self.err = message

    def scan(self) -> tuple[int, _Token, str]:
        ch = self.next()
        pos = self.pos
        while _is_space(ch):
            ch = self.next()
            pos = self.pos
        if ch == _EOF:
            return self.pos, _Token.EOF, ""
        if ch == _ILLEGAL:
            return self.pos, _Token.ILLEGAL, ""
        if ch in _QUOTES:
            ok = self._scan_quoted(ch)
            return pos, _Token.QUOTED if ok else _Token.ILLEGAL, self.input[pos : self.ppos]
        if ch in _SEPARATORS:
            self.value = False
            return pos, _Token.SEPARATOR, ch
        if ch in _OPERATOR_CHARS:
            while self.peek() in _OPERATOR_CHARS:
                self.next()
            self.value = True
            return pos, _Token.OPERATOR, self.input[pos : self.ppos]
        if self.value:
            while _is_value_char(self.peek()):
                self.next()
            self.value = False
            return pos, _Token.VALUE, self.input[pos : self.ppos]
        if _is_field_char(ch):
            while _is_field_char(self.peek()):
                self.next()
            return pos, _Token.FIELD, self.input[pos : self.ppos]
        return self.pos, _Token.CHAR, ch

    def _scan_quoted(self, quote: str) -> bool:
        legal = True
        ch = self.next()
        while ch != quote:
            if ch in (_EOF, _ILLEGAL, "\n"):
                self.error("quoted literal not terminated")
                return False
            if ch == "\\":
                ch, ok = self._scan_escape(quote)
                legal = legal and ok
            else:
                ch = self.next()
        return legal

    def _scan_escape(self, quote: str) -> tuple[str, bool]:
        ch = self.next()
        if ch in _SIMPLE_ESCAPES or ch == quote:
            return self.next(), True
        if len(ch) == 1 and ch in "01234567":
            return self._scan_digits(ch, 8, 3)
        widths = {"x": 2, "u": 4, "U": 8}
        if ch in widths:
            return self._scan_digits(self.next(), 16, widths[ch])
        self.error("illegal escape sequence")
        return ch, False

    def _scan_digits(self, ch: str, base: int, count: int) -> tuple[str, bool]:
        while count > 0 and _digit_value(ch) < base:
            ch = self.next()
            count -= 1
        if count > 0:
            self.error("illegal numeric escape sequence")
            return ch, False
        return ch, True


class _QuoteSyntax(Exception):
    pass


_ESCAPED = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


def _unquote(text: str) -> str:
    """Decode a quoted literal (Go's string escapes; quote ``"``, ``/`` or ``|``)."""
    if len(text) < 2 or text[0] != text[-1] or text[0] not in _QUOTES:
        raise _QuoteSyntax
    quote, body = text[0], text[1:-1]
    if "\n" in body:
        raise _QuoteSyntax
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == quote:
            raise _QuoteSyntax
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= len(body):
            raise _QuoteSyntax
        esc = body[i + 1]
        i += 2
        if esc in _ESCAPED:
            out.append(_ESCAPED[esc])
        elif esc in _QUOTES or esc == "'":
            if esc != quote:
                raise _QuoteSyntax
            out.append(esc)
        elif esc in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[esc]
            digits = body[i : i + width]
            if len(digits) != width or any(_digit_value(d) >= 16 for d in digits):
                raise _QuoteSyntax
            code = int(digits, 16)
            if code > 0x10FFFF:
                raise _QuoteSyntax
            out.append(chr(code))
            i += width
        elif esc in "01234567":
            digits = body[i - 1 : i + 2]
            if len(digits) != 3 or any(_digit_value(d) >= 8 for d in digits) or int(digits, 8) > 0xFF:
                raise _QuoteSyntax
            out.append(chr(int(digits, 8)))
            i += 2
        else:
            raise _QuoteSyntax
    return "".join(out)


def _quote(text: str) -> str:
    """Double-quote ``text`` so that :func:`_unquote` gives it back."""
    out = ['"']
    reverse = {v: k for k, v in _ESCAPED.items()}
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch in reverse:
            out.append("\\" + reverse[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


# --- filter values ---------------------------------------------------------


@final
@dataclasses.dataclass(frozen=True, slots=True)
class Selector:
    """One ``fieldpath [operator value]`` test.

    Built by :func:`parse`; building one directly validates it the same way
    (a ``~=`` value must compile). Equality ignores the compiled pattern.
    """

    fieldpath: tuple[str, ...]
    operator: Operator = Operator.PRESENT
    value: str = ""
    pattern: re.Pattern[str] | None = dataclasses.field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fieldpath", tuple(self.fieldpath))
        if not self.fieldpath:
            raise InvalidArgument("filters: a selector needs a field path")
        if self.operator is Operator.PRESENT and self.value:
            raise InvalidArgument(f"filters: selector {self}: a presence test takes no value")
        if self.operator is Operator.MATCHES and self.pattern is None:
            try:
                object.__setattr__(self, "pattern", re.compile(self.value))
            except re.error as e:
                raise InvalidArgument(f"filters: invalid regular expression {self.value!r}: {e}") from e

    def match(self, adaptor: Adaptor) -> bool:
        """Whether the object ``adaptor`` describes passes this test."""
        value, present = adaptor(self.fieldpath)
        if self.operator is Operator.PRESENT:
            return present
        if self.operator is Operator.EQUAL:
            return present and value == self.value
        if self.operator is Operator.NOT_EQUAL:
            return value != self.value
        assert self.pattern is not None
        return self.pattern.search(value) is not None

    def __str__(self) -> str:
        path = ".".join(part if _FIELD.fullmatch(part) else _quote(part) for part in self.fieldpath)
        if self.operator is Operator.PRESENT:
            return path
        return f"{path}{self.operator.value}{_format_value(self.value)}"


def _format_value(value: str) -> str:
    bare = (
        value != ""
        and value[0] not in _QUOTES
        and value[0] not in _SEPARATORS
        and value[0] not in _OPERATOR_CHARS
        and all(_is_value_char(ch) for ch in value)
    )
    return value if bare else _quote(value)


@final
@dataclasses.dataclass(frozen=True, slots=True)
class Filter:
    """Parsed filters: true when all selectors of any alternative match.

    ``alternatives`` holds one tuple of selectors per filter string; an empty
    tuple of selectors matches everything. ``str()`` of a one-string filter
    is its canonical spelling (``parse(str(f)) == f``); :meth:`strings`
    gives one canonical string per alternative for any filter
    (``parse(*f.strings()) == f``).
    """

    alternatives: tuple[tuple[Selector, ...], ...]

    def match(self, adaptor: Adaptor) -> bool:
        """Whether the object ``adaptor`` describes passes the filter."""
        return any(all(s.match(adaptor) for s in selectors) for selectors in self.alternatives)

    @property
    def matches_everything(self) -> bool:
        """True when some alternative has no selectors (e.g. no filters given)."""
        return any(not selectors for selectors in self.alternatives)

    def strings(self) -> tuple[str, ...]:
        """The canonical filter string of each alternative."""
        return tuple(",".join(str(s) for s in selectors) for selectors in self.alternatives)

    def __str__(self) -> str:
        return " || ".join(self.strings())


ALWAYS = Filter(((),))
"""The filter that matches everything (what ``parse()`` returns)."""


# --- parser ----------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.input = text
        self.scanner = _Scanner(text)

    def error(self, pos: int, message: str) -> InvalidArgument:
        text = self.input
        if pos < len(text):
            where = f"[{text[:pos]} >|{text[pos]}|< {text[pos + 1:]}]"
        else:
            where = f"[{text}]"
        return InvalidArgument(f"filters: parse error: {where}: {message}")

    def selectors(self) -> tuple[Selector, ...]:
        found = [self.selector()]
        while True:
            ch = self.scanner.peek()
            if ch == ",":
                self.scanner.scan()
                found.append(self.selector())
            elif ch == _EOF:
                return tuple(found)
            elif ch == _ILLEGAL:
                raise self.error(self.scanner.ppos, self.scanner.err)
            else:
                raise self.error(self.scanner.ppos, f"unexpected input: {ch}")

    def selector(self) -> Selector:
        fieldpath = self.fieldpath()
        if self.scanner.peek() in (",", _EOF):
            return Selector(fieldpath)
        op = self.operator()
        pos, value = self.value(alternative_quotes=op is Operator.MATCHES)
        pattern = None
        if op is Operator.MATCHES:
            try:
                pattern = re.compile(value)
            except re.error as e:
                raise self.error(pos, f"invalid regular expression: {e}") from e
        return Selector(fieldpath, op, value, pattern)

    def fieldpath(self) -> tuple[str, ...]:
        parts = [self.field()]
        while self.scanner.peek() == ".":
            self.scanner.scan()
            parts.append(self.field())
        return tuple(parts)

    def field(self) -> str:
        pos, token, text = self.scanner.scan()
        if token is _Token.FIELD:
            return text
        if token is _Token.QUOTED:
            return self.unquote(pos, text, alternative_quotes=False)
        if token is _Token.ILLEGAL:
            raise self.error(pos, self.scanner.err)
        raise self.error(pos, "expected field or quoted")

    def operator(self) -> Operator:
        pos, token, text = self.scanner.scan()
        if token is _Token.OPERATOR:
            for op in (Operator.EQUAL, Operator.NOT_EQUAL, Operator.MATCHES):
                if text == op.value:
                    return op
            raise self.error(pos, f'unsupported operator "{text}"')
        if token is _Token.ILLEGAL:
            raise self.error(pos, self.scanner.err)
        raise self.error(pos, 'expected an operator ("=="|"!="|"~=")')

    def value(self, *, alternative_quotes: bool) -> tuple[int, str]:
        pos, token, text = self.scanner.scan()
        if token in (_Token.VALUE, _Token.FIELD):
            return pos, text
        if token is _Token.QUOTED:
            return pos, self.unquote(pos, text, alternative_quotes=alternative_quotes)
        if token is _Token.ILLEGAL:
            raise self.error(pos, self.scanner.err)
        raise self.error(pos, "expected value or quoted")

    def unquote(self, pos: int, text: str, *, alternative_quotes: bool) -> str:
        if not alternative_quotes and text[0] != '"':
            raise self.error(pos, "invalid quote encountered")
        try:
            return _unquote(text)
        except _QuoteSyntax:
            raise self.error(pos, "unquoting failed: quote syntax error") from None


def parse(*filters: str) -> Filter:
    """Parse filter strings into one :class:`Filter` (OR of the strings).

    Args:
        filters: filter strings as a user or client sends them; none, or an
            empty string among them, matches everything.

    Returns:
        An immutable :class:`Filter`; regular expressions are compiled.

    Raises:
        InvalidArgument: a string is malformed; the message names the filter,
            marks the position as ``>|c|<`` and says what was expected.
    """
    if not filters:
        return ALWAYS
    alternatives = []
    for text in filters:
        if not isinstance(text, str):
            raise InvalidArgument(f"filters: a filter must be a string (got {text!r})")
        alternatives.append(_Parser(text).selectors() if text else ())
    return Filter(tuple(alternatives))


def _lookup(node: str | Fields, path: Sequence[str]) -> tuple[str, bool]:
    if isinstance(node, str):
        return (node, node != "") if not path else ("", False)
    if not path:
        return "", False
    child = node.get(path[0])
    if child is not None:
        value, present = _lookup(child, path[1:])
        if present:
            return value, present
    # Label maps: the rest of the path names one key that may hold dots,
    # so labels.a.b finds the key "a.b" (as containerd's adaptors do).
    joined = node.get(".".join(path)) if len(path) > 1 else None
    if isinstance(joined, str):
        return joined, joined != ""
    return "", False


def adapt_fields(fields: Fields) -> Adaptor:
    """An adaptor over plain field values.

    A string field is present when it is non-empty; a nested mapping is a
    sub-object or a label map, looked up component by component or, failing
    that, by the rest of the path joined with ``.`` (so ``labels.a.b`` finds
    label ``a.b``). A mapping itself is never a present value.

    Example::

        adapt_fields({"name": "x", "labels": {"a": "b"}})  # name==x, labels.a==b
    """

    def adaptor(fieldpath: Sequence[str]) -> tuple[str, bool]:
        return _lookup(fields, fieldpath)

    return adaptor

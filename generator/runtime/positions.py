"""Line and column of validation issues in JSON text, worked out after the walk.

Issues carry a FHIRPath location (``ImagingSelection.instance[0].sopClass``) and, for issues about
a property, its name in ``Issue.key``. :func:`_with_positions` turns each into JSON pointer
candidates (the property's name, the value, a primitive's ``_name`` twin) and finds their
character offsets in the text in one go, then line and column in one pass over the text.

Two ways to find offsets, giving the same answer:

* :func:`locate_in_tree`, the fast way, when the parsed tree is at hand and the text is the
  tree written by a known serialiser: compact orjson output (``{"a":1,"b":[2]}``, common in bulk
  NDJSON exports), or Python's ``json.dumps`` with ``", "``/``": "`` or ``","``/``":"``
  separators, ASCII-escaped or not. A value's offset then follows from the lengths of the
  serialised siblings before it (serialised in C), with no token loop in Python. Every sibling
  and separator it steps over is compared with the text, so any difference (pretty-printing,
  other escapes, ``1.50`` read as ``1.5``) gives up and the token pass runs instead. Text with
  repeated property names (the tree kept one of them) is left to the token pass too.
* :func:`locate`, the token pass: one regex pass over any JSON text (pretty-printed, escaped,
  oddly spaced), skipping containers no wanted pointer lies in.

Offsets are offsets of characters of the decoded text (not bytes), so non-ASCII text counts each
character once.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, NamedTuple

from .issues import Issue

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - a declared dependency; the token pass still works
    _orjson = None  # type: ignore[assignment]

__all__ = ["json_pointer", "locate", "locate_in_tree"]

_OF_TYPE = re.compile(r"([A-Za-z0-9_]+)\.ofType\(([A-Za-z0-9]+)\)")
_SEGMENT = re.compile(r"([A-Za-z0-9_]+)((?:\[\d+\])*)")
_INDEX = re.compile(r"\d+")


def json_pointer(expression: str) -> str:
    """The JSON pointer of a location: ``X.instance[0].uid`` -> ``/instance/0/uid``."""
    return _json_pointer(expression)


@lru_cache(maxsize=8192)
def _json_pointer(expression: str) -> str:
    """Cached: a bulk run meets the same few hundred locations over and over."""
    text = _OF_TYPE.sub(lambda m: m.group(1) + m.group(2)[:1].upper() + m.group(2)[1:], expression)
    _root, _, rest = text.partition(".")
    pointer = ""
    for part in rest.split(".") if rest else ():
        match = _SEGMENT.fullmatch(part)
        if match is None:
            break
        pointer += "/" + match.group(1)
        pointer += "".join("/" + index for index in _INDEX.findall(match.group(2)))
    return pointer


@lru_cache(maxsize=8192)
def _candidates(expression: str, key: str | None) -> tuple[tuple[str, bool], ...]:
    """The pointers an issue may be placed at, best first, each with whether it names a
    property (placed at its name): the property *key*, the value, a primitive's ``_name``."""
    pointer = _json_pointer(expression)
    candidates = []
    if key is not None:
        escaped = key.replace("~", "~0").replace("/", "~1")
        candidates.append((f"{pointer}/{escaped}", True))
    candidates.append((pointer, False))
    head, _, last = pointer.rpartition("/")
    if last and not last.isdigit():
        candidates.append((f"{head}/_{last}", False))
    return tuple(candidates)


# ------------------------------------------------------------------------------ token pass

#: JSON tokens: a string, a structural character, or a scalar (number, true, false, null).
#: Possessive, unrolled string form: a string of 10 MB is one linear pass (the form with an
#: alternation per character took seconds and a gigabyte of regex stack).
_TOKEN = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"|[{}\[\],:]|[^\s{}\[\],:"]+')


def _pointer_key(token: str) -> str:
    """A JSON name token as a JSON pointer segment (RFC 6901: ~ and / escaped)."""
    key = token[1:-1]
    if "\\" in key:
        try:
            key = json.loads(token)
        except ValueError:
            pass
    if "~" in key or "/" in key:
        key = key.replace("~", "~0").replace("/", "~1")
    return key


def locate(text: str, wanted: set[str]) -> dict[str, tuple[int, int | None]]:
    """Character offsets of the values (and their names) at the JSON pointers *wanted*.

    One pass of a token regex over the text, stopping once every wanted pointer is found; a
    container no wanted pointer lies in is skipped without building pointers for its content.
    Returns ``{pointer: (value offset, name offset or None)}``; malformed text gives what was
    found before the problem.
    """
    prefixes = {""}
    for pointer in wanted:
        parts = pointer.split("/")
        prefixes.update("/".join(parts[:i]) for i in range(2, len(parts)))
    found: dict[str, tuple[int, int | None]] = {}
    # frames: [pointer of the container, is object, next index, pending name, name offset]
    stack: list[list[Any]] = []
    skip = 0  # depth inside a container no wanted pointer lies in
    expect_name = False
    for match in _TOKEN.finditer(text):
        start = match.start()
        char = text[start]
        if skip:
            if char in "{[":
                skip += 1
            elif char in "}]":
                skip -= 1
                if not skip:
                    stack.pop()
            continue
        if char == ",":
            if stack:
                frame = stack[-1]
                if frame[1]:
                    expect_name = True
                else:
                    frame[2] += 1
            continue
        if char == ":":
            continue
        if char in "}]":
            if stack:
                stack.pop()
            expect_name = False
            continue
        if expect_name and char == '"':
            frame = stack[-1]
            frame[3] = _pointer_key(match.group())
            frame[4] = start
            expect_name = False
            continue
        # a value: its pointer
        if not stack:
            pointer, name_at = "", None
        else:
            frame = stack[-1]
            if frame[1]:
                pointer, name_at = f"{frame[0]}/{frame[3]}", frame[4]
            else:
                pointer, name_at = f"{frame[0]}/{frame[2]}", None
        if pointer in wanted:
            found[pointer] = (start, name_at)
            if len(found) == len(wanted):
                break
        if char in "{[":
            is_object = char == "{"
            stack.append([pointer, is_object, 0, None, None])
            expect_name = is_object
            if pointer not in prefixes and pointer not in wanted:
                skip = 1
    return found


# ------------------------------------------------------------------------------- fast way

#: JSON's whitespace (str.strip would also drop characters JSON does not allow there).
_JSON_SPACE = " \t\n\r"
#: Stand-ins for escaped backslashes and quotes while compact text is split at its quotes
#: (control characters never stand unescaped in serialised JSON).
_BACKSLASHES, _QUOTE = "\x01\x01", "\x02\x02"
_JOIN = "\x00"


def _json_escape(error: UnicodeError) -> tuple[str, int]:
    r"""Codec error handler: characters past ASCII as JSON ``\uXXXX`` escapes (a surrogate pair
    past the BMP), the way ``json.dumps`` writes them by default."""
    if not isinstance(error, UnicodeEncodeError):  # pragma: no cover - registered for encoding
        raise error
    escaped = []
    for char in error.object[error.start:error.end]:
        code = ord(char)
        if code > 0xFFFF:
            code -= 0x10000
            escaped.append(f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}")
        else:
            escaped.append(f"\\u{code:04x}")
    return "".join(escaped), error.end


codecs.register_error("fhirgen-json-escape", _json_escape)


class _Layout(NamedTuple):
    """How text was written from the compact serialisation: the separators between items and
    after names, and whether characters past ASCII are escaped."""

    item_sep: str
    key_sep: str
    ascii_only: bool


_COMPACT = _Layout(",", ":", False)


def _outside(compact: str) -> list[str]:
    """*compact* JSON text split at the quotes of its strings: even pieces lie outside strings
    (escaped backslashes and quotes stand in as :data:`_BACKSLASHES` / :data:`_QUOTE`)."""
    return compact.replace("\\\\", _BACKSLASHES).replace('\\"', _QUOTE).split('"')


def _rewrite(compact: str, layout: _Layout) -> str:
    """*compact* JSON text as written in *layout*, at C speed: separators outside strings
    widened, characters past ASCII escaped."""
    written = compact
    if layout.item_sep != "," or layout.key_sep != ":":
        pieces = _outside(compact)
        outside = _JOIN.join(pieces[::2]).replace(",", layout.item_sep).replace(":", layout.key_sep)
        pieces[::2] = outside.split(_JOIN)
        written = '"'.join(pieces).replace(_QUOTE, '\\"').replace(_BACKSLASHES, "\\\\")
    if layout.ascii_only and not written.isascii():
        written = written.encode("ascii", "fhirgen-json-escape").decode("ascii")
    return written


def _layout(text: str, tree: Any, compact: str, root_at: int) -> _Layout | None:
    """The layout *text* has when it is the *compact* serialisation of *tree* rewritten
    (orjson's own, or ``json.dumps``' with ``", "``/``": "`` or ``","``/``":"`` separators,
    ASCII-escaped or not), judged from the separator after the first name, then checked
    whole; None when it is not."""
    core_length = len(text[root_at:].rstrip(_JSON_SPACE))
    if core_length == len(compact) and text.startswith(compact, root_at):
        return _COMPACT
    if not isinstance(tree, dict) or not tree:
        return None
    ascii_only = text.isascii()
    head = "{" + _orjson.dumps(next(iter(tree))).decode("utf-8")
    after = root_at + len(_rewrite(head, _Layout(",", ":", ascii_only)))
    spaced = text.startswith(": ", after)
    layout = _Layout(", " if spaced else ",", ": " if spaced else ":", ascii_only)
    if layout == _COMPACT:
        return None
    written = _rewrite(compact, layout)
    if len(written) == core_length and text.startswith(written, root_at):
        return layout
    return None


def _segment_key(segment: str) -> str:
    """A JSON pointer segment as the property name it stands for (RFC 6901)."""
    return segment.replace("~1", "/").replace("~0", "~") if "~" in segment else segment


def _segment_index(segment: str, length: int) -> int | None:
    """A JSON pointer segment as an array index (canonical decimal, in range), else None."""
    if not segment.isascii() or not segment.isdigit() or (segment[0] == "0" and segment != "0"):
        return None
    index = int(segment)
    return index if index < length else None


#: The key of a trie node under which the pointer ending there is kept (never a segment).
_END: Any = None


def _place(node: Any, at: int, name_at: int | None, trie: dict[Any, Any],
           found: dict[str, tuple[int, int | None]]) -> None:
    """Record in *found* the byte offsets (in the compact serialisation) of the value *node*,
    written at *at*, and of the pointers of *trie* below it: a child's offset is its
    container's plus the serialised lengths of the siblings before it (orjson, C speed)."""
    pointer = trie.get(_END)
    if pointer is not None:
        found[pointer] = (at, name_at)
    if len(trie) == (pointer is not None):
        return
    pending: dict[Any, Any] = {}
    if isinstance(node, dict):
        for segment, below in trie.items():
            if segment is not _END:
                key = _segment_key(segment)
                if key in node:
                    pending[key] = below
        children: Iterable[tuple[Any, Any]] = node.items()
    elif isinstance(node, list):
        for segment, below in trie.items():
            if segment is not _END:
                index = _segment_index(segment, len(node))
                if index is not None:
                    pending[index] = below
        children = enumerate(node)
    else:
        return
    remaining = len(pending)
    if not remaining:
        return
    dumps = _orjson.dumps
    is_object = isinstance(node, dict)
    pos = at + 1
    for name, value in children:
        child_name_at = None
        if is_object:
            child_name_at = pos
            pos += len(dumps(name)) + 1
        below = pending.get(name)
        if below is not None:
            _place(value, pos, child_name_at, below, found)
            remaining -= 1
            if not remaining:
                return
        pos += len(dumps(value)) + 1


def _text_offsets(compact: bytes, offsets: Iterable[int], layout: _Layout,
                  root_at: int) -> dict[int, int]:
    """Character offsets in the text of byte offsets of tokens in *compact*, in one pass: each
    token moves by the characters the layout added before it (a space after a separator, the
    rest of an escape)."""
    result: dict[int, int] = {}
    extra_item, extra_key = len(layout.item_sep) - 1, len(layout.key_sep) - 1
    done_bytes, done_chars = 0, root_at
    for offset in sorted(offsets):
        # token starts lie outside strings: a piece between two of them splits at its quotes
        piece = compact[done_bytes:offset].decode("utf-8")
        done_chars += len(piece)
        if extra_item or extra_key:
            outside = "".join(_outside(piece)[::2])
            done_chars += extra_item * outside.count(",") + extra_key * outside.count(":")
        if layout.ascii_only and not piece.isascii():
            past_ascii = len(piece) - len(piece.encode("ascii", "ignore"))
            astral = len(piece.encode("utf-16-le")) // 2 - len(piece)
            done_chars += 5 * past_ascii + 6 * astral  # \uXXXX, or two of them
        done_bytes = offset
        result[offset] = done_chars
    return result


def locate_in_tree(text: str, tree: Any,
                   wanted: Iterable[str]) -> dict[str, tuple[int, int | None]] | None:
    """What :func:`locate` finds, read off the parsed *tree* when *text* is that tree as a known
    serialiser writes it (see the module docstring); None when it is not (or cannot be told).

    The whole text is checked to be the tree's compact serialisation (orjson) as the layout
    rewrites it, so offsets in that serialisation, from lengths of serialised siblings, are
    offsets in the text once the characters the layout adds before them are counted.
    """
    if _orjson is None or not isinstance(tree, (dict, list)):
        return None
    try:
        compact_bytes = _orjson.dumps(tree)
    except (TypeError, ValueError):  # exact decimals, integers past 64 bits
        return None
    compact = compact_bytes.decode("utf-8")
    # A repeated name (the tree kept one of them) makes the text richer in '"' than the tree's
    # serialisation (every '"' of JSON text delimits a string or is an escaped quote): offsets
    # read off the tree could then name the other occurrence.
    if text.count('"') + text.count("\\u0022") != compact.count('"'):
        return None
    root_at = len(text) - len(text.lstrip(_JSON_SPACE))
    layout = _layout(text, tree, compact, root_at)
    if layout is None:
        return None
    trie: dict[Any, Any] = {}
    for pointer in wanted:
        node = trie
        if pointer:
            for segment in pointer[1:].split("/"):
                node = node.setdefault(segment, {})
        node[_END] = pointer
    placed: dict[str, tuple[int, int | None]] = {}
    try:
        _place(tree, 0, None, trie, placed)
    except (TypeError, ValueError, RecursionError):
        return None
    if layout == _COMPACT and compact_bytes.isascii():
        return {pointer: (root_at + value, None if name is None else root_at + name)
                for pointer, (value, name) in placed.items()}
    moved = _text_offsets(compact_bytes, {offset for place in placed.values() for offset in place
                                          if offset is not None}, layout, root_at)
    return {pointer: (moved[value], None if name is None else moved[name])
            for pointer, (value, name) in placed.items()}


# ----------------------------------------------------------------------- lines and columns


def _line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _lines_cols(text: str, offsets: set[int]) -> dict[int, tuple[int, int]]:
    """Line and column of each offset, in one pass over the text up to the last of them (one
    :func:`_line_col` per issue would scan a one-line file of megabytes once per issue)."""
    places: dict[int, tuple[int, int]] = {}
    line, line_start, scanned = 1, 0, 0
    for offset in sorted(offsets):
        newlines = text.count("\n", scanned, offset)
        if newlines:
            line += newlines
            line_start = text.rfind("\n", scanned, offset) + 1
        scanned = offset
        places[offset] = (line, offset - line_start + 1)
    return places


#: No tree given: only the token pass can place issues.
_NO_TREE: Any = object()


def _with_positions(issues: list[Issue], text: str, line_offset: int,
                    tree: Any = _NO_TREE) -> list[Issue]:
    """Issues with the line and column of what they are about (the value, or the name of the
    property an issue names with ``key``; a primitive's ``_name`` object if it has no value).

    *tree*, the parse of *text*, lets :func:`locate_in_tree` read offsets off it; without it,
    or when the text is not a layout it knows, :func:`locate` makes its token pass.
    """
    plans: list[tuple[tuple[str, bool], ...]] = []
    wanted: set[str] = set()
    for issue in issues:
        if issue.line is not None or not issue.expression:
            plans.append(())
            continue
        candidates = _candidates(issue.expression, issue.key)
        plans.append(candidates)
        wanted.update(candidate for candidate, _is_key in candidates)
    if not wanted:
        return issues
    found = None if tree is _NO_TREE else locate_in_tree(text, tree, wanted)
    if found is None:
        found = locate(text, wanted)
    offsets: list[int | None] = []
    for candidates in plans:
        offset = None
        for candidate, is_key in candidates:
            entry = found.get(candidate)
            if entry is not None:
                offset = entry[1] if is_key and entry[1] is not None else entry[0]
                break
        offsets.append(offset)
    places = _lines_cols(text, {offset for offset in offsets if offset is not None})
    result = []
    for issue, offset in zip(issues, offsets, strict=True):
        if offset is None:
            result.append(issue)
        else:
            line, col = places[offset]
            result.append(issue.at(line + line_offset, col))
    return result

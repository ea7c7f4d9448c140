"""Line and column of validation issues in JSON text, worked out after the walk.

Issues carry a FHIRPath location (``ImagingSelection.instance[0].sopClass``) and, for issues about
a property, its name in ``Issue.key``. :func:`_with_positions` turns each into JSON pointer
candidates (the property's name, the value, a primitive's ``_name`` twin) and finds their
character offsets in the text in one go, then line and column in one pass over the text.

Two ways to find offsets, giving the same answer:

* :func:`locate_in_tree`, the fast way, when the parsed tree is at hand (``Result`` keeps it)
  and the text is the tree's compact serialisation (orjson's ``{"a":1,"b":[2]}``, common in bulk
  NDJSON exports) as a layout rewrites it: characters past ASCII escaped or not, spaces added
  outside strings (``json.dumps``' ``", "`` and ``": "``, or any other). One comparison of the
  whole text with orjson's bytes (spaces dropped from both when the text has more) decides
  (:func:`_tree_text`). Offsets in the compact text then come at C speed: a property name is
  found where it occurs exactly as often as wanted (:func:`_place_by_name`), anything else from
  the lengths of the serialised siblings before it (:func:`_place`); they move into the text
  by counting what the layout added before them (escapes, spaces). Any other text (pretty-
  printed, tabs, other escapes, ``1.50`` read as ``1.5``, a repeated property name) is left
  to the token pass.
* :func:`locate`, the token pass: one regex pass over any JSON text (pretty-printed, escaped,
  oddly spaced), skipping containers no wanted pointer lies in.

tests/test_positions.py checks that both give the same offsets on the official examples in
six layouts, on mutated resources and on generated JSON.

Offsets are offsets of characters of the decoded text (not bytes), so non-ASCII text counts each
character once.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable
from functools import lru_cache
from itertools import accumulate, islice
from operator import add
from typing import Any

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
                    expect_name = False  # what follows is "," or the end of its container
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


def _spaced_offsets(core: bytes, compact: bytes, offsets: list[int]) -> list[int]:
    """Where the tokens at sorted *offsets* of *compact* stand in *core*, which is *compact*
    with spaces added outside strings.

    Before a token at compact offset ``o`` the text holds the ``o`` compact bytes and the
    spaces added among them, so its offset ``d`` satisfies ``d = o + added(core[:d])``, where
    the spaces added are those of ``core[:d]`` less those of ``compact[:o]`` (the ones inside
    strings, the same in both). Counting from below (from the previous token's shift: shifts
    only grow) converges on the start of the run of spaces before the token, which is then
    stepped over. Counting is incremental: one pass over each text in all.
    """
    result: list[int] = []
    inside = scanned = counted = last = 0
    for offset in offsets:
        inside += compact.count(b" ", last, offset)
        last = offset
        at = max(offset + counted - inside if result else offset, scanned)
        while True:
            counted += core.count(b" ", scanned, at)
            scanned = at
            moved = offset + counted - inside
            if moved <= at:
                break
            at = moved
        while core[at:at + 1] == b" ":
            at += 1
        result.append(at)
    return result


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
#: What a missing property reads as (None is JSON's null).
_ABSENT: Any = object()


@lru_cache(maxsize=8192)
def _segments(pointer: str) -> tuple[str, ...]:
    return tuple(pointer[1:].split("/")) if pointer else ()


@lru_cache(maxsize=8192)
def _steps(pointer: str) -> tuple[tuple[str, int | None], ...]:
    """Each segment of a pointer as the property name it stands for and the array index it
    stands for (None when it is not a canonical decimal)."""
    return tuple((_segment_key(segment), _segment_index(segment, 1 << 62))
                 for segment in _segments(pointer))


def _trie(pointers: Iterable[str]) -> dict[Any, Any]:
    """The pointers as nested dicts of their segments, each ending in ``{_END: pointer}``."""
    trie: dict[Any, Any] = {}
    for pointer in pointers:
        node = trie
        for segment in _segments(pointer):
            node = node.setdefault(segment, {})
        node[_END] = pointer
    return trie


def _place(node: Any, at: int, trie: dict[Any, Any],
           found: dict[str, tuple[int, int | None]]) -> None:
    """Record in *found* the byte offsets, in the compact serialisation, of the pointers of
    *trie* below the container *node* written at *at*. A child's offset is its container's
    plus the lengths of the serialised siblings before it: orjson and C-speed sums, no Python
    loop over the siblings."""
    dumps = _orjson.dumps
    if isinstance(node, dict):
        keys: list[str] | None = None
        for segment, below in trie.items():
            if segment is _END:
                continue
            key = segment.replace("~1", "/").replace("~0", "~") if "~" in segment else segment
            value = node.get(key, _ABSENT)
            if value is _ABSENT:
                continue
            if keys is None:
                keys = list(node)
            i = keys.index(key)  # a child: its name, ':', its value, ','
            name_at = at + 1 + 2 * i
            if i:
                name_at += (sum(map(len, map(dumps, islice(keys, i))))
                            + sum(map(len, map(dumps, islice(node.values(), i)))))
            value_at = name_at + len(dumps(key)) + 1
            pointer = below.get(_END)
            if pointer is not None:
                found[pointer] = (value_at, name_at)
            if len(below) > (pointer is not None) and isinstance(value, (dict, list)):
                _place(value, value_at, below, found)
    elif isinstance(node, list):
        items = []
        for segment, below in trie.items():
            if segment is not _END:
                index = _segment_index(segment, len(node))
                if index is not None:
                    items.append((index, below))
        if not items:
            return
        if len(items) == 1:
            i = items[0][0]
            starts = {i: at + 1 + i + sum(map(len, map(dumps, islice(node, i))))}
        else:
            last = max(i for i, _below in items)
            starts = dict(enumerate(map(add, accumulate(map(len, map(dumps, islice(node, last))),
                                                        initial=at + 1), range(last + 1))))
        for i, below in items:
            value, value_at = node[i], starts[i]
            pointer = below.get(_END)
            if pointer is not None:
                found[pointer] = (value_at, None)
            if len(below) > (pointer is not None) and isinstance(value, (dict, list)):
                _place(value, value_at, below, found)


def _place_by_name(compact: bytes, tree: Any, pointers: Iterable[str],
                   placed: dict[str, tuple[int, int | None]]) -> list[str]:
    """Place the pointers that end in a property name by finding the name in the compact
    text, when the text holds it (``"name":``) exactly as often as the wanted pointers do:
    each of them is one occurrence, so the occurrences are theirs, in document order. Returns
    the pointers left for :func:`_place` (the others are placed, or absent from the tree).

    ``"name":`` never occurs inside a string of compact JSON: a quote in a string is escaped,
    and the name is followed by a quote, not a backslash. Names that need escapes are left, as
    are pointers of one name through different properties (``/a/0/x``, ``/b/x``): their
    document order would need the properties' order.
    """
    rest: list[str] = []
    # name -> [(array indexes on the way, pointer)], and the property names on the way
    groups: dict[str, list[tuple[tuple[int, ...], str]]] = {}
    ways: dict[str, tuple[str | None, ...]] = {}
    for pointer in pointers:
        node, key = tree, None
        indexes: list[int] = []
        way: list[str | None] = []
        for step_key, index in _steps(pointer):
            if isinstance(node, dict):
                key = step_key
                node = node.get(key, _ABSENT)
                if node is _ABSENT:
                    break
                way.append(key)
            elif isinstance(node, list):
                key = None
                if index is None or index >= len(node):
                    break
                indexes.append(index)
                way.append(None)
                node = node[index]
            else:
                break
        else:
            if key is None:  # the root, or an array item
                rest.append(pointer)
            elif ways.setdefault(key, tuple(way)) != tuple(way):
                ways[key] = ()  # through different properties: the walk places them
                groups.setdefault(key, []).append(((), pointer))
            else:
                groups.setdefault(key, []).append((tuple(indexes), pointer))
    for key, members in groups.items():
        name = _orjson.dumps(key) + b":"
        if not ways[key] or b"\\" in name or compact.count(name) != len(members):
            rest.extend(pointer for _indexes, pointer in members)
            continue
        members.sort()
        at = -1
        for _indexes, pointer in members:
            at = compact.find(name, at + 1)
            placed[pointer] = (at + len(name), at)
    return rest


def _char_offsets(compact: bytes, offsets: list[int], escaped: bool) -> list[int]:
    r"""Character offsets in the written text of sorted byte *offsets* of the compact
    serialisation: UTF-8 sequences count as one character, or as their ``\uXXXX`` escapes
    (six characters, twelve past the BMP) when the text escapes them."""
    result, chars, done = [], 0, 0
    for offset in offsets:
        piece = compact[done:offset]
        if piece.isascii():
            chars += len(piece)
        else:
            text = piece.decode("utf-8")
            chars += len(text)
            if escaped:
                past_ascii = len(text) - len(text.encode("ascii", "ignore"))
                astral = len(text.encode("utf-16-le")) // 2 - len(text)
                chars += 5 * past_ascii + 6 * astral
        done = offset
        result.append(chars)
    return result


class _TreeText:
    """A text known to be its tree's compact serialisation as a layout rewrites it: offsets of
    pointers are read off the tree (:meth:`place`), then moved into the text (:meth:`text`)."""

    __slots__ = ("compact", "escaped", "raw", "root_at", "spaced", "tree", "written")

    def __init__(self, tree: Any, compact: bytes, written: bytes, raw: bytes, root_at: int) -> None:
        self.tree = tree
        self.compact = compact  # orjson's
        self.written = written  # that, escaped past ASCII when the text is
        self.raw = raw  # the text's, without the whitespace around it
        self.root_at = root_at
        self.escaped = written is not compact
        self.spaced = raw != written

    def place(self, pointers: Iterable[str]) -> dict[str, tuple[int, int | None]]:
        """Byte offsets in the compact serialisation of the pointers the tree has."""
        placed: dict[str, tuple[int, int | None]] = {}
        rest = _place_by_name(self.compact, self.tree, pointers, placed)
        if rest:
            trie = _trie(rest)
            if _END in trie:
                placed[""] = (0, None)
            _place(self.tree, 0, trie, placed)
        return placed

    def moved(self, offsets: set[int]) -> dict[int, int]:
        """Character offsets in the text of byte offsets of tokens in the compact text."""
        ordered = sorted(offsets)
        moved = ordered
        if self.escaped:  # the written text is ASCII: its byte offsets are character offsets
            moved = _char_offsets(self.compact, moved, escaped=True)
        if self.spaced:
            moved = _spaced_offsets(self.raw, self.written, moved)
        if not self.raw.isascii():
            moved = _char_offsets(self.raw, moved, escaped=False)
        return dict(zip(ordered, (self.root_at + offset for offset in moved), strict=True))

    def text(self, placed: dict[str, tuple[int, int | None]],
             names: set[str] | None) -> dict[str, tuple[int, int | None]]:
        """*placed* as character offsets in the text, name offsets only for *names* (all when
        None)."""
        if names is not None:
            placed = {pointer: (value, None) for pointer, (value, _name) in placed.items()
                      } | {pointer: placed[pointer] for pointer in names if pointer in placed}
        where = self.moved({offset for place in placed.values() for offset in place
                            if offset is not None})
        return {pointer: (where[value], None if name is None else where[name])
                for pointer, (value, name) in placed.items()}


def _tree_text(text: str, tree: Any) -> _TreeText | None:
    """*text* and its *tree*, when the text is the tree's compact serialisation (orjson) as a
    layout rewrites it: characters past ASCII escaped (or not), spaces added outside strings
    (``json.dumps``' ``", "`` and ``": "``, or any other); None for other text."""
    if _orjson is None or not isinstance(tree, (dict, list)):
        return None
    try:
        compact = _orjson.dumps(tree)
    except (TypeError, ValueError):  # exact decimals, integers past 64 bits
        return None
    root_at = len(text) - len(text.lstrip(_JSON_SPACE))
    core = text[root_at:len(text.rstrip(_JSON_SPACE))]
    written = compact
    try:
        if core.isascii() and not compact.isascii():
            written = compact.decode("utf-8").encode("ascii", "fhirgen-json-escape")
        raw = core.encode("utf-8")
    except UnicodeError:  # lone surrogates in text given as str
        return None
    # the text is the compact serialisation, or that with spaces added outside strings: the
    # text parses to the same tree, so its strings hold the same spaces, and any other
    # difference (other whitespace, escapes, spelling of numbers, a repeated name) survives
    # dropping the spaces
    if raw != written and (len(raw) <= len(written)
                           or raw.replace(b" ", b"") != written.replace(b" ", b"")):
        return None
    return _TreeText(tree, compact, written, raw, root_at)


def locate_in_tree(text: str, tree: Any, wanted: Iterable[str],
                   names: set[str] | None = None) -> dict[str, tuple[int, int | None]] | None:
    """What :func:`locate` finds, read off the parsed *tree* when *text* is that tree as a known
    serialiser writes it (see :func:`_tree_text`); None when it is not (or cannot be told).

    Offsets in the compact serialisation, from lengths of serialised siblings, become offsets
    in the text by counting what the layout added before them. Name offsets are worked out
    for the pointers in *names* only (all when None); the others get None.
    """
    known = _tree_text(text, tree)
    if known is None:
        return None
    try:
        return known.text(known.place(wanted), names)
    except (TypeError, ValueError, RecursionError):
        return None


# ----------------------------------------------------------------------- lines and columns


def _line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _lines_cols(text: str, offsets: set[int]) -> dict[int, tuple[int, int]]:
    """Line and column of each offset, in one pass over the text up to the last of them (one
    :func:`_line_col` per issue would scan a one-line file of megabytes once per issue)."""
    ordered = sorted(offsets)
    if ordered and text.find("\n", 0, ordered[-1]) < 0:  # all on the first line (NDJSON)
        return {offset: (1, offset + 1) for offset in ordered}
    places: dict[int, tuple[int, int]] = {}
    line, line_start, scanned = 1, 0, 0
    for offset in ordered:
        newlines = text.count("\n", scanned, offset)
        if newlines:
            line += newlines
            line_start = text.rfind("\n", scanned, offset) + 1
        scanned = offset
        places[offset] = (line, offset - line_start + 1)
    return places


def _offsets_in_tree(text: str, tree: Any, plans: list[tuple[tuple[str, bool], ...]]
                     ) -> list[int | None] | None:
    """Each issue's offset read off the tree: each issue's first candidate, then the next ones
    of issues whose first is absent (a primitive with only its ``_name``), so the usual issue
    costs one pointer. None when the text is not its tree's serialisation."""
    known = _tree_text(text, tree)
    if known is None:
        return None
    try:
        placed = known.place({candidates[0][0] for candidates in plans if candidates})
        rest = {candidate for candidates in plans if candidates and candidates[0][0] not in placed
                for candidate, _key in candidates[1:]}
        if rest:
            placed.update(known.place(rest))
        chosen = _chosen(plans, placed)
        where = known.moved({offset for offset in chosen if offset is not None})
    except (TypeError, ValueError, RecursionError):
        return None
    return [None if offset is None else where[offset] for offset in chosen]


def _chosen(plans: list[tuple[tuple[str, bool], ...]],
            found: dict[str, tuple[int, int | None]]) -> list[int | None]:
    """Each issue's offset: of its first candidate found (its name's, for a property)."""
    offsets: list[int | None] = []
    for candidates in plans:
        offset = None
        for candidate, is_key in candidates:
            entry = found.get(candidate)
            if entry is not None:
                offset = entry[1] if is_key and entry[1] is not None else entry[0]
                break
        offsets.append(offset)
    return offsets


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
    for issue in issues:
        if issue.line is not None or not issue.expression:
            plans.append(())
        else:
            plans.append(_candidates(issue.expression, issue.key))
    if not any(plans):
        return issues
    offsets = None if tree is _NO_TREE else _offsets_in_tree(text, tree, plans)
    if offsets is None:
        offsets = _chosen(plans, locate(text, {candidate for candidates in plans
                                               for candidate, _key in candidates}))
    places = _lines_cols(text, {offset for offset in offsets if offset is not None})
    result = []
    for issue, offset in zip(issues, offsets, strict=True):
        if offset is None:
            result.append(issue)
        else:
            line, col = places[offset]
            result.append(issue.at(line + line_offset, col))
    return result

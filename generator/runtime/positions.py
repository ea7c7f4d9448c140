"""Line and column of validation issues in JSON text, worked out after the walk.

Issues carry a FHIRPath location (``ImagingSelection.instance[0].sopClass``) and, for issues about
a property, its name in ``Issue.key``. :func:`_with_positions` turns each into JSON pointer
candidates (the property's name, the value, a primitive's ``_name`` twin), finds their character
offsets in the text, then line and column.

Three ways to find offsets, giving the same answer:

* By name, when the parsed tree is at hand (``Result`` keeps it): the issues at properties of
  one name (``instance[0..k].sopClass``) are placed by one search of the text for that name
  (:func:`_names_in_text`). The tree says each wanted pointer is there; as many occurrences of
  the name followed by ``:`` as wanted pointers are then theirs, in document order, whatever
  the layout (compact, spaced, pretty-printed, escaped), as long as the name cannot be written
  otherwise (the text escapes no ASCII character) nor be read off the end of one string and the
  start of the next. Issues of one shape (the same locations) share a plan worked out once
  (:class:`_Plan`): the usual resource costs a check of the tree per name, one search of the
  text per name and the new issues, not a walk per issue.
* By the tree's serialisation, for what the search leaves (array items, the other names): when
  the text is the tree's compact serialisation (orjson's ``{"a":1,"b":[2]}``) as a layout
  rewrites it, characters past ASCII escaped or not, spaces added outside strings
  (``json.dumps``' ``", "`` and ``": "``, or any other), which one comparison with orjson's bytes
  decides (:func:`_tree_text`), an offset is the lengths of the serialised siblings before it
  (:func:`_place`), moved into the text by counting what the layout added before it.
* :func:`locate`, the token pass: one regex pass over any JSON text, skipping containers no
  wanted pointer lies in, for what the others leave (other layouts, repeated names, ``1.50``
  read as ``1.5``, no tree).

tests/test_positions.py checks that they agree on the official examples in six layouts, on
mutated resources and on generated JSON; tests/test_positions_many.py on many issues in one
resource (many array items, nested arrays, twins, keys, any order, text that defeats the search).

Offsets are offsets of characters of the decoded text (not bytes), so non-ASCII text counts each
character once.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable
from functools import lru_cache, reduce
from itertools import accumulate, islice, repeat
from operator import add, getitem, itemgetter
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


# ---------------------------------------------------------------------------- by name

#: JSON's whitespace (str.strip would also drop characters JSON does not allow there).
_JSON_SPACE = " \t\n\r"
#: What may follow a string's closing quote in JSON: a name starting with one of these could
#: be read off the end of one string and the start of the next.
_AFTER_STRING = ",:}]" + _JSON_SPACE
#: A missing property (None is JSON's null); a pointer only the walk of :func:`_place` takes.
_ABSENT: Any = object()
_IRREGULAR: Any = object()


@lru_cache(maxsize=8192)
def _segments(pointer: str) -> tuple[str, ...]:
    return tuple(pointer[1:].split("/")) if pointer else ()


def _segment_key(segment: str) -> str:
    """A JSON pointer segment as the property name it stands for (RFC 6901)."""
    return segment.replace("~1", "/").replace("~0", "~") if "~" in segment else segment


def _segment_index(segment: str, length: int) -> int | None:
    """A JSON pointer segment as an array index (canonical decimal, in range), else None."""
    if not segment.isascii() or not segment.isdigit() or (segment[0] == "0" and segment != "0"):
        return None
    index = int(segment)
    return index if index < length else None


def _name_plan(pointer: str) -> tuple[str, tuple[str | None, ...], tuple[int, ...],
                                      tuple[str | int, ...]] | None:
    """A pointer that ends in a property name as that name, the property names on the way
    (None for an array item), the array indexes on the way, and the steps of a walk (names and
    indexes); None for the root and for a pointer ending in a canonical index (an array item,
    or a name made of digits: the walk tells which). Kept in :data:`_NAME_PLANS`."""
    steps = [(_segment_key(segment), _segment_index(segment, 1 << 62))
             for segment in _segments(pointer)]
    plan = None
    if steps and steps[-1][1] is None:
        plan = (steps[-1][0], tuple(key if index is None else None for key, index in steps),
                tuple(index for _key, index in steps if index is not None),
                tuple(key if index is None else index for key, index in steps))
    if len(_NAME_PLANS) >= 8192:
        _NAME_PLANS.clear()
    _NAME_PLANS[pointer] = plan
    return plan


#: Pointer -> :func:`_name_plan` (a bulk run meets the same few hundred pointers).
_NAME_PLANS: dict[str, Any] = {}


@lru_cache(maxsize=1024)
def _name_token(name: str) -> str | None:
    """The name as a JSON string, when finding that in the text finds the name's properties
    whatever the layout (see :func:`_names_in_text`): printable ASCII without ``"``, ``\\`` or
    ``/`` (each could be written otherwise, or cut a string short), not starting with what
    may follow a string (``"a",":{"`` could be read as the name ``,``)."""
    if (not name or not name.isascii() or not name.isprintable() or name[0] in _AFTER_STRING
            or '"' in name or "\\" in name or "/" in name):
        return None
    return f'"{name}"'


def _escapes_ascii(text: str) -> bool:
    r"""Whether the text may hold an ASCII character written as an escape (``\u0041``), which
    would hide a name from :func:`_names_in_text` (a regex: its scan for the rare backslash
    is quicker than ``str.find`` of ``\u00`` in text full of zeros)."""
    return _ASCII_ESCAPE.search(text) is not None


_ASCII_ESCAPE = re.compile(r"\\u00[0-7]")


def _names_in_text(text: str, token: str, wanted: int) -> list[tuple[int, int]] | None:
    """(value offset, name offset) of each occurrence of *token* (see :func:`_name_token`)
    followed by ``:`` in the JSON text, in document order, when there are *wanted* of them;
    else None.

    An occurrence is the name: its opening quote cannot close a string (the name does not
    start with what follows one), nor sit in one (a quote there is escaped: a backslash before
    an occurrence gives up), so it opens one, which the name fills (it holds no quote or
    backslash); a string followed by ``:`` is a name. And every property of that name is an
    occurrence unless written with an escape (:func:`_escapes_ascii` rules that out). So when
    every wanted pointer is a property of that name in the parse of the text, as many
    occurrences as wanted pointers are theirs, and the text repeats none (a repeated name, or
    one in a value a repeated name dropped, would be one more). The next occurrence may start
    at this one's closing quote; the search goes on from there.
    """
    find = text.find
    size = len(token)
    step = size - 1
    space = _JSON_SPACE
    hits: list[tuple[int, int]] = []
    append = hits.append
    at = find(token)
    try:  # JSON text ends in "}" or "]" (and spaces): no occurrence runs past its end
        while at >= 0:
            after = at + size
            if text[after] != ":":  # spaces first (odd layouts), or not a name
                while text[after] in space:
                    after += 1
                if text[after] != ":":
                    at = find(token, at + step)
                    continue
            if text[at - 1] == "\\":
                return None
            after += 1
            if text[after] in space:
                after += 1
                while text[after] in space:
                    after += 1
            append((after, at))
            at = find(token, at + step)
    except IndexError:
        return None
    return hits if len(hits) == wanted else None


def _walk_by_name(text: str, tree: Any, pointers: Iterable[str],
                  placed: dict[str, tuple[int, int | None]]) -> list[str]:
    """Place the pointers that end in a property name by :func:`_names_in_text`, those of one
    name together (array indexes in order are document order, when they go through the same
    properties). Returns the pointers left (the root, array items, names of digits, names the
    search cannot vouch for); those absent from the tree are dropped."""
    rest: list[str] = []
    # name -> [the property names on the way (None: different ones), [(indexes, pointer)]]
    groups: dict[str, list[Any]] = {}
    plans = _NAME_PLANS
    for pointer in pointers:
        plan = plans.get(pointer, _ABSENT)
        if plan is _ABSENT:
            plan = _name_plan(pointer)
        if plan is None:
            rest.append(pointer)
            continue
        name, way, indexes, walk = plan
        node = tree
        for step in walk:  # to the pointer's value, or _ABSENT, or _IRREGULAR
            if step.__class__ is str:
                node = node.get(step, _ABSENT) if isinstance(node, dict) else _ABSENT
                if node is _ABSENT:
                    break
            elif isinstance(node, list):
                if step >= len(node):
                    node = _ABSENT
                    break
                node = node[step]
            else:  # an index into an object names a property of digits: the walk's
                node = _IRREGULAR if isinstance(node, dict) else _ABSENT
                break
        if node is _ABSENT:
            continue
        if node is _IRREGULAR:
            rest.append(pointer)
            continue
        group = groups.get(name)
        if group is None:
            groups[name] = [way, [(indexes, pointer)]]
        else:
            if group[0] != way:
                group[0] = None
            group[1].append((indexes, pointer))
    for name, (way, members) in groups.items():
        token = None if way is None else _name_token(name)
        hits = None if token is None else _names_in_text(text, token, len(members))
        if hits is None:
            rest.extend(pointer for _indexes, pointer in members)
            continue
        members.sort()
        for (_indexes, pointer), hit in zip(members, hits, strict=True):
            placed[pointer] = hit
    return rest


_dict_getitem = dict.__getitem__  # TypeError on anything but an object
_dict_contains = dict.__contains__


def _all_there(tree: Any, group: _Group) -> bool:
    """Whether every pointer of a :class:`_Plan`'s group is in the tree, checked at once: a
    ``reduce(getitem, ...)`` on JSON goes through only where each name meets an object and
    each index an array (a string indexed by a number gives a character, which the name at
    the end of the walk then refuses); items of one array take one ``map`` per step."""
    name, _token, walks, _pointers, items = group
    try:
        if items is None:
            for walk in walks:
                reduce(getitem, walk, tree)
            return True
        array = reduce(getitem, items[0], tree)
        if not isinstance(array, list):
            return False
        found: Iterable[Any] = (array if len(array) == len(items[1]) and items[3]
                                else map(getitem, repeat(array), items[1]))
        for key in items[2]:
            found = map(_dict_getitem, found, repeat(key))
        return all(map(_dict_contains, found, repeat(name)))
    except (LookupError, TypeError):
        return False


def _groups_by_name(text: str, tree: Any, groups: Iterable[_Group],
                    placed: dict[str, tuple[int, int | None]]) -> list[str]:
    """:func:`_walk_by_name` for the groups of a :class:`_Plan`: each group's pointers checked
    at once (:func:`_all_there`, else one by one), then placed by one search. Returns the
    pointers left."""
    rest: list[str] = []
    careful: list[str] = []
    for group in groups:
        pointers = group[3]
        if not _all_there(tree, group):  # some absent, or not of that shape: one by one
            careful.extend(pointers)
            continue
        hits = _names_in_text(text, group[1], len(pointers))
        if hits is None:
            rest.extend(pointers)
        else:
            placed.update(zip(pointers, hits, strict=True))
    if careful:
        rest.extend(_walk_by_name(text, tree, careful, placed))
    return rest


# ---------------------------------------------------------------- by the tree's serialisation


def _escape_chars(chars: str) -> str:
    r"""Characters past ASCII as JSON ``\uXXXX`` escapes (a surrogate pair past the BMP), the
    way ``json.dumps`` writes them by default."""
    escaped = []
    for char in chars:
        code = ord(char)
        if code > 0xFFFF:
            code -= 0x10000
            escaped.append(f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}")
        else:
            escaped.append(f"\\u{code:04x}")
    return "".join(escaped)


def _json_escape(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: :func:`_escape_chars`."""
    if not isinstance(error, UnicodeEncodeError):  # pragma: no cover - registered for encoding
        raise error
    return _escape_chars(error.object[error.start:error.end]), error.end


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


#: The key of a trie node under which the pointer ending there is kept (never a segment).
_END: Any = None


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
    loop over the siblings, and one running sum for several children of one container."""
    dumps = _orjson.dumps
    if isinstance(node, dict):
        members = []
        for segment, below in trie.items():
            if segment is not _END:
                key = _segment_key(segment)
                value = node.get(key, _ABSENT)
                if value is not _ABSENT:
                    members.append((key, value, below))
        if not members:
            return
        keys = list(node)
        where = [keys.index(key) for key, _value, _below in members]
        last = max(where)
        # a child: its name, ':', its value, ','
        if len(members) == 1:
            starts = {last: at + 1 + 2 * last + sum(map(len, map(dumps, islice(keys, last))))
                      + sum(map(len, map(dumps, islice(node.values(), last))))}
        else:
            sizes = map(add, map(len, map(dumps, islice(keys, last))),
                        map(len, map(dumps, islice(node.values(), last))))
            starts = dict(enumerate(map(add, accumulate(sizes, initial=at + 1),
                                        range(0, 2 * last + 1, 2))))
        for i, (key, value, below) in zip(where, members, strict=True):
            name_at = starts[i]
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
    pointers are read off the tree (:meth:`place`), then moved into the text (:meth:`moved`)."""

    __slots__ = ("compact", "escaped", "raw", "root_at", "spaced", "text", "tree", "written")

    def __init__(self, text: str, tree: Any, compact: bytes, written: bytes, raw: bytes,
                 root_at: int) -> None:
        self.text = text
        self.tree = tree
        self.compact = compact  # orjson's
        self.written = written  # that, escaped past ASCII when the text is
        self.raw = raw  # the text's, without the whitespace around it
        self.root_at = root_at
        self.escaped = written is not compact
        self.spaced = raw != written

    def place(self, pointers: Iterable[str], names: set[str] | None
              ) -> dict[str, tuple[int, int | None]]:
        """Character offsets in the text of the pointers the tree has, from :func:`_place`;
        name offsets only for *names* (all when None): moving offsets costs."""
        found: dict[str, tuple[int, int | None]] = {}
        trie = _trie(pointers)
        if _END in trie:
            found[""] = (0, None)
        _place(self.tree, 0, trie, found)
        if names is not None:
            found = {pointer: (value, name if pointer in names else None)
                     for pointer, (value, name) in found.items()}
        where = self.moved({offset for place in found.values() for offset in place
                            if offset is not None})
        return {pointer: (where[value], None if name is None else where[name])
                for pointer, (value, name) in found.items()}

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


#: Runs of characters past ASCII :func:`_escaped` escapes one by one; past that, a codec pass.
_MANY_RUNS = 16


def _escaped(compact: bytes) -> bytes:
    r"""The compact serialisation with characters past ASCII as ``\uXXXX``, as ``json.dumps``
    writes them. Text past ASCII is rare in bulk data, so each run of it is found by the
    ASCII decoder (C speed) and escaped alone; a codec pass with an error handler would be
    a Python-speed loop over every character."""
    pieces: list[bytes] = []
    done = 0
    rest = compact
    for _run in range(_MANY_RUNS):
        if rest.isascii():
            pieces.append(rest)
            return b"".join(pieces)
        try:
            rest.decode("ascii")
        except UnicodeDecodeError as error:
            start = done + error.start
        end = start + 1
        while compact[end] >= 0x80:  # JSON text ends in ASCII
            end += 1
        pieces.append(compact[done:start])
        pieces.append(_escaped_run(compact[start:end]))
        done = end
        rest = compact[end:]
    pieces.append(rest.decode("utf-8").encode("ascii", "fhirgen-json-escape"))
    return b"".join(pieces)


@lru_cache(maxsize=1024)
def _escaped_run(run: bytes) -> bytes:
    """A run of UTF-8 past ASCII escaped (the same few recur: no-break spaces, accents)."""
    return _escape_chars(run.decode("utf-8")).encode("ascii")


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
    try:
        raw = core.encode("utf-8")
    except UnicodeError:  # lone surrogates in text given as str
        return None
    written = compact
    if raw != compact and not compact.isascii() and raw.isascii():
        try:
            written = _escaped(compact)
        except UnicodeError:  # pragma: no cover - orjson writes UTF-8
            return None
    # the text is the compact serialisation, or that with spaces added outside strings: the
    # text parses to the same tree, so its strings hold the same spaces, and any other
    # difference (other whitespace, escapes, spelling of numbers, a repeated name) survives
    # dropping the spaces
    if raw != written and (len(raw) <= len(written)
                           or raw.replace(b" ", b"") != written.replace(b" ", b"")):
        return None
    return _TreeText(text, tree, compact, written, raw, root_at)


def _offsets(text: str, tree: Any, pointers: Iterable[str], names: set[str] | None,
             placed: dict[str, tuple[int, int | None]], *, by_name: bool = True) -> bool:
    """Add to *placed* the offsets of *pointers* read off the tree: by name where the text
    vouches for it (:func:`_walk_by_name`), the others from the tree's serialisation when the
    text is one (:func:`_tree_text`). False when some are left (the text is not one)."""
    rest = _walk_by_name(text, tree, pointers, placed) if by_name else list(pointers)
    if not rest:
        return True
    known = _tree_text(text, tree)
    if known is None:
        return False
    try:
        placed.update(known.place(rest, names))
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def locate_in_tree(text: str, tree: Any, wanted: Iterable[str],
                   names: set[str] | None = None) -> dict[str, tuple[int, int | None]] | None:
    """What :func:`locate` finds, read off the parsed *tree* (the parse of *text*) without the
    token pass: by name (:func:`_names_in_text`) when the text has no escape of an ASCII
    character, the rest when the text is the tree's serialisation as a known serialiser writes
    it (:func:`_tree_text`); None when some are left (or it cannot be told).

    Name offsets are given for the pointers in *names* only (all when None); the others get
    None.
    """
    if not isinstance(tree, (dict, list)):
        return None
    found: dict[str, tuple[int, int | None]] = {}
    if not _offsets(text, tree, set(wanted), names, found, by_name=not _escapes_ascii(text)):
        return None
    if names is not None:
        found = {pointer: (value, name if pointer in names else None)
                 for pointer, (value, name) in found.items()}
    return found


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


#: A group of a plan: name, its token, walks, pointers (document order when all are there),
#: and for items of one array (steps to the array, indexes, names from an item on, whether the
#: indexes are 0, 1, 2 ...), else None.
_Group = tuple[str, str, tuple[tuple[Any, ...], ...], tuple[str, ...], Any]


class _Plan:
    """What placing the issues of one shape takes, worked out once per shape (a bulk run meets
    the same few over and over): which issues to place (``indexes``), their candidates, the
    candidates that name properties (``names``), and the first candidates that end in a
    property name grouped by that name, each group placed by one search of the text
    (:func:`_groups_by_name`); the other first candidates are ``others``."""

    __slots__ = ("candidates", "firsts", "groups", "indexes", "names", "others", "simple",
                 "users", "whole")

    def __init__(self, candidates: list[tuple[tuple[str, bool], ...]], indexes: list[int],
                 issues: int) -> None:
        self.candidates = candidates
        self.indexes = indexes
        self.firsts = frozenset(each[0][0] for each in candidates)
        self.names = {candidate for each in candidates for candidate, is_key in each if is_key}
        groups: dict[str, list[Any]] = {}
        others: list[str] = []
        for pointer in dict.fromkeys(each[0][0] for each in candidates):
            plan = _NAME_PLANS.get(pointer, _ABSENT)
            if plan is _ABSENT:
                plan = _name_plan(pointer)
            if plan is None or _name_token(plan[0]) is None:
                others.append(pointer)
                continue
            name, way, indexes_on_way, walk = plan
            group = groups.get(name)
            if group is None:
                groups[name] = [way, [(indexes_on_way, walk, pointer)]]
            else:
                if group[0] != way:
                    group[0] = None
                group[1].append((indexes_on_way, walk, pointer))
        self.groups: list[_Group] = []
        for name, (way, members) in groups.items():
            if way is None:  # through different properties: document order needs the tree's
                others.extend(pointer for _indexes, _walk, pointer in members)
                continue
            members.sort(key=itemgetter(0))
            walks = tuple(walk for _indexes, walk, _pointer in members)
            items = None
            if way.count(None) == 1:  # items of one array (the usual: instance[k].sopClass)
                at = way.index(None)
                indexes_of = tuple(walk[at] for walk in walks)
                items = (walks[0][:at], indexes_of, walks[0][at + 1:-1],
                         indexes_of == tuple(range(len(indexes_of))))
            token = _name_token(name)
            assert token is not None
            self.groups.append((name, token, walks,
                                tuple(pointer for _i, _w, pointer in members), items))
        self.others = tuple(others)
        # when every issue goes by its first candidate's group (or the root): for each group,
        # each pointer's issues (index, placed at the name); the root's last
        users: dict[str, list[tuple[int, bool]]] = {}
        for i, each in zip(indexes, candidates, strict=True):
            users.setdefault(each[0][0], []).append((i, each[0][1]))
        self.users: list[tuple[tuple[tuple[int, bool], ...], ...]] | None = None
        if not self.others or self.others == ("",):
            self.users = [tuple(tuple(users[pointer]) for pointer in group[3])
                          for group in self.groups]
            self.users.append((tuple(users.get("", ())),))
        # when, besides, each pointer has one issue, placed at the value: their indexes
        self.simple: list[tuple[int, ...]] | None = None
        if self.users is not None and all(
                len(each) == 1 and not each[0][1] for group in self.users[:-1] for each in group):
            self.simple = [tuple(each[0][0] for each in group) for group in self.users[:-1]]
        # when, besides, one group holds every issue, in order (the bench's ten SOP classes)
        self.whole = (self.simple is not None and len(self.simple) == 1 and not self.others
                      and self.simple[0] == tuple(range(issues)) == tuple(indexes))


#: Issue shape (expression, line, key of each issue) -> its plan.
_PLANS: dict[tuple[Any, ...], _Plan] = {}
_SHAPE = itemgetter(4, 5, 7)
#: Plans of at most this many issues are kept.
_PLANNED_ISSUES = 256


def _plan(issues: list[Issue]) -> _Plan:
    """The plan of the issues' shape (:class:`_Plan`), from :data:`_PLANS` or made."""
    shape = tuple(map(_SHAPE, issues))
    plan = _PLANS.get(shape)
    if plan is None:
        indexes = [i for i, issue in enumerate(issues) if issue.line is None and issue.expression]
        plan = _Plan([_candidates(issues[i].expression, issues[i].key) for i in indexes],
                     indexes, len(issues))
        if len(issues) <= _PLANNED_ISSUES:  # a long list's plan is no saving, and large
            if len(_PLANS) >= 1024:
                _PLANS.clear()
            _PLANS[shape] = plan
    return plan


def _chosen(plans: list[tuple[tuple[str, bool], ...]],
            found: dict[str, tuple[int, int | None]]) -> list[int | None]:
    """Each issue's offset: of its first candidate found (its name's, for a property)."""
    offsets: list[int | None] = []
    get = found.get
    for candidates in plans:
        first, is_key = candidates[0]
        if not is_key:  # the usual: the value of the first
            entry = get(first)
            if entry is not None:
                offsets.append(entry[0])
                continue
        offset = None
        for candidate, is_key in candidates:
            entry = get(candidate)
            if entry is not None:
                offset = entry[1] if is_key and entry[1] is not None else entry[0]
                break
        offsets.append(offset)
    return offsets


#: No tree given: only the token pass can place issues.
_NO_TREE: Any = object()


def _placed(text: str, tree: Any, plan: _Plan, by_name: bool
            ) -> dict[str, tuple[int, int | None]] | None:
    """The offsets of the plan's candidates that decide where its issues are, read off the
    tree without the token pass (by name when *by_name*: see :func:`_escapes_ascii`); None
    when some are left to it."""
    placed: dict[str, tuple[int, int | None]] = {}
    rest = list(plan.others)
    if plan.groups:
        if by_name:
            rest.extend(_groups_by_name(text, tree, plan.groups, placed))
        else:
            rest.extend(pointer for group in plan.groups for pointer in group[3])
    if "" in rest:  # the root (an issue about the whole resource): its first character
        rest.remove("")
        placed[""] = (len(text) - len(text.lstrip(_JSON_SPACE)), None)
    if rest and not _offsets(text, tree, rest, plan.names, placed, by_name=by_name):
        return None
    if not placed.keys() >= plan.firsts:  # some absent: their next candidates
        more = {candidate for candidates in plan.candidates if candidates[0][0] not in placed
                for candidate, _key in candidates[1:]}
        if more and not _offsets(text, tree, more, plan.names, placed, by_name=by_name):
            return None
    return placed


_new_issue = tuple.__new__


def _by_groups(issues: list[Issue], text: str, tree: Any, plan: _Plan, line_offset: int
               ) -> list[Issue] | None:
    """The issues placed, when each goes by its first candidate and :func:`_groups_by_name`
    places them all (the usual: no other pass, no table of pointers); else None."""
    assert plan.users is not None
    newline = text.find("\n")
    if newline < 0:
        newline = len(text)
    line = 1 + line_offset
    if plan.whole:  # the bench's: one name, each issue at its value, in order
        group = plan.groups[0]
        if not _all_there(tree, group):
            return None
        hits = _names_in_text(text, group[1], len(group[3]))
        if hits is None:
            return None
        if hits[-1][0] < newline:  # on one line
            return [_new_issue(Issue, (issue[0], issue[1], issue[2], issue[3], issue[4], line,
                                       value_at + 1, issue[7]))
                    for issue, (value_at, _name_at) in zip(issues, hits, strict=True)]
        result = list(issues)
        _place_later(result, text, line_offset, [(i, hit[0]) for i, hit in enumerate(hits)])
        return result
    result = list(issues)
    later: list[tuple[int, int]] = []
    simple = plan.simple
    for number, (group, users) in enumerate(zip(plan.groups, plan.users)):
        if not _all_there(tree, group):
            return None
        hits = _names_in_text(text, group[1], len(group[3]))
        if hits is None:
            return None
        if simple is not None and hits[-1][0] < newline:  # the usual: values, on one line
            for (value_at, _name_at), i in zip(hits, simple[number], strict=True):
                result[i] = result[i].at(line, value_at + 1)
            continue
        for (value_at, name_at), each in zip(hits, users):
            for i, is_key in each:
                offset = name_at if is_key else value_at
                if offset < newline:
                    result[i] = result[i].at(line, offset + 1)
                else:
                    later.append((i, offset))
    root = plan.users[-1][0]
    if root:
        offset = len(text) - len(text.lstrip(_JSON_SPACE))
        later.extend((i, offset) for i, _is_key in root)
    _place_later(result, text, line_offset, later)
    return result


def _place_later(result: list[Issue], text: str, line_offset: int,
                 later: list[tuple[int, int]]) -> None:
    """Each ``result[i]`` at the line and column of its offset, for each ``(i, offset)``."""
    if later:
        places = _lines_cols(text, {offset for _i, offset in later})
        for i, offset in later:
            line, col = places[offset]
            result[i] = result[i].at(line + line_offset, col)


def _with_positions(issues: list[Issue], text: str, line_offset: int,
                    tree: Any = _NO_TREE) -> list[Issue]:
    """Issues with the line and column of what they are about (the value, or the name of the
    property an issue names with ``key``; a primitive's ``_name`` object if it has no value).

    *tree*, the parse of *text*, lets :func:`_placed` read offsets off it; without it, or when
    that leaves some, :func:`locate` makes its token pass.
    """
    plan = _plan(issues)
    if not plan.candidates:
        return issues
    placed = None
    if isinstance(tree, (dict, list)):
        by_name = not _escapes_ascii(text)
        if by_name and plan.users is not None:
            fast = _by_groups(issues, text, tree, plan, line_offset)
            if fast is not None:
                return fast
        try:
            placed = _placed(text, tree, plan, by_name)
        except (TypeError, ValueError, RecursionError):
            placed = None
    if placed is None:
        placed = locate(text, {candidate for candidates in plan.candidates
                               for candidate, _key in candidates})
    offsets = _chosen(plan.candidates, placed)
    result = list(issues)
    newline = text.find("\n")
    if newline < 0:
        newline = len(text)
    later = []
    line = 1 + line_offset
    for i, offset in zip(plan.indexes, offsets, strict=True):
        if offset is not None:
            if offset < newline:  # on the first line (all of an NDJSON line's)
                result[i] = result[i].at(line, offset + 1)
            else:
                later.append((i, offset))
    _place_later(result, text, line_offset, later)
    return result

"""The depth check before parsing (``fhirgen.runtime.limits.json_depth``) agrees with the depth of
the parsed document, whatever brackets, quotes and backslashes its strings hold."""

from __future__ import annotations

import json
import random
from typing import Any

from fhirgen.runtime.limits import (
    json_depth,
    outside_strings,
    outside_too_deep,
    structure_depth,
    too_deep,
)

ALPHABET = 'ab{}[]"\\\n é:,'


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _document(rnd: random.Random, level: int = 0) -> Any:
    draw = rnd.random()
    if level > 8 or draw < 0.3:
        return "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(0, 6)))
    if draw < 0.65:
        return {"".join(rnd.choice(ALPHABET) for _ in range(3)): _document(rnd, level + 1)
                for _ in range(rnd.randint(0, 3))}
    return [_document(rnd, level + 1) for _ in range(rnd.randint(0, 3))]


def test_depth_before_parsing_is_the_parsed_depth() -> None:
    rnd = random.Random(20261127)
    for _ in range(5000):
        document = _document(rnd)
        raw = json.dumps(document, ensure_ascii=rnd.random() < 0.5).encode("utf-8")
        assert json_depth(raw) == _depth(document), raw
        # after a parser accepted the text: the same depth from what lies outside its strings
        assert structure_depth(outside_strings(raw)) == _depth(document), raw
        assert b'"' not in outside_strings(raw)
        limit = rnd.randint(0, 10)
        assert outside_too_deep(outside_strings(raw), limit) == (_depth(document) > limit), raw


def test_a_deep_chain_stops_early_and_a_shallow_text_is_cheap() -> None:
    chain = b"[" * 100_000 + b"]" * 100_000
    assert json_depth(chain, stop=128) == 129
    assert too_deep(chain, 128)
    assert not too_deep(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', 2)


def test_the_fast_parse_refuses_exactly_what_nests_too_deep() -> None:
    """``vouch`` reads the depth of a tree written like its text off orjson's indented
    serialisation (empty containers at the deepest level, brackets and escaped line breaks in
    strings included), and off what lies outside the strings otherwise."""
    import orjson

    from fhirgen.runtime.validate import vouch

    rnd = random.Random(20261127)
    seen = {True: 0, False: 0}
    for _ in range(5000):
        document = {"r": _document(rnd)}
        layout = rnd.choice([{}, {"indent": 1}, {"separators": (",", ":")}, {"ensure_ascii": False}])
        raw = json.dumps(document, **layout).encode("utf-8")  # type: ignore[arg-type]
        tree = orjson.loads(raw)
        for limit in (rnd.randint(1, 10), _depth(document), _depth(document) - 1):
            if limit < 1:
                continue
            verdict = vouch(tree, raw, limit)
            assert verdict is not None, raw  # written like its tree: never the exact parse
            assert verdict == (_depth(document) <= limit), (raw, limit)
            seen[verdict] += 1
    assert seen[True] > 1000 and seen[False] > 1000

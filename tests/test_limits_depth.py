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

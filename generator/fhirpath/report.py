"""What the invariants of a package use: every distinct constraint expression with its count,
keys and the FHIRPath functions and operators in it (the test data report of issue 4).

``python -m fhirgen.fhirpath.report hl7.fhir.r5.core-5.0.0.tgz`` prints the report (Markdown);
``tests/fixtures/fhirpath/core-expressions.md`` is that output for the R5 core, and a test checks it
is current.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from ..packages import iter_package_files
from .ast import Binary, Call, Expr, External, Indexer, Member, TypeOp, Unary, Variable
from .parser import parse

__all__ = ["constraints_of", "features", "report"]


def constraints_of(package: Path) -> list[tuple[str, str, str, str]]:
    """(StructureDefinition URL, element path, key, expression) of every constraint with an
    expression in the snapshots of a package's StructureDefinitions, in file order."""
    out = []
    for file in iter_package_files(package):
        if not file.name.startswith("StructureDefinition-"):
            continue
        sd = json.loads(file.data)
        for element in sd.get("snapshot", {}).get("element", []):
            for constraint in element.get("constraint", []):
                expression = constraint.get("expression")
                if isinstance(expression, str) and expression:
                    out.append((sd.get("url", ""), element["path"], str(constraint.get("key")),
                                expression))
    return out


def features(expr: Expr) -> set[str]:
    """Functions (``where()``), operators (``implies``) and externals (``%resource``) used."""
    found: set[str] = set()
    pending: list[Expr | None] = [expr]
    while pending:
        node = pending.pop()
        if node is None:
            continue
        if isinstance(node, Call):
            found.add(node.name + "()")
            pending.append(node.source)
            pending.extend(node.args)
        elif isinstance(node, Member):
            pending.append(node.source)
        elif isinstance(node, Binary):
            found.add(node.op)
            pending.extend((node.left, node.right))
        elif isinstance(node, (Unary, TypeOp)):
            found.add(node.op if isinstance(node, TypeOp) else "unary " + node.op)
            pending.append(node.operand)
        elif isinstance(node, Indexer):
            found.add("[]")
            pending.extend((node.source, node.index))
        elif isinstance(node, External):
            found.add("%" + node.name)
        elif isinstance(node, Variable):
            found.add("$" + node.name)
    return found


def report(constraints: Iterable[tuple[str, str, str, str]]) -> str:
    """The Markdown report of the constraints' expressions."""
    counts: Counter[str] = Counter()
    keys: dict[str, set[str]] = {}
    for _url, _path, key, expression in constraints:
        counts[expression] += 1
        keys.setdefault(expression, set()).add(key)
    usage: Counter[str] = Counter()
    rows = []
    for expression, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        used = sorted(features(parse(expression)))
        usage.update(used)
        one_line = " ".join(expression.split()).replace("|", "\\|")
        rows.append(f"| {count} | {', '.join(sorted(keys[expression]))} | `{one_line}` | "
                    f"{' '.join(used).replace('|', chr(92) + '|')} |")
    lines = [
        "# Constraint expressions of the package",
        "",
        (f"{sum(counts.values())} constraints with an expression, {len(counts)} distinct "
         f"expressions, {len(usage)} distinct functions, operators and variables."),
        "",
        "## Functions, operators and variables (number of distinct expressions using each)",
        "",
        "| feature | expressions |",
        "| --- | --- |",
        *(f"| {name.replace('|', chr(92) + '|')} | {n} |"
          for name, n in sorted(usage.items(), key=lambda item: (-item[1], item[0]))),
        "",
        "## Expressions (count, keys, expression, features)",
        "",
        "| count | keys | expression | features |",
        "| --- | --- | --- | --- |",
        *rows,
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m fhirgen.fhirpath.report PACKAGE.tgz", file=sys.stderr)
        return 2
    sys.stdout.write(report(constraints_of(Path(args[0]))))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

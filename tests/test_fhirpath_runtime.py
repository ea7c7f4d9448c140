"""The FHIRPath runtime (``fhirgen.runtime.fhirpath``): collection semantics, navigation of FHIR
JSON, dates and quantities, resolve(), memberOf(), htmlChecks(); and compiled expressions on it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from fhirgen.fhirpath import compile_constraint, compile_expression
from fhirgen.runtime import fhirpath as fp
from fhirgen.runtime.jsonio import loads
from fhirgen.runtime.validate import ValueSet

PATIENT = loads("""{
  "resourceType": "Patient", "id": "p1",
  "contained": [{"resourceType": "Organization", "id": "org1", "name": "Acme"}],
  "active": true,
  "name": [{"given": ["Peter", "James"], "family": "Chalmers"}, {"given": ["Jim"]}],
  "birthDate": "1974-12-25",
  "_birthDate": {"extension": [{"url": "http://x/ext", "valueDateTime": "1974-12-25T14:35:45-05:00"}]},
  "multipleBirthInteger": 2,
  "managingOrganization": {"reference": "#org1"},
  "generalPractitioner": [{"reference": "Practitioner/x"}],
  "text": {"status": "generated", "div": "<div xmlns=\\"http://www.w3.org/1999/xhtml\\">Hi</div>"}
}""")


def run(expression: str, resource: dict[str, Any] = PATIENT, **names: Any) -> list[Any]:
    code, _state = compile_expression("test", expression, resource["resourceType"])
    node = fp.Node.resource(resource)
    scope = {"fp": fp, "node": node, "resource": node, "root": node, "VALUE_SETS": {}, **names}
    value = eval(code, scope)
    return [fp.value_of(v) if isinstance(v, fp.Node) and not isinstance(v.data, dict) else v
            for v in value]


def test_navigation_flattens_arrays_and_finds_choices() -> None:
    assert run("name.given") == ["Peter", "James", "Jim"]
    assert run("multipleBirth") == [2]
    assert run("multipleBirth is integer") == [True]
    assert run("Patient.name.family") == ["Chalmers"]
    assert run("Observation.status") == []
    assert run("name[1].given") == ["Jim"]
    assert run("nothing.here") == []


def test_primitive_extensions_hasvalue_and_children() -> None:
    assert run("birthDate.extension.url") == ["http://x/ext"]
    assert run("birthDate.extension('http://x/ext').value is dateTime") == [True]
    assert run("birthDate.hasValue()") == [True]
    only_ext = loads('{"resourceType": "Patient", "_birthDate": {"id": "a"}}')
    assert run("birthDate.hasValue()", only_ext) == [False]
    assert run("birthDate.exists()", only_ext) == [True]
    assert run("birthDate.id", only_ext) == ["a"]
    assert run("hasValue() or (children().count() > id.count())", only_ext) == [True]


def test_three_valued_logic() -> None:
    t, f, e = [True], [False], []
    cases = [
        (fp.and_, t, t, t), (fp.and_, t, f, f), (fp.and_, t, e, e), (fp.and_, f, e, f),
        (fp.and_, e, e, e), (fp.and_, e, f, f),
        (fp.or_, t, e, t), (fp.or_, f, e, e), (fp.or_, f, f, f), (fp.or_, e, t, t),
        (fp.or_, e, e, e),
        (fp.implies, t, f, f), (fp.implies, f, e, t), (fp.implies, e, t, t),
        (fp.implies, e, f, e), (fp.implies, t, e, e),
    ]
    for op, left, right, expected in cases:
        assert op(left, lambda r=right: r) == expected, (op.__name__, left, right)
    assert fp.xor(t, f) == t and fp.xor(t, t) == f and fp.xor(t, e) == e
    assert fp.not_(e) == e and fp.not_(t) == f
    assert fp.result([]) is None and fp.result(["x"]) is True
    with pytest.raises(fp.FhirPathEvalError):
        fp.result([True, False])


def test_equality_and_empty_propagation() -> None:
    assert run("name.given = 'Peter'") == [False]  # three items against one
    assert run("name.first().given.first() = 'Peter'") == [True]
    assert run("deceased = true") == []
    assert run("name.given contains 'Jim'") == [True]
    assert run("'Jim' in name.given") == [True]
    assert run("name.given ~ ('jim' | 'peter' | 'JAMES')") == [True]
    assert run("(1 | 1 | 2).count()") == [2]
    assert run("(1 | 2).combine(2).count()") == [3]
    assert run("name.given.isDistinct()") == [True]
    assert run("1 = 1.0") == [True]
    assert run("true = 1") == [False]


def test_dates_compare_by_precision() -> None:
    assert run("birthDate < @1975") == [True]
    assert run("birthDate = @1974-12") == []  # different precision, same as far as both go
    assert run("@2012-01 < @2013-01-15") == [True]
    assert run("@2012-01-01T10:00:00Z = @2012-01-01T11:00:00+01:00") == [True]
    assert run("@2012-01-01T10:00 < @2012-01-01T10:00:00") == []
    assert run("birthDate.lowBoundary() <= @1974-12-25") == [True]
    assert run("@2014.highBoundary()")[0].text == "2014-12-31"
    # a date-time without a zone may be in any: its boundaries take the widest offsets
    assert run("@2014-02-03T10.lowBoundary()")[0].text == "2014-02-03T10:00:00.000+14:00"
    assert run("@2016-02T.highBoundary()")[0].text == "2016-02-29T23:59:59.999-12:00"
    assert run("@2014.lowBoundary(6)")[0].text == "2014-01"
    assert run("@T10:30.highBoundary()")[0].text == "10:30:59.999"
    # per-1: a period from a day to a time on that day is fine, whatever the zones
    assert run("@2020-01-01T.lowBoundary() <= @2020-01-01T10:00:00Z.highBoundary()") == [True]
    assert run("@2020-01-03T.lowBoundary() <= @2020-01-01T10:00:00Z.highBoundary()") == [False]
    assert run("@2012-04-15T15:00:00Z = @2012-04-15T10:00:00") == []  # one zone unknown


def test_decimals_and_quantities() -> None:
    assert run("1.587.lowBoundary()") == [Decimal("1.58650000")]
    assert run("1.587.highBoundary()") == [Decimal("1.58750000")]
    assert run("1.587.lowBoundary(2)") == [Decimal("1.58")]
    assert run("(-1.587).lowBoundary(0)") == [Decimal(-2)]
    assert run("120.highBoundary(2)") == [Decimal("120.50")]
    assert run("1.587.lowBoundary(-1)") == []
    assert run("5 'mg' > 3 'mg'") == [True]
    assert run("5 'mg' > 3 'kg'") == [False]  # UCUM converts commensurable units
    assert run("5 'g' > 1000 'mg'") == [True]
    assert run("5 'mg' > 3 'm'") == []  # mass and length: not comparable
    assert run("2 'Cel' > 1 'K'") == []  # an offset conversion is not a factor
    assert run("(5 'mg').comparable(3 'mg')") == [True]
    assert run("(5 'mg').comparable(3 'g')") == [True]  # UCUM: both masses
    assert run("(5 'mg').comparable(3 'm')") == [False]
    assert run("7 div 2") == [3] and run("7 mod 2") == [1] and run("7 / 2") == [Decimal("3.5")]
    assert run("1 / 0") == []
    assert run("'a' & {} & 'b'") == ["ab"]
    assert run("@1973-12-25T00:00:00.000+10:00 + 1 second")[0].text == \
        "1973-12-25T00:00:01.000+10:00"
    assert run("@2012-01-31 + 1 month")[0].text == "2012-02-29"
    assert run("(1 week).toString()") == ["1 week"]


def test_strings_and_conversions() -> None:
    assert run("name.family.startsWith('Cha')") == [True]
    assert run("name.family.substring(1, 3)") == ["hal"]
    assert run("name.family.matches('^C.*s$')") == [True]
    assert run("name.family.replaceMatches('a', 'o')") == ["Cholmers"]
    assert run("name.given.join(',')") == ["Peter,James,Jim"]
    assert run("'a,b'.split(',').count()") == [2]
    assert run("'12'.toInteger() + 1") == [13]
    assert run("'x'.convertsToInteger()") == [False]
    assert run("birthDate.toString().length()") == [10]
    assert run("name.given.contains('Pe')") == [False]  # more than one item: false, as HL7 has it
    with pytest.raises(fp.FhirPathEvalError):
        run("name.given.startsWith('P')")


def test_iteration_functions() -> None:
    assert run("name.where(given = 'Jim').count()") == [1]
    assert run("name.select(given.first())") == ["Peter", "Jim"]
    assert run("name.all(given.exists())") == [True]
    assert run("name.exists(family.exists())") == [True]
    assert run("name.given.where($index > 0)") == ["James", "Jim"]
    assert run("(1 | 2 | 3).aggregate($this + $total, 0)") == [6]
    assert run("iif(active, 'yes', 'no')") == ["yes"]
    assert run("iif({}, 'yes')") == []
    assert run("name.given.skip(1).take(1)") == ["James"]
    assert run("name.given.tail().first()") == ["James"]


def test_resolve_contained_and_bundle() -> None:
    assert run("managingOrganization.resolve().name") == ["Acme"]
    assert run("managingOrganization.resolve() is Organization") == [True]
    assert run("generalPractitioner.resolve()") == []  # external: undecidable offline
    bundle = loads("""{"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "http://x/Patient/1", "resource": {"resourceType": "Patient", "id": "1",
         "link": [{"other": {"reference": "Patient/2"}}]}},
        {"fullUrl": "http://x/Patient/2", "resource": {"resourceType": "Patient", "id": "2"}}]}""")
    root = fp.Node.resource(bundle)
    entry = fp.child(fp.child([root], "entry"), "resource")[0]
    ref = fp.child(fp.child(fp.child([entry], "link"), "other"), "reference")
    assert fp.child(fp.resolve(fp.child(fp.child([entry], "link"), "other"), entry, entry),
                    "id")[0].data == "2"
    assert ref[0].data == "Patient/2"


def test_member_of_reads_value_sets_as_data() -> None:
    value_sets = {"http://vs": ValueSet("http://vs", [("http://s", "a")]),
                  "http://none": ValueSet("http://none", None)}
    code, _ = compile_expression("t", "code.memberOf('http://vs')", "")
    for data, expected in (({"code": "a"}, [True]), ({"code": "b"}, [False])):
        node = fp.Node(data)
        assert eval(code, {"fp": fp, "node": node, "VALUE_SETS": value_sets}) == expected
    code, _ = compile_expression("t", "code.memberOf('http://none')", "")
    assert eval(code, {"fp": fp, "node": fp.Node({"code": "a"}), "VALUE_SETS": value_sets}) == []


@pytest.mark.parametrize(
    ("div", "problem"),
    [
        ('<div xmlns="http://www.w3.org/1999/xhtml"><p>ok <b>bold</b></p></div>', None),
        ('<div xmlns="http://www.w3.org/1999/xhtml"><img src="#a"/></div>', None),
        ('<div xmlns="http://www.w3.org/1999/xhtml"><script>x</script>text</div>', "script"),
        ('<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="x()">t</p></div>', "onclick"),
        ('<div xmlns="http://www.w3.org/1999/xhtml"><form>t</form></div>', "form"),
        ('<div xmlns="http://www.w3.org/1999/xhtml"><a href="javascript:x()">t</a></div>',
         "unsafe"),
        ('<div xmlns="http://www.w3.org/1999/xhtml">  <p> </p></div>', "non-whitespace"),
        ("<div>text</div>", "namespace"),
        ('<div xmlns="http://www.w3.org/1999/xhtml"><p>unclosed</div>', "well-formed"),
        ('<!DOCTYPE x [<!ENTITY e "boom">]><div xmlns="http://www.w3.org/1999/xhtml">&e;</div>',
         "DOCTYPE"),
    ],
)
def test_html_checks(div: str, problem: str | None) -> None:
    problems = fp.html_problems(div)
    if problem is None:
        assert problems == []
        assert fp.html_checks([fp.Node(div, type="xhtml")]) == [True]
    else:
        assert any(problem in p for p in problems), problems
        assert fp.html_checks([fp.Node(div, type="xhtml")]) == [False]


def test_compiled_invariant_function() -> None:
    compiled = compile_constraint("ele-1", "hasValue() or (children().count() > id.count())",
                                  "Element", severity="error", human="value or children")
    assert compiled.name == "inv_ele_1"
    assert compiled.source.startswith("def inv_ele_1(node: fp.Node, resource: fp.Node, root: fp.Node)")
    assert {"has_value", "children", "count", "child", "gt", "or_", "result"} <= compiled.helpers
    namespace: dict[str, Any] = {"fp": fp}
    exec(compiled.source, namespace)  # noqa: S102 - the compiled source under test
    function = namespace["inv_ele_1"]
    assert function(fp.Node({"id": "x"}), None, None) is False
    assert function(fp.Node({"id": "x", "text": "t"}), None, None) is True
    assert function(fp.Node("v", type="string"), None, None) is True

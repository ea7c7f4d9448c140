"""Unit tests of ``fhirgen.naming``: every Python name the generator emits, as a table.

Names come from definitions, which are untrusted text: anything that is not a plain FHIR name must
be refused with :class:`NamingError` before it can reach generated code.
"""

from __future__ import annotations

import keyword

import pytest

from fhirgen.naming import (
    NamingError,
    attribute_name,
    check_identifier,
    check_unique,
    class_name,
    extension_attribute,
    module_name,
    value_set_type_name,
)


@pytest.mark.parametrize(
    ("fhir", "expected"),
    [
        ("Coding", "Coding"),
        ("ImagingSelection", "ImagingSelection"),
        ("ImagingSelection.instance", "ImagingSelectionInstance"),
        ("ImagingSelection.instance.imageRegion2D", "ImagingSelectionInstanceImageRegion2D"),
        ("ImagingSelection.performer", "ImagingSelectionPerformer"),
        ("Widget.part.detail", "WidgetPartDetail"),
        ("Bundle.entry.request", "BundleEntryRequest"),
        ("base64Binary", "Base64Binary"),
    ],
)
def test_class_names(fhir: str, expected: str) -> None:
    assert class_name(fhir) == expected


@pytest.mark.parametrize(
    ("json_name", "expected"),
    [
        ("status", "status"),
        ("studyUid", "studyUid"),
        ("valueQuantity", "valueQuantity"),
        ("class", "class_"),
        ("import", "import_"),
        ("for", "for_"),
        ("global", "global_"),
        ("async", "async_"),
        ("type", "type_"),  # soft keyword, escaped too
        ("match", "match_"),
    ],
)
def test_attribute_names(json_name: str, expected: str) -> None:
    assert attribute_name(json_name) == expected


@pytest.mark.parametrize(
    ("json_name", "expected"),
    [("status", "status_ext"), ("class", "class_ext"), ("valueString", "valueString_ext")],
)
def test_extension_attributes(json_name: str, expected: str) -> None:
    assert extension_attribute(json_name) == expected


@pytest.mark.parametrize(
    ("type_name", "expected"),
    [
        ("ImagingSelection", "imagingselection"),
        ("DomainResource", "domainresource"),
        ("Resource", "resource"),
        ("Import", "import_"),  # lower-cases to a keyword
        ("Class", "class_"),
    ],
)
def test_module_names(type_name: str, expected: str) -> None:
    assert module_name(type_name) == expected


@pytest.mark.parametrize(
    ("vs_name", "url", "taken", "expected"),
    [
        ("ImagingSelectionStatus", "http://hl7.org/fhir/ValueSet/imagingselection-status", set(),
         "ImagingSelectionStatus"),
        # collision with a class name: suffixed
        ("Widget", "http://example.org/fhir/ValueSet/widget-class", {"Widget"}, "WidgetCode"),
        # no usable name: from the URL's last segment
        (None, "http://example.org/fhir/ValueSet/widget-status", set(), "WidgetStatus"),
        ("not a name", "http://example.org/fhir/ValueSet/body-site", set(), "BodySite"),
        (None, "http://example.org/fhir/ValueSet/2d-graphic-type", set(), "ValueSet2DGraphicType"),
        ("lowerCase", "http://example.org/fhir/ValueSet/x", set(), "LowerCase"),
    ],
)
def test_value_set_type_names(vs_name, url, taken, expected) -> None:
    assert value_set_type_name(vs_name, url, taken) == expected


def test_value_set_name_that_collides_twice_is_refused() -> None:
    with pytest.raises(NamingError, match="collides"):
        value_set_type_name("Widget", "http://example.org/vs", {"Widget", "WidgetCode"})


@pytest.mark.parametrize("word", ["None", "True", "False"])
def test_value_set_name_never_a_keyword(word: str) -> None:
    """``None = Literal[...]`` would not compile: a keyword name must be escaped or refused."""
    try:
        name = value_set_type_name(word, f"http://example.org/fhir/ValueSet/{word}", set())
    except NamingError:
        return
    assert name.isidentifier() and not keyword.iskeyword(name), name


@pytest.mark.parametrize("word", ["None", "True", "False"])
def test_class_name_never_a_keyword(word: str) -> None:
    """``class None(...)`` would not compile: a keyword type name must be escaped or refused."""
    try:
        name = class_name(word)
    except NamingError:
        return
    assert name.isidentifier() and not keyword.iskeyword(name), name


INVALID = [
    "x; import os",
    "a-b",
    "",
    'name"',
    "name'",
    "na\nme",
    "name\n",
    "\nname",
    "a b",
    "a.b",
    "_private",
    "__import__",
    "1abc",
    "naïve",  # non-ASCII letters are not FHIR names
    "ａｂｃ",  # full-width letters
    "x)\nimport os\n(",
    'a"""b',
]


@pytest.mark.parametrize("bad", INVALID)
def test_check_identifier_refuses(bad: str) -> None:
    with pytest.raises(NamingError):
        check_identifier(bad, "element name")


@pytest.mark.parametrize("bad", INVALID)
def test_attribute_and_extension_names_refuse(bad: str) -> None:
    with pytest.raises(NamingError):
        attribute_name(bad)
    with pytest.raises(NamingError):
        extension_attribute(bad)


@pytest.mark.parametrize(
    "bad", [b for b in INVALID if b != "a.b"] + ["Widget..part", "Widget.", ".x"]
)
def test_class_and_module_names_refuse(bad: str) -> None:
    with pytest.raises(NamingError):
        class_name(bad)
    with pytest.raises(NamingError):
        module_name(bad)


def test_check_identifier_refuses_non_strings() -> None:
    with pytest.raises(NamingError):
        check_identifier(None, "type name")  # type: ignore[arg-type]
    with pytest.raises(NamingError):
        check_identifier(42, "type name")  # type: ignore[arg-type]


def test_value_set_name_from_hostile_url_is_an_identifier() -> None:
    name = value_set_type_name('x"; import os', 'http://e.org/ValueSet/a"b\nimport os', set())
    assert name.isidentifier() and name.isascii(), name
    assert name == "ABImportOs"


def test_check_identifier_message_names_the_culprit() -> None:
    with pytest.raises(NamingError, match=r"element name 'a-b'"):
        check_identifier("a-b", "element name")


def test_check_unique() -> None:
    check_unique([("A", "a"), ("A", "a"), ("B", "b")])  # same source twice is fine
    with pytest.raises(NamingError, match="ImagingSelectionInstance"):
        check_unique(
            [
                ("ImagingSelectionInstance", "ImagingSelection.instance"),
                ("ImagingSelectionInstance", "ImagingSelectionInstance"),
            ]
        )

"""fhirgen: generate Python models and validators from FHIR StructureDefinitions.

Pipeline (one direction, one module each):
``packages``/``loader`` (JSON and XML definitions, package folders and ``.tgz`` files -> canonical
index) -> ``ir`` (the frozen intermediate model) -> ``naming`` (Python names, decided once) ->
``render`` (Jinja2 templates) -> ``writer`` (files on disk, drift check).
"""

__version__ = "0.1.0"

"""Jinja2 templates of fhirgen (data files; this module only makes them locatable)."""

"""The compiled accelerator of validation (``fhirgen.runtime._accel``), built when a C compiler
is at hand; everything else is in pyproject.toml. Without it fhirgen runs the same generated
validators in pure Python (``optional``: a failed build is a warning, not an error).

The C sources are in ``generator/runtime/c-accel/`` (a folder name Python cannot import, so
setuptools does not take it for a package)."""

from pathlib import Path

from setuptools import Extension, setup

SOURCES = sorted(str(p.as_posix()) for p in Path("generator/runtime/c-accel").glob("*.c"))

setup(
    ext_modules=[
        Extension(
            "fhirgen.runtime._accel",
            sources=SOURCES,
            depends=["generator/runtime/c-accel/accel.h"],
            extra_compile_args=["-O2", "-std=c11"],
            optional=True,
        )
    ]
)

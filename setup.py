"""Builds the compiled recorder. Optional: without a C compiler the install still succeeds and
the pure-Python recorder is used (``eventstore --version`` says which one is active)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "eventstore.tracing._recorder",
            ["eventstore/tracing/_recorder.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)

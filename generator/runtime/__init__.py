"""Hand-written support that generated code calls: model base, JSON reading and writing.

Generated modules state the facts of the definitions; the algorithms live here once, with their
own unit tests.
"""

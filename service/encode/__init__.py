"""Wire formats of a generated tensor: NPY bytes and the JSON answer.

Encoders take core objects (plans, arrays, statistics) and produce bytes; they
know nothing of HTTP.
"""

"""MIS export parsers: bytes in, typed records and per-record problems out.

Pure: no file, network or clock access. Callers read the files and pass
their bytes; the UPN leaves a parser only as its keyed hash (SPEC M-3).
"""

"""Which parser reads a bundle of files (one file, or the files of one folder)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from connectors.mis import ctf, oneroster, porth_csv
from connectors.mis.records import FormatRefused, SchoolExport

FORMATS = ("ctf", "oneroster", "csv")


def _base(name: str) -> str:
    return name.rsplit("/", 1)[-1].lower()


def detect_format(files: Mapping[str, bytes]) -> str:
    names = {_base(n) for n in files}
    if {"users.csv", "orgs.csv"} <= names:
        return "oneroster"
    if names & {porth_csv.LEARNER_FILE, porth_csv.STAFF_FILE}:
        return "csv"
    if any(n.endswith(".xml") for n in names):
        return "ctf"
    raise FormatRefused(
        f"cannot tell the format of {', '.join(sorted(files)) or 'an empty folder'}: expected a CTF .xml file, "
        "OneRoster users.csv + orgs.csv, or Porth learners.csv / staff.csv"
    )


def _merge(exports: list[SchoolExport]) -> list[SchoolExport]:
    """A CTF for the pupils and a staff.csv beside it make one school export, and so do the
    several CTF files one school's MIS wrote (inputs.py bundles them by their header's school)."""
    merged: dict[str, SchoolExport] = {}
    for export in exports:
        seen = merged.get(export.school)
        if seen is None:
            merged[export.school] = export
            continue
        merged[export.school] = replace(
            seen,
            format=seen.format if seen.format == export.format else f"{seen.format}+{export.format}",
            files=tuple(dict.fromkeys(seen.files + export.files)),
            school_name=seen.school_name or export.school_name,
            learners=seen.learners + export.learners,
            staff=seen.staff + export.staff,
            problems=seen.problems + export.problems,
            has_learners=seen.has_learners or export.has_learners,
            has_staff=seen.has_staff or export.has_staff,
        )
    return list(merged.values())


def parse_bundle(files: Mapping[str, bytes], upn_key: bytes, fmt: str = "auto") -> list[SchoolExport]:
    """Parse a bundle; FormatRefused (one line) if it is not the format it claims.

    With "auto", a folder may hold CTF files for pupils beside a Porth
    staff.csv (CTF carries no staff): both are read and merged per school.
    """
    if fmt not in ("auto", *FORMATS):
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)} or auto")
    detected = detect_format(files)
    if fmt == "oneroster" or (fmt == "auto" and detected == "oneroster"):
        return oneroster.parse(files, upn_key)
    xml_files = sorted(n for n in files if _base(n).endswith(".xml"))
    csv_files = {n: files[n] for n in files if _base(n) in (porth_csv.LEARNER_FILE, porth_csv.STAFF_FILE)}
    exports: list[SchoolExport] = []
    if fmt in ("auto", "ctf"):
        for name in xml_files or (sorted(files) if fmt == "ctf" else []):
            exports.extend(ctf.parse(name, files[name], upn_key))
    if fmt in ("auto", "csv") and csv_files:
        exports.extend(porth_csv.parse(csv_files, upn_key))
    if fmt == "csv" and not csv_files:
        raise FormatRefused(f"no {porth_csv.LEARNER_FILE} or {porth_csv.STAFF_FILE} among {', '.join(sorted(files))}")
    return _merge(exports)

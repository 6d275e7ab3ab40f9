"""Which parser reads a bundle of files (one file, or the files of one folder)."""

from __future__ import annotations

from collections.abc import Mapping

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


def parse_bundle(files: Mapping[str, bytes], upn_key: bytes, fmt: str = "auto") -> list[SchoolExport]:
    """Parse a bundle; FormatRefused (one line) if it is not the format it claims."""
    fmt = detect_format(files) if fmt == "auto" else fmt
    if fmt == "oneroster":
        return oneroster.parse(files, upn_key)
    if fmt == "csv":
        return porth_csv.parse(files, upn_key)
    if fmt == "ctf":
        exports = []
        xml_files = [n for n in files if _base(n).endswith(".xml")] or list(files)
        for name in sorted(xml_files):
            exports.extend(ctf.parse(name, files[name], upn_key))
        return exports
    raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)} or auto")

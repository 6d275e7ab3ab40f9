"""CTF XML: the DfE Common Transfer File (pupils).

Read with defusedxml and no DTD at all: a CTF never has one, so a DOCTYPE
(the carrier of entity-expansion "billion laughs" and external-entity
attacks) refuses the whole file before anything is expanded or fetched.

Where Porth reads each field (docs/mis-formats.md), as the DfE CTF
specification (CTF 15-26) defines the pupil:
- school: Header/SourceSchool/LEA + Estab (the DfES number)
- legal names: Pupil/Surname, Pupil/Forename (the DfE's legal names); files
  that write them as BasicDetails/LegalSurname, LegalForename (or
  Pupil/LegalSurname...) are read too. Preferred names:
  BasicDetails/PreferredSurname, PreferredForename (or directly under Pupil)
- Pupil/UPN, Pupil/DOB, BasicDetails/NCyearActual, BasicDetails/EnrolStatus
- admission and leaving dates: SchoolHistory/School whose LEA + Estab is the
  source school: EntryDate, LeavingDate
- admission number: the DfE CTF has none. Pupil/AdmissionNumber or
  BasicDetails/AdmissionNumber when the MIS adds one; else one derived from
  the UPN's keyed hash (`derived_admission_number`), stable across runs and
  files and never the UPN. ApplicationReference is not used: it names an
  application in LA-coordinated admissions, not a pupil on roll, and a
  school's own CTF does not carry it.
- registration group (not in the DfE CTF): Pupil/RegGroup or
  BasicDetails/RegGroup; teaching groups: Pupil/Classes/Class (Porth extensions)
"""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from connectors.mis.records import (
    ExportBuilder,
    FormatRefused,
    LearnerRecord,
    Problem,
    SchoolExport,
    Source,
    UpnField,
    refuse_bad_names,
    refuse_upns,
    safe_reference,
    shown,
)
from connectors.mis.text import MAX_FILE_BYTES, blank_to_none, is_ascii_number, is_dfes, parse_date

FORMAT = "ctf"
DERIVED_ADMISSION_PREFIX = "ctf-"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: Element | None, *names: str) -> Element | None:
    if element is None:
        return None
    for name in names:
        for child in element:
            if _local(child.tag) == name:
                return child
    return None


def _text(element: Element | None, *path: str) -> str | None:
    for name in path:
        element = _child(element, name)
    return blank_to_none(element.text) if element is not None and element.text else None


def _first_text(pupil: Element, name: str) -> str | None:
    return _text(pupil, name) or _text(pupil, "BasicDetails", name)


def _raw_name(pupil: Element, *names: str) -> str | None:
    """A name element's text as the file wrote it (the first of `names` that has any, under Pupil or
    BasicDetails, as _text and _first_text read them), for records.refuse_bad_names."""
    for name in names:
        for element in (_child(pupil, name), _child(_child(pupil, "BasicDetails"), name)):
            if element is not None and element.text and element.text.strip():
                return element.text
    return None


def derived_admission_number(upn_hash: str) -> str:
    """An admission number for a DfE CTF, which has none: 12 hex digits of the UPN's keyed
    hash. The same learner gets the same one on every run and in every file of the school;
    without the key it says nothing of the UPN (M-3)."""
    return DERIVED_ADMISSION_PREFIX + upn_hash[:12]


def _strip_zeros(year: str | None) -> str | None:
    return year.lstrip("0") or "0" if year and is_ascii_number(year) else year


def parse_document(name: str, data: bytes) -> Element:
    if len(data) > MAX_FILE_BYTES:
        raise FormatRefused(f"{name}: the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise FormatRefused(f"{name}: the file declares a DTD or entities, which a CTF never does; refused") from None
    except ParseError as exc:
        raise FormatRefused(f"{name}: not well-formed XML ({exc})") from None
    if _local(root.tag) != "CTfile":
        raise FormatRefused(f"{name}: not a Common Transfer File (the root element is <{_local(root.tag)}>)")
    return root


def parse(name: str, data: bytes, upn_key: bytes) -> list[SchoolExport]:
    root = parse_document(name, data)
    header = _child(root, "Header")
    source_school = _child(header, "SourceSchool")
    lea, estab = _text(source_school, "LEA"), _text(source_school, "Estab")
    school = f"{lea or ''}{estab or ''}"
    if not is_dfes(school):
        raise FormatRefused(f"{name}: Header/SourceSchool LEA + Estab ({shown(school)}) is not a 7-digit DfES number")
    builder = ExportBuilder(FORMAT, (name,))
    builder.names[school] = _text(source_school, "SchoolName") or ""
    builder.ensure_school(school)
    pupils = [p for p in (_child(root, "CTFpupilData") or []) if _local(p.tag) == "Pupil"]
    for index, pupil in enumerate(pupils, start=1):
        builder.add_learner(_pupil(builder, Source(name, f"Pupil {index}"), school, pupil, upn_key))
    return builder.build(has_learners=True, has_staff=False)


def _pupil(builder: ExportBuilder, source: Source, school: str, pupil: Element, upn_key: bytes) -> LearnerRecord:
    upn = UpnField.from_raw(_text(pupil, "UPN"), upn_key)
    admission_number = _first_text(pupil, "AdmissionNumber")
    admission_field = "AdmissionNumber"
    if admission_number is None and upn.hash:
        admission_number, admission_field = derived_admission_number(upn.hash), "UPN"
    reference = safe_reference(admission_number)
    history = None
    for entry in _child(pupil, "SchoolHistory") or []:
        if f"{_text(entry, 'LEA') or ''}{_text(entry, 'Estab') or ''}" == school:
            history = entry
    dates = {}
    for element, value in (("DOB", _text(pupil, "DOB")), ("EntryDate", _text(history, "EntryDate")),
                           ("LeavingDate", _text(history, "LeavingDate"))):
        try:
            dates[element] = parse_date(value)
        except ValueError as exc:
            builder.add_problem(school, Problem(source, element, str(exc), reference))
            dates[element] = None
    classes = tuple(
        text for text in (blank_to_none(c.text) for c in (_child(pupil, "Classes") or []) if c.text) if text
    )
    record = LearnerRecord(
        source=source, school=school, admission_number=admission_number, upn=upn,
        legal_surname=_text(pupil, "Surname") or _first_text(pupil, "LegalSurname"),
        legal_forename=_text(pupil, "Forename") or _first_text(pupil, "LegalForename"),
        preferred_surname=_first_text(pupil, "PreferredSurname"),
        preferred_forename=_first_text(pupil, "PreferredForename"),
        date_of_birth=dates["DOB"], admission_date=dates["EntryDate"], leaving_date=dates["LeavingDate"],
        year_group=_strip_zeros(_first_text(pupil, "NCyearActual")),
        registration_group=_first_text(pupil, "RegGroup"),
        classes=classes,
        enrolment_status=_first_text(pupil, "EnrolStatus"),
    )
    return refuse_bad_names(refuse_upns(record, {
        "admission_number": admission_field, "legal_surname": "Surname", "legal_forename": "Forename",
        "preferred_surname": "PreferredSurname", "preferred_forename": "PreferredForename",
        "registration_group": "RegGroup", "classes": "Classes",
    }), {"Surname": _raw_name(pupil, "Surname", "LegalSurname"),
         "Forename": _raw_name(pupil, "Forename", "LegalForename"),
         "PreferredSurname": _raw_name(pupil, "PreferredSurname"),
         "PreferredForename": _raw_name(pupil, "PreferredForename")})

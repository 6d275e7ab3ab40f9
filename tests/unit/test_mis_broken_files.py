"""Broken CSV files are refused whole, with the line, never half-read; encodings are decided per file.

Issue 13 point 5: a cut or malformed file read as records made the learners
after the cut look like leavers, and one stray Windows-1252 byte in a UTF-8
file turned every Welsh name into mojibake (`LlÅµyd`) for ever.
"""

from __future__ import annotations

import pytest

from connectors.mis import oneroster, porth_csv
from connectors.mis.records import FormatRefused

KEY = b"test-upn-key-0123456789abcdef"
HEADER = "dfes,admission_number,upn,legal_surname,legal_forename,admission_date"
ROWS = [
    "6612002,000201,B801200005001,Llŵyd,Gwenllïan,2023-09-04",
    "6612002,000202,H801200001001,Ellis-Jones,Efa,2023-09-04",
    "6612002,000203,,Evans,Tomos,2023-09-04",
]


def _learners(text: str | bytes) -> list[str | None]:
    data = text.encode() if isinstance(text, str) else text
    [export] = porth_csv.parse({"learners.csv": data}, KEY)
    return [learner.legal_surname for learner in export.learners]


def _refused(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    with pytest.raises(FormatRefused) as error:
        porth_csv.parse({"learners.csv": data}, KEY)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_a_whole_file_is_read():
    assert _learners("\n".join([HEADER, *ROWS]) + "\n") == ["Llŵyd", "Ellis-Jones", "Evans"]


def test_a_file_whose_last_record_is_cut_short_is_refused_naming_the_line():
    cut = "\n".join([HEADER, *ROWS[:2], "6612002,000203,,Eva"])
    assert _refused(cut) == ("learners.csv: line 4 has 4 fields but the header has 6; the file is refused whole "
                             "(is it cut, or is a comma missing or extra?)")


def test_an_unterminated_quote_at_the_end_is_refused_naming_where_the_record_starts():
    cut = "\n".join([HEADER, *ROWS[:2], '6612002,000203,,"Evans,Tomos,2023-09-04', ""])
    message = _refused(cut)
    assert message.startswith("learners.csv: line 4: a quoted field is not closed before the end of the file")


def test_an_unterminated_quote_in_the_middle_swallows_the_rest_and_is_refused():
    broken = "\n".join([HEADER, '6612002,000201,B801200005001,"Llŵyd,Gwenllïan,2023-09-04', *ROWS[1:]]) + "\n"
    assert _refused(broken).startswith("learners.csv: line 2: a quoted field is not closed")


def test_a_stray_quote_after_a_quoted_field_is_refused():
    broken = "\n".join([HEADER, ROWS[0], '6612002,000202,,"Ellis"-Jones,Efa,2023-09-04']) + "\n"
    assert _refused(broken).startswith("learners.csv: line 3: a quote inside a field is not doubled")


@pytest.mark.parametrize(("row", "fields"), [
    ("6612002,000202,H801200001001,Ellis-Jones,Efa,2023-09-04,extra", 7),
    ("6612002,000202,H801200001001,Ellis-Jones,2023-09-04", 5),
])
def test_a_row_with_the_wrong_number_of_fields_anywhere_refuses_the_file(row, fields):
    assert _refused("\n".join([HEADER, ROWS[0], row, ROWS[2]]) + "\n").startswith(
        f"learners.csv: line 3 has {fields} fields but the header has 6")


def test_quoted_fields_with_commas_and_newlines_count_as_one_field_and_keep_their_start_line():
    text = "\n".join([HEADER, '6612002,000201,,"Smith,\nJr",Sam,2023-09-04', "6612002,000202,,Jones"]) + "\n"
    assert _refused(text).startswith("learners.csv: line 4 has 4 fields")
    assert _learners("\n".join([HEADER, '6612002,000201,,"Smith, Jr",Sam,2023-09-04']) + "\n") == ["Smith, Jr"]


def test_blank_lines_and_unnamed_trailing_header_cells_are_tolerated():
    # A header ending in empty cells (as some exporters write it) and rows without them.
    text = HEADER + ",,\r\n" + ROWS[0] + "\r\n\r\n" + ROWS[1] + ",,\r\n,,,,,,,,\r\n"
    assert _learners(text) == ["Llŵyd", "Ellis-Jones"]


def test_oneroster_files_are_refused_whole_too():
    users = ("sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,givenName,familyName\n"
             "u-1,active,,true,org-1,student,Ffion,Prŷs\nu-2,active,,true,org-1\n")
    orgs = "sourcedId,status,dateLastModified,name,type,identifier\norg-1,active,,Ysgol,school,6614001\n"
    with pytest.raises(FormatRefused, match=r"users.csv: line 3 has 5 fields but the header has 8"):
        oneroster.parse({"users.csv": users.encode(), "orgs.csv": orgs.encode()}, KEY)


# -- encodings ------------------------------------------------------------------
WELSH = "\n".join([HEADER, *ROWS]) + "\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be"])
def test_utf8_with_or_without_bom_and_utf16_with_bom_are_read(encoding):
    data = WELSH.encode(encoding)
    if encoding in ("utf-16-le", "utf-16-be"):  # Excel's "Unicode text" always starts with a BOM
        data = ("\ufeff" + WELSH).encode(encoding)
    assert _learners(data) == ["Llŵyd", "Ellis-Jones", "Evans"]


def test_windows_1252_is_read_when_the_file_is_not_utf8_at_all():
    # ŵ is not in Windows-1252; Siôn and Seán are.
    text = "\n".join([HEADER, "6612002,000201,,Siôn,Seán,2023-09-04"]) + "\n"
    assert _learners(text.encode("cp1252")) == ["Siôn"]


def test_llwyd_in_windows_1252_as_excel_writes_it():
    # Windows-1252 has no ŵ: Excel writes "Llwyd?"-style replacements, or the name without the accent.
    text = "\n".join([HEADER, "6612002,000201,,Llwyd,Gwenllïan,2023-09-04"]) + "\n"
    [export] = porth_csv.parse({"learners.csv": text.encode("cp1252")}, KEY)
    assert (export.learners[0].legal_surname, export.learners[0].legal_forename) == ("Llwyd", "Gwenllïan")


def test_llwyd_in_utf8_is_never_mojibake():
    assert _learners(WELSH.encode("utf-8"))[0] == "Llŵyd"
    assert "LlÅµyd" not in repr(porth_csv.parse({"learners.csv": WELSH.encode()}, KEY))


def test_a_utf8_file_with_one_stray_windows_1252_byte_is_refused_naming_its_line():
    data = WELSH.encode("utf-8").replace(b"Ellis-Jones", b"Ellis-Jon\xe9s")  # a pasted "é" in Windows-1252
    message = _refused(data)
    assert message.startswith("learners.csv: line 3: a byte that is not UTF-8 in a UTF-8 file")


def test_a_utf8_file_with_a_bom_and_a_stray_byte_is_refused_even_without_other_welsh_letters():
    data = b"\xef\xbb\xbf" + (HEADER + "\n6612002,000201,,Jon\xe9s,Efa,2023-09-04\n").encode("latin-1")
    assert _refused(data).startswith("learners.csv: line 2: a byte that is not UTF-8")


def test_a_file_that_is_neither_is_refused_with_the_line():
    data = (HEADER + "\n").encode() + b"6612002,000201,,Jon\x81s,Efa,2023-09-04\n"  # 0x81 is unused in 1252
    assert _refused(data).startswith("learners.csv: line 2: the file is neither UTF-8 nor Windows-1252")


def test_utf16_that_is_not_valid_utf16_is_refused():
    data = "\ufeffdfes,upn\n".encode("utf-16-le") + b"\x00\xd8"  # a lone high surrogate
    assert "not valid UTF-16" in _refused(data)


# -- non-ASCII digits: an error for that record or line, never a crash, never a match -------------------
def test_non_ascii_digits_in_a_school_number_a_date_or_a_upn_are_record_problems():
    rows = ["\uff16\uff16\uff11\uff12\uff10\uff10\uff12,000201,B801200005001,Llŵyd,Gwen,2023-09-04",
            "6612002,000202,B80120000500\u00b2,Evans,Tomos,2023-09-04",
            "6612002,000203,H801200001001,Ellis,Efa,\uff12\uff10\uff12\uff13-09-04"]
    [export] = porth_csv.parse({"learners.csv": ("\n".join([HEADER, *rows]) + "\n").encode()}, KEY)
    assert [r.admission_number for r in export.learners] == ["000202", "000203"]
    assert export.learners[0].upn.error == "Invalid UPN"
    assert export.learners[1].admission_date is None
    problems = {(p.source.location, p.field): p.reason for p in export.problems}
    assert problems[("line 2", "dfes")].endswith("is not a 7-digit DfES number")
    assert problems[("line 4", "admission_date")].endswith("is not a date (use YYYY-MM-DD or DD/MM/YYYY)")

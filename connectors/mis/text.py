"""Reading untrusted CSV text safely: encodings, limits, headers, dates."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from datetime import date, datetime
from typing import TypeGuard

from connectors.mis.records import FormatRefused, shown

MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_COLUMNS = 500
MAX_FIELD_CHARS = 10_000
# ASCII digits only: \d and str.isdigit() also match full-width (U+FF18), Arabic-Indic (U+0668)
# and superscript (U+00B2) digits.
_DFES = re.compile(r"[0-9]{7}")
_ASCII_NUMBER = re.compile(r"[0-9]+")


# One well-formed multi-byte UTF-8 sequence (RFC 3629: no overlongs, no surrogates).
_UTF8_MULTIBYTE = re.compile(
    rb"[\xC2-\xDF][\x80-\xBF]|\xE0[\xA0-\xBF][\x80-\xBF]|[\xE1-\xEC\xEE\xEF][\x80-\xBF]{2}"
    rb"|\xED[\x80-\x9F][\x80-\xBF]|\xF0[\x90-\xBF][\x80-\xBF]{2}|[\xF1-\xF3][\x80-\xBF]{3}"
    rb"|\xF4[\x80-\x8F][\x80-\xBF]{2}"
)


def decode(name: str, data: bytes) -> str:
    """The file's text, its encoding decided once for the whole file.

    UTF-8 with or without a BOM; UTF-16 with a BOM (Excel's "Unicode text");
    Windows-1252 only when the file is not UTF-8 at all. A file that is UTF-8
    (it holds well-formed multi-byte sequences such as "ŵ") but also bytes
    that are not is refused naming the first bad line: decoding it as
    Windows-1252 would turn every Welsh letter in it into mojibake ("LlÅµyd")
    and the usernames made from them would keep it for ever.
    """
    if len(data) > MAX_FILE_BYTES:
        raise FormatRefused(f"{name}: the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")  # the BOM says which byte order, and is dropped
        except UnicodeDecodeError as exc:
            line = data[: exc.start].decode("utf-16", errors="replace").count("\n") + 1
            raise FormatRefused(f"{name}: line {line}: the file starts as UTF-16 but is not valid UTF-16 "
                                "(save it again as CSV UTF-8)") from None
        if "\x00" in text:
            raise FormatRefused(f"{name}: the file is not text (it contains NUL characters)")
        return text
    if b"\x00" in data:
        raise FormatRefused(f"{name}: the file is not text (it contains NUL bytes)")
    has_bom = data.startswith(codecs.BOM_UTF8)
    body = data.removeprefix(codecs.BOM_UTF8)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        if has_bom or _UTF8_MULTIBYTE.search(body):
            line = body.count(b"\n", 0, exc.start) + 1
            raise FormatRefused(
                f"{name}: line {line}: a byte that is not UTF-8 in a UTF-8 file (a character pasted from "
                "another program?); correct that line and save the file as CSV UTF-8"
            ) from None
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FormatRefused(f"{name}: line {line}: the file is neither UTF-8 nor Windows-1252 "
                            f"(byte 0x{data[exc.start]:02X})") from None


def normalise_header(header: str) -> str:
    """'Legal Surname', 'legal_surname' and 'LEGAL-SURNAME' are the same column."""
    return re.sub(r"[\s_\-.]+", "_", header.strip().lower()).strip("_")


_CSV_ERRORS = {
    "unexpected end of data": "a quoted field is not closed before the end of the file (is the file cut?)",
    "',' expected after '\"'": "a quote inside a field is not doubled (write \"\" for a quote in a quoted field)",
}


class CsvRows:
    """Rows of a CSV file as dicts keyed by normalised header, with line numbers.

    A file that is not well-formed CSV is refused whole, naming the first bad
    line (FormatRefused): an unclosed quote, a stray quote, or a row with a
    different number of fields than the header (a cut last line, a missing or
    extra comma). Reading the rest would make the learners after the cut look
    like leavers. Trailing header cells with no name (`a,b,,`) may be left out
    of the rows. Blank lines are skipped.
    """

    def __init__(self, name: str, data: bytes, required: set[str], known: set[str] | None = None):
        self.name = name
        text = decode(name, data)
        self._reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        try:
            header = next(self._reader)
        except StopIteration:
            raise FormatRefused(f"{name}: the file is empty") from None
        except csv.Error as exc:
            raise FormatRefused(f"{name}: line 1: the header line is not CSV ({self._reason(exc)})") from None
        if len(header) > MAX_COLUMNS:
            raise FormatRefused(f"{name}: the header has {len(header)} columns; at most {MAX_COLUMNS} are read")
        self.columns = [normalise_header(h) for h in header]
        named = len(self.columns)
        while named and not self.columns[named - 1]:
            named -= 1
        self._widths = (named, len(self.columns))
        missing = sorted(required - set(self.columns))
        if missing:
            raise FormatRefused(f"{name}: missing column(s) {', '.join(missing)}")
        duplicated = sorted({c for c in self.columns
                             if c and self.columns.count(c) > 1 and (known is None or c in known)})
        if duplicated:
            raise FormatRefused(f"{name}: column(s) {', '.join(duplicated)} appear more than once")

    @staticmethod
    def _reason(exc: csv.Error) -> str:
        text = str(exc)
        return _CSV_ERRORS.get(text, text)

    def __iter__(self) -> Iterator[tuple[int, dict[str, str] | str]]:
        """(line, row) pairs, line being where the record starts; a row with a field
        over the size limit comes as (line, reason) and the others are still read."""
        fewest, most = self._widths
        while True:
            line = self._reader.line_num + 1
            try:
                values = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise FormatRefused(f"{self.name}: line {line}: {self._reason(exc)}; the file is refused "
                                    "whole") from None
            if not values or all(not v.strip() for v in values):
                continue
            if not fewest <= len(values) <= most:
                raise FormatRefused(
                    f"{self.name}: line {line} has {len(values)} fields but the header has {most}; the file "
                    "is refused whole (is it cut, or is a comma missing or extra?)"
                )
            if any(len(v) > MAX_FIELD_CHARS for v in values):
                yield line, f"a field is longer than {MAX_FIELD_CHARS} characters"
                continue
            yield line, {column: values[i].strip() if i < len(values) else "" for i, column in enumerate(self.columns)}


def parse_date(text: str | None) -> date | None:
    """ISO (2024-09-01, also with a time) or UK (01/09/2024) dates; ValueError otherwise."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    # strptime's \d takes any Unicode digit (full-width "2024"): the MIS's digits are ASCII, like the UPN's.
    for pattern in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y") if text.isascii() else ():
        try:
            # A calendar date: only .date() is kept, so the parsed time has no zone to lose.
            return datetime.strptime(text[:10] if pattern == "%Y-%m-%d" else text, pattern).date()  # noqa: DTZ007
        except ValueError:
            continue
    raise ValueError(f"{shown(text)} is not a date (use YYYY-MM-DD or DD/MM/YYYY)")


def blank_to_none(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text or None


def is_dfes(text: str | None) -> TypeGuard[str]:
    if not text:
        return False
    return bool(_DFES.fullmatch(text))


def is_ascii_number(text: str | None) -> bool:
    """'07' yes; full-width or superscript digits no, though str.isdigit() says yes."""
    return bool(text) and bool(_ASCII_NUMBER.fullmatch(text or ""))


def split_list(text: str | None) -> tuple[str, ...]:
    """A list in one cell: '7B; 7 Maths/2' -> ('7B', '7 Maths/2')."""
    if not text:
        return ()
    return tuple(dict.fromkeys(part.strip() for part in re.split(r"[;|]", text) if part.strip()))

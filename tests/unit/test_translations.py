"""SPEC S-4: every user-facing string has its Welsh, and what runs is what was translated."""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
WELSH_PO = ROOT / "webui/translations/cy/LC_MESSAGES/messages.po"
WELSH_MO = ROOT / "webui/translations/cy/LC_MESSAGES/messages.mo"


def _singular(message_id) -> str:
    return message_id if isinstance(message_id, str) else message_id[0]


def _key(value):
    return value if isinstance(value, str) else tuple(value)


def _strings_in_the_code() -> set[str]:
    method_map, options_map = parse_mapping_cfg(io.StringIO((ROOT / "babel.cfg").read_text()))
    found = set()
    keywords = {**DEFAULT_KEYWORDS, "_l": None}  # flask_babel.lazy_gettext, as scripts/translations extracts it
    for _file, _line, message, _comments, _context in extract_from_dir(str(ROOT), method_map, options_map,
                                                                        keywords=keywords):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_string_in_templates_and_views_has_a_welsh_translation():
    welsh = {_singular(m.id): m.string if isinstance(m.id, str) else all(m.string)
             for m in read_po(WELSH_PO.open("rb")) if m.id}
    untranslated = sorted(s for s in _strings_in_the_code() if not welsh.get(s))
    assert not untranslated, f"run scripts/translations and translate: {untranslated}"
    assert "Sign in" in welsh and welsh["Sign in"] == "Mewngofnodi"


def test_the_compiled_catalogue_matches_the_po_file():
    catalogue = read_po(WELSH_PO.open("rb"))
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    expected = {_key(m.id): _key(m.string) for m in read_mo(io.BytesIO(compiled.getvalue())) if m.id}
    shipped = {_key(m.id): _key(m.string) for m in read_mo(WELSH_MO.open("rb")) if m.id}
    assert shipped == expected, "webui/translations/cy/LC_MESSAGES/messages.mo is stale: run scripts/translations"

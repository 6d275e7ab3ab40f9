"""The Welsh catalogue is whole (issue 16 point 8; SPEC S-4): every entry translated, none left as
a fuzzy guess (gettext does not use a fuzzy entry, so its English would show), and every
placeholder of the English kept, so a Welsh page never shows less than the English one."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

WELSH_PO = Path(__file__).resolve().parents[2] / "webui/translations/cy/LC_MESSAGES/messages.po"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def entries():
    return [message for message in read_po(WELSH_PO.open("rb")) if message.id]


def test_every_welsh_msgstr_is_filled_and_none_is_fuzzy():
    empty = [m.id for m in entries() if not (m.string if isinstance(m.string, str) else all(m.string))]
    fuzzy = [m.id for m in entries() if m.fuzzy]
    assert not empty, f"untranslated: {empty}"
    assert not fuzzy, f"fuzzy (not used by gettext): {fuzzy}"
    assert not read_po(WELSH_PO.open("rb")).fuzzy  # nor the catalogue itself (its header)


def test_every_welsh_string_keeps_the_placeholders_of_its_english():
    lost = []
    for message in entries():
        english = message.id if isinstance(message.id, str) else message.id[-1]
        welsh = (message.string,) if isinstance(message.string, str) else message.string
        wanted = set(PLACEHOLDER.findall(english))
        lost += [(english, form) for form in welsh if set(PLACEHOLDER.findall(form)) != wanted]
    assert not lost, lost

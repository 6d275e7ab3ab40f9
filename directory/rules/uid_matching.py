"""How slapd compares usernames, so that Porth can tell which typed spellings reach one entry.

`uid` (core.schema) has EQUALITY caseIgnoreMatch, and OpenLDAP prepares both the stored value and
the asserted one the same way before comparing them (servers/slapd/schema_init.c
UTF8StringNormalize over libraries/liblunicode/ucstr.c UTF8bvnormalize):

1. each character is lowered by its simple lowercase mapping (uctolower: one character for one,
   so U+0130 İ becomes plain i),
2. the string is decomposed by compatibility and composed again canonically (NFKC): full-width
   forms, ligatures, long s, mathematical letters and the like become their plain letters,
3. runs of spaces become one space and leading and trailing spaces go (RFC 4518 insignificant
   space handling, for U+0020 only; NFKC has already turned no-break and ideographic spaces
   into it).

The lowering comes first, so a character whose compatibility decomposition is a capital letter
(U+1D409 MATHEMATICAL BOLD CAPITAL J) stays a capital and matches nothing lower case: slapd tells
such spellings apart. `uid_matching_form` lowers once more at the end, so its forms are never finer
than slapd's: two spellings slapd matches always get one form (what a failure counter needs), and
a few spellings slapd tells apart share one (which only counts an attacker's attempts together).
Python's Unicode tables are newer and fuller than OpenLDAP's, which can only add such sharing:
OpenLDAP does not lower the circled capitals (U+24B6..U+24CF), so slapd tells U+24BF (Ⓙ)onesA
from JonesA, while both have the form jonesa here.
"""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(" +")


def _simple_lower(character: str) -> str:
    lowered = character.lower()
    # str.lower() follows SpecialCasing: U+0130 lowers to "i" + U+0307. slapd's simple mapping
    # keeps the first letter only, as UnicodeData.txt does.
    return lowered if len(lowered) == 1 else lowered[0]


def slapd_uid_form(text: str) -> str:
    """The value slapd compares for `text` under caseIgnoreMatch (steps 1-3 above, with
    Python's tables)."""
    # An ASCII text takes the same steps at C speed: it lowers one letter for one, and NFKC leaves it as it is.
    prepared = (text.lower() if text.isascii()
                else unicodedata.normalize("NFKC", "".join(map(_simple_lower, text))))
    return _SPACES.sub(" ", prepared).strip(" ")


def uid_matching_form(text: str) -> str:
    """One form for every spelling slapd matches with `text` (and for a few more, never fewer)."""
    return slapd_uid_form(unicodedata.normalize("NFKC", slapd_uid_form(text).casefold()))

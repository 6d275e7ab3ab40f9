"""idp/saml_xml.parse refuses a DTD whatever the document's encoding (issue 15 point 4, saml2int)."""

from __future__ import annotations

import pytest

from idp.saml_xml import XmlRefused, parse

BODY = '<r xmlns="urn:oasis:names:tc:SAML:2.0:protocol">&e;</r>'
WITH_DTD = '<!DOCTYPE r [<!ENTITY e "expanded">]>' + BODY


@pytest.mark.parametrize(("codec", "prefix"), [
    ("utf-8", ""), ("utf-8", "\ufeff"), ("utf-16-le", "\ufeff"), ("utf-16-be", "\ufeff"),
    ("utf-16-le", ""), ("utf-16-be", ""), ("utf-32-le", "\ufeff"), ("utf-32-be", "\ufeff"),
])
def test_a_dtd_is_refused_in_any_encoding(codec, prefix):
    declared = f'<?xml version="1.0" encoding="{codec.upper().replace("-LE", "").replace("-BE", "")}"?>'
    with pytest.raises(XmlRefused, match="has a DTD"):
        parse((prefix + declared + WITH_DTD).encode(codec))


@pytest.mark.parametrize("doctype", ['<!DOCTYPE r>', '<!DOCTYPE r SYSTEM "http://attacker.example/x.dtd">',
                                     '<!DOCTYPE r PUBLIC "-//x//y" "file:///etc/passwd">'])
def test_a_dtd_without_an_internal_subset_is_refused_too(doctype):
    with pytest.raises(XmlRefused, match="has a DTD"):
        parse(('\ufeff<?xml version="1.0" encoding="UTF-16"?>' + doctype + "<r/>").encode("utf-16-le"))


def test_the_same_documents_without_a_dtd_are_read():
    for codec in ("utf-8", "utf-16-le", "utf-16-be"):
        root = parse(("\ufeff<r><a>Gwŷn</a></r>").encode(codec))
        assert root.findtext("a") == "Gwŷn"


def test_each_document_is_watched_afresh_by_the_kept_parser():
    """The DOCTYPE watch's parser is kept per thread: what it saw in one document (a DTD, the root,
    a syntax error) never decides for the next one."""
    for _ in range(3):
        with pytest.raises(XmlRefused, match="has a DTD"):
            parse(WITH_DTD.encode("utf-16"))
        assert parse(b"<r><a>1</a></r>").findtext("a") == "1"
        with pytest.raises(XmlRefused, match="well-formed"):
            parse(b"<r><a></r>")
        with pytest.raises(XmlRefused, match="has a DTD"):
            parse(b"<!DOCTYPE r><r/>")
        with pytest.raises(XmlRefused, match="well-formed"):
            parse(b"<!DOCTYPE")
        assert parse(b"<r/>").tag == "r"


def test_a_dtd_is_refused_in_every_thread():
    import threading

    outcomes: list[str] = []

    def read() -> None:
        try:
            parse(WITH_DTD.encode())
            outcomes.append("read")
        except XmlRefused as refused:
            outcomes.append(str(refused))
        outcomes.append(parse(b"<r/>").tag)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["r"] * 4 + ["the document has a DTD, which SAML messages must not carry"] * 4


def test_a_dtd_after_the_root_is_not_well_formed():
    with pytest.raises(XmlRefused, match="well-formed"):
        parse(b"<r><!DOCTYPE x></r>")


def test_the_ctf_reader_refuses_a_utf16_dtd_too():
    """CTF files are read by defusedxml (expat), which sees the DOCTYPE after decoding: UTF-16 is no way round."""
    from connectors.mis import ctf
    from connectors.mis.records import FormatRefused

    document = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE CTfile [<!ENTITY a "x">]><CTfile/>'
    with pytest.raises(FormatRefused, match="DTD"):
        ctf.parse("pupils.xml", document.encode("utf-16"), b"k" * 32)

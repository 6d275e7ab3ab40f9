"""The first hour with Porth (issue 16 point 9), the parts that need no server: what the README
promises against the Makefile, the block `porth demo` ends with, the CLI's plurals, and the demo
exports' dual registration."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from connectors.mis.detect import parse_bundle
from demo import exports as demo_exports
from demo.loader import DEMO_SCHOOLS, DEMO_SEED
from demo.people import DEMO_LA
from entrypoints.cli.context import counted
from entrypoints.cli.demo import DEFAULT_GRAPH_PORT, by_name, ready_block

ROOT = Path(__file__).parents[2]
TODAY = date(2026, 12, 2)
KEY = b"k" * 40


def _makefile_debs() -> list[str]:
    text = (ROOT / "Makefile").read_text()
    value = re.search(r"^DEBS := (.*?)(?<!\\)\n", text, re.MULTILINE | re.DOTALL).group(1)
    return value.replace("\\\n", " ").split()


def test_the_readme_names_every_debian_package_the_makefile_installs_and_no_other():
    readme = (ROOT / "README.md").read_text()
    # The one list of packages in the README's opening: the first code span naming slapd.
    listed = re.search(r"`(slapd [^`]*)`", readme).group(1).split()
    assert sorted(listed) == sorted(_makefile_debs())
    assert {"xmlsec1", "apache2", "libapache2-mod-shib"} <= set(listed)


def test_the_readme_names_porth_demo_and_the_fake_graphs_port():
    readme = " ".join((ROOT / "README.md").read_text().split())  # the words, however the lines wrap
    assert "`porth demo" in readme and "porth demo [--port P]" in readme
    assert f"fake Microsoft Graph** on `http://127.0.0.1:{DEFAULT_GRAPH_PORT}/v1.0`" in readme


def test_the_demo_ends_with_one_block_whose_last_address_is_the_portal():
    sign_ins = (("digital champion of Ysgol Gynradd Brynaman", "AbOwainW@hwbcymru.net", "d39gzoz8Rt9f"),
                ("teacher of Ysgol Gynradd Brynaman", "AhmedG@hwbcymru.net", "2URhKHSeoyV4"),
                ("LA administrator (Hwb administrator of Gwynedd)", "GweinyddwrG@hwbcymru.net", "4Z9YyiDwxK6s"))
    block = ready_block("http://127.0.0.1:5000/", "http://127.0.0.1:5000", "http://127.0.0.1:8765/v1.0", sign_ins)
    lines = block.splitlines()
    assert lines[0] == lines[-1] == "=" * 78  # one block, ruled off from the logs around it
    for who, username, password in sign_ins:
        assert any(line.strip().startswith(who) and line.endswith(f"{username} / {password}") for line in lines)
    urls = re.findall(r"https?://\S+", block)
    assert urls[-1] == "http://127.0.0.1:5000/portal/"
    assert "Ctrl-C stops the demo." in block
    assert "second factor" not in block
    # Where the settings ask champions and administrators for a second factor, the block says so.
    told = ready_block("http://localhost:5000/", "http://localhost:5000", "http://127.0.0.1:8765/v1.0", sign_ins,
                       second_factor_first=True)
    assert "set up a second factor at their first sign-in" in told
    assert re.findall(r"https?://\S+", told)[-1] == "http://localhost:5000/portal/"


def test_counts_on_the_command_line_take_the_singular_for_one():
    assert counted(1, "record error") == "1 record error"
    assert counted(0, "record error") == "0 record errors"
    assert counted(2, "school") == "2 schools"


def test_the_demo_exports_hold_a_learner_on_the_roll_of_the_secondary_and_the_special_school():
    """Dual registration comes through provisioning as a real LA's would: M at the main school's
    export, S with the same UPN at the other's (CTF EnrolStatus / Porth CSV enrolment_status)."""
    specs = demo_exports.school_specs(DEMO_SCHOOLS, DEMO_SEED, "all", (DEMO_LA,))
    exports = {}
    for spec, files in demo_exports.iter_school_files(specs, DEMO_SEED, TODAY):
        (exports[spec.type.value],) = parse_bundle(files, KEY)
    main = [r for r in exports["secondary"].learners if r.enrolment_status == "M"]
    guest = [r for r in exports["special"].learners if r.enrolment_status == "S"]
    assert len(main) == len(guest) == 1
    assert main[0].upn.hash == guest[0].upn.hash and main[0].upn.error is None
    assert guest[0].admission_date <= TODAY
    # Nobody else in any export is dual registered.
    assert sum(r.enrolment_status in ("M", "S") for export in exports.values() for r in export.learners) == 2


def test_the_demo_is_reached_by_name_so_a_security_key_can_be_set_up_in_it():
    """WebAuthn makes a key for a host name, never an IP address: the demo's default address
    (127.0.0.1) becomes localhost, which browsers treat as secure; other addresses are left alone."""
    assert by_name("http://127.0.0.1:5000") == "http://localhost:5000"
    assert by_name("http://127.0.0.1:5000/") == "http://localhost:5000/"
    assert by_name("https://porth.example.ac.uk") == "https://porth.example.ac.uk"
    assert by_name("http://10.0.0.7:5000") == "http://10.0.0.7:5000"  # another machine's: reached as given

"""`porth demo-data` (realistic MIS exports) and `porth schools import` (the school register)."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import click

from connectors.mis import demo_exports
from directory.errors import EntryAlreadyExists
from directory.model import Organisation, OrganisationKind, School
from directory.school_register import RegisterError, parse_register
from directory.store import DirectoryStore
from directory.wales import organisations_for


def write_demo_exports(out: Path, specs: list[demo_exports.SchoolSpec], seed: int,
                       echo=click.echo) -> tuple[int, int, int]:
    """Write schools.csv and one folder per school; returns (schools, learners, staff)."""
    out.mkdir(parents=True, exist_ok=True)
    today = datetime.now(timezone.utc).date()
    learners = staff = 0
    for index, (spec, files) in enumerate(demo_exports.iter_school_files(specs, seed, today), start=1):
        folder = out / spec.dfes
        folder.mkdir(exist_ok=True)
        for name, data in files.items():
            _write_atomically(folder / name, data)
        learners += spec.learners
        staff += spec.staff
        if index % 100 == 0 or index == len(specs):
            echo(f"  {index}/{len(specs)} schools written")
    # Written last: a folder with schools.csv is a complete set of exports.
    _write_atomically(out / "schools.csv", demo_exports.schools_csv(specs))
    return len(specs), learners, staff


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".part")
    temporary.write_bytes(data)
    os.replace(temporary, path)


@click.command("demo-data")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="Folder to write into.")
@click.option("--schools", "count", type=click.IntRange(1, 5000), default=6, show_default=True)
@click.option("--seed", type=int, default=2026, show_default=True)
@click.option("--wales", is_flag=True, help="National scale: ~1,470 schools, ~470,000 learners, ~40,000 staff.")
@click.option("--format", "fmt", type=click.Choice(["all", *demo_exports.FORMATS]), default="all", show_default=True,
              help="Every school in one format, or the three formats in turn.")
@click.option("--la", "la_code", default="661", show_default=True, help="LA code of the schools (not with --wales).")
def demo_data(out: Path, count: int, seed: int, wales: bool, fmt: str, la_code: str) -> None:
    """Generate realistic MIS exports (CTF, OneRoster, Porth CSV) and a schools.csv register."""
    specs = demo_exports.wales_specs(seed, fmt) if wales else demo_exports.school_specs(count, seed, fmt, (la_code,))
    schools, learners, staff = write_demo_exports(out, specs, seed)
    click.echo(f"Wrote exports of {schools} schools ({learners} learners, {staff} staff) to {out}")
    click.echo(f"Next: porth schools import {out / 'schools.csv'} && porth provision {out}")


def import_register(store: DirectoryStore, schools: list[School]) -> tuple[int, int]:
    """Add missing organisations and schools; returns (added, already present)."""
    store.initialise()
    known_orgs = {o.code for o in store.organisations()}
    known_schools = {s.dfes for s in store.schools()}
    added = present = 0
    for school in schools:
        organisations = organisations_for(school.la_code) or [
            Organisation(school.la_code, f"Local authority {school.la_code}", OrganisationKind.LOCAL_AUTHORITY)]
        for organisation in organisations:
            if organisation.code not in known_orgs:
                store.add_organisation(organisation)
                known_orgs.add(organisation.code)
        if school.dfes in known_schools:
            present += 1
            continue
        try:
            store.add_school(school)
            added += 1
        except EntryAlreadyExists:
            present += 1
        known_schools.add(school.dfes)
    return added, present


@click.group()
def schools() -> None:
    """The school register (national administrators)."""


@schools.command("import")
@click.argument("register", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def schools_import(ctx: click.Context, register: Path) -> None:
    """Add the schools of a register CSV (dfes,name,type,la_code,mail_domain,staff_licence_quota)."""
    from webui.cli import _settings
    from webui.runtime import build_runtime, directory_running

    try:
        parsed, problems = parse_register(str(register), register.read_bytes())
    except RegisterError as exc:
        raise click.ClickException(str(exc)) from None
    for problem in problems:
        click.echo(f"{register}, line {problem.line}: {problem.reason}", err=True)
    settings = _settings(ctx)
    with directory_running(settings):
        with build_runtime(settings) as runtime:
            added, present = import_register(runtime.store, parsed)
    click.echo(f"Schools: {added} added, {present} already present, {len(problems)} lines refused.")

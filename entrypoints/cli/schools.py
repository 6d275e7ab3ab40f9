"""`porth schools import`: the school register (national administrators)."""

from __future__ import annotations

from pathlib import Path

import click

from directory.school_register import RegisterError, add_register, parse_register
from entrypoints.cli.context import settings_of


@click.group()
def schools() -> None:
    """The school register (national administrators)."""


@schools.command("import")
@click.argument("register", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def schools_import(ctx: click.Context, register: Path) -> None:
    """Add the schools of a register CSV (dfes,name,type,la_code,mail_domain,staff_licence_quota)."""
    from entrypoints.runtime import build_runtime, directory_running

    try:
        parsed, problems = parse_register(str(register), register.read_bytes())
    except RegisterError as exc:
        raise click.ClickException(str(exc)) from None
    for problem in problems:
        click.echo(f"{register}, line {problem.line}: {problem.reason}", err=True)
    settings = settings_of(ctx)
    with directory_running(settings), build_runtime(settings) as runtime:
        added, present = add_register(runtime.store, parsed)
    click.echo(f"Schools: {added} added, {present} already present, {len(problems)} lines refused.")

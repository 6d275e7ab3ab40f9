"""`porth load-demo`: a demo local authority built the way a real one is.

1. realistic MIS exports are generated once into var/demo-exports (the
   same generator as `porth demo-data`);
2. the school register is imported;
3. the provisioning client creates the learners and staff from the exports;
4. governors, supply staff and the LA's accounts (its administrator, two
   officers whose accounts expire within eight weeks) are added by hand, as
   a digital champion or the LA would; so are a leaver of the secondary
   (not in its export any more) and a learner whose password shows "-".
   The exports themselves hold a learner dual registered at the secondary
   (main) and the special school (subsidiary).
Running it again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from connectors.mis.detect import parse_bundle
from connectors.provisioning.inputs import find_bundles, read_bundle
from connectors.provisioning.service import guard_policy, provision_school
from demo import exports as demo_exports
from demo.files import write_demo_exports
from demo.people import (
    DEMO_LA,
    add_demo_consent_and_licences,
    add_demo_leaver_and_unavailable_password,
    add_demo_non_mis,
)
from directory.school_register import add_register, parse_register

if TYPE_CHECKING:  # built by the command that loads the demo (entrypoints)
    from entrypoints.runtime import Runtime

DEMO_SCHOOLS = 4
DEMO_SEED = 2026


@dataclass(frozen=True)
class DemoLoadReport:
    schools_added: int
    accounts_created: int
    record_errors: int
    sign_ins: tuple[tuple[str, str, str], ...] = ()  # (who, username, password) to try the portal with


def demo_sign_ins(runtime: Runtime) -> tuple[tuple[str, str, str], ...]:
    """Whom to try the portal as, one of each role the demo has (R-2, R-3, R-4): a digital champion
    and a teacher of the first school, and the LA's administrator (a Hwb administrator), with
    their (demo) passwords, as (who, username, password)."""
    from directory.model import AccountKind, AccountState, Role

    store = runtime.store
    found = []
    school = min(store.schools(), key=lambda s: s.dfes, default=None)
    if school is not None:
        staff = sorted(store.iter_accounts(school=school.dfes, kind=AccountKind.STAFF, state=AccountState.ACTIVE),
                       key=lambda a: a.staff_code or "")
        champion = next((a for a in staff if Role.DIGITAL_CHAMPION in a.roles), None)
        teacher = next((a for a in staff if not a.roles and store.reveal_password(a.id)), None)
        for who, account in (("digital champion", champion), ("teacher", teacher)):
            if account is not None:
                found.append((f"{who} of {school.name}", account.mail, store.reveal_password(account.id) or "-"))
    administrator = next((a for a in store.iter_accounts(organisation=DEMO_LA, kind=AccountKind.LA_NONMIS)
                          if Role.LA_ADMINISTRATOR in a.roles), None)
    if administrator is not None:
        found.append(("LA administrator (Hwb administrator of Gwynedd)", administrator.mail,
                      store.reveal_password(administrator.id) or "-"))
    return tuple(found)


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def load_demo(runtime: Runtime, now: datetime, echo=print) -> DemoLoadReport:
    exports = runtime.settings.var_dir / "demo-exports"
    register = exports / "schools.csv"
    if not register.exists():
        specs = demo_exports.school_specs(DEMO_SCHOOLS, DEMO_SEED, "all", (DEMO_LA,))
        write_demo_exports(exports, specs, DEMO_SEED, echo=lambda _line: None)
        echo(f"Generated MIS exports of {len(specs)} schools in {exports}")
    schools, _ = parse_register(str(register), register.read_bytes())
    added, _ = add_register(runtime.store, schools)
    guard = guard_policy(runtime.settings.provisioning)
    created = errors = 0
    for _, files in find_bundles([Path(exports)]):
        for export in parse_bundle(read_bundle(files), runtime.upn_hash_key):
            outcome = provision_school(runtime.store, runtime.db, export, now, guard)
            if outcome.outcome != "succeeded":
                raise RuntimeError(f"provisioning the demo school {export.school} {outcome.outcome}: {outcome.message}")
            created += outcome.counts.get("created", 0)
            errors += len(outcome.errors)
            echo(f"  {export.school}: {_counted(outcome.counts.get('created', 0), 'account')} created, "
                 f"{_counted(len(outcome.errors), 'record error')} logged")
    created += add_demo_non_mis(runtime.store, now)
    created += add_demo_leaver_and_unavailable_password(runtime.store, runtime.upn_hash_key, now)
    consented, allocated = add_demo_consent_and_licences(runtime.store, runtime.db, now)
    if consented or allocated:
        echo(f"Consent recorded for {consented} learners; {allocated} staff licences allocated")
    return DemoLoadReport(added, created, errors, demo_sign_ins(runtime))

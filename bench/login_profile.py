"""Where a sign-in's CPU goes inside Porth, function by function.

    .venv/bin/python bench/login_profile.py [--flows 300] [--badges]

Runs the same flow as bench/login.py (AuthnRequest answered with the form,
then the credentials POST answered with the signed Response; with --badges,
the badge flow of a Year 1 learner: the form, then the POST of the badge's
token) through the Flask app in process, against a scratch private slapd,
and prints the CPU time (`time.thread_time`, so waiting for slapd's Argon2 check is not
counted) each part of Porth spends per sign-in. CPU time hardly changes
with what else the machine is doing, so this can guide work on the IdP's
speed while a long benchmark runs; bench/login.py gives the real rate.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import functools
import os
import pstats
import re
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from login import authn_request  # noqa: E402  (bench/login.py: this script's folder is on the path)

from directory.model import AccountKind, NewAccount, School, SchoolType  # noqa: E402
from directory.slapd import PrivateSlapd  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.integration.conftest import BASE_DN, ROOT_DN  # noqa: E402
from tests.integration.idp_fixtures import make_porth  # noqa: E402
from tests.saml_services import OneLoginService  # noqa: E402

PASSWORD = "Tiger4821"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=300)
    parser.add_argument("--database-url", help="operational store (default: SQLite in the scratch folder)")
    parser.add_argument("--badges", action="store_true", help="profile badge sign-ins (issue 18) instead")
    parser.add_argument("--cprofile", type=int, default=0, metavar="N",
                        help="also print the N functions with most own time (cProfile, wall clock)")
    args = parser.parse_args()
    spent: collections.Counter[str] = collections.Counter()

    def measured(name: str, function):
        @functools.wraps(function)
        def wrapper(*arguments, **keywords):
            started = time.thread_time()
            try:
                return function(*arguments, **keywords)
            finally:
                spent[name] += time.thread_time() - started
        return wrapper

    with tempfile.TemporaryDirectory(prefix="porth-login-profile-") as scratch_name:
        scratch = Path(scratch_name)
        slapd = PrivateSlapd(scratch / "slapd", "127.0.0.1", free_port(), BASE_DN, ROOT_DN,
                             secrets.token_urlsafe(12), no_sync=True)
        slapd.start()
        try:
            porth = make_porth(slapd, scratch, database_url=args.database_url)
            store = porth.runtime.store
            store.initialise()
            store.add_school(School("6619999", "Bench", SchoolType.SECONDARY, "661"))
            now = datetime.now(UTC)
            accounts = [store.add_account(NewAccount(kind=AccountKind.STAFF, surname="Jones", forename=f"Bench{i}",
                                                     created_by="bench", school="6619999", staff_code=f"B{i:04d}",
                                                     password=PASSWORD), now) for i in range(50)]
            service = OneLoginService(entity_id="https://bench-sp.example/sp", idp_metadata=porth.metadata)
            porth.register("bench", service.metadata(), 'category = "core"\nrelease = ["mail", "given_name"]\n'
                           + ("allow_badge = true\n" if args.badges else ""))
            app = porth.app
            provider = app.extensions["porth.idp"]
            tokens: list[str] = []
            if args.badges:
                from directory.rules.badges import SchoolBadges
                from idp import badges
                learners = [store.add_account(NewAccount(kind=AccountKind.LEARNER, surname="Jones",
                                                         forename=f"Badge{i}", created_by="bench", school="6619999",
                                                         upn_hash=secrets.token_hex(32), year_group="1"), now)
                            for i in range(50)]
                badges.save_school_badges(porth.runtime.db, "6619999", SchoolBadges(enabled=True), "bench", now)
                made = badges.issue_badges(porth.runtime.db, provider.badges.key, "6619999",
                                           [a.id for a in learners], False, "bench", now)
                tokens = [made[a.id].token for a in learners]
            provider.services.check_every = 1.0  # as in production

            from idp import views
            for name in ("_check", "_sign_in_form", "_answer", "_start_session", "_badge_page", "renew_session"):
                setattr(views, name, measured(f"views.{name}", getattr(views, name)))
            views.authn_response = measured("building and signing the Response", views.authn_response)
            views.render_template = measured("rendering pages", views.render_template)
            provider.ledger.first_use = measured("replay ledger", provider.ledger.first_use)
            provider.throttle.attempt = measured("throttle: count the attempt", provider.throttle.attempt)
            provider.throttle.succeeded = measured("throttle: give it back", provider.throttle.succeeded)
            provider.directory.account = measured("account look-up", provider.directory.account)
            provider.directory.account_by_id = measured("account read by id", provider.directory.account_by_id)
            provider.badges.lookup.find = measured("badge look-up", provider.badges.lookup.find)
            provider.badges.check = measured("badge check (look-up, HMAC, account read)", provider.badges.check)
            provider.directory.password_matches = measured("password bind (client side)",
                                                           provider.directory.password_matches)
            interface = app.session_interface
            interface.open_session = measured("session cookie read", interface.open_session)
            interface.save_session = measured("session cookie write", interface.save_session)
            app.extensions["csrf"].protect = measured("CSRF check", app.extensions["csrf"].protect)
            for endpoint in ("idp.sso_redirect", "idp.sign_in", "idp.badge_sign_in"):
                app.view_functions[endpoint] = measured(f"view {endpoint}", app.view_functions[endpoint])
            app.wsgi_app = measured("the whole WSGI app", app.wsgi_app)

            def badge_sign_in(form: str, token: str):
                """What the child's device does from the sign-in page on: the badge's token posted."""
                link = re.search(r'href="([^"]+)" class="[^"]*badge-start', form)
                if link:  # a page of its own for the camera
                    form = porth.client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
                return porth.client.post("/idp/badge", data={
                    "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', form).group(1),
                    "pending": re.search(r'name="pending" value="([^"]+)"', form).group(1), "badge": token})

            def sign_in(n: int) -> None:
                porth.client.delete_cookie("porth_session")
                url = authn_request("http://localhost", service.entity_id, service.acs_url)
                form = porth.client.get(url.removeprefix("http://localhost")).get_data(as_text=True)
                if args.badges:
                    answer = badge_sign_in(form, tokens[n % len(tokens)])
                else:
                    answer = porth.client.post("/idp/sign-in", data={
                        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', form).group(1),
                        "pending": re.search(r'name="pending" value="([^"]+)"', form).group(1),
                        "username": accounts[n % len(accounts)].username, "password": PASSWORD})
                if b'name="SAMLResponse"' not in answer.data:
                    raise SystemExit(f"no Response: {answer.status_code}")

            for n in range(len(accounts)):  # warm up: lastbind's first write per account, caches
                sign_in(n)
            spent.clear()
            profiler = cProfile.Profile() if args.cprofile else None
            if profiler:
                profiler.enable()
            for n in range(args.flows):
                sign_in(n)
            if profiler:
                profiler.disable()
                stats = pstats.Stats(profiler).sort_stats(os.environ.get("PROFILE_SORT", "tottime"))
                stats.print_stats(os.environ.get("PROFILE_FILTER", ""), args.cprofile)
        finally:
            slapd.stop()
    print(f"CPU per sign-in inside Porth's app, {args.flows} sign-ins (nested parts are also in their callers):")
    for name, seconds in spent.most_common():
        print(f"  {seconds / args.flows * 1000:6.2f} ms  {name}")


if __name__ == "__main__":
    main()

"""Headers and limits (issue 15 point 6): no copy of a portal or sign-in page in any cache, a
request-size limit on every endpoint, and a home page that does not read the directory per request."""

from __future__ import annotations

import re

from directory.model import GroupKind, Role
from tests.integration.conftest import SCHOOL, learner, staff
from tests.integration.idp_fixtures import PASSWORD
from tests.integration.portal_fixtures import portal  # noqa: F401 (fixture)
from tests.saml_services import csrf_token

LEARNER_PASSWORD = "Tiger4821"


def text(response) -> str:
    return response.get_data(as_text=True)


def post(portal, path: str, data: dict, page: str = "/portal/"):
    token = csrf_token(text(portal.open(page)))
    return portal.client.post(path, data={"csrf_token": token, **data})


def _generated(response) -> str:
    """The generated password a page shows (in the field, or in the profile's note)."""
    found = re.search(r'id="password" name="password" type="\w+" value="([^"]+)"', text(response))
    return found.group(1) if found else ""


def test_every_page_that_shows_a_password_is_kept_by_no_cache(portal, now):
    """The nine pages that show passwords: reveal, the three prints with passwords, the download,
    and the Generate Password results (reset, own profile, new non-MIS user, new governor)."""
    store = portal.porth.runtime.store
    store.add_group(SCHOOL, GroupKind.REGISTRATION_GROUP, "5B")
    pupil = store.add_account(learner("Avery", "Ann", registration_group="5B", password=LEARNER_PASSWORD), now)
    store.add_account(staff("Price", "Non", code="DC1", password=PASSWORD, roles=frozenset({Role.DIGITAL_CHAMPION})),
                      now)
    portal.sign_in("PriceN@hwbcymru.net")
    reset = f"/portal/accounts/{pupil.id}/password/reset"
    showing_the_password = {
        "reveal": post(portal, f"/portal/accounts/{pupil.id}/password", {}, page=f"/portal/accounts/{pupil.id}"),
        "print one": post(portal, f"/portal/accounts/{pupil.id}/print", {"passwords": "yes"}),
        "print group": post(portal, f"/portal/users/learners/print-group?school={SCHOOL}",
                            {"group": "reg:5B", "passwords": "yes"}),
        "print selected": post(portal, "/portal/users/learners/selected",
                               {"action": "print-with-passwords", "school": SCHOOL, "account": [pupil.id]}),
        "download": post(portal, f"/portal/download/pupils?school={SCHOOL}", {}),
    }
    for name, answer in showing_the_password.items():
        assert answer.status_code == 200 and LEARNER_PASSWORD in text(answer), name
    generated = {
        "generate for a reset": post(portal, reset, {"generate": "learner", "password": ""}, page=reset),
        "generate on the profile": post(portal, "/portal/profile", {"generate": "password"}, page="/portal/profile"),
        "generate for a non-MIS user": post(portal, f"/portal/users/non-mis/new?school={SCHOOL}",
                                            {"forename": "Sam", "surname": "Supply", "generate": "password"}),
        "generate for a governor": post(portal, f"/portal/users/governors/new?school={SCHOOL}",
                                        {"forename": "Gwen", "surname": "Governor", "generate": "password"}),
    }
    for name, answer in generated.items():
        assert answer.status_code == 200 and len(_generated(answer)) >= 8, name
    for name, answer in (showing_the_password | generated).items():
        assert answer.headers.get("Cache-Control") == "no-store", name


def test_every_portal_and_sign_in_page_is_kept_by_no_cache_and_static_files_may_be(portal, now):
    store = portal.porth.runtime.store
    pupil = store.add_account(learner("Avery", "Ann", password=LEARNER_PASSWORD), now)
    sign_in_form = portal.open("/portal/")
    assert 'name="password"' in text(sign_in_form) and sign_in_form.headers["Cache-Control"] == "no-store"
    store.add_account(staff("Price", "Non", code="DC1", password=PASSWORD, roles=frozenset({Role.DIGITAL_CHAMPION})),
                      now)
    portal.sign_in("PriceN@hwbcymru.net")
    values = {"account_id": pupil.id, "list_name": "learners", "which": "pupils", "change": "deactivate"}
    app = portal.porth.app
    answered = 0
    # The pages that end the session last (the portal's logout endpoints), the rest in order.
    rules = sorted((rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/portal")
                    and "GET" in rule.methods), key=lambda rule: ("sls" in rule.rule or "sign" in rule.rule, rule.rule))
    for rule in rules:
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda found: values.get(found.group(1), "x"), rule.rule)
        answer = portal.client.get(f"{path}?school={SCHOOL}")
        assert answer.headers.get("Cache-Control") == "no-store", (rule.rule, answer.status_code)
        answered += answer.status_code == 200
    assert answered >= 10  # the pages themselves, not only their refusals
    assert "no-store" not in portal.client.get("/static/" + _a_static_file(app)).headers.get("Cache-Control", "")


def _a_static_file(app) -> str:
    from pathlib import Path

    folder = Path(app.static_folder)
    return next(str(path.relative_to(folder)) for path in sorted(folder.rglob("*")) if path.is_file())


# -- the request-size limit ------------------------------------------------------------------------
def test_a_ten_megabyte_sign_in_post_is_refused_with_a_413_page_before_anything_reads_it(portal, now):
    porth = portal.porth
    portal.porth.runtime.store.add_account(staff(password=PASSWORD), now)
    form_page = portal.open("/portal/")
    page = text(form_page)
    pending = page.split('name="pending" value="', 1)[1].split('"', 1)[0]
    provider = porth.app.extensions["porth.idp"]
    checks = []
    authenticate = provider.directory.authenticate
    provider.directory.authenticate = lambda *arguments: checks.append(arguments) or authenticate(*arguments)
    huge = {"csrf_token": csrf_token(page), "pending": pending, "username": "JonesA", "password": PASSWORD,
            "padding": "x" * (10 * 1024 * 1024)}
    for language, heading in (("en", "Too much was sent"), ("cy", "Anfonwyd gormod")):
        answer = portal.client.post("/idp/sign-in", data=huge, headers={"Accept-Language": language})
        assert answer.status_code == 413 and heading in text(answer)
        assert f'<html lang="{language}"' in text(answer) and "govuk-template" in text(answer)
        assert answer.headers["Cache-Control"] == "no-store"
    assert checks == []  # no password checked, no session begun
    assert "porth_session" not in (answer.headers.get("Set-Cookie") or "")


def test_a_body_sent_without_a_length_is_refused_over_the_limit_and_read_whole_within_it(portal, now):
    # A script can send a form chunked (no Content-Length); Werkzeug alone would cut it at the limit and
    # judge the cut form: a 10 MB password was checked (cut) and counted as a failed attempt.
    import io

    porth = portal.porth
    porth.runtime.store.add_account(staff(password=PASSWORD), now)
    page = text(portal.open("/portal/"))
    pending = page.split('name="pending" value="', 1)[1].split('"', 1)[0]
    provider = porth.app.extensions["porth.idp"]
    checks = []
    authenticate = provider.directory.authenticate
    provider.directory.authenticate = lambda *arguments: checks.append(arguments) or authenticate(*arguments)

    def chunked(body: bytes):
        return portal.client.post("/idp/sign-in", input_stream=io.BytesIO(body),
                                  content_type="application/x-www-form-urlencoded",
                                  headers={"Transfer-Encoding": "chunked"},
                                  environ_overrides={"wsgi.input_terminated": True})

    form = f"csrf_token={csrf_token(page)}&pending={pending}&username=JonesA&password=".encode()
    answer = chunked(form + b"not-the-password")
    assert answer.status_code == 200 and len(checks) == 1 and checks[0][1] == "not-the-password"
    answer = chunked(form + b"A" * (10 * 1024 * 1024))
    assert answer.status_code == 413 and "Too much was sent" in text(answer)
    assert len(checks) == 1


def test_the_limit_still_takes_a_large_saml_message_and_the_largest_selection_of_accounts(portal, now):
    # A SAML POST of 600 KB (a signed request with a long extension, say) is read and judged as SAML.
    import base64

    big_saml = base64.b64encode(b"<samlp:AuthnRequest " + b" " * 450_000 + b"/>").decode()
    answer = portal.client.post("/idp/sso/post", data={"SAMLRequest": big_saml})
    assert answer.status_code != 413
    # A portal form selecting 2,000 accounts (forms.MAX_SELECTED, ~100 KB).
    portal.porth.runtime.store.add_account(staff("Price", "Non", code="DC1", password=PASSWORD,
                                                 roles=frozenset({Role.DIGITAL_CHAMPION})), now)
    portal.sign_in("PriceN@hwbcymru.net")
    answer = post(portal, "/portal/users/learners/selected",
                  {"action": "print", "school": SCHOOL, "account": [f"id{n:05d}" for n in range(2000)]})
    assert answer.status_code != 413


# -- the home page's counts --------------------------------------------------------------------------
def _learners_at(page: str, dfes: str) -> int:
    row = re.search(rf'data-dfes="{dfes}">(.*?)</tr>', page, re.DOTALL).group(1)
    return int(re.search(r'data-kind="learners">(\d+)<', row).group(1))


def _counting_reads(store) -> list[str]:
    """Each directory read the home page's counting makes, by the store's method."""
    reads: list[str] = []
    for name in ("account_counts", "find_accounts", "schools", "organisations"):
        method = getattr(store, name)
        setattr(store, name, lambda *a, _method=method, _name=name, **k: reads.append(_name) or _method(*a, **k))
    return reads


def test_the_home_page_reads_the_directory_once_per_period_and_never_waits_on_it(slapd, store, now, tmp_path):
    import threading

    from tests.integration.idp_fixtures import make_porth

    store.add_account(learner("Avery", "Ann"), now)
    first, second = make_porth(slapd, tmp_path), make_porth(slapd, tmp_path)  # two workers of one node
    try:
        counts = first.app.extensions["porth.school_counts"]
        reads = _counting_reads(first.runtime.store)
        pages = [first.client.get("/") for _ in range(20)]
        assert all(page.status_code == 200 for page in pages) and reads.count("account_counts") == 1
        assert _learners_at(pages[-1].get_data(as_text=True), SCHOOL) == 1
        others = _counting_reads(second.runtime.store)
        assert _learners_at(second.client.get("/").get_data(as_text=True), SCHOOL) == 1 and others == []

        # The period has passed and the directory is slow: the page does not wait for it.
        store.add_account(learner("Bevan", "Ben"), now)
        slow, counting = threading.Event(), first.runtime.store.account_counts
        first.runtime.store.account_counts = lambda: slow.wait(30) and counting()
        start = counts.clock()
        counts.clock = lambda: start + counts.period_seconds
        during = [first.client.get("/") for _ in range(5)]
        assert all(_learners_at(page.get_data(as_text=True), SCHOOL) == 1 for page in during)
        slow.set()
        counts.refresher.join(30)
        assert _learners_at(first.client.get("/").get_data(as_text=True), SCHOOL) == 2
        # One more read in all, for the twenty-six pages since the first.
        assert reads.count("account_counts") == reads.count("schools") == 2
        assert _learners_at(second.client.get("/").get_data(as_text=True), SCHOOL) == 2 and others == []
    finally:
        for worker in (first, second):
            worker.app.extensions["porth.idp"].close()
            worker.runtime.close()

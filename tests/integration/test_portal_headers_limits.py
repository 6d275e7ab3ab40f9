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

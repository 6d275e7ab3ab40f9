"""The words a person reads for the ids Porth stores (issue 16 points 7 and 8; SPEC S-4).

The audit log, the workflow runs and the provisioning error log store stable ids
(`show-password`, `digital-champion`, `success`, `Missing UPN`): queries, tests and
other tools match them, and rows written years ago must still read. They are turned into
words only when a page shows them, in the reader's language. An id this table does not
know (a newer Porth's, or a row written by hand) is shown as it is rather than hidden.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from connectors.mis import records as mis_records
from connectors.provisioning import applier, plan, planner
from directory.model import Role
from directory.rules.badges import BadgeMode, BadgeRefusal
from idp import badges
from operational.audit import OPERATOR_ROLE
from operational.badges import REPRINTED, REVOKED
from operational.statuses import AuditOutcome, WorkflowOutcome
from webui.portal.lists import year_label
from webui.portal.permissions import PortalRole

# What was done, as the menu and buttons name it. `download-credentials` is the one
# entry per password of older downloads (before issue 16), kept so those rows still read.
AUDIT_ACTIONS = {
    "show-password": _l("Show password"),
    "reset-password": _l("Reset password"),
    "change-own-password": _l("Change own password"),
    "edit-names": _l("Edit names"),
    "request-new-username": _l("Request a new username"),
    "username-changed": _l("Username changed"),
    "deactivate": _l("Deactivate"),
    "reactivate": _l("Reactivate"),
    "delete": _l("Delete permanently"),
    "confirm-consent": _l("Confirm consent"),
    "withdraw-consent": _l("Withdraw consent"),
    "print-details": _l("Print details"),
    "print-with-password": _l("Print with password"),
    "download-pupils": _l("Download All Pupils"),
    "download-staff": _l("Download All Staff"),
    "download-credentials": _l("Password in a download"),
    "create-account": _l("Create account"),
    "extend-expiry": _l("Extend expiry"),
    "promote": _l("Promote"),
    "demote": _l("Demote"),
    "allocate-licence": _l("Allocate licence"),
    "revoke-licence": _l("Revoke licence"),
    # Issue 18: badge sign-in.
    "badge-settings": _l("Badge settings"),
    "print-badge": _l("Print badge"),
    "revoke-badge": _l("Revoke badge"),
    "badge-sign-in": _l("Badge sign-in"),
    # Second factors (issue 18)
    "enrol-second-factor": _l("Set up a second factor"),
    "remove-second-factor": _l("Remove a second factor"),
    "new-recovery-codes": _l("New recovery codes"),
    "reset-second-factor": _l("Reset second factor"),
    "second-factor-used": _l("Second factor used"),
    "second-factor-refused": _l("Second factor refused"),
    "recovery-code-used": _l("Recovery code used"),
}

# Who did it: the portal role the person acted in, or the scheduler's jobs.
ROLES = {
    PortalRole.PRIMARY_LEARNER: _l("Primary learner"),
    PortalRole.SECONDARY_LEARNER: _l("Secondary learner"),
    PortalRole.NON_MIS_USER: _l("Non-MIS user"),
    PortalRole.SCHOOL_STAFF: _l("School staff"),
    PortalRole.DIGITAL_CHAMPION: _l("Digital champion"),
    PortalRole.LA_ADMINISTRATOR: _l("Hwb administrator (local authority)"),
    PortalRole.REC_ADMINISTRATOR: _l("Hwb administrator (regional consortium)"),
    PortalRole.NATIONAL_ADMINISTRATOR: _l("National administrator"),
}
# A role held on an account (promote / demote name it in their detail).
HELD_ROLES = {
    Role.DIGITAL_CHAMPION: _l("Digital champion"),
    Role.LA_ADMINISTRATOR: _l("Hwb administrator (local authority)"),
    Role.REC_ADMINISTRATOR: _l("Hwb administrator (regional consortium)"),
    Role.NATIONAL_ADMINISTRATOR: _l("National administrator"),
}
SCHEDULER = _l("Scheduled job")
BADGE_HOLDER = _l("Someone holding a badge")
# Why a badge sign-in was refused (idp/badges.py), as a digital champion reads it in the audit log.
BADGE_REFUSALS = {
    badges.NOT_A_BADGE: _l("Not a Porth badge"),
    badges.UNKNOWN_BADGE: _l("Unknown badge"),
    badges.WRONG_PIN: _l("Wrong PIN"),
    badges.NO_SUCH_ACCOUNT: _l("The account no longer exists"),
    badges.NO_PIN_PRINTED: _l("Printed without a PIN: print it again"),
    REVOKED: _l("The badge was revoked"),
    REPRINTED: _l("A newer badge was printed"),
    BadgeRefusal.NOT_ENABLED: _l("Badge sign-in is off at the school"),
    BadgeRefusal.NOT_A_LEARNER: _l("Not a learner"),
    BadgeRefusal.OTHER_SCHOOL: _l("No longer a learner of the school"),
    BadgeRefusal.OUTSIDE_YEARS: _l("The learner's year does not use badges"),
}
BADGE_MODES = {BadgeMode.BADGE.value: _l("Badge only"),
               BadgeMode.BADGE_AND_PIN.value: _l("Badge and a 4-digit PIN")}
OPERATOR = _l("The team that runs Porth (porth command)")

AUDIT_OUTCOMES = {
    AuditOutcome.SUCCESS: _l("Succeeded"),
    AuditOutcome.REFUSED: _l("Refused"),
    AuditOutcome.FAILED: _l("Failed"),
}

WORKFLOW_OUTCOMES = {
    WorkflowOutcome.RUNNING: _l("Running"),
    WorkflowOutcome.SUCCEEDED: _l("Succeeded"),
    WorkflowOutcome.FAILED: _l("Failed"),
    WorkflowOutcome.HELD: _l("Held"),
}
# SPEC M-9's error names, as provisioning stores them (connectors/mis, connectors/provisioning).
ERROR_NAMES = {
    mis_records.MISSING_UPN: _l("Missing UPN"),
    mis_records.TEMPORARY_UPN: _l("Temporary UPN"),
    mis_records.INVALID_UPN: _l("Invalid UPN"),
    mis_records.UPN_IN_OTHER_FIELD: _l("UPN in another field"),
    mis_records.INVALID_NAME: _l("Invalid name"),
    plan.MISSING_STAFF_CODE: _l("Missing staff code"),
    plan.DUPLICATE_STAFF_CODE: _l("Duplicate staff code"),
    plan.MISSING_LEGAL_NAME: _l("Missing legal name"),
    plan.MISSING_ADMISSION_DATE: _l("Missing admission date"),
    plan.MULTIPLE_ENTRIES: _l("Multiple entries for search"),
    plan.PENDING_TRANSFER: _l("Pending transfer"),
    plan.MISSING_ADMISSION_NUMBER: _l("Missing admission number"),
    plan.DUPLICATE_UPN: _l("Duplicate UPN"),
    plan.UNREADABLE_FIELD: _l("Unreadable field"),
    plan.INVALID_NAME: _l("Invalid legal name"),
    plan.DIRECTORY_REFUSED: _l("Directory refused the change"),
    plan.UNREADABLE_RECORD: _l("Unreadable record"),
    plan.DEACTIVATED_BY_ADMINISTRATOR: _l("Deactivated by an administrator"),
    applier.COULD_NOT_APPLY: _l("Could not apply the change"),
    planner.MISSING_START_DATE: _l("Missing start date"),
}

# The fields provisioning names in its own words (connectors/provisioning/planner.py); any other
# is a MIS file's own column or element name (sourcedId, Forename), shown as the file spells it.
FIELD_NAMES = {
    "UPN": _l("UPN"),
    "legal name": _l("legal name"),
    "admission number": _l("admission number"),
    "admission date": _l("admission date"),
    "staff code": _l("staff code"),
    "start date": _l("start date"),
    "state": _l("account state"),
}

# How to put each error right, in the MIS or by asking someone.
ERROR_HELP = {
    mis_records.MISSING_UPN: _l("Record a unique pupil number (UPN) for this learner in the MIS. The account is "
                                "created when the Provisioning Client next runs."),
    mis_records.TEMPORARY_UPN: _l("The MIS holds a temporary UPN for this learner. Record their permanent UPN; the "
                                  "account is created on the next run."),
    mis_records.INVALID_UPN: _l("The UPN in the MIS is not a valid unique pupil number (its check letter is wrong). "
                                "Correct it in the MIS."),
    mis_records.UPN_IN_OTHER_FIELD: _l("A UPN has been typed into another field of this record (the field is "
                                       "named). Remove it from that field in the MIS."),
    mis_records.INVALID_NAME: _l("A name in the MIS holds characters no name can have. Correct the name in the MIS."),
    plan.MISSING_STAFF_CODE: _l("Record a unique staff code for this staff member in the MIS. The account is "
                                "created when the Provisioning Client next runs."),
    plan.DUPLICATE_STAFF_CODE: _l("Two staff members share this staff code in the MIS. Give each a unique code."),
    plan.MISSING_LEGAL_NAME: _l("Record the legal forename and surname in the MIS."),
    plan.MISSING_ADMISSION_DATE: _l("Record the admission date in the MIS."),
    plan.MULTIPLE_ENTRIES: _l("More than one account matches this person. Find out which one they use and tell "
                              "the service desk."),
    plan.PENDING_TRANSFER: _l("This learner is still on roll at their previous school. The account moves here once "
                              "that school records them as a leaver."),
    plan.MISSING_ADMISSION_NUMBER: _l("Record the admission number in the MIS."),
    plan.DUPLICATE_UPN: _l("Two learners share this UPN in the MIS. Correct the one that is wrong."),
    plan.UNREADABLE_FIELD: _l("A field of this record cannot be read (the field is named). Correct it in the MIS."),
    plan.INVALID_NAME: _l("The legal name in the MIS holds characters no name can have. Correct it in the MIS."),
    plan.DIRECTORY_REFUSED: _l("The directory refused this change. If it happens again on the next run, tell your "
                               "local authority’s IT team."),
    plan.UNREADABLE_RECORD: _l("Porth could not read this record; the others were provisioned. Check the record in "
                               "the MIS, and tell your local authority’s IT team if it looks right."),
    plan.DEACTIVATED_BY_ADMINISTRATOR: _l("An administrator deactivated this account, so the MIS does not "
                                          "reactivate it. Reactivate it in the portal if it should be in use."),
    applier.COULD_NOT_APPLY: _l("The change could not be made this time. It is tried again on the next run."),
    planner.MISSING_START_DATE: _l("Record the staff member’s start date in the MIS."),
}


def _word(table, value) -> str:
    found = table.get(value) if value is not None else None
    return str(found) if found is not None else (value or "")


def audit_action(action: str) -> str:
    return _word(AUDIT_ACTIONS, action)


def actor_name(actor: str, role: str | None) -> str:
    """Who did it: a username, or what stands for nobody known (a card at the sign-in page)."""
    return str(BADGE_HOLDER) if actor == badges.AUDIT_ACTOR and not role else actor


def audit_detail(action: str, detail: dict) -> str:
    """What an entry's detail says that a champion needs: why a badge was refused, what a
    school's badge settings became."""
    if action == badges.AUDIT_ACTION and detail.get("reason"):
        return _word(BADGE_REFUSALS, detail["reason"])
    if action == "badge-settings" and "enabled" in detail:
        if not detail["enabled"]:
            return str(_l("Badge sign-in off"))
        return " · ".join([str(_l("Badge sign-in on")), _word(BADGE_MODES, detail.get("mode")),
                           ", ".join(year_label(code) for code in detail.get("years", []))])
    return ""


def actor_role(role: str | None, actor: str = "") -> str:
    if not role and actor == "scheduler":
        return str(SCHEDULER)
    if role == OPERATOR_ROLE:
        return str(OPERATOR)
    return _word(ROLES, role)


def held_role(role: str | None) -> str:
    return _word(HELD_ROLES, role)


def audit_outcome(outcome: str) -> str:
    return _word(AUDIT_OUTCOMES, outcome)


def workflow_outcome(outcome: str) -> str:
    return _word(WORKFLOW_OUTCOMES, outcome)


def error_name(name: str) -> str:
    return _word(ERROR_NAMES, name)


def field_name(field: str | None) -> str:
    return _word(FIELD_NAMES, field)


def error_help(name: str) -> str:
    return _word(ERROR_HELP, name) if name in ERROR_HELP else ""


TEMPLATE_GLOBALS = {f.__name__: f for f in (audit_action, actor_name, audit_detail, actor_role, held_role,
                                            audit_outcome, workflow_outcome, error_name, field_name, error_help)}

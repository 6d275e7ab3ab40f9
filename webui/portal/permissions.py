"""Who may do what to whom in the User Management Portal (SPEC R-1..R-5).

One declared table, `PERMISSIONS`: portal role × action → the kinds of
target the role may act on. `decide` applies it together with scope (R-5:
a target outside the actor's schools or organisations is *not found*, so
its existence is never confirmed; a learner dual registered at one of the
actor's schools is in scope there for `AT_SUBSIDIARY_SCHOOL` only) and the rules
that nobody demotes themselves nor locks themselves out. Pure: the caller resolves the actor's
scope from the directory and passes it in; every portal request asks
`decide` before acting.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from directory.model import Account, AccountKind, Organisation, OrganisationKind, Role, School, SchoolType


class PortalRole(StrEnum):
    """What a person is in the portal, from their account kind, school and roles."""

    PRIMARY_LEARNER = "primary-learner"
    SECONDARY_LEARNER = "secondary-learner"
    NON_MIS_USER = "non-mis-user"  # governors, supply teachers, LA/REC staff, stakeholders
    SCHOOL_STAFF = "school-staff"
    DIGITAL_CHAMPION = "digital-champion"
    LA_ADMINISTRATOR = "la-administrator"
    REC_ADMINISTRATOR = "rec-administrator"
    NATIONAL_ADMINISTRATOR = "national-administrator"

    @property
    def is_administrator(self) -> bool:
        """Digital champions and Hwb administrators: the seed's two kinds of administrator."""
        return self in ADMINISTRATORS


class Action(StrEnum):
    VIEW_SCHOOL = "view-school"  # school information on the dashboard
    CHANGE_OWN_PASSWORD = "change-own-password"  # noqa: S105 - an action's name, not a password
    VIEW_ACCOUNTS = "view-accounts"  # list, search, view details
    RESET_PASSWORD = "reset-password"  # noqa: S105 - an action's name, not a password
    SHOW_PASSWORD = "show-password"  # noqa: S105 - an action's name, not a password
    PRINT_CREDENTIALS = "print-credentials"
    DOWNLOAD_CREDENTIALS = "download-credentials"
    CREATE_ACCOUNT = "create-account"
    EDIT_NAMES = "edit-names"  # names now, a new username queued
    DEACTIVATE = "deactivate"
    REACTIVATE = "reactivate"
    EXTEND_EXPIRY = "extend-expiry"
    MANAGE_CONSENT = "manage-consent"
    MANAGE_LICENCES = "manage-licences"
    VIEW_PROVISIONING = "view-provisioning"  # workflow status and error logs (M-10)
    PROMOTE = "promote"
    DEMOTE = "demote"
    VIEW_AUDIT = "view-audit"
    MANAGE_BADGES = "manage-badges"  # issue 18: badge settings, printing and revoking a school's badges


class TargetKind(StrEnum):
    """What an action is done to: an account of a kind, a school, or a role on an account."""

    LEARNER = "learner"
    STAFF = "staff"
    GOVERNOR = "governor"
    SCHOOL_NONMIS = "school-nonmis"
    LA_NONMIS = "la-nonmis"
    REC_NONMIS = "rec-nonmis"
    STAKEHOLDER = "stakeholder"
    SCHOOL = "school"
    DIGITAL_CHAMPION = "digital-champion"  # the role, promoted or demoted
    ADMINISTRATOR = "administrator"  # an LA or REC Hwb administrator's role

    @classmethod
    def of_account(cls, kind: AccountKind) -> TargetKind:
        return cls(kind.value)


ADMINISTRATORS = frozenset({PortalRole.DIGITAL_CHAMPION, PortalRole.LA_ADMINISTRATOR,
                            PortalRole.REC_ADMINISTRATOR, PortalRole.NATIONAL_ADMINISTRATOR})

_SCHOOL_ACCOUNTS = frozenset({TargetKind.LEARNER, TargetKind.STAFF, TargetKind.GOVERNOR, TargetKind.SCHOOL_NONMIS})
_NON_MIS_AT_SCHOOL = frozenset({TargetKind.GOVERNOR, TargetKind.SCHOOL_NONMIS})
_ORGANISATION_ACCOUNTS = frozenset({TargetKind.LA_NONMIS, TargetKind.REC_NONMIS, TargetKind.STAKEHOLDER})
_LEARNERS = frozenset({TargetKind.LEARNER})
_SCHOOL = frozenset({TargetKind.SCHOOL})
_NOTHING: frozenset[TargetKind] = frozenset()

# What a digital champion may do in their school; Hwb administrators add to it.
_CHAMPION: dict[Action, frozenset[TargetKind]] = {
    Action.VIEW_SCHOOL: _SCHOOL,
    Action.CHANGE_OWN_PASSWORD: _SCHOOL_ACCOUNTS,
    Action.VIEW_ACCOUNTS: _SCHOOL_ACCOUNTS,
    Action.RESET_PASSWORD: _SCHOOL_ACCOUNTS,
    Action.SHOW_PASSWORD: _SCHOOL_ACCOUNTS,
    Action.PRINT_CREDENTIALS: _SCHOOL_ACCOUNTS,
    Action.DOWNLOAD_CREDENTIALS: frozenset({TargetKind.LEARNER, TargetKind.STAFF}),
    Action.CREATE_ACCOUNT: _NON_MIS_AT_SCHOOL,
    Action.EDIT_NAMES: _SCHOOL_ACCOUNTS,
    Action.DEACTIVATE: _SCHOOL_ACCOUNTS,
    Action.REACTIVATE: _SCHOOL_ACCOUNTS,
    Action.EXTEND_EXPIRY: _NON_MIS_AT_SCHOOL,
    Action.MANAGE_CONSENT: _LEARNERS,
    Action.MANAGE_LICENCES: frozenset({TargetKind.STAFF, TargetKind.SCHOOL}),
    Action.VIEW_PROVISIONING: _SCHOOL,
    Action.PROMOTE: frozenset({TargetKind.DIGITAL_CHAMPION}),
    Action.DEMOTE: frozenset({TargetKind.DIGITAL_CHAMPION}),
    Action.VIEW_AUDIT: _SCHOOL,
    Action.MANAGE_BADGES: _SCHOOL | _LEARNERS,
}


def _with(base: dict[Action, frozenset[TargetKind]],
          **more: frozenset[TargetKind]) -> dict[Action, frozenset[TargetKind]]:
    table = dict(base)
    for name, kinds in more.items():
        action = Action[name.upper()]
        table[action] = table.get(action, _NOTHING) | kinds
    return table


_HWB_ADMINISTRATOR = _with(
    _CHAMPION,
    change_own_password=_ORGANISATION_ACCOUNTS,
    view_accounts=_ORGANISATION_ACCOUNTS,
    reset_password=_ORGANISATION_ACCOUNTS,
    show_password=_ORGANISATION_ACCOUNTS,
    print_credentials=_ORGANISATION_ACCOUNTS,
    create_account=_ORGANISATION_ACCOUNTS,
    edit_names=_ORGANISATION_ACCOUNTS,
    deactivate=_ORGANISATION_ACCOUNTS,
    reactivate=_ORGANISATION_ACCOUNTS,
    extend_expiry=_ORGANISATION_ACCOUNTS,
    promote=frozenset({TargetKind.ADMINISTRATOR}),
    demote=frozenset({TargetKind.ADMINISTRATOR}),
)

PERMISSIONS: dict[PortalRole, dict[Action, frozenset[TargetKind]]] = {
    # primary learners see their school's information, nothing more.
    PortalRole.PRIMARY_LEARNER: {Action.VIEW_SCHOOL: _SCHOOL},
    # secondary learners, governors, supply teachers and other non-MIS users also reset their own password.
    PortalRole.SECONDARY_LEARNER: {Action.VIEW_SCHOOL: _SCHOOL, Action.CHANGE_OWN_PASSWORD: _LEARNERS},
    PortalRole.NON_MIS_USER: {Action.VIEW_SCHOOL: _SCHOOL,
                              Action.CHANGE_OWN_PASSWORD: _NON_MIS_AT_SCHOOL | _ORGANISATION_ACCOUNTS},
    # school staff manage their school's learners.
    PortalRole.SCHOOL_STAFF: {
        Action.VIEW_SCHOOL: _SCHOOL,
        Action.CHANGE_OWN_PASSWORD: frozenset({TargetKind.STAFF}),
        Action.VIEW_ACCOUNTS: _LEARNERS,
        Action.RESET_PASSWORD: _LEARNERS,
        Action.SHOW_PASSWORD: _LEARNERS,
        Action.PRINT_CREDENTIALS: _LEARNERS,
        Action.DOWNLOAD_CREDENTIALS: _LEARNERS,
    },
    PortalRole.DIGITAL_CHAMPION: _CHAMPION,
    PortalRole.LA_ADMINISTRATOR: _HWB_ADMINISTRATOR,  # R-4, every school of the LA
    PortalRole.REC_ADMINISTRATOR: _HWB_ADMINISTRATOR,  # R-4, every LA of the region
    PortalRole.NATIONAL_ADMINISTRATOR: _HWB_ADMINISTRATOR,  # the whole nation
}


def portal_role(account: Account, school_type: SchoolType | None) -> PortalRole:
    """The strongest portal role the account holds."""
    for role, portal in ((Role.NATIONAL_ADMINISTRATOR, PortalRole.NATIONAL_ADMINISTRATOR),
                         (Role.REC_ADMINISTRATOR, PortalRole.REC_ADMINISTRATOR),
                         (Role.LA_ADMINISTRATOR, PortalRole.LA_ADMINISTRATOR)):
        if role in account.roles:
            return portal
    if account.kind is AccountKind.STAFF:
        return PortalRole.DIGITAL_CHAMPION if Role.DIGITAL_CHAMPION in account.roles else PortalRole.SCHOOL_STAFF
    if account.kind is AccountKind.LEARNER:
        return PortalRole.PRIMARY_LEARNER if school_type in (SchoolType.NURSERY, SchoolType.PRIMARY) \
            else PortalRole.SECONDARY_LEARNER
    return PortalRole.NON_MIS_USER


@dataclass(frozen=True)
class Scope:
    """Where an actor may act: schools by DfES number and organisations (LA / REC codes).
    None means everywhere (national administrators)."""

    schools: frozenset[str] | None
    organisations: frozenset[str] | None = frozenset()

    def covers_school(self, dfes: str | None) -> bool:
        return self.schools is None or (dfes is not None and dfes in self.schools)

    def covers_organisation(self, code: str | None) -> bool:
        return self.organisations is None or (code is not None and code in self.organisations)


def scope_for(account: Account, role: PortalRole, schools: Iterable[School],
              organisations: Iterable[Organisation]) -> Scope:
    """R-4/R-5: a school's people act in their school; an LA administrator in every school
    of the LA and on the LA's own accounts; a REC administrator in every LA of the region."""
    if role is PortalRole.NATIONAL_ADMINISTRATOR:
        return Scope(schools=None, organisations=None)
    own_school = frozenset({account.school}) if account.school else frozenset()
    if role in (PortalRole.LA_ADMINISTRATOR, PortalRole.REC_ADMINISTRATOR):
        schools = list(schools)
        home_la = next((s.la_code for s in schools if s.dfes == account.school), None)
        home = account.organisation or home_la
        if role is PortalRole.LA_ADMINISTRATOR:
            las = {home} if home else set()
            organisations_in_scope = set(las)
        else:
            consortia = {o.code: o for o in organisations if o.kind is OrganisationKind.CONSORTIUM}
            rec = home if home in consortia else next(
                (o.parent for o in organisations if o.code == home and o.parent in consortia), None)
            las = {o.code for o in organisations if o.parent == rec and rec is not None}
            organisations_in_scope = las | ({rec} if rec else set())
        return Scope(schools=frozenset(s.dfes for s in schools if s.la_code in las) | own_school,
                     organisations=frozenset(organisations_in_scope))
    return Scope(schools=own_school, organisations=frozenset())


@dataclass(frozen=True)
class Actor:
    account_id: str
    role: PortalRole
    scope: Scope
    school: str | None = None  # the actor's own school, if any


@dataclass(frozen=True)
class Target:
    """What is acted on. An account names its id, school and organisation (a dual-registered
    learner also the schools where it is a subsidiary registration); a role target
    (DIGITAL_CHAMPION, ADMINISTRATOR) names the account holding it."""

    kind: TargetKind
    account_id: str | None = None
    school: str | None = None
    organisation: str | None = None
    subsidiary_schools: frozenset[str] = frozenset()


class Decision(StrEnum):
    ALLOWED = "allowed"
    FORBIDDEN = "forbidden"  # in scope, but not this role's to do (answer 403)
    NOT_FOUND = "not-found"  # out of scope: answer 404, never confirm it exists


# What nobody may do to their own account: demote themselves, or, in the same spirit,
# deactivate it: a deactivated account cannot sign in, so nobody could undo it but another.
NOT_TO_ONESELF = frozenset({Action.DEMOTE, Action.DEACTIVATE})


# Dual registration (docs/mis-formats.md): a learner on the roll of a second school has one
# account, whose main school owns it. The second school's people may do for that learner what is
# about the learner at their school, as for their own learners:
# - view them (list, search, details), reset and show their password, print their sign-in slip
#   and have them in the school's credentials CSV: the learner sits at that school's computers
#   and its staff must be able to get them signed in;
# - not change their consent: it is one record for the learner's every service, its withdrawal
#   deletes all their work and email (C-3) including the main school's, and the parents' consent
#   is gathered by the main school; two schools setting it would undo each other;
# - not edit their names or username, deactivate or reactivate them: that changes the learner's
#   account everywhere, and the main school and its MIS decide it (a learner leaving the
#   subsidiary school only loses that membership, in provisioning).
# Anything else is answered 403, not 404: the learner is on their roll, so its existence is no secret.
AT_SUBSIDIARY_SCHOOL = frozenset({Action.VIEW_ACCOUNTS, Action.RESET_PASSWORD, Action.SHOW_PASSWORD,
                                  Action.PRINT_CREDENTIALS})


def account_target(account: Account, kind: TargetKind | None = None) -> Target:
    """An account as the target of an action: its kind (or a role on it), id, school and
    organisation, and for a learner the schools it is dual registered at."""
    target_kind = kind or TargetKind.of_account(account.kind)
    subsidiary = frozenset(account.subsidiary_schools) if target_kind is TargetKind.LEARNER else frozenset()
    return Target(target_kind, account.id, account.school, account.organisation, subsidiary)


def school_target(dfes: str) -> Target:
    return Target(TargetKind.SCHOOL, school=dfes)


def in_scope(actor: Actor, target: Target) -> bool:
    if target.account_id is not None and target.account_id == actor.account_id:
        return True  # one's own account is always visible to oneself
    if target.school is not None:
        return actor.scope.covers_school(target.school)
    if target.organisation is not None:
        return actor.scope.covers_organisation(target.organisation)
    return actor.scope.schools is None  # an account with neither: only national administrators see it


def on_subsidiary_roll(actor: Actor, target: Target) -> bool:
    """The target is a learner dual registered at a school of the actor's scope (target.belongs_to
    one of the actor's schools, though not as its main school)."""
    return target.kind is TargetKind.LEARNER and any(actor.scope.covers_school(s) for s in target.subsidiary_schools)


def decide(actor: Actor, action: Action, target: Target) -> Decision:
    if not in_scope(actor, target):
        if not on_subsidiary_roll(actor, target):
            return Decision.NOT_FOUND
        if action not in AT_SUBSIDIARY_SCHOOL:
            return Decision.FORBIDDEN  # the main school's to do (AT_SUBSIDIARY_SCHOOL says why)
    own = target.account_id is not None and target.account_id == actor.account_id
    if action is Action.CHANGE_OWN_PASSWORD and not own:
        return Decision.FORBIDDEN
    if action in NOT_TO_ONESELF and own:
        return Decision.FORBIDDEN  # nobody demotes or locks out themselves
    if target.kind not in PERMISSIONS[actor.role].get(action, _NOTHING):
        return Decision.FORBIDDEN
    return Decision.ALLOWED


def actions_allowed(actor: Actor, target: Target) -> frozenset[Action]:
    """Every action the actor may take on the target: what a page offers (the server still checks each)."""
    return frozenset(action for action in Action if decide(actor, action, target) is Decision.ALLOWED)

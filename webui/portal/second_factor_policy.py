"""Who must give a second factor to enter the portal's management area, and who may reset
someone's lost factor (issue 18 point 7). Pure: the roles come from the settings."""

from __future__ import annotations

from collections.abc import Iterable

from webui.portal.permissions import PortalRole

# How far up the administrators' ladder each role stands: a reset of a lost factor is done by
# someone higher (a digital champion's by their LA's Hwb administrator, a member of staff's by
# their school's champion), never by the person themselves nor by an equal.
_RANK = {
    PortalRole.PRIMARY_LEARNER: 0, PortalRole.SECONDARY_LEARNER: 0, PortalRole.NON_MIS_USER: 1,
    PortalRole.SCHOOL_STAFF: 1, PortalRole.DIGITAL_CHAMPION: 2, PortalRole.LA_ADMINISTRATOR: 3,
    PortalRole.REC_ADMINISTRATOR: 4, PortalRole.NATIONAL_ADMINISTRATOR: 5,
}


def second_factor_required(role: PortalRole, required_roles: Iterable[str]) -> bool:
    return role.value in set(required_roles)


def may_reset_second_factor(actor: PortalRole, target: PortalRole) -> bool:
    """An administrator higher than the person (scope is checked by the permission table)."""
    return actor.is_administrator and _RANK[actor] > _RANK[target]

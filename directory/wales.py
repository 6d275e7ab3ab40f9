"""Wales' local authorities and the regional consortia used for the demo (FORMATS.md)."""

from __future__ import annotations

from directory.model import Organisation, OrganisationKind

CONSORTIA = (
    Organisation("GwE", "GwE (North Wales)", OrganisationKind.CONSORTIUM),
    Organisation("ERW", "ERW (South West and Mid Wales)", OrganisationKind.CONSORTIUM),
    Organisation("CSC", "Central South Consortium", OrganisationKind.CONSORTIUM),
    Organisation("EAS", "Education Achievement Service (South East Wales)", OrganisationKind.CONSORTIUM),
)

_LAS = (
    ("660", "Isle of Anglesey", "GwE"), ("661", "Gwynedd", "GwE"), ("662", "Conwy", "GwE"),
    ("663", "Denbighshire", "GwE"), ("664", "Flintshire", "GwE"), ("665", "Wrexham", "GwE"),
    ("666", "Powys", "ERW"), ("667", "Ceredigion", "ERW"), ("668", "Pembrokeshire", "ERW"),
    ("669", "Carmarthenshire", "ERW"), ("670", "Swansea", "ERW"), ("671", "Neath Port Talbot", "ERW"),
    ("672", "Bridgend", "CSC"), ("673", "Vale of Glamorgan", "CSC"), ("674", "Rhondda Cynon Taf", "CSC"),
    ("675", "Merthyr Tydfil", "CSC"), ("676", "Caerphilly", "EAS"), ("677", "Blaenau Gwent", "EAS"),
    ("678", "Torfaen", "EAS"), ("679", "Monmouthshire", "EAS"), ("680", "Newport", "EAS"),
    ("681", "Cardiff", "CSC"),
)
LOCAL_AUTHORITIES = tuple(
    Organisation(code, name, OrganisationKind.LOCAL_AUTHORITY, parent) for code, name, parent in _LAS
)
BY_CODE = {o.code: o for o in CONSORTIA + LOCAL_AUTHORITIES}


def organisations_for(la_code: str) -> list[Organisation]:
    """The local authority with this code and its consortium (empty if not Welsh)."""
    la = BY_CODE.get(la_code)
    if la is None or la.parent is None:  # not Welsh, or a consortium's code rather than an LA's
        return []
    return [BY_CODE[la.parent], la]

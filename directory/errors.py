"""Porth's own directory exceptions: the client libraries' never leave directory/ldap/connections.py."""


class DirectoryError(Exception):
    """Base class; str() is one line fit to show an operator."""


class DirectoryFailure(DirectoryError):
    """The directory could not do the work, whatever was asked (down, disk full, `txn_commit failed`,
    busy, timed out): never a record's fault, so it fails the run or the request, not one record."""


class DirectoryUnavailable(DirectoryFailure):
    """The directory server cannot be reached (down, wrong host/port, timed out)."""


class DirectoryTimedOut(DirectoryUnavailable):
    """The directory server did not answer in time (hung, overloaded, a firewall eating its
    packets). Tried once more only when the connection was a kept one (a firewall may have
    forgotten it while idle); on a fresh connection asking again would wait as long again."""


class ClaimsUnavailable(DirectoryFailure):
    """The shared claims on usernames and UPN hashes (directory/claims.py) cannot be read or
    written (the operational database is down): nothing may be written to the directory without
    them, so the run or request fails; never a record's fault (issue 17 point 2)."""


class DirectoryMisconfigured(DirectoryError):
    """The server answers but refuses Porth (wrong bind DN/password, missing base)."""


class EntryNotFound(DirectoryError):
    pass


class EntryAlreadyExists(DirectoryError):
    pass


class ConstraintViolation(DirectoryError):
    """The server refused a write that breaks a rule (e.g. a username already used)."""


class UpnHashTaken(ConstraintViolation):
    """Another account already carries this UPN hash: one learner has one account (M-3, M-6),
    enforced by the directory's unique overlay whatever runs at once."""


class InvalidEntry(DirectoryError):
    """The server refused an entry as malformed (schema, syntax)."""


class MultipleMatches(DirectoryError):
    """More than one account matched where one was expected (SPEC M-9)."""


class UsernameUnavailable(DirectoryError):
    """No free username could be claimed (too much contention)."""


class InvalidCredentials(DirectoryError):
    """Wrong username or password, or a locked account: deliberately not told apart to the person
    signing in. `account_id` is the account the username matched (None when it matched none), for
    the log only: an operator following up failures needs to know whose (issue 17 point 5)."""

    def __init__(self, message: str, account_id: str | None = None):
        super().__init__(message)
        self.account_id = account_id


class SlapdError(DirectoryError):
    """The private slapd could not be configured, started or stopped."""

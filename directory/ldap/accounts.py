"""Accounts in the directory: finding and reading them, creating them, changing their
fields, username and state, and the tombstone a deletion leaves. Part of DirectoryStore."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from directory import errors
from directory.claims import STALE_UPN_HASH_CLAIM, ClaimKind, DirectoryClaims, claimed_form
from directory.ldap import filters
from directory.ldap.config import DirectoryConfig
from directory.ldap.connections import Connections, SortsRefused
from directory.ldap.mapping import (
    ACCOUNT_OBJECT_CLASSES,
    ACCOUNTS,
    CONTACT_ATTRIBUTES,
    ERASED_ON_DELETE,
    OBJECT_CLASS,
    PLANNING_FIELDS,
    UPDATABLE_FIELDS,
    WHOLE_ACCOUNT,
    A,
    DirectoryTree,
    account_attributes,
    account_from,
    encode,
    generalized_time,
    names_entry,
    new_account_entry,
    one,
    required,
    values,
)
from directory.ldap.passwords import password_attributes
from directory.ldap.queries import AccountPage, AccountQuery, account_filter, page_number
from directory.ldap.usernames import UsernameClaims
from directory.model import Account, AccountKind, AccountState, NewAccount
from directory.rules import passwords, usernames
from directory.rules.register_order import REGISTER_ORDER_FIELDS, register_key
from directory.rules.vault import PasswordVault

_log = logging.getLogger(__name__)
# The register order as slapd sorts it: sn and givenName have no ORDERING rule of their own
# (core.schema's `name`), so the request names one; it compares the values as each attribute's
# equality rule normalised them, so porthUsername (caseIgnoreIA5Match) is compared in lower
# case too. Where this differs from Python's casefold: directory/rules/register_order.py.
REGISTER_SORT_KEYS = [f"{A[field]}:caseIgnoreOrderingMatch" for field in REGISTER_ORDER_FIELDS]
_LARGEST_OFFSET = 2**31 - 1


def _state_attributes(state: AccountState, by: str, reason: str, now: datetime) -> dict[str, list[str]]:
    """The state and its who/when/why (SPEC A-6)."""
    return {A["state"]: [state.value], A["state_changed_at"]: [generalized_time(now)],
            A["state_changed_by"]: [by], A["state_reason"]: [reason]}


def _updates(changes: Mapping[str, Any], doing: str) -> dict[str, list[str]]:
    unknown = set(changes) - UPDATABLE_FIELDS
    if unknown:
        raise ValueError(f"fields that {doing} cannot change: {', '.join(sorted(unknown))}")
    return {A[field]: encode(value) for field, value in changes.items()}


class Accounts:
    _ldap: Connections
    _usernames: UsernameClaims
    _claims: DirectoryClaims
    tree: DirectoryTree
    config: DirectoryConfig
    vault: PasswordVault

    # -- reading ---------------------------------------------------------------
    def account_dn(self, account_id: str) -> str:
        return self.tree.account(account_id)

    def _find_accounts(self, condition: str, doing: str) -> list[Account]:
        found = self._ldap.search(self.tree.people, filters.all_of(ACCOUNTS, condition), WHOLE_ACCOUNT, doing)
        return [account_from(a) for a in found]

    @staticmethod
    def _exactly_one(accounts: list[Account], what: str) -> Account | None:
        live = [a for a in accounts if a.state is not AccountState.DELETED]
        if len(live) > 1:
            raise errors.MultipleMatches(f"Multiple entries for search: {len(live)} accounts match {what}")
        return live[0] if live else None

    def get_account(self, account_id: str) -> Account | None:
        return self._exactly_one(self._find_accounts(filters.equals(A["id"], account_id), "reading an account"),
                                 f"id {account_id}")

    def find_by_username(self, name: str) -> Account | None:
        """By current username or any alias, any case, with or without @domain."""
        username = usernames.username_in(name, self.config.mail_domain)
        if username is None:
            return None
        return self._exactly_one(
            self._find_accounts(filters.equals(A["names"], username), "finding an account by username"),
            "that username")

    def find_by_upn_hash(self, upn_hash: str) -> Account | None:
        """The one live account of a learner, matched across schools (M-6); MultipleMatches if more."""
        return self._exactly_one(
            self._find_accounts(filters.equals(A["upn_hash"], upn_hash), "finding a learner by UPN"), "that UPN")

    def find_by_upn_hashes(self, upn_hashes: Iterable[str], chunk: int = 200) -> dict[str, list[Account]]:
        """Live accounts carrying each of these UPN hashes (a few searches, not one per hash)."""
        found: dict[str, list[Account]] = {}
        wanted = sorted(set(upn_hashes))
        for start in range(0, len(wanted), chunk):
            search = filters.any_of(*(filters.equals(A["upn_hash"], h) for h in wanted[start:start + chunk]))
            for account in self._find_accounts(search, "finding learners by UPN"):
                if account.state is not AccountState.DELETED and account.upn_hash:
                    found.setdefault(account.upn_hash, []).append(account)
        return found

    def iter_accounts(self, school: str | None = None, kind: AccountKind | None = None,
                      state: AccountState | None = None, organisation: str | None = None) -> Iterator[Account]:
        """All matching accounts, read from the server in pages."""
        conditions = [ACCOUNTS]
        for field, value in (("school", school), ("organisation", organisation), ("kind", kind), ("state", state)):
            if value is not None:
                conditions.append(filters.equals(A[field], str(value)))
        for attributes in self._ldap.paged(self.tree.people, filters.all_of(*conditions), WHOLE_ACCOUNT,
                                           "listing accounts"):
            yield account_from(attributes)

    def find_accounts(self, query: AccountQuery) -> list[Account]:
        """Accounts matching what a portal list asks for (python-ldap's decoder: a 2,000-learner
        school reads in milliseconds); the caller sorts and pages."""
        attributes = WHOLE_ACCOUNT if query.fields is None else account_attributes(query.fields)
        return [account_from(attrs) for attrs in self._ldap.bulk(
            self.tree.people, account_filter(query), attributes, "listing accounts")]

    def find_page(self, query: AccountQuery, number: int, size: int) -> AccountPage:
        """Page `number` (1-based; past the end: the last) of the accounts matching `query`, in
        register order, and how many match. Where the directory sorts and windows searches
        (slapd's sssvlv overlay) only the page's entries are sent: the first page of a
        2,000-learner school in 5 ms, where reading them all takes 76 ms (bench/README.md).
        Elsewhere the whole list is read and sorted here, as before (its first use logs why)."""
        attributes = WHOLE_ACCOUNT if query.fields is None else account_attributes(query.fields)
        if self._ldap.offers_sorted_windows():
            try:
                # A VLV offset is a 32-bit integer to slapd: a page number typed into the address
                # past that is past the end of any list, and shows the last page as others do.
                first = min((max(1, number) - 1) * size + 1, _LARGEST_OFFSET)
                window = self._ldap.window(self.tree.people, account_filter(query), attributes, REGISTER_SORT_KEYS,
                                           first, size, "listing a page of accounts")
            except SortsRefused as refused:  # `lasting`: the directory is not asked to sort again
                _log.warning("%s: reading the whole list instead", refused)
            else:
                return AccountPage([account_from(a) for a in window.entries], (window.first - 1) // size + 1, size,
                                   window.total)
        ordered = sorted(self.find_accounts(query), key=register_key)
        shown = page_number(number, len(ordered), size)
        return AccountPage(ordered[(shown - 1) * size: shown * size], shown, size, len(ordered))

    def accounts_for_planning(self, school: str) -> list[Account]:
        """A school's accounts with only the fields the provisioning planner compares
        (PLANNING_FIELDS; mail, display name and the like are left empty): those whose main
        school it is and those dual registered there (porthSubsidiarySchool), each once."""
        search = filters.all_of(ACCOUNTS, filters.any_of(filters.equals(A["school"], school),
                                                         filters.equals(A["subsidiary_schools"], school)))
        return [account_from(attrs) for attrs in self._ldap.bulk(
            self.tree.people, search, account_attributes(PLANNING_FIELDS), f"reading the accounts of school {school}")]

    def accounts_sharing_upn_hash(self) -> list[list[Account]]:
        """Groups of live accounts that carry the same UPN hash: two accounts for one learner,
        made before the directory refused them (issue 13), each group sorted by username. One
        paged read of every learner (python-ldap's decoder: a national directory in seconds)."""
        search = filters.all_of(ACCOUNTS, filters.present(A["upn_hash"]))
        by_hash: dict[str, list[Account]] = {}
        for attributes in self._ldap.bulk(self.tree.people, search, account_attributes(PLANNING_FIELDS),
                                          "looking for accounts that share a UPN hash"):
            account = account_from(attributes)
            if account.upn_hash and account.state is not AccountState.DELETED:
                by_hash.setdefault(account.upn_hash, []).append(account)
        return sorted((sorted(group, key=lambda a: a.username) for group in by_hash.values() if len(group) > 1),
                      key=lambda group: group[0].username)

    def account_counts(self, state: AccountState = AccountState.ACTIVE) -> dict[str, Counter[AccountKind]]:
        """Per school: how many accounts of each kind are in `state`."""
        counts: dict[str, Counter[AccountKind]] = {}
        search = filters.all_of(ACCOUNTS, filters.equals(A["state"], state.value), filters.present(A["school"]))
        for attributes in self._ldap.paged(self.tree.people, search, [A["school"], A["kind"]], "counting accounts"):
            school = required(attributes, A["school"])
            counts.setdefault(school, Counter())[AccountKind(required(attributes, A["kind"]))] += 1
        return counts

    # -- writing ---------------------------------------------------------------

    def add_account(self, new: NewAccount, now: datetime) -> Account:
        """Create an account with a freshly allocated username, in one LDAP add.

        The add is a single atomic operation: it either creates the whole entry
        (names, password hash, reveal copy) or nothing.
        """
        if new.kind.belongs_to_school and not new.school:
            raise errors.InvalidEntry(f"a {new.kind.value} account needs a school")
        if new.kind is AccountKind.LEARNER and not new.upn_hash:
            raise errors.InvalidEntry("a learner account needs a UPN hash (M-2)")
        if new.password is not None:
            passwords.check_policy(new.password)
        base = usernames.username_base(new.surname, new.forename)
        account_id = str(uuid.uuid4())
        entry = new_account_entry(new, account_id, now)
        if new.password is not None:
            entry.update({k: v for k, v in password_attributes(new.password, False, self.vault).items() if v})

        def add_with(username: str) -> None:
            entry.update(names_entry(username, usernames.address(username, self.config.mail_domain)))
            doing = f"adding account {username}"
            try:
                self._ldap.add(self.tree.account(account_id), entry, doing)
            except errors.ConstraintViolation:
                # Refused by the unique overlay: for the UPN hash (never retried under another
                # name) or for the username (UsernameClaims takes the next one).
                self._refuse_if_upn_hash_taken(new.upn_hash, account_id, doing)
                raise

        if new.upn_hash:
            self._claim_upn_hash(new.upn_hash, account_id, "adding an account")
        try:
            self._usernames.claim(base, add_with, account_id)
        except errors.DirectoryFailure:
            raise  # the add may have been done (a lost answer): the claim stays, see _claim_upn_hash
        except Exception:
            if new.upn_hash:  # refused: the learner's hash is free for the account that has it or gets it
                self._claims.release(ClaimKind.UPN_HASH, new.upn_hash, account_id)
            raise
        return account_from({**entry, A["created_at"]: generalized_time(now)})

    def _claim_upn_hash(self, upn_hash: str, account_id: str, doing: str) -> None:
        """Claim the learner's UPN hash for `account_id` across every directory server (issue 17
        point 2) before writing it; UpnHashTaken if another account holds the claim.

        A claim whose holder never wrote the hash (its run was killed, or lost the directory,
        between the claim and the add) would keep the learner out for good: once it is older than
        STALE_UPN_HASH_CLAIM (longer than any replication delay) and no entry of this directory
        carries the hash, it is taken over, in one conditional update that only one process wins."""
        holder = self._claims.claim(ClaimKind.UPN_HASH, upn_hash, account_id)
        if holder == account_id:
            return
        if not self._upn_hash_holders(upn_hash) and self._claims.take_over(
                ClaimKind.UPN_HASH, upn_hash, account_id, STALE_UPN_HASH_CLAIM):
            _log.warning("%s: took over the UPN-hash claim of account %s, which never wrote it", doing, holder)
            return
        raise errors.UpnHashTaken(f"{doing}: another account already belongs to this learner "
                                  "(same UPN): one learner, one account")

    def _upn_hash_holders(self, upn_hash: str) -> list[str]:
        """The ids of the entries of this directory that carry `upn_hash` (a tombstone has none)."""
        holders = self._ldap.search(self.tree.people, filters.equals(A["upn_hash"], upn_hash), [A["id"]],
                                    "checking who holds a UPN hash")
        return [holder for attributes in holders if (holder := one(attributes, A["id"])) is not None]

    def _refuse_if_upn_hash_taken(self, upn_hash: str | None, account_id: str, doing: str) -> None:
        """After the directory refused a write carrying `upn_hash`: UpnHashTaken if another
        account holds that hash (the unique overlay's domain on it, M-6). The refusal's own
        text names neither cause reliably nor safely (it quotes the hash), so the directory is
        asked; a tombstone holds no hash, so any holder is a live or deactivated account."""
        if not upn_hash:
            return
        if any(holder != account_id for holder in self._upn_hash_holders(upn_hash)):
            raise errors.UpnHashTaken(f"{doing}: another account already belongs to this learner "
                                      "(same UPN): one learner, one account")

    def update_account(self, account_id: str, changes: Mapping[str, Any]) -> None:
        """Replace the given fields (None removes one); one atomic modify. UpnHashTaken if it
        gives the account a UPN hash another account holds."""
        replace = _updates(changes, "update_account")
        if "surname" in changes or "forename" in changes:
            current = self.get_account(account_id)
            if current is None:
                raise errors.EntryNotFound(f"no account {account_id}")
            full_name = f"{changes.get('forename', current.forename)} {changes.get('surname', current.surname)}"
            replace.setdefault(A["display_name"], [full_name])
            replace[A["common_name"]] = [full_name]
        if replace:
            self._modify_account(account_id, f"updating account {account_id}", replace, changes)

    def _modify_account(self, account_id: str, doing: str, replace: dict[str, list[str]],
                        changes: Mapping[str, Any]) -> None:
        """One modify; one that gives the account another UPN hash claims the new one first and
        gives up the old one after (issue 17 point 2)."""
        new_hash: str | None = changes.get("upn_hash")
        old_hash: str | None = None
        if "upn_hash" in changes:
            current = self.get_account(account_id)
            old_hash = current.upn_hash if current is not None else None
            if new_hash and new_hash != old_hash:
                self._claim_upn_hash(new_hash, account_id, doing)
        claimed = new_hash if new_hash and new_hash != old_hash else None
        try:
            self._ldap.modify(self.tree.account(account_id), doing, replace=replace)
        except errors.DirectoryFailure:
            raise
        except Exception as refusal:
            if claimed:
                self._claims.release(ClaimKind.UPN_HASH, claimed, account_id)
            if isinstance(refusal, errors.ConstraintViolation):
                self._refuse_if_upn_hash_taken(new_hash, account_id, doing)
            raise
        if old_hash and old_hash != new_hash:
            self._claims.release(ClaimKind.UPN_HASH, old_hash, account_id)

    def change_username(self, account_id: str, surname: str, forename: str) -> Account:
        """A new username from the names (A-5); the old one stays as an alias."""
        def rename_to(username: str) -> None:
            self._ldap.modify(self.tree.account(account_id), f"changing the username of account {account_id}",
                              add={A["names"]: [username]},
                              replace={A["username"]: [username],
                                       A["mail"]: [usernames.address(username, self.config.mail_domain)]})

        self._usernames.claim(usernames.username_base(surname, forename), rename_to, account_id)
        account = self.get_account(account_id)
        if account is None:  # deleted between the rename and this read
            raise errors.EntryNotFound(f"no account {account_id}")
        return account

    def set_state(self, account_id: str, state: AccountState, by: str, reason: str, now: datetime,
                  changes: Mapping[str, Any] | None = None, forget_password: bool = False) -> None:
        """Move an account to a state, recording who, when and why (A-6).

        `changes` (updatable fields) and forgetting the password copy go in
        the same modify, so a transfer (M-6) or a leaver (M-5) is one atomic
        write: a killed run leaves the entry either before or after it.
        """
        if state is AccountState.DELETED:
            self.delete_account(account_id, by, reason, now)
            return
        replace = _updates(changes or {}, "set_state")
        replace.update(_state_attributes(state, by, reason, now))
        if forget_password:
            replace[A["password_vault"]] = []
            replace[A["password_status"]] = [passwords.status_after_transfer().value]
        self._modify_account(account_id, f"changing the state of account {account_id}", replace, changes or {})

    def delete_account(self, account_id: str, by: str, reason: str, now: datetime) -> None:
        """Delete permanently (L-4): personal data is erased in one modify.

        What remains is a tombstone holding the account's names (uid), so the
        unique overlay keeps them from ever being given to someone else (A-2).
        """
        replace: dict[str, list[str]] = {attribute: [] for attribute in account_attributes(ERASED_ON_DELETE)}
        # A non-MIS account's contact details go too, with the auxiliary class that allows the work
        # address: the object classes are set to an account's own (replacing an absent attribute
        # with nothing is a no-op in LDAP, so one modify serves accounts with and without them).
        replace.update({attribute: [] for attribute in CONTACT_ATTRIBUTES.values()})
        replace[OBJECT_CLASS] = list(ACCOUNT_OBJECT_CLASSES)
        replace.update({A["surname"]: ["deleted"], A["common_name"]: ["deleted"]})
        replace.update(_state_attributes(AccountState.DELETED, by, reason, now))
        upn_hashes = self._upn_hashes_of(account_id)
        self._ldap.modify(self.tree.account(account_id), f"deleting account {account_id}", replace=replace)
        for upn_hash in upn_hashes:  # the tombstone has none: a new account may take it (M-6)
            self._claims.release(ClaimKind.UPN_HASH, upn_hash, account_id)

    def _upn_hashes_of(self, account_id: str) -> list[str]:
        found = self._ldap.search(self.tree.people, filters.equals(A["id"], account_id), [A["upn_hash"]],
                                  "reading the UPN hash of an account")
        return [upn_hash for attributes in found for upn_hash in values(attributes, A["upn_hash"])]

    def claimable_values(self) -> Iterator[tuple[ClaimKind, str, str]]:
        """(kind, value, account id) for every username and alias (tombstones' too: never given
        again, A-2) and every UPN hash this directory holds: what `porth claims backfill` claims.
        Values are in claimed form (directory.claims.claimed_form). One paged read of every entry."""
        for attributes in self._ldap.bulk(self.tree.people, ACCOUNTS, [A["id"], A["names"], A["upn_hash"]],
                                          "reading every username and UPN hash"):
            account_id = one(attributes, A["id"])
            if account_id is None:
                continue
            for name in values(attributes, A["names"]):
                yield ClaimKind.USERNAME, claimed_form(ClaimKind.USERNAME, name), account_id
            for upn_hash in values(attributes, A["upn_hash"]):
                yield ClaimKind.UPN_HASH, claimed_form(ClaimKind.UPN_HASH, upn_hash), account_id

    def record_sign_in(self, account_id: str, now: datetime) -> None:
        self._ldap.modify(self.tree.account(account_id), "recording a sign-in",
                          replace={A["last_sign_in"]: [generalized_time(now)]})

"""Argon2 hashes of passwords, made by Porth before they are written to slapd.

Why Porth hashes rather than sending cleartext for slapd's ppolicy
hash-cleartext to hash: slapd's Argon2 hashing runs on slapd's CPU, which is
what every sign-in (an Argon2 bind) also needs. A national initial load
creates ~480,000 accounts; hashing them in the provisioning workers spreads
the cost over the client's cores (and over another machine in production)
instead of queueing it behind sign-ins, and a password no longer crosses
the LDAP connection in cleartext. slapd still hashes any cleartext another
client writes (config/ldap/slapd-config.ldif.in), and verifies both.

The cost is slapd's own Argon2 module default (OpenLDAP 2.5 pw-argon2:
m=4096 KiB, t=3, p=1), so a hash costs an attacker what slapd's would; the
variant is Argon2id, which RFC 9106 recommends and slapd verifies.
"""

from __future__ import annotations

import os

from argon2.low_level import Type, hash_secret

SCHEME = b"{ARGON2}"
TIME_COST = 3
MEMORY_COST_KIB = 4096
PARALLELISM = 1
HASH_LENGTH = 32
SALT_LENGTH = 16


def ldap_password_hash(password: str) -> str:
    """`{ARGON2}$argon2id$v=19$m=4096,t=3,p=1$<salt>$<hash>` for userPassword."""
    encoded = hash_secret(password.encode("utf-8"), os.urandom(SALT_LENGTH), time_cost=TIME_COST,
                          memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM, hash_len=HASH_LENGTH, type=Type.ID)
    return (SCHEME + encoded).decode("ascii")

# One image for every Porth process: a directory provider (`porth directory run`: a private slapd
# with Porth's schema), a web node (`porth serve`) and the scheduler (`porth scheduler`).
#
# Two stages: the builder compiles python-ldap (it has no wheel: gcc and the libldap, libsasl and
# Python headers) into a virtual environment; the runtime stage has only what runs (slapd, the
# LDAP tools, the libraries python-ldap links to, Python) and that environment, and runs as the
# unprivileged user porth (uid and gid 10001).
#
# Build it with scripts/image-build (podman/buildah; docs/deployment.md, "Containers"), or
# anywhere with `docker build -t porth .`. BASE is any Debian 12 image: the public slim one by
# default, localhost/porth-base:bookworm (scripts/image-base) where no image registry is reachable.
# The code is compiled once here: the runtime's files belong to root, so Python cannot cache it later.
ARG BASE=docker.io/library/debian:12-slim

FROM ${BASE} AS builder
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        gcc libc6-dev libldap2-dev libsasl2-dev python3-dev python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/porth/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY config config
COPY directory directory
COPY connectors connectors
COPY idp idp
COPY webui webui
COPY operational operational
COPY jobs jobs
COPY entrypoints entrypoints
COPY demo demo
# A machine that reaches PyPI through a mirror or a TLS-inspecting proxy gives its CA bundle and
# index as build secrets (scripts/image-build does): mounted for this one step, never in a layer.
RUN --mount=type=secret,id=pip-ca --mount=type=secret,id=pip-index-url \
    if [ -s /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi; \
    if [ -s /run/secrets/pip-index-url ]; then export PIP_INDEX_URL="$(cat /run/secrets/pip-index-url)"; fi; \
    /opt/porth/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-compile . \
 && /opt/porth/venv/bin/pip uninstall --yes --quiet pip setuptools \
 && /opt/porth/venv/bin/python -m compileall -q -j 0 /opt/porth/venv/lib

FROM ${BASE}
# slapd and ldap-utils: `porth directory run` (slapadd, slapcat, slaptest); libldap and libsasl
# are what python-ldap was linked against; postgresql-client: `porth backup` of PostgreSQL (pg_dump).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 slapd ldap-utils libldap-2.5-0 libsasl2-2 postgresql-client ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/log/apt /var/log/dpkg.log \
 && groupadd --gid 10001 porth \
 && useradd --uid 10001 --gid 10001 --home-dir /var/lib/porth --create-home --shell /usr/sbin/nologin porth
COPY --from=builder /opt/porth/venv /opt/porth/venv
# The services that sign in through Porth (docs/sign-in.md); a deployment mounts its own folder here.
COPY config/services /etc/porth/services

# The environment's programs first: `porth` and its `python3` (a base imported from a tar file has
# no PATH of its own, so it is spelt out whole).
ENV PATH=/opt/porth/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PORTH_VAR_DIR=/var/lib/porth \
    PORTH_IDP__SERVICES_DIR=/etc/porth/services \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /var/lib/porth
VOLUME /var/lib/porth
# 5000: porth serve; 1389: porth directory run (a port above 1024: the user is not root).
EXPOSE 5000 1389
CMD ["porth", "serve", "--host", "0.0.0.0", "--port", "5000"]

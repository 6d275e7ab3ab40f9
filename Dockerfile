# One image for every Porth process: the directory (a private slapd with
# Porth's schema), the web server and the scheduler.
FROM debian:12-slim

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        slapd ldap-utils python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/porth --create-home porth

WORKDIR /opt/porth
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
RUN python3 -m venv /opt/porth/.venv \
 && /opt/porth/.venv/bin/pip install --no-cache-dir . \
 && ln -s /opt/porth/.venv/bin/porth /usr/local/bin/porth

USER porth
ENV PORTH_VAR_DIR=/var/lib/porth
WORKDIR /var/lib/porth
EXPOSE 5000 1389
CMD ["porth", "serve", "--host", "0.0.0.0"]

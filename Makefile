# The two commands of the README. Both install what is missing first, so they
# work on a fresh Debian 12 machine (as root) and on a clean CI clone.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# python3-venv/-dev, gcc and the libldap/libsasl headers build python-ldap; xmlsec1 is
# the program pysaml2 (a test service provider) runs; apache2 and libapache2-mod-shib (with shibd)
# are the Shibboleth SP 3 the tests sign in to (tests/shibboleth_sp.py runs its own private instance).
DEBS := slapd ldap-utils xmlsec1 docker-compose chromium fonts-dejavu-core python3-venv python3-dev gcc libldap2-dev libsasl2-dev \
	apache2 libapache2-mod-shib
STAMP := $(VENV)/.installed

.PHONY: demo test install debs clean-var

demo: install
	$(VENV)/bin/porth load-demo
	$(VENV)/bin/porth demo

test: install
	bash scripts/run-tests

install: debs $(STAMP)

# Debian's slapd, apache2 and shibd are only used as binaries: the tests start private instances, never
# the system services.
debs:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "porth: run as root (or install$$missing yourself)"; exit 2; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

clean-var:
	-$(VENV)/bin/porth directory stop
	rm -rf var

# The two commands of the README. Both install what is missing first, so they
# work on a fresh Debian 12 machine (as root) and on a clean CI clone.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# python3-venv/-dev, gcc and the libldap/libsasl headers build python-ldap; xmlsec1 is
# the program pysaml2 (a test service provider) runs; apache2 and libapache2-mod-shib (with shibd)
# are the Shibboleth SP 3 the tests sign in to (tests/shibboleth_sp.py runs its own private instance).
# The README's opening lists the same packages (tests/unit/test_first_hour.py keeps the two alike).
DEBS := slapd ldap-utils xmlsec1 docker-compose chromium fonts-dejavu-core python3-venv python3-dev gcc libldap2-dev libsasl2-dev \
	apache2 libapache2-mod-shib
STAMP := $(VENV)/.installed

.PHONY: demo test install debs clean-var image-debs image-base image image-test test-widths

demo: install
	@echo "==> Loading the demo local authority (porth load-demo; about 30 s the first time)"
	@$(VENV)/bin/porth load-demo
	@echo "==> Serving the demo (porth demo)"
	@$(VENV)/bin/porth demo

test: install
	bash scripts/run-tests

# The page-width matrix's other half (desk width, 200 % zoom in English: tests/browser/test_page_widths.py),
# left out of the suite for its time; run it before a change to the portal's layout lands.
test-widths: install
	$(PY) -m pytest -m widths_matrix -q tests/browser/test_page_widths.py

install: debs $(STAMP)
	@echo "==> Ready: $(VENV)/bin/porth (make demo serves the demo, make test runs the tests)"

# Debian's slapd, apache2 and shibd are only used as binaries: the tests start private instances, never
# the system services.
debs:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then echo "==> Debian packages: all $(words $(DEBS)) installed"; \
	else \
	  echo "==> Installing Debian packages (apt-get, a few minutes the first time):$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "porth: run as root (or install$$missing yourself)"; exit 2; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# Each step says what it does before it starts: pip stays quiet (-q) but the wait has a name.
$(STAMP): pyproject.toml
	@if [ -x $(PY) ]; then echo "==> Python environment: $(VENV) (kept)"; \
	else echo "==> Creating the Python environment $(VENV)"; python3 -m venv $(VENV); fi
	@echo "==> Upgrading pip"
	@$(PY) -m pip install -q --upgrade pip
	@echo "==> Installing Porth and its Python packages into $(VENV) (pip, about 2 minutes the first time)"
	@$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

clean-var:
	-$(VENV)/bin/porth directory stop
	rm -rf var

# -- The container image (docs/deployment.md, "Containers") ---------------------------------------
# Debian's own tools build and inspect it here, with no Docker engine: buildah builds, podman keeps the
# images, mmdebstrap makes the base from the Debian mirror, uidmap gives them their user mappings;
# haproxy runs the compose deployment's proxy configuration in front of the image's web nodes in the test.
IMAGE_DEBS := buildah podman mmdebstrap uidmap haproxy
IMAGE := localhost/porth:latest

image-debs:
	@$(MAKE) --no-print-directory debs DEBS="$(IMAGE_DEBS)"

image-base: image-debs
	scripts/image-base

image: image-base
	scripts/image-build $(IMAGE)

# Builds the image (cached layers after the first time), then runs `porth directory run` and two
# `porth serve` nodes from it (tests/image/test_image.py; marked slow, so `make test` leaves it out).
image-test: install image-debs
	PORTH_IMAGE=$(IMAGE) $(PY) -m pytest tests/image -m slow -q

"""A Shibboleth SP 3 as Debian ships it (libapache2-mod-shib, shibd), run privately for tests.

A private Apache on a free port of 127.0.0.1 loads Debian's mod_shib; a private shibd answers it on its
own socket. Everything either writes (configuration, keys, socket, pid files, logs) lives in one
directory of its own: the system's Apache and shibd services, /etc/shibboleth/shibboleth2.xml and
/var/run/shibboleth are never touched. The package's files are used as shipped where they say what
Shibboleth does by default: the attribute filter (attribute-policy.xml, which drops a scoped value
outside the IdP's shibmd:Scope), the security policies and protocols; the attribute map is Debian's
with the attributes Porth releases uncommented (Debian ships most of them commented out) and Porth's
own OIDs added, as a school's service would.

The application behind the SP is a CGI program that prints, as JSON, what mod_shib hands an
application: REMOTE_USER and one variable per attribute that passed the filter.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from tests.saml_services import key_and_certificate

APACHE = Path("/usr/sbin/apache2")
SHIBD = Path("/usr/sbin/shibd")
MOD_SHIB = Path("/usr/lib/apache2/modules/mod_shib.so")
APACHE_MODULES = Path("/usr/lib/apache2/modules")
DEBIAN_CONFIG = Path("/etc/shibboleth")
ATTRIBUTE_MAP = "urn:mace:shibboleth:2.0:attribute-map"
PORTH_OID = "urn:oid:2.25.298160738874564124985748203221283306760.1"

# Attributes Porth releases that Debian's attribute-map.xml leaves commented out, and Porth's own, by the ids
# the application sees. eppn, affiliation (scoped), subject-id, pairwise-id and persistent-id are mapped by
# Debian's file as shipped.
EXTRA_ATTRIBUTES = {
    "urn:oid:0.9.2342.19200300.100.1.1": "uid",
    "urn:oid:0.9.2342.19200300.100.1.3": "mail",
    "urn:oid:2.5.4.42": "givenName",
    "urn:oid:2.5.4.4": "sn",
    "urn:oid:2.16.840.1.113730.3.1.241": "displayName",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.1": "unscoped-affiliation",
    f"{PORTH_OID}.2": "porthAccountKind",
    f"{PORTH_OID}.7": "porthSchool",
}


class ShibbolethMissing(RuntimeError):
    """apache2 or libapache2-mod-shib is not installed (the Makefile's DEBS installs them)."""


def not_installed() -> str | None:
    """Why the SP cannot run here, in one line, or None."""
    missing = [str(path) for path in (APACHE, SHIBD, MOD_SHIB, DEBIAN_CONFIG / "attribute-policy.xml")
               if not path.exists()]
    if not missing:
        return None
    return (f"Shibboleth SP not installed ({', '.join(missing)} missing): "
            "run `make install` (DEBS: apache2 libapache2-mod-shib)")


def require_installed() -> None:
    why = not_installed()
    if why:
        raise ShibbolethMissing(why)


def attribute_map() -> bytes:
    """Debian's attribute-map.xml with the attributes a Porth service is given mapped too."""
    tree = etree.parse(str(DEBIAN_CONFIG / "attribute-map.xml"))
    root = tree.getroot()
    for name, attribute_id in EXTRA_ATTRIBUTES.items():
        element = etree.SubElement(root, f"{{{ATTRIBUTE_MAP}}}Attribute", name=name, id=attribute_id)
        element.tail = "\n"
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


SHIBBOLETH2_XML = """<SPConfig xmlns="urn:mace:shibboleth:3.0:native:sp:config"
    xmlns:conf="urn:mace:shibboleth:3.0:native:sp:config" clockSkew="180">
    <OutOfProcess logger="{root}/shibd.logger"
        tranLogFormat="%u|%s|%IDP|%i|%ac|%t|%attr|%n|%b|%E|%S|%SS|%L|%UA|%a"/>
    <InProcess logger="{root}/native.logger"/>
    <UnixListener address="{root}/run/shibd.sock"/>
    <!-- Debian's default shibboleth2.xml, on plain http (handlerSSL and cookieProps) and pointed at Porth. -->
    <ApplicationDefaults entityID="{entity_id}" REMOTE_USER="eppn subject-id pairwise-id persistent-id"{signing}>
        <Sessions lifetime="28800" timeout="3600" relayState="ss:mem"
                  checkAddress="false" handlerSSL="false" cookieProps="http" redirectLimit="exact">
            <SSO entityID="{idp_entity_id}">SAML2</SSO>
            <Logout>SAML2 Local</Logout>
            <Handler type="MetadataGenerator" Location="/Metadata" signing="false"/>
            <Handler type="Status" Location="/Status" acl="127.0.0.1 ::1"/>
            <Handler type="Session" Location="/Session" showAttributeValues="true"/>
        </Sessions>
        <Errors supportContact="root@localhost" helpLocation="/about.html"
                styleSheet="/shibboleth-sp/main.css"/>
        <MetadataProvider type="XML" validate="true" path="{root}/porth-idp-metadata.xml"/>
        <AttributeExtractor type="XML" validate="true" reloadChanges="false" path="{root}/attribute-map.xml"/>
        <AttributeFilter type="XML" validate="true" path="{debian}/attribute-policy.xml"/>
        <CredentialResolver type="File" use="signing" key="{root}/sp-signing-key.pem"
            certificate="{root}/sp-signing-cert.pem"/>
        <CredentialResolver type="File" use="encryption" key="{root}/sp-encrypt-key.pem"
            certificate="{root}/sp-encrypt-cert.pem"/>
    </ApplicationDefaults>
    <SecurityPolicyProvider type="XML" validate="true" path="{debian}/security-policy.xml"/>
    <ProtocolProvider type="XML" validate="true" reloadChanges="false" path="{debian}/protocols.xml"/>
</SPConfig>
"""

LOGGER = """log4j.rootCategory={level}, file
log4j.category.Shibboleth-TRANSACTION=INFO, file
log4j.additivity.Shibboleth-TRANSACTION=false
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.fileName={path}
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=%d{{%Y-%m-%d %H:%M:%S}} %p %c %x: %m%n
"""

# prefork + mod_cgi: the smallest Apache that runs a CGI program (event would need mod_cgid's socket).
HTTPD_CONF = """ServerRoot "{root}"
ServerName 127.0.0.1:{port}
UseCanonicalName On
Listen 127.0.0.1:{port}
PidFile "{root}/run/httpd.pid"
DefaultRuntimeDir "{root}/run"
Mutex file:{root}/run default
ErrorLog "{root}/logs/error.log"
LogLevel warn
LogFormat "%h %t \\"%m %U\\" %>s" short
CustomLog "{root}/logs/access.log" short
{user}
LoadModule mpm_prefork_module {modules}/mod_mpm_prefork.so
LoadModule authn_core_module {modules}/mod_authn_core.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule alias_module {modules}/mod_alias.so
LoadModule cgi_module {modules}/mod_cgi.so
LoadModule mod_shib {mod_shib}
StartServers 2
MinSpareServers 1
MaxSpareServers 3
ShibConfig "{root}/shibboleth2.xml"
ShibCompatValidUser Off
<Location /Shibboleth.sso>
    AuthType None
    Require all granted
    SetHandler shib
</Location>
ScriptAlias /app "{root}/app.cgi"
<Location /app>
    AuthType shibboleth
    ShibRequestSetting requireSession 1
    Require shib-session
</Location>
"""

# The application: what mod_shib gives it, as JSON (REMOTE_USER and the attributes, by their mapped ids).
# Apache hands a CGI program each variable with "-" turned into "_" (ap_create_environment).
APP_CGI = """#!/usr/bin/python3
import json, os
names = {names}
print("Content-Type: application/json")
print()
print(json.dumps({{name: os.environ[name.replace("-", "_")] for name in names
                  if name.replace("-", "_") in os.environ}}))
"""


@dataclass
class Page:
    status: int
    url: str
    headers: dict[str, str]
    text: str


@dataclass
class ShibbolethSP:
    """One private Apache + mod_shib + shibd, configured for one IdP's metadata."""

    idp_metadata: bytes
    port: int
    # The ApplicationDefaults' signing setting; None leaves it out, as Debian's shibboleth2.xml does (then
    # Shibboleth signs nothing it sends, its LogoutRequests included).
    signing: str | None = "true"
    root: Path | None = None
    shibd: subprocess.Popen | None = None
    apache: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def entity_id(self) -> str:
        return f"{self.base}/shibboleth"

    @property
    def app_url(self) -> str:
        return f"{self.base}/app"

    def start(self) -> None:
        require_installed()
        # Not under pytest's 0700 base folder: Apache's children run as nobody and must reach the CGI
        # program and shibd's socket.
        self.root = Path(tempfile.mkdtemp(prefix="porth-shibboleth-"))
        self.root.chmod(0o755)
        for folder in ("run", "logs", "cache"):
            (self.root / folder).mkdir()
            (self.root / folder).chmod(0o777)
        self._write_configuration()
        # Relative names (the error and logout pages, the POST binding's template) still resolve to Debian's
        # /etc/shibboleth: no SHIBSP_CFGDIR. What shibd writes goes here.
        environment = {**os.environ, "SHIBSP_RUNDIR": str(self.root / "run"),
                       "SHIBSP_CACHEDIR": str(self.root / "cache"), "SHIBSP_LOGDIR": str(self.root / "logs")}
        self.shibd = subprocess.Popen(
            [str(SHIBD), "-F", "-f", "-c", str(self.root / "shibboleth2.xml"), "-p", str(self.root / "run/shibd.pid")],
            env=environment, stdout=(self.root / "logs/shibd.out").open("w"), stderr=subprocess.STDOUT,
            start_new_session=True)
        self._wait_for((self.root / "run/shibd.sock").exists, self.shibd, "shibd's socket")
        self.apache = subprocess.Popen(
            [str(APACHE), "-f", str(self.root / "httpd.conf"), "-DFOREGROUND"],
            env=environment, stdout=(self.root / "logs/apache.out").open("w"), stderr=subprocess.STDOUT,
            start_new_session=True)
        self._wait_for(self._status_ok, self.apache, "Apache with mod_shib")

    def _write_configuration(self) -> None:
        root = self.root
        assert root is not None
        idp_entity_id = etree.fromstring(self.idp_metadata).get("entityID")
        (root / "porth-idp-metadata.xml").write_bytes(self.idp_metadata)
        (root / "attribute-map.xml").write_bytes(attribute_map())
        (root / "shibboleth2.xml").write_text(SHIBBOLETH2_XML.format(
            root=root, entity_id=self.entity_id, idp_entity_id=idp_entity_id,
            signing=f' signing="{self.signing}"' if self.signing else "",
            debian=DEBIAN_CONFIG))
        (root / "shibd.logger").write_text(LOGGER.format(level="INFO", path=root / "logs/shibd.log"))
        (root / "native.logger").write_text(LOGGER.format(level="WARN", path=root / "logs/native.log"))
        for use in ("signing", "encrypt"):
            key, certificate = key_and_certificate(f"shibboleth-sp-{use}")
            (root / f"sp-{use}-key.pem").write_text(key)
            (root / f"sp-{use}-key.pem").chmod(0o600)
            (root / f"sp-{use}-cert.pem").write_text(certificate)
        names = ["REMOTE_USER", "Shib-Identity-Provider", *sorted({"eppn", "affiliation", "subject-id",
                                                                   "pairwise-id", "persistent-id",
                                                                   *EXTRA_ATTRIBUTES.values()})]
        (root / "app.cgi").write_text(APP_CGI.format(names=json.dumps(names)))
        (root / "app.cgi").chmod(0o755)
        user = "User nobody\nGroup nogroup" if os.geteuid() == 0 else ""
        (root / "httpd.conf").write_text(HTTPD_CONF.format(root=root, port=self.port, user=user,
                                                           modules=APACHE_MODULES, mod_shib=MOD_SHIB))

    def _status_ok(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/Shibboleth.sso/Status", timeout=2) as answer:
                return b'<Status><OK/></Status>' in answer.read()
        except (OSError, urllib.error.URLError):
            return False

    def _wait_for(self, ready, process: subprocess.Popen, what: str, timeout: float = 20) -> None:
        """Poll until ready (a readiness check, bounded, not a sleep)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited with {process.returncode}:\n{self.logs()}")
            if ready():
                return
            time.sleep(0.05)
        raise TimeoutError(f"{what} was not ready within {timeout} s:\n{self.logs()}")

    def metadata(self) -> bytes:
        """The SP's metadata as shibd generates it (/Shibboleth.sso/Metadata)."""
        with urllib.request.urlopen(f"{self.base}/Shibboleth.sso/Metadata", timeout=10) as answer:
            return answer.read()

    def logs(self) -> str:
        if self.root is None:
            return ""
        parts = []
        for name in ("shibd.out", "shibd.log", "native.log", "apache.out", "error.log"):
            path = self.root / "logs" / name
            if path.exists():
                parts.append(f"--- {name}\n{path.read_text(errors='replace')[-6000:]}")
        return "\n".join(parts)

    def log_lines(self, word: str) -> list[str]:
        """shibd's log lines naming word (e.g. an attribute id): why a value was filtered out."""
        if self.root is None or not (self.root / "logs/shibd.log").exists():
            return []
        return [line for line in (self.root / "logs/shibd.log").read_text(errors="replace").splitlines()
                if word in line]

    def stop(self) -> None:
        for process in (self.apache, self.shibd):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=15)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)

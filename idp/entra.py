"""What an LA's tenant administrator runs to federate a Microsoft 365 domain with Porth (SPEC S-1):
the Microsoft Graph PowerShell command and the equivalent Graph request, from Porth's settings.

Sources: Microsoft Graph "Create internalDomainFederation" (`POST /domains/{id}/federationConfiguration`,
domain-post-federationconfiguration) and Entra's "Use a SAML 2.0 Identity Provider (IdP) for
Single Sign On" (how-to-connect-fed-saml-idp), whose walk-through runs
`New-MgDomainFederationConfiguration -DomainId ... -IssuerUri ... -PassiveSignInUri ...
-PreferredAuthenticationProtocol saml -SignOutUri ... -SigningCertificate ...`.

- IssuerUri: the Issuer of Porth's assertions, its entityID.
- PassiveSignInUri: where Entra sends the browser with its AuthnRequest, by HTTP-POST
  ("Microsoft Entra ID uses HTTP POST for the authentication request"): Porth's POST endpoint.
- SignOutUri: where Entra sends its LogoutRequest, by HTTP-Redirect ("REDIRECT for the sign out
  message"): Porth's Redirect Single Logout endpoint.
- SigningCertificate: Porth's signing certificate, base64 of its DER form.
- PreferredAuthenticationProtocol: saml (SAML 2.0, not WS-Federation).
- FederatedIdpMfaBehavior: acceptIfMfaDoneByFederatedIdp. Porth asks for a password only, so
  where a Conditional Access policy requires MFA, Entra performs it itself; Porth never claims
  an MFA it did not do (the other values would either trust such a claim or send the person
  back to Porth for an MFA it cannot give).
- No ActiveSignInUri: Porth has no ECP (active) endpoint, so only web sign-in is federated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

ENTRA_ENTITY_ID = "urn:federation:MicrosoftOnline"  # Entra's SAML entityID (config/services/office365.xml)
ODATA_TYPE = "#microsoft.graph.internalDomainFederation"
MFA_BEHAVIOUR = "acceptIfMfaDoneByFederatedIdp"
# Least privileged for creating a domain's federation configuration (the page's permission
# table); the Entra walk-through connects with the broader Domain.ReadWrite.All.
FEDERATION_SCOPE = "Domain-InternalFederation.ReadWrite.All"
GRAPH_URL = "https://graph.microsoft.com/v1.0"


class FederationRefused(ValueError):
    """A domain Entra will not federate; str() says why."""


@dataclass(frozen=True)
class DomainFederation:
    domain: str
    display_name: str
    issuer_uri: str
    passive_sign_in_uri: str
    sign_out_uri: str
    signing_certificate: str  # base64 DER

    def graph_body(self) -> dict[str, str]:
        return {
            "@odata.type": ODATA_TYPE,
            "displayName": self.display_name,
            "issuerUri": self.issuer_uri,
            "passiveSignInUri": self.passive_sign_in_uri,
            "signOutUri": self.sign_out_uri,
            "signingCertificate": self.signing_certificate,
            "preferredAuthenticationProtocol": "saml",
            "federatedIdpMfaBehavior": MFA_BEHAVIOUR,
        }

    def graph_request(self) -> str:
        return (f"POST {GRAPH_URL}/domains/{self.domain}/federationConfiguration\n"
                "Content-Type: application/json\n\n" + json.dumps(self.graph_body(), indent=2))

    def powershell(self) -> str:
        lines = [
            "Import-Module Microsoft.Graph.Identity.DirectoryManagement",
            f'Connect-MgGraph -Scopes "{FEDERATION_SCOPE}"',
            "New-MgDomainFederationConfiguration `",
            f"  -DomainId {_quoted(self.domain)} `",
            f"  -DisplayName {_quoted(self.display_name)} `",
            f"  -IssuerUri {_quoted(self.issuer_uri)} `",
            f"  -PassiveSignInUri {_quoted(self.passive_sign_in_uri)} `",
            f"  -SignOutUri {_quoted(self.sign_out_uri)} `",
            f"  -SigningCertificate {_quoted(self.signing_certificate)} `",
            "  -PreferredAuthenticationProtocol saml `",
            f"  -FederatedIdpMfaBehavior {MFA_BEHAVIOUR}",
        ]
        return "\n".join(lines)


def _quoted(value: str) -> str:
    """A PowerShell single-quoted string: nothing in it is expanded; a ' is written twice."""
    return "'" + value.replace("'", "''") + "'"


def domain_federation(*, domain: str, base_url: str, entity_id: str, certificate_base64: str,
                      display_name: str = "Porth") -> DomainFederation:
    """The federation of `domain` with the Porth at `base_url` (PORTH_IDP__BASE_URL)."""
    name = domain.strip().lower().rstrip(".")
    labels = name.split(".")
    if len(labels) < 2 or not all(label and all(c.isalnum() or c == "-" for c in label) and label.isascii()
                                  for label in labels):
        raise FederationRefused(f"{domain!r} is not a DNS domain such as hwbcymru.net")
    if name.endswith(".onmicrosoft.com"):
        # how-to-connect-fed-saml-idp: "You can't federate the default domain that is provided by Microsoft."
        raise FederationRefused(f"{name} is the tenant's Microsoft-provided domain, which cannot be federated; "
                                "federate the verified domain the accounts' addresses are in")
    return DomainFederation(domain=name, display_name=display_name, issuer_uri=entity_id,
                            passive_sign_in_uri=f"{base_url}/idp/sso/post",
                            sign_out_uri=f"{base_url}/idp/slo/redirect",
                            signing_certificate=certificate_base64)

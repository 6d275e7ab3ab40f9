"""Application tokens for Graph: MSAL's client-credentials flow, its cache, a fresh
token when Graph says the one in hand has expired (FORMATS.md "MSAL Python")."""

from __future__ import annotations

import threading

import msal
import requests

from connectors.graph.errors import AuthenticationFailed

GRAPH_SCOPE = ["https://graph.microsoft.com/.default"]


class LocalAuthority(requests.Session):
    """An HTTP client for MSAL that carries requests for an https authority to a local
    http server (the fake Graph's token endpoint): MSAL itself only accepts https."""

    def __init__(self, public: str, local: str):
        super().__init__()
        self.public, self.local = public.rstrip("/"), local.rstrip("/")

    def request(self, method, url, *args, **kwargs):
        if url.startswith(self.public):
            url = self.local + url[len(self.public):]
        return super().request(method, url, *args, **kwargs)


class TokenSource:
    def __init__(self, client_id: str, client_secret: str, authority: str,
                 http_client: requests.Session | None = None):
        self._make = lambda: msal.ConfidentialClientApplication(
            client_id, client_credential=client_secret, authority=authority, http_client=http_client,
            instance_discovery=False)
        self._lock = threading.Lock()
        self._app: msal.ConfidentialClientApplication | None = None

    def token(self) -> str:
        with self._lock:
            if self._app is None:
                self._app = self._make()
            answer = self._app.acquire_token_for_client(scopes=GRAPH_SCOPE)  # cached by MSAL until near expiry
        if "access_token" not in answer:
            raise AuthenticationFailed(401, answer.get("error", "token_error"),
                                       answer.get("error_description", "no token"))
        return answer["access_token"]

    def refresh(self) -> None:
        """Forget the cached token: Graph said it expired (401) before MSAL thought so."""
        with self._lock:
            self._app = None

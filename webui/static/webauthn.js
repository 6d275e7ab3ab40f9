// Security keys and passkeys (WebAuthn) for Porth's second factor (issue 18): a form marked
// data-webauthn="create" (enrolment, My Profile) or "get" (sign-in) carries the options the
// server made in a <script type="application/json" data-webauthn-options>; on submit the browser
// is asked for a credential, which goes back in the form's hidden "credential" field as JSON
// (binary fields in base64url, as the webauthn library on the server reads them).
(function () {
  "use strict";

  function toBytes(base64url) {
    var base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(options) {
    options.challenge = toBytes(options.challenge);
    options.user.id = toBytes(options.user.id);
    (options.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return { publicKey: options };
  }

  function requestOptions(options) {
    options.challenge = toBytes(options.challenge);
    (options.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return { publicKey: options };
  }

  function asJson(credential) {
    var response = credential.response;
    var answer = { id: credential.id, rawId: toBase64url(credential.rawId), type: credential.type,
                   clientExtensionResults: credential.getClientExtensionResults(), response: {
                     clientDataJSON: toBase64url(response.clientDataJSON) } };
    if (response.attestationObject) {
      answer.response.attestationObject = toBase64url(response.attestationObject);
      if (response.getTransports) { answer.response.transports = response.getTransports(); }
    } else {
      answer.response.authenticatorData = toBase64url(response.authenticatorData);
      answer.response.signature = toBase64url(response.signature);
      if (response.userHandle) { answer.response.userHandle = toBase64url(response.userHandle); }
    }
    if (credential.authenticatorAttachment) { answer.authenticatorAttachment = credential.authenticatorAttachment; }
    return JSON.stringify(answer);
  }

  document.querySelectorAll("form[data-webauthn]").forEach(function (form) {
    var source = form.querySelector("[data-webauthn-options]");
    var failed = form.querySelector("[data-webauthn-failed]");
    if (!source) { return; }
    if (!window.PublicKeyCredential) {
      if (failed) { failed.hidden = false; }
      return;
    }
    form.addEventListener("submit", function (event) {
      if (form.elements.credential.value) { return; }
      event.preventDefault();
      var options = JSON.parse(source.textContent);
      var asked = form.dataset.webauthn === "create"
        ? navigator.credentials.create(creationOptions(options))
        : navigator.credentials.get(requestOptions(options));
      asked.then(function (credential) {
        form.elements.credential.value = asJson(credential);
        form.submit();
      }).catch(function () {
        if (failed) { failed.hidden = false; }
      });
    });
  });
}());

// Sends the SAML message on to the service without a click (saml-bindings 3.5.4);
// without JavaScript the page shows a Continue button instead.
document.getElementById("saml-post").submit();

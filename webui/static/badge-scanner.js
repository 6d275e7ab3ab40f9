// "Sign in with my badge" (issue 18): reads the badge's QR code from the camera and posts what it
// holds with the page's form (never in a URL). The browser's BarcodeDetector where there is one,
// else jsQR (vendored: scripts/vendor-jsqr), fetched only when the camera starts, so the sign-in
// page stays light for everyone who types a password.
// On the badge page the camera starts at once. On the sign-in page the badge panel is part of the
// page: "Sign in with my badge" shows it in place of the password form and starts the camera, with
// no request to Porth (a badge sign-in is then two requests, as a password one: bench/login.py).
(function () {
  "use strict";
  var script = document.currentScript;
  var form = document.querySelector("[data-badge-form]");
  if (!form) { return; }
  var video = form.querySelector("video");
  var status = form.querySelector("[data-badge-status]");
  var field = form.querySelector("input[name=badge]");
  var done = false;
  var running = null;  // the camera's stream while it is on
  var panel = document.querySelector("[data-badge-panel]");  // on the sign-in page only
  var decoder = null;  // a function (video) -> Promise of the texts read, once ready
  // A camera that cannot start: no black box and no "hold your badge up", only what to do.
  var hint = (form.closest("[data-badge-panel]") || document).querySelector("[data-badge-hint]");
  function say(what) {
    status.textContent = status.getAttribute("data-" + what);
    video.hidden = what === "no-camera";
    if (hint) { hint.hidden = what === "no-camera"; }
  }

  var nativeFailed = false;
  function barcodeDetector() {
    if (nativeFailed || !("BarcodeDetector" in window)) { return null; }
    try {
      var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      return function () {
        return detector.detect(video).then(function (codes) { return codes.map(function (c) { return c.rawValue; }); });
      };
    } catch (e) { return null; }
  }

  function jsQRDecoder() {
    var canvas = document.createElement("canvas");
    var context = canvas.getContext("2d", { willReadFrequently: true });
    return function () {
      // A smaller copy of the frame is enough for a card held up close, and much quicker to read.
      var scale = Math.min(1, 640 / video.videoWidth);
      canvas.width = Math.round(video.videoWidth * scale);
      canvas.height = Math.round(video.videoHeight * scale);
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      var image = context.getImageData(0, 0, canvas.width, canvas.height);
      var code = window.jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
      return Promise.resolve(code ? [code.data] : []);
    };
  }

  function readyDecoder() {
    var native = barcodeDetector();
    if (native) { return Promise.resolve(native); }
    if (window.jsQR) { return Promise.resolve(jsQRDecoder()); }
    return new Promise(function (resolve, reject) {
      var loader = document.createElement("script");
      loader.src = script.getAttribute("data-jsqr");
      loader.onload = function () { resolve(jsQRDecoder()); };
      loader.onerror = reject;
      document.head.appendChild(loader);
    });
  }

  function stop() {
    if (running) { running.getTracks().forEach(function (track) { track.stop(); }); }
    running = null;
  }

  function found(text) {
    if (done || typeof text !== "string" || text.indexOf("B1.") !== 0) { return; }
    done = true;
    field.value = text;
    stop();
    say("found");
    form.submit();
  }

  function look() {
    if (done || !running) { return; }
    if (video.readyState < 2 || !video.videoWidth) { window.setTimeout(look, 120); return; }
    decoder().then(function (texts) { texts.forEach(found); }, function () {
      nativeFailed = true;  // a BarcodeDetector that cannot read video: jsQR instead
      return readyDecoder().then(function (next) { decoder = next; });
    }).then(function () { if (!done && running) { window.setTimeout(look, 120); } });
  }

  var starting = false;
  function start() {
    if (running || starting) { return; }  // one camera, however many presses
    starting = true;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { say("no-camera"); return; }
    Promise.all([
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" }, audio: false }),
      decoder ? Promise.resolve(decoder) : readyDecoder()
    ]).then(function (ready) {
      starting = false;
      if (panel && panel.hidden) { ready[0].getTracks().forEach(function (t) { t.stop(); }); return; }
      running = ready[0];
      decoder = ready[1];
      video.srcObject = running;
      say("looking");
      look();
    }).catch(function () { starting = false; stop(); say("no-camera"); });
  }

  if (!panel) {  // the badge page
    var retry = document.querySelector("[data-badge-retry]");
    if (!retry) { start(); return; }
    // It says why a badge was refused: the card is most likely still in front of the camera, so
    // the camera waits for "Try again" rather than posting the same card again and again.
    retry.addEventListener("click", function () {
      retry.hidden = true;
      video.hidden = false;
      if (hint) { hint.hidden = false; }
      say("starting");
      start();
    });
    return;
  }

  var passwordPart = document.querySelector("[data-password-part]");
  var opener = document.querySelector("[data-badge-open]");
  opener.addEventListener("click", function (event) {
    event.preventDefault();
    passwordPart.hidden = true;
    panel.hidden = false;
    panel.querySelector("h1").focus();
    start();
  });
  // The space bar presses a link styled as a button, as it would a button (GOV.UK Frontend's way).
  opener.addEventListener("keydown", function (event) {
    if (event.key === " ") { event.preventDefault(); opener.click(); }
  });
  panel.querySelector("[data-badge-close]").addEventListener("click", function (event) {
    event.preventDefault();
    stop();
    panel.hidden = true;
    passwordPart.hidden = false;
    document.getElementById("username").focus();
  });
}());

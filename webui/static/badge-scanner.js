// "Sign in with my badge" (issue 18): reads the badge's QR code from the camera and posts what it
// holds with the page's form (never in a URL). The browser's BarcodeDetector where there is one,
// else jsQR (vendored: scripts/vendor-jsqr).
(function () {
  "use strict";
  var form = document.querySelector("[data-badge-form]");
  if (!form) { return; }
  var video = form.querySelector("video");
  var status = form.querySelector("[data-badge-status]");
  var field = form.querySelector("input[name=badge]");
  var done = false;
  function say(what) { status.textContent = status.getAttribute("data-" + what); }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { say("no-camera"); return; }
  var detector = null;
  if ("BarcodeDetector" in window) {
    try { detector = new window.BarcodeDetector({ formats: ["qr_code"] }); } catch (e) { detector = null; }
  }
  var canvas = document.createElement("canvas");
  var context = canvas.getContext("2d", { willReadFrequently: true });

  navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" }, audio: false }).then(function (stream) {
    video.srcObject = stream;
    say("looking");
    function found(text) {
      if (done || typeof text !== "string" || text.indexOf("B1.") !== 0) { return; }
      done = true;
      field.value = text;
      stream.getTracks().forEach(function (track) { track.stop(); });
      say("found");
      form.submit();
    }
    function later() { if (!done) { window.setTimeout(look, 120); } }
    function look() {
      if (done) { return; }
      if (video.readyState < 2 || !video.videoWidth) { later(); return; }
      if (detector) {
        detector.detect(video).then(function (codes) {
          codes.forEach(function (code) { found(code.rawValue); });
        }).catch(function () { detector = null; }).then(later);
        return;
      }
      // A smaller copy of the frame is enough for a card held up close, and much quicker to read.
      var scale = Math.min(1, 640 / video.videoWidth);
      canvas.width = Math.round(video.videoWidth * scale);
      canvas.height = Math.round(video.videoHeight * scale);
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      var image = context.getImageData(0, 0, canvas.width, canvas.height);
      var code = window.jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
      if (code) { found(code.data); }
      later();
    }
    look();
  }).catch(function () { say("no-camera"); });
}());

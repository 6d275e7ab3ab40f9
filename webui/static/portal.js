// Show password (SPEC A-4): fetched on demand (each reveal is audited), shown until the
// pointer or focus leaves it, with a copy button. Without scripts the form posts and
// the details page shows the password instead.
(function () {
  "use strict";
  function hide(holder) {
    var value = holder.querySelector(".porth-password__value");
    value.hidden = true;
    value.querySelector("code").textContent = "";
    holder.querySelector(".porth-show-password").hidden = false;
  }
  document.addEventListener("submit", function (event) {
    var form = event.target.closest(".porth-show-password");
    if (!form) { return; }
    event.preventDefault();
    var holder = form.closest(".porth-password");
    fetch(form.action, {
      method: "POST", credentials: "same-origin",
      headers: {"Accept": "application/json", "X-CSRFToken": form.querySelector("[name=csrf_token]").value}
    }).then(function (response) { return response.json(); }).then(function (body) {
      if (!body.password) { return; }
      var value = holder.querySelector(".porth-password__value");
      value.querySelector("code").textContent = body.password;
      value.hidden = false;
      form.hidden = true;
      value.querySelector(".porth-copy").focus();
      holder.addEventListener("mouseleave", function () { hide(holder); }, {once: true});
    });
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest(".porth-copy");
    if (!button) { return; }
    var text = button.parentNode.querySelector("code").textContent;
    navigator.clipboard.writeText(text).then(function () { button.textContent = button.dataset.copied || "✓"; });
  });
  document.addEventListener("focusout", function (event) {
    var holder = event.target.closest && event.target.closest(".porth-password");
    if (holder && !holder.contains(event.relatedTarget) && !holder.querySelector(".porth-password__value").hidden) {
      hide(holder);
    }
  });
})();
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) { window.print(); }
});
document.addEventListener("change", function (event) {
  if (!event.target.matches("[data-select-all]")) { return; }
  var form = event.target.closest("form");
  form.querySelectorAll("input[name=account]").forEach(function (box) { box.checked = event.target.checked; });
});

// Show password (SPEC A-4): fetched on demand (each reveal is audited, R-7), shown in place until
// the pointer or focus leaves it, with a Copy button. Without scripts the form posts and the
// details page shows the password at its top instead; a reply that is not the password (the
// session ended, the directory failed) is left to that same plain form post, so it is seen.
(function () {
  "use strict";
  function valueOf(holder) { return holder.querySelector(".porth-password__value"); }
  function isShown(holder) { return holder.classList.contains("porth-password--shown"); }
  function announce(holder, words) { holder.querySelector(".porth-password__announce").textContent = words; }

  function hide(holder) {
    if (!isShown(holder)) { return; }
    var value = valueOf(holder);
    var hadFocus = holder.contains(document.activeElement);
    holder.classList.remove("porth-password--shown");
    holder.style.minWidth = "";
    value.querySelector("code").textContent = "";
    holder.querySelector(".porth-copy__label").textContent = holder.dataset.copy;
    announce(holder, "");
    var form = holder.querySelector(".porth-show-password");
    form.hidden = false;
    form.style.display = "";
    value.hidden = true;
    // The pointer left while the focus was on Copy: keep the keyboard where it was, not lost on the page.
    if (hadFocus) { form.querySelector("button").focus(); }
  }

  function show(holder, password) {
    var value = valueOf(holder);
    var form = holder.querySelector(".porth-show-password");
    // A password can be narrower than the "Show password" button it replaces: kept at least as wide,
    // the place stays under the pointer that clicked, instead of the password vanishing at once
    // because the pointer "left" it. Whether the pointer is on it at all decides when leaving counts.
    holder.style.minWidth = holder.getBoundingClientRect().width + "px";
    holder.dataset.pointerOn = holder.matches(":hover") ? "yes" : "";
    value.querySelector("code").textContent = password;
    value.hidden = false;
    holder.classList.add("porth-password--shown");
    // Focus moves to Copy before the Show password button goes, so the focus never leaves the holder.
    value.querySelector(".porth-copy").focus();
    form.hidden = true;
    form.style.display = "none";  // .porth-inline-form's display would otherwise outrank [hidden]
  }

  function notAvailable(holder, status) {
    // The status changed since the page was drawn: say what it is now instead of a button.
    holder.textContent = status === "user-changed" ? holder.dataset.userChanged : "-";
    if (status !== "user-changed") { holder.setAttribute("aria-label", holder.dataset.notAvailable); }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target.closest(".porth-show-password");
    if (!form || !window.fetch) { return; }
    event.preventDefault();
    var holder = form.closest(".porth-password");
    fetch(form.action, {
      method: "POST", credentials: "same-origin", redirect: "manual",
      headers: {"Accept": "application/json", "X-CSRFToken": form.querySelector("[name=csrf_token]").value}
    }).then(function (response) {
      var json = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
      if (!json) { throw new Error("not the password"); }
      return response.json();
    }).then(function (body) {
      if (body.password) { show(holder, body.password); } else { notAvailable(holder, body.status); }
    }).catch(function () { form.submit(); });
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest(".porth-copy");
    if (!button) { return; }
    var holder = button.closest(".porth-password");
    navigator.clipboard.writeText(holder.querySelector("code").textContent).then(function () {
      button.querySelector(".porth-copy__label").textContent = holder.dataset.copied;
      announce(holder, holder.dataset.copied);
    });
  });

  // Hidden again once the pointer leaves the password (the Hwb guide) or the focus does.
  // Leaving counts only once the pointer has been on the shown password (revealed from the keyboard,
  // or with the pointer elsewhere, it stays until the focus leaves or the pointer comes and goes).
  document.addEventListener("mouseover", function (event) {
    var holder = event.target.closest && event.target.closest(".porth-password");
    if (holder && isShown(holder)) { holder.dataset.pointerOn = "yes"; }
  });
  document.addEventListener("mouseout", function (event) {
    var holder = event.target.closest && event.target.closest(".porth-password");
    if (holder && isShown(holder) && holder.dataset.pointerOn && !holder.contains(event.relatedTarget)) {
      hide(holder);
    }
  });
  document.addEventListener("focusout", function (event) {
    var holder = event.target.closest && event.target.closest(".porth-password");
    if (holder && isShown(holder) && !holder.contains(event.relatedTarget)) { hide(holder); }
  });
})();

document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) { window.print(); }
});

// Selected Users: the page's box ticks every row; with more matches than rows it offers "Select all
// N matching accounts", which sends the list's filters (the server finds the accounts again).
(function () {
  "use strict";
  var banner = document.getElementById("select-matching");
  var matching = document.getElementById("selection-matching");
  function rows(formId) { return document.querySelectorAll('input[name=account][form="' + formId + '"]'); }
  function showing(which) {
    if (!banner) { return; }
    banner.hidden = which === null;
    banner.querySelectorAll("[data-when]").forEach(function (part) { part.hidden = part.dataset.when !== which; });
    if (matching) { matching.disabled = which !== "matching"; }
  }
  document.addEventListener("change", function (event) {
    var all = event.target.closest("[data-select-all]");
    if (all) {
      rows(all.dataset.selectAll).forEach(function (box) { box.checked = all.checked; });
      showing(all.checked ? "page" : null);
      return;
    }
    if (event.target.matches("input[name=account]") && !event.target.checked) {
      var box = document.querySelector('[data-select-all="' + event.target.getAttribute("form") + '"]');
      if (box) { box.checked = false; }
      showing(null);  // one left out: no longer every matching account
    }
  });
  document.addEventListener("click", function (event) {
    var choice = event.target.closest("#select-all-matching, #clear-selection");
    if (!choice || !banner) { return; }
    event.preventDefault();
    if (choice.id === "select-all-matching") {
      showing("matching");
      document.getElementById("clear-selection").focus();
    } else {
      var all = document.querySelector("[data-select-all]");
      all.checked = false;
      rows(all.dataset.selectAll).forEach(function (row) { row.checked = false; });
      showing(null);
      all.focus();
    }
  });
})();

// The "Select at least one" error of a list's buttons (portal/_macros.html nobody_ticked): its
// summary `<name>-error`, and the message in the group `<name>` at the buttons; shown(true) focuses it.
function nobodyTicked(name) {
  "use strict";
  var summary = document.getElementById(name + "-error");
  var group = document.getElementById(name);
  var message = document.getElementById(name + "-message");
  return function (shown) {
    summary.hidden = !shown;
    message.hidden = !shown;
    group.classList.toggle("govuk-form-group--error", shown);
    if (shown) { summary.focus(); }
  };
}

// Selected Users: a button pressed with nobody ticked says so in this tab (Print would otherwise
// open a new tab that only says it); without script, the server says so on the list.
(function () {
  "use strict";
  var form = document.getElementById("selected-users");
  if (!form) { return; }
  var summary = document.getElementById("selected-users-choice-error");
  var nobody = nobodyTicked("selected-users-choice");
  var matching = document.getElementById("selection-matching");
  function chosen() {
    return (matching && !matching.disabled) ||
      Array.prototype.some.call(document.querySelectorAll('input[name=account][form="selected-users"]'),
                                function (box) { return box.checked; });
  }
  form.addEventListener("submit", function (event) {
    if (chosen()) { nobody(false); return; }
    event.preventDefault();
    nobody(true);
  });
  document.addEventListener("change", function (event) {
    if (!summary.hidden && event.target.matches("input[name=account], [data-select-all]") && chosen()) {
      nobody(false);
    }
  });
})();

// Badges: Print and Revoke say at once when nobody is ticked, before anything opens (without
// script, the server says so). Printing a learner who has a live badge stops their card working,
// so it asks first, in this tab (the confirmation then opens the sheet in a new tab); printing
// learners with no badge yet opens the sheet in a new tab straight away.
(function () {
  "use strict";
  var form = document.getElementById("badge-learners");
  if (!form) { return; }
  var summary = document.getElementById("badge-choice-error");
  var nobody = nobodyTicked("badge-choice");
  var passing = false;
  function ticked() {
    var all = document.getElementById("all-shown").checked;
    return Array.prototype.filter.call(document.querySelectorAll('input[name=account][form="badge-learners"]'),
                                       function (box) { return all || box.checked; });
  }
  form.addEventListener("submit", function (event) {
    if (passing) { passing = false; return; }
    var chosen = ticked();
    if (!chosen.length) { event.preventDefault(); nobody(true); return; }
    nobody(false);
    var button = event.submitter;
    var live = chosen.some(function (box) { return box.dataset.live === "yes"; });
    if (button && button.id === "print-badges" && live && form.requestSubmit) {
      // Sent again in this tab, once this submit event is over (a form being submitted ignores
      // another request to submit it).
      event.preventDefault();
      setTimeout(function () {
        button.setAttribute("formtarget", "_self");
        passing = true;
        form.requestSubmit(button);
        button.setAttribute("formtarget", "_blank");
      }, 0);
    }
  });
  form.addEventListener("change", function () { if (!summary.hidden && ticked().length) { nobody(false); } });
})();

// A confirmation whose action opens in a new tab (printing badges): once sent, this page says so
// and its button is not offered again (sent twice, it would print the badges again).
document.addEventListener("submit", function (event) {
  var form = event.target.closest("form[data-opens-elsewhere]");
  if (!form) { return; }
  setTimeout(function () {
    form.querySelector("#confirm").disabled = true;
    var opened = form.querySelector("[data-opened]");
    opened.hidden = false;
    opened.focus();
  }, 0);
});

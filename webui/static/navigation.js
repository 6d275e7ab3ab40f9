// The service navigation on a phone (issue 16 point 6): the portal's menu folds behind a "Menu"
// button, so a page's heading is on the first screen; wider screens list the items in a row, as
// GOV.UK Frontend's service navigation does. Without scripts the button stays hidden and the
// items stay listed, so every page is reachable either way.
(function () {
  "use strict";
  var toggle = document.querySelector(".govuk-service-navigation__toggle[aria-controls]");
  if (!toggle) { return; }
  var menu = document.getElementById(toggle.getAttribute("aria-controls"));
  if (!menu) { return; }
  // The same width as GOV.UK Frontend's tablet breakpoint (40.0625em), where its CSS lays the items in a row.
  var wide = window.matchMedia("(min-width: 40.0625em)");
  var open = false;
  function layOut() {
    if (wide.matches) {
      toggle.hidden = true;
      menu.hidden = false;
    } else {
      toggle.hidden = false;
      toggle.setAttribute("aria-expanded", String(open));
      menu.hidden = !open;
    }
  }
  toggle.addEventListener("click", function () {
    open = !open;
    layOut();
  });
  wide.addEventListener("change", layOut);
  layOut();
})();

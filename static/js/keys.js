/* Quorum keyboard pages: what the task page, the audit queue and the adjudication page share.
 *
 * window.QuorumKeys.isTyping(element): whether a key press belongs to a text field.
 * window.QuorumKeys.check(input): tick a radio, or toggle a checkbox, and tell listeners.
 * window.QuorumKeys.toggleReveal(area): reveal every blurred medium in `area`, or blur them again.
 * window.QuorumKeys.reportErrors(errorBox, what): say in `errorBox` when an htmx request failed.
 * Loaded with `defer` before the page's own script (deferred scripts run in document order).
 */
(function () {
  "use strict";

  function isTyping(element) {
    if (!element || !element.matches) {
      return false;
    }
    return (
      element.isContentEditable ||
      element.matches(
        "textarea, select, input:not([type=radio]):not([type=checkbox]):not([type=button]):not([type=submit]):not([type=reset])"
      )
    );
  }

  function check(input) {
    input.checked = input.type === "checkbox" ? !input.checked : true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function toggleReveal(area) {
    var toggles = area.querySelectorAll("[data-reveal]");
    if (!toggles.length) {
      return false;
    }
    var reveal = Array.prototype.some.call(toggles, function (toggle) {
      return !toggle.checked;
    });
    toggles.forEach(function (toggle) {
      toggle.checked = reveal;
    });
    return true;
  }

  function reportErrors(errorBox, what) {
    document.body.addEventListener("htmx:responseError", function (event) {
      errorBox.textContent =
        "Quorum answered with an error (" + event.detail.xhr.status + "), so " + what + " may not be saved. Reload the page.";
      errorBox.hidden = false;
    });
    document.body.addEventListener("htmx:sendError", function () {
      errorBox.textContent = "Quorum could not be reached, so " + what + " was not saved. Try again.";
      errorBox.hidden = false;
    });
  }

  window.QuorumKeys = { isTyping: isTyping, check: check, toggleReveal: toggleReveal, reportErrors: reportErrors };
})();

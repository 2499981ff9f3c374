/* Quorum adjudication page: the reviewer's final label with the keyboard.
 *
 * 1-9 picks a label, Enter settles, S leaves the item for another reviewer, W jumps to the reason,
 * R reveals blurred media, ? shows the key list. Loaded with `defer` under a strict
 * Content-Security-Policy; the page works without it (plain form, CSS-only reveal).
 */
(function () {
  "use strict";

  var page = document.getElementById("adjudication-page");
  if (!page) {
    return;
  }
  var area = document.getElementById("adjudication-area");
  var errorBox = document.getElementById("adjudication-error");

  function isTyping(element) {
    return Boolean(
      element &&
        element.matches &&
        (element.isContentEditable ||
          element.matches(
            "textarea, select, input:not([type=radio]):not([type=checkbox]):not([type=button]):not([type=submit]):not([type=reset])"
          ))
    );
  }

  function form() {
    return document.getElementById("adjudication-form");
  }

  function chooseLabel(key) {
    var input = area.querySelector('#adjudication-form input[data-key="' + CSS.escape(key) + '"]');
    if (!input) {
      return false;
    }
    input.checked = input.type === "checkbox" ? !input.checked : true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  function click(id) {
    var element = document.getElementById(id);
    if (!element) {
      return false;
    }
    element.click();
    return true;
  }

  function focusReason() {
    var reason = document.getElementById("adjudication-reason");
    if (!reason) {
      return false;
    }
    reason.focus();
    return true;
  }

  function toggleReveal() {
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

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) {
      return;
    }
    var target = event.target;
    if (event.key === "Enter") {
      if (target.matches && target.matches("button, summary, a")) {
        return;
      }
      if (target.matches && target.matches("textarea") && event.shiftKey) {
        return; // Shift+Enter: a new line in the reason
      }
      if (form()) {
        event.preventDefault();
        if (!event.repeat) {
          form().requestSubmit();
        }
      }
      return;
    }
    if (event.key.length !== 1 || isTyping(target)) {
      return;
    }
    var key = event.key.toLowerCase();
    var handled = false;
    if (/^[1-9]$/.test(key)) {
      handled = chooseLabel(key);
    } else if (key === "s") {
      handled = click("adjudication-skip");
    } else if (key === "w") {
      handled = focusReason();
    } else if (key === "r") {
      handled = toggleReveal();
    } else if (key === "?") {
      var help = document.getElementById("keys-help");
      help.open = !help.open;
      handled = true;
    }
    if (handled) {
      event.preventDefault();
    }
  });

  document.body.addEventListener("htmx:afterSwap", function () {
    errorBox.hidden = true;
    area.focus({ preventScroll: true });
  });

  document.body.addEventListener("htmx:responseError", function (event) {
    errorBox.textContent =
      "Quorum answered with an error (" + event.detail.xhr.status + "), so your decision may not be saved. Reload the page.";
    errorBox.hidden = false;
  });

  document.body.addEventListener("htmx:sendError", function () {
    errorBox.textContent = "Quorum could not be reached, so your decision was not saved. Try again.";
    errorBox.hidden = false;
  });

  area.focus({ preventScroll: true });
})();

/* Quorum adjudication page: the reviewer's final label with the keyboard.
 *
 * A label's key (shown beside it: its own shortcut, else a digit) picks it, Enter settles, S leaves the item for another reviewer, W jumps to the reason,
 * R reveals blurred media, ? shows the key list. Loaded with `defer` under a strict
 * Content-Security-Policy; the page works without it (plain form, CSS-only reveal).
 */
(function () {
  "use strict";

  var page = document.getElementById("adjudication-page");
  if (!page) {
    return;
  }
  var keys = window.QuorumKeys;
  var area = document.getElementById("adjudication-area");
  var errorBox = document.getElementById("adjudication-error");

  function form() {
    return document.getElementById("adjudication-form");
  }

  function chooseLabel(key) {
    var input = area.querySelector('#adjudication-form input[data-key="' + CSS.escape(key) + '"]');
    if (!input) {
      return false;
    }
    keys.check(input);
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
    if (event.key.length !== 1 || keys.isTyping(target)) {
      return;
    }
    var key = event.key.toLowerCase();
    var handled = false;
    if (key === "s") {
      handled = click("adjudication-skip");
    } else if (key === "w") {
      handled = focusReason();
    } else if (key === "r") {
      handled = keys.toggleReveal(area);
    } else if (key === "?") {
      var help = document.getElementById("keys-help");
      help.open = !help.open;
      handled = true;
    } else {
      handled = chooseLabel(key);
    }
    if (handled) {
      event.preventDefault();
    }
  });

  document.body.addEventListener("htmx:afterSwap", function () {
    errorBox.hidden = true;
    area.focus({ preventScroll: true });
  });

  keys.reportErrors(errorBox, "your decision");

  area.focus({ preventScroll: true });
})();

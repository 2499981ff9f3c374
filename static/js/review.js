/* Quorum audit page: the reviewer's verdict with the keyboard.
 *
 * C = correct, X = incorrect (then a label's key, shown beside it, picks the right label and a
 * cause's letter, shown beside it, picks the error cause), R reveals blurred media, ? shows the key
 * list, Enter records. An incorrect verdict without a label or a cause is not sent: the page says
 * what is missing. Loaded with `defer` under a strict Content-Security-Policy; the page works
 * without it (plain form, CSS-only reveal; the server then names what is missing).
 */
(function () {
  "use strict";

  var page = document.getElementById("review-page");
  if (!page) {
    return;
  }
  var keys = window.QuorumKeys;
  var area = document.getElementById("audit-area");
  var errorBox = document.getElementById("review-error");

  function form() {
    return document.getElementById("review-form");
  }

  function verdict(key) {
    var input = area.querySelector('#review-form input[data-verdict="' + key + '"]');
    if (!input) {
      return false;
    }
    keys.check(input);
    return true;
  }

  function incorrect() {
    var input = area.querySelector('#review-form input[data-verdict="x"]');
    return Boolean(input && input.checked);
  }

  function chooseLabel(key) {
    var input = area.querySelector('#review-form input[data-key="' + CSS.escape(key) + '"]');
    if (!input) {
      return false;
    }
    if (!incorrect()) {
      verdict("x"); // choosing a correction implies the verdict
    }
    keys.check(input);
    return true;
  }

  function chooseCause(key) {
    var option = area.querySelector('#review-form option[data-cause-key="' + CSS.escape(key) + '"]');
    if (!option || !incorrect()) {
      return false;
    }
    option.selected = true;
    option.parentElement.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  // What the form still needs before it can be sent, or "" when it is complete.
  function missing(reviewForm) {
    var chosen = reviewForm.querySelector('input[name="verdict"]:checked');
    if (!chosen) {
      return "Choose a verdict first: Correct (C) or Incorrect (X).";
    }
    if (chosen.value !== "incorrect") {
      return "";
    }
    if (!reviewForm.querySelector('input[name="correct_labels"]:checked')) {
      return "Incorrect: pick the label it should have had (its key is beside it).";
    }
    var cause = reviewForm.querySelector('select[name="error_cause"]');
    if (cause && !cause.value) {
      return "Incorrect: choose why it is wrong (the letter beside each cause picks it).";
    }
    return "";
  }

  function toggleHelp() {
    var help = document.getElementById("keys-help");
    help.open = !help.open;
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) {
      return;
    }
    var target = event.target;
    if (event.key === "Enter") {
      if (target.matches && target.matches("button, summary, a, textarea")) {
        return; // the element's own Enter; a new line in the note
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
    var handled;
    if (key === "c" || key === "x") {
      handled = verdict(key);
    } else if (key === "r") {
      handled = keys.toggleReveal(area);
    } else if (key === "?") {
      handled = toggleHelp();
    } else {
      handled = chooseLabel(key) || chooseCause(key);
    }
    if (handled) {
      event.preventDefault();
    }
  });

  // Checked before htmx sends it (capture phase: this runs before htmx's own submit handler).
  document.addEventListener(
    "submit",
    function (event) {
      if (event.target.id !== "review-form") {
        return;
      }
      var problem = missing(event.target);
      if (problem) {
        event.preventDefault();
        event.stopPropagation();
        errorBox.textContent = problem;
        errorBox.hidden = false;
      } else {
        errorBox.hidden = true;
      }
    },
    true
  );

  document.body.addEventListener("htmx:afterSwap", function () {
    errorBox.hidden = true;
    area.focus({ preventScroll: true });
  });

  keys.reportErrors(errorBox, "your verdict");

  area.focus({ preventScroll: true });
})();

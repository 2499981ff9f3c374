/* Quorum task page: labeling with the keyboard, the handling time of each item, blurred media,
 * the guideline panel, and wellness (grayscale media, break reminders).
 *
 * Loaded with `defer` under a strict Content-Security-Policy: no inline script, no eval, no hx-on.
 * Everything is wired here with addEventListener. The page works without this file (plain forms,
 * CSS-only reveal); this file adds the keys, the timing and the reminders.
 */
(function () {
  "use strict";

  var page = document.getElementById("task-page");
  if (!page) {
    return;
  }
  var keys = window.QuorumKeys;
  var area = document.getElementById("task-area");
  var errorBox = document.getElementById("task-error");

  // htmx "settles" some attributes of swapped elements that keep their id by copying them with
  // setAttribute. A style attribute left by the browser (a resized textarea) would then be an
  // inline style, which our CSP refuses (a console error); classes and sizes are enough here.
  if (window.htmx) {
    window.htmx.config.attributesToSettle = ["class", "width", "height"];
  }

  // --- Small helpers ----------------------------------------------------------------------------

  function stored(key) {
    try {
      return window.localStorage.getItem(key);
    } catch (error) {
      return null; // storage off (private mode): the features that use it just forget
    }
  }

  function store(key, value) {
    try {
      window.localStorage.setItem(key, String(value));
    } catch (error) {
      /* ignored, see stored() */
    }
  }

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
  }

  // --- Handling time: from when an item is shown until its labels are submitted ------------------

  var shown = { assignment: null, at: Date.now() };

  function currentAssignment() {
    var task = area.querySelector("[data-assignment]");
    return task ? task.getAttribute("data-assignment") : null;
  }

  function itemShown() {
    var assignment = currentAssignment();
    if (assignment !== shown.assignment) {
      shown = { assignment: assignment, at: Date.now() };
    }
  }

  // Capture phase: runs before htmx reads the form on its own submit listener.
  document.addEventListener(
    "submit",
    function (event) {
      var field = event.target.querySelector("[data-time-spent]");
      if (field) {
        field.value = String(Math.max(0, Math.round(Date.now() - shown.at)));
      }
    },
    true
  );

  // --- Panels: skip and flag (inside the task), the guideline, the key help ------------------------

  function taskPanels() {
    return area.querySelectorAll("details[data-panel]");
  }

  function openTaskPanel() {
    return area.querySelector("details[data-panel][open]");
  }

  function toggleTaskPanel(name) {
    var panel = area.querySelector('details[data-panel="' + name + '"]');
    if (!panel) {
      return false;
    }
    var opening = !panel.open;
    taskPanels().forEach(function (other) {
      other.open = false;
    });
    panel.open = opening;
    if (opening) {
      var first = panel.querySelector("input[type=radio], textarea, input[type=text]");
      if (first) {
        first.focus();
        if (document.activeElement !== first) {
          // The panel's content was not focusable yet (a busy renderer had not laid out the
          // newly opened <details>): try again once it has been painted.
          window.requestAnimationFrame(function () {
            if (panel.open && panel.isConnected) {
              first.focus();
            }
          });
        }
      }
    } else {
      area.focus({ preventScroll: true });
    }
    return true;
  }

  function toggleDetails(id) {
    var details = document.getElementById(id);
    if (!details) {
      return false;
    }
    details.open = !details.open;
    return true;
  }

  function closeAll() {
    var closed = false;
    document.querySelectorAll("details[data-panel][open], details.keys-help[open]").forEach(function (details) {
      details.open = false;
      closed = true;
    });
    if (closed) {
      area.focus({ preventScroll: true });
    }
    return closed;
  }

  // --- Labels and media --------------------------------------------------------------------------

  function chooseLabel(key) {
    var input = area.querySelector('#label-form input[data-key="' + CSS.escape(key) + '"]');
    if (!input) {
      return false;
    }
    keys.check(input);
    return true;
  }

  function submitForm(form) {
    if (form) {
      form.requestSubmit(); // fires "submit": htmx posts it, or the browser does without htmx
    }
  }

  // --- Keys ----------------------------------------------------------------------------------------

  function onEnter(event) {
    var target = event.target;
    if (event.isComposing || (target.matches && target.matches("button, summary, a"))) {
      return; // the element's own Enter (press the button, open the panel, follow the link)
    }
    var form = target.closest ? target.closest("form[data-enter-submits]") : null;
    if (form) {
      if (target.matches("textarea") && event.shiftKey) {
        return; // Shift+Enter: a new line in the question
      }
    } else if (openTaskPanel()) {
      form = openTaskPanel().querySelector("form");
    } else if (keys.isTyping(target)) {
      return;
    } else {
      form = document.getElementById("label-form");
    }
    if (form) {
      event.preventDefault();
      if (!event.repeat) {
        submitForm(form);
      }
    }
  }

  function onCharacter(event) {
    var key = event.key.toLowerCase();
    var panel = openTaskPanel();
    if (panel && panel.getAttribute("data-panel") === "skip" && /^[1-9]$/.test(key)) {
      var choice = panel.querySelector('[data-choice="' + key + '"]');
      if (choice) {
        choice.checked = true;
        choice.focus();
      }
      return true;
    }
    switch (key) {
      case "s":
        return toggleTaskPanel("skip");
      case "f":
        return toggleTaskPanel("flag");
      case "g":
        return toggleDetails("guideline");
      case "r":
        return keys.toggleReveal(area);
      case "?":
        return toggleDetails("keys-help");
      default:
        return panel ? false : chooseLabel(key);
    }
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (event.key === "Escape") {
      if (closeAll()) {
        event.preventDefault();
      }
      return;
    }
    if (event.key === "Enter") {
      onEnter(event);
      return;
    }
    if (event.key.length !== 1 || keys.isTyping(event.target)) {
      return; // keys never fire while typing in a text field
    }
    if (replacing) {
      event.preventDefault(); // the item on screen is being replaced: a key now would act on the old one
      return;
    }
    if (onCharacter(event)) {
      event.preventDefault();
    }
  });

  // --- htmx: a new item was swapped in, or a request failed -----------------------------------------

  // While a submit or skip is on its way, the item on screen is about to be replaced.
  var replacing = false;

  document.body.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.target === area) {
      replacing = true;
    }
  });

  document.body.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.target === area && !event.detail.successful) {
      replacing = false; // nothing is swapped in: the item stays and its keys work again
    }
  });

  document.body.addEventListener("htmx:afterSwap", function (event) {
    errorBox.hidden = true;
    if (event.detail.target === area) {
      replacing = false;
      itemShown();
      if (area.getBoundingClientRect().top < 0) {
        area.scrollIntoView();
      }
    }
    var open = openTaskPanel();
    if (!(open && open.contains(document.activeElement))) {
      area.focus({ preventScroll: true }); // keys go to the new item, never to a field left behind
    }
  });

  document.body.addEventListener("htmx:responseError", function (event) {
    showError(
      "Quorum answered with an error (" + event.detail.xhr.status + "), so your last action may not be saved. " +
        "Reload the page to go on."
    );
  });

  document.body.addEventListener("htmx:sendError", function () {
    showError("Quorum could not be reached, so your last action was not saved. Check the connection and try again.");
  });

  // --- Wellness: grayscale media (remembered in this browser) -----------------------------------

  var GRAYSCALE_KEY = "quorum.grayscale";
  var grayscaleButton = document.getElementById("grayscale-toggle");

  function applyGrayscale(on) {
    document.documentElement.classList.toggle("grayscale-media", on);
    grayscaleButton.setAttribute("aria-pressed", on ? "true" : "false");
  }

  applyGrayscale(stored(GRAYSCALE_KEY) === "1");
  grayscaleButton.addEventListener("click", function () {
    var on = grayscaleButton.getAttribute("aria-pressed") !== "true";
    store(GRAYSCALE_KEY, on ? "1" : "0");
    applyGrayscale(on);
  });

  // --- Wellness: a reminder to take a break after a stretch of continuous work ------------------------
  // Work is continuous while the annotator acts (keys, pointer, submits) with no pause of
  // PAUSE_MS or more; such a pause counts as a break and starts a new stretch. The stretch is kept
  // in localStorage, so moving between pages does not reset it.

  var breakMinutes = parseInt(page.getAttribute("data-break-minutes"), 10) || 0;
  var reminder = document.getElementById("break-reminder");
  var PAUSE_MS = 5 * 60 * 1000;
  var STRETCH_KEY = "quorum.work.stretchStart";
  var ACTIVE_KEY = "quorum.work.lastActive";

  function storedTime(key) {
    return parseInt(stored(key), 10) || 0;
  }

  function activity() {
    var now = Date.now();
    if (now - storedTime(ACTIVE_KEY) >= PAUSE_MS) {
      store(STRETCH_KEY, now);
    }
    store(ACTIVE_KEY, now);
  }

  function checkBreak() {
    var now = Date.now();
    if (now - storedTime(ACTIVE_KEY) >= PAUSE_MS) {
      return; // resting already
    }
    if (now - storedTime(STRETCH_KEY) >= breakMinutes * 60 * 1000) {
      reminder.hidden = false;
    }
  }

  if (breakMinutes > 0) {
    activity();
    ["keydown", "pointerdown", "submit"].forEach(function (type) {
      document.addEventListener(type, activity, true);
    });
    window.setInterval(checkBreak, 15 * 1000);
    reminder.querySelector("[data-action=dismiss-break]").addEventListener("click", function () {
      reminder.hidden = true;
      store(STRETCH_KEY, Date.now()); // remind again after another full stretch
      area.focus({ preventScroll: true });
    });
  }

  itemShown();
})();

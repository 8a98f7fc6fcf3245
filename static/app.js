// Keygate's small script. Every page works without it (forms post, links
// lead to plain pages); it only turns those into dialogs and adds copying.
"use strict";

(function () {
  var FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

  // Menus built on <details>: close on Escape or on a click elsewhere.
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") return;
    document.querySelectorAll("details.menu[open]").forEach(function (d) {
      d.removeAttribute("open");
      var s = d.querySelector("summary");
      if (s) s.focus();
    });
  });
  document.addEventListener("click", function (e) {
    document.querySelectorAll("details.menu[open]").forEach(function (d) {
      if (!d.contains(e.target)) d.removeAttribute("open");
    });
  });

  // openModal shows a <dialog> as a real modal and remembers what to give
  // focus back to when it closes.
  function openModal(dialog, trigger) {
    if (dialog.open) {
      // Shown without JavaScript (the open attribute): reopen it as a modal.
      // The close event this queues is not a real close.
      dialog._reopening = true;
      dialog.close();
    }
    dialog._trigger = trigger || document.activeElement;
    dialog.showModal();
    var first = dialog.querySelector("[autofocus]") || dialog.querySelector('[aria-invalid="true"]') || dialog.querySelector(FOCUSABLE);
    if (first) first.focus();
  }

  document.querySelectorAll("dialog.modal").forEach(function (dialog) {
    dialog.addEventListener("close", function () {
      if (dialog._reopening) { dialog._reopening = false; return; }
      if (dialog.hasAttribute("data-secret-dialog")) forgetSecret(dialog);
      var t = dialog._trigger;
      if (t && document.body.contains(t)) t.focus();
    });
    // Keep Tab inside the dialog.
    dialog.addEventListener("keydown", function (e) {
      if (e.key !== "Tab") return;
      var items = Array.prototype.filter.call(dialog.querySelectorAll(FOCUSABLE), function (el) {
        return el.offsetParent !== null || el === document.activeElement;
      });
      if (items.length === 0) return;
      var first = items[0], last = items[items.length - 1];
      if (e.shiftKey && document.activeElement === first) { last.focus(); e.preventDefault(); }
      else if (!e.shiftKey && document.activeElement === last) { first.focus(); e.preventDefault(); }
    });
    dialog.querySelectorAll("[data-dialog-close]").forEach(function (b) {
      b.addEventListener("click", function (e) { e.preventDefault(); dialog.close(); });
    });
  });

  // The secret leaves the page as soon as its dialog closes or the page is
  // left, so neither the back-forward cache nor a later look finds it.
  function forgetSecret(dialog) {
    dialog.querySelectorAll("[data-secret]").forEach(function (el) {
      if ("value" in el && el.tagName === "INPUT") el.value = "";
      el.remove();
    });
    dialog.remove();
    var trigger = document.getElementById("create-key-button");
    if (trigger) trigger.focus();
  }
  window.addEventListener("pagehide", function () {
    document.querySelectorAll("dialog[data-secret-dialog]").forEach(forgetSecret);
  });

  // Dialogs the server asks to show at once (the new key, a form with errors).
  document.querySelectorAll("dialog[data-modal-open]").forEach(function (dialog) {
    var back = dialog.getAttribute("data-return-url");
    // This page answered a POST: make reload fetch the list instead of
    // posting again.
    if (back && window.history.replaceState) window.history.replaceState(null, "", back);
    openModal(dialog, document.getElementById("create-key-button"));
  });

  // Links that open a dialog instead of a page.
  document.querySelectorAll("[data-dialog-open]").forEach(function (link) {
    link.addEventListener("click", function (e) {
      var dialog = document.getElementById(link.getAttribute("data-dialog-open"));
      if (!dialog) return;
      e.preventDefault();
      openModal(dialog, link);
    });
  });

  // A link or button activates on Enter's keydown, but the keypress that follows goes
  // to whatever has focus by then: the dialog's first control, which Enter
  // would click (Cancel) or submit (the create form). So links that open a
  // dialog open it when Enter is released, once the keystroke is over.
  var DIALOG_LINKS = "[data-dialog-open], [data-revoke], [data-roll]";
  var enterOn = null;
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Enter" || !e.target.closest) return;
    var link = e.target.closest(DIALOG_LINKS);
    if (!link) return;
    e.preventDefault();
    enterOn = link;
  });
  document.addEventListener("keyup", function (e) {
    if (e.key !== "Enter" || !enterOn) return;
    var link = enterOn;
    enterOn = null;
    if (e.target.closest && e.target.closest(DIALOG_LINKS) === link) link.click();
  });

  // Revoke: confirm in a dialog that names the key.
  var revoke = document.getElementById("revoke-dialog");
  document.querySelectorAll("[data-revoke]").forEach(function (link) {
    link.addEventListener("click", function (e) {
      if (!revoke) return;
      e.preventDefault();
      revoke.querySelector("form").setAttribute("action", link.getAttribute("data-revoke"));
      revoke.querySelector("#revoke-question").textContent = link.getAttribute("data-question");
      openModal(revoke, link);
      var cancel = revoke.querySelector("[data-dialog-close]");
      if (cancel) cancel.focus();
    });
  });

  // Roll: choose the grace period in a dialog.
  var roll = document.getElementById("roll-dialog");
  document.querySelectorAll("[data-roll]").forEach(function (link) {
    link.addEventListener("click", function (e) {
      if (!roll) return;
      e.preventDefault();
      roll.querySelector("form").setAttribute("action", link.getAttribute("data-roll"));
      roll.querySelector("#roll-title").textContent = "Roll key “" + link.getAttribute("data-key-name") + "”";
      openModal(roll, link);
    });
  });

  // Copy buttons: data-copy names an input, data-copy-text holds the text.
  function copied(button) {
    var label = button.getAttribute("aria-label");
    var text = button.textContent;
    if (label) button.setAttribute("aria-label", "Copied");
    else button.textContent = "Copied";
    setTimeout(function () {
      if (label) button.setAttribute("aria-label", label);
      else button.textContent = text;
    }, 2000);
  }
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("[data-copy], [data-copy-text]");
    if (!button) return;
    var text = button.getAttribute("data-copy-text");
    if (text === null) {
      var field = document.querySelector(button.getAttribute("data-copy"));
      if (!field) return;
      text = field.value;
      field.select();
    }
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { copied(button); }, function () {});
    }
  });

  // The custom date only matters when "Custom date" is chosen.
  document.querySelectorAll("select[name=expiration]").forEach(function (select) {
    var form = select.form;
    var date = form && form.querySelector(".custom-date");
    if (!date) return;
    function sync() { date.hidden = select.value !== "custom"; }
    select.addEventListener("change", sync);
    sync();
  });
})();

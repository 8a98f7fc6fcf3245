// Keygate's small script. Every page works without it (forms post, links
// lead to plain pages); it only turns those into dialogs and adds copying.
"use strict";

(function () {
  var FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

  // The phones' Menu button is a <details> that CSS turns into a
  // disclosure of the navigation: keep its aria-expanded true to it.
  document.querySelectorAll("details[data-nav-toggle]").forEach(function (d) {
    var summary = d.querySelector("summary");
    function sync() { summary.setAttribute("aria-expanded", d.open ? "true" : "false"); }
    // The toggle event comes a task later; the attribute change at once.
    if (window.MutationObserver) new MutationObserver(sync).observe(d, {attributes: true, attributeFilter: ["open"]});
    d.addEventListener("toggle", sync);
    sync();
  });

  // Menus built on <details>: close on Escape or on a click elsewhere.
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") return;
    document.querySelectorAll("details.menu[open], details[data-nav-toggle][open]").forEach(function (d) {
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
  // The Clipboard API first; where the browser refuses it, the older
  // execCommand("copy"); where that fails too, the text is selected and the
  // person is told which keys copy it. "Copied" means something was copied.
  var IS_MAC = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent || "");
  function copied(button) {
    clearCopyHint(button);
    var label = button.getAttribute("aria-label");
    var text = button.textContent;
    if (label) button.setAttribute("aria-label", "Copied");
    else button.textContent = "Copied";
    setTimeout(function () {
      if (label) button.setAttribute("aria-label", label);
      else button.textContent = text;
    }, 2000);
  }
  function clearCopyHint(button) {
    if (button._copyHint) { button._copyHint.remove(); button._copyHint = null; }
  }
  // copyByCommand copies with execCommand from the field, or from a hidden
  // text area put beside the button (inside its dialog, so it can take
  // focus), and gives focus back to the button.
  function copyByCommand(button, text, field) {
    var ok = false, area = null;
    try {
      if (field) {
        field.focus();
        field.select();
      } else {
        area = document.createElement("textarea");
        area.value = text;
        area.setAttribute("readonly", "");
        area.setAttribute("aria-hidden", "true");
        area.className = "copy-buffer";
        button.parentNode.insertBefore(area, button.nextSibling);
        area.select();
      }
      ok = document.execCommand("copy") === true;
    } catch (err) {
      ok = false;
    }
    if (area) area.remove();
    if (ok) button.focus();
    return ok;
  }
  // selectForHand selects the text on the page and says how to copy it.
  function selectForHand(button, text, field) {
    if (!field) {
      var scope = button.closest("section, dialog, td, li, .field, .card") || button.parentNode;
      var shown = Array.prototype.filter.call(scope.querySelectorAll("pre, code, input"), function (el) {
        return (el.tagName === "INPUT" ? el.value : el.textContent).trim() === text.trim();
      })[0];
      if (shown && shown.tagName === "INPUT") field = shown;
      else if (shown) {
        var range = document.createRange();
        range.selectNodeContents(shown);
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
      } else {
        field = document.createElement("input");
        field.type = "text";
        field.value = text;
        field.readOnly = true;
        field.className = "copy-manual mono";
        field.setAttribute("aria-label", "Text to copy");
        button.parentNode.insertBefore(field, button.nextSibling);
      }
    }
    if (field) {
      field.focus();
      field.select();
    }
    clearCopyHint(button);
    var hint = document.createElement("span");
    hint.className = "copy-hint";
    hint.setAttribute("role", "status");
    hint.textContent = "Press " + (IS_MAC ? "⌘C" : "Ctrl+C") + " to copy";
    var after = button.closest(".copy-row") || button;
    after.parentNode.insertBefore(hint, after.nextSibling);
    button._copyHint = hint;
  }
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("[data-copy], [data-copy-text]");
    if (!button) return;
    var text = button.getAttribute("data-copy-text");
    var field = null;
    if (text === null) {
      field = document.querySelector(button.getAttribute("data-copy"));
      if (!field) return;
      text = field.value;
      field.select();
    }
    function fallback() {
      if (copyByCommand(button, text, field)) copied(button);
      else selectForHand(button, text, field);
    }
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { copied(button); }, fallback);
    } else {
      fallback();
    }
  });

  // On phones each table row is a card whose cells show their column's
  // name from data-label (see app.css): fill it in where a template left it
  // out. A header that is only visually hidden (row actions) gives none.
  document.querySelectorAll("table.table").forEach(function (table) {
    var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      var copy = th.cloneNode(true);
      copy.querySelectorAll(".visually-hidden").forEach(function (el) { el.remove(); });
      return copy.textContent.replace(/\s+/g, " ").trim();
    });
    table.querySelectorAll("tbody tr").forEach(function (row) {
      if (row.querySelector("[colspan]")) return;
      Array.prototype.forEach.call(row.children, function (cell, i) {
        if (cell.tagName === "TD" && !cell.hasAttribute("data-label") && heads[i]) cell.setAttribute("data-label", heads[i]);
      });
    });
  });

  // Code blocks that keep their lines scroll sideways: let the keyboard
  // scroll them too.
  document.querySelectorAll("pre.code:not([tabindex])").forEach(function (pre) {
    if (getComputedStyle(pre).whiteSpace === "pre") pre.setAttribute("tabindex", "0");
  });

  // Form errors: the summary above a form lists each field in error. Put
  // its links in the order of the fields, bring it into view, and focus
  // the first field in error, so the person can correct it at once.
  function summaryScope(summary) {
    return summary.closest("dialog, section, .card, .auth-card, main") || document;
  }
  function fieldOf(link, scope) {
    var el = document.getElementById(link.getAttribute("href").slice(1));
    if (!el || !scope.contains(el)) {
      var name = link.getAttribute("data-field");
      el = scope.querySelector('[aria-invalid="true"][name="' + name + '"]') || scope.querySelector('[name="' + name + '"]:not([type="hidden"])') || el;
    }
    if (el && !el.matches(FOCUSABLE)) el = el.querySelector(FOCUSABLE) || el;
    return el;
  }
  function inView(el) {
    var r = el.getBoundingClientRect();
    return r.top >= 0 && r.bottom <= (window.innerHeight || document.documentElement.clientHeight);
  }
  document.querySelectorAll("[data-error-summary]").forEach(function (summary) {
    var scope = summaryScope(summary);
    var list = summary.querySelector("ul");
    var items = Array.prototype.map.call(summary.querySelectorAll("li"), function (li) {
      return {li: li, field: fieldOf(li.querySelector("a"), scope)};
    });
    items.sort(function (a, b) {
      if (!a.field || !b.field) return 0;
      return a.field.compareDocumentPosition(b.field) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1;
    });
    items.forEach(function (it) { list.appendChild(it.li); });
    summary.addEventListener("click", function (e) {
      var link = e.target.closest && e.target.closest("a[data-field]");
      if (!link) return;
      var field = fieldOf(link, scope);
      if (!field) return;
      e.preventDefault();
      field.focus();
    });
  });
  var firstSummary = document.querySelector("[data-error-summary]") || document.querySelector("[data-form-error]");
  if (firstSummary) {
    var scope = summaryScope(firstSummary);
    if (!inView(firstSummary)) firstSummary.scrollIntoView({block: "start"});
    var bad = scope.querySelector('[aria-invalid="true"]');
    if (bad && bad.matches(FOCUSABLE)) {
      bad.focus({preventScroll: true});
      if (!inView(bad)) bad.scrollIntoView({block: "nearest"});
    }
  }

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

// Row menus ("⋯" on the API Keys table): a menu button whose list opens
// below it. Enter, Space or ArrowDown open it on its first item, ArrowUp
// on its last; ArrowUp, ArrowDown, Home and End move; Escape closes it and
// gives focus back to the button; Tab or a click elsewhere closes it.
// Without JavaScript the button submits its form: the key's page.
(function () {
  var open = null; // {button, list}
  var returnTo = null; // the button to focus when a dialog an item opened closes

  function items(list) { return Array.prototype.slice.call(list.querySelectorAll('[role="menuitem"]')); }

  function place(button, list) {
    var r = button.getBoundingClientRect();
    list.style.top = "0px";
    list.style.left = "0px";
    var w = list.offsetWidth, h = list.offsetHeight;
    var top = r.bottom + 4;
    if (top + h > window.innerHeight - 8 && r.top - h - 4 > 8) top = r.top - h - 4;
    list.style.top = top + "px";
    list.style.left = Math.max(8, Math.min(r.right - w, window.innerWidth - w - 8)) + "px";
  }

  function close(focusButton) {
    if (!open) return;
    var o = open;
    open = null;
    o.list.hidden = true;
    o.button.setAttribute("aria-expanded", "false");
    if (focusButton) o.button.focus();
  }

  function show(button, which) {
    var list = document.getElementById(button.getAttribute("aria-controls"));
    if (!list) return;
    if (open && open.button !== button) close(false);
    list.hidden = false;
    button.setAttribute("aria-expanded", "true");
    open = {button: button, list: list};
    place(button, list);
    var all = items(list);
    var item = which === "last" ? all[all.length - 1] : all[0];
    if (item) item.focus();
  }

  document.querySelectorAll("[data-menu-button]").forEach(function (button) {
    button.addEventListener("click", function (e) {
      e.preventDefault();
      if (open && open.button === button) close(false);
      else show(button, "first");
    });
    button.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " " || e.key === "ArrowDown") {
        // Opened on keydown, the keystroke's keypress and keyup must not
        // reach the item that takes focus.
        e.preventDefault();
        show(button, "first");
      } else if (e.key === "ArrowUp") {
        e.preventDefault();
        show(button, "last");
      }
    });
  });

  document.addEventListener("keydown", function (e) {
    if (!open || !open.list.contains(e.target)) return;
    var all = items(open.list), i = all.indexOf(e.target);
    switch (e.key) {
      case "ArrowDown": e.preventDefault(); all[(i + 1) % all.length].focus(); break;
      case "ArrowUp": e.preventDefault(); all[(i - 1 + all.length) % all.length].focus(); break;
      case "Home": e.preventDefault(); all[0].focus(); break;
      case "End": e.preventDefault(); all[all.length - 1].focus(); break;
      case "Escape": e.preventDefault(); e.stopPropagation(); close(true); break;
      case "Tab": close(true); break;
      case " ": e.preventDefault(); e.target.click(); break;
    }
  }, true);

  // An item was chosen, or a click landed elsewhere: close. An item that
  // opens a dialog (Roll key, Revoke) hands focus back to the button when
  // the dialog closes, since the item itself is hidden by then.
  document.addEventListener("click", function (e) {
    if (!open) return;
    if (open.button.contains(e.target)) return;
    if (open.list.contains(e.target)) returnTo = open.button;
    close(false);
  });
  document.querySelectorAll("dialog").forEach(function (dialog) {
    dialog.addEventListener("close", function () {
      var b = returnTo;
      returnTo = null;
      if (b && document.body.contains(b) && (document.activeElement === document.body || !document.activeElement || document.activeElement.offsetParent === null)) b.focus();
    });
  });
  window.addEventListener("resize", function () { close(false); });
  document.addEventListener("scroll", function () { if (open) place(open.button, open.list); }, true);
})();

// Passkeys: forms marked data-passkey="create" or "get" fetch their options
// from data-begin, ask the browser for a passkey, and post its answer in
// the hidden "credential" field. Without WebAuthn they stay hidden and the
// [data-passkey-unsupported] note says why.
(function () {
  "use strict";
  var forms = document.querySelectorAll("form[data-passkey]");
  if (!window.PublicKeyCredential || !navigator.credentials) return;
  document.querySelectorAll("[data-passkey-unsupported]").forEach(function (el) { el.hidden = true; });

  function toBytes(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function toText(buf) {
    if (!buf) return null;
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function withIDs(list) {
    (list || []).forEach(function (c) { c.id = toBytes(c.id); });
    return list;
  }

  // publicKey turns the server's JSON options into what the browser takes.
  function publicKey(options, mode) {
    var pk = options.publicKey;
    pk.challenge = toBytes(pk.challenge);
    if (mode === "create") {
      pk.user.id = toBytes(pk.user.id);
      withIDs(pk.excludeCredentials);
    } else {
      withIDs(pk.allowCredentials);
    }
    return pk;
  }

  // answer is the browser's credential as JSON for the server.
  function answer(cred) {
    var r = cred.response, out = {
      id: cred.id, rawId: toText(cred.rawId), type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toText(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toText(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = toText(r.authenticatorData);
      out.response.signature = toText(r.signature);
      out.response.userHandle = toText(r.userHandle);
    }
    return JSON.stringify(out);
  }

  function showError(form, msg) {
    var el = form.querySelector("[data-passkey-error]");
    var input = form.querySelector('input[name="name"]');
    if (el) el.textContent = msg;
    if (input) {
      if (msg) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
      if (msg) input.focus();
    }
  }

  forms.forEach(function (form) {
    var mode = form.getAttribute("data-passkey");
    var button = form.querySelector('button[type="submit"]');
    form.hidden = false;
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      showError(form, "");
      if (button) button.disabled = true;
      var done = function () { if (button) button.disabled = false; };
      var body = new URLSearchParams();
      var name = form.querySelector('input[name="name"]');
      if (name) body.set("name", name.value);
      fetch(form.getAttribute("data-begin"), {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json" },
        body: body
      }).then(function (res) {
        return res.json().catch(function () { return { error: "Something went wrong. Try again." }; });
      }).then(function (options) {
        if (options.error) throw new Error(options.error);
        var pk = publicKey(options, mode);
        return mode === "create" ? navigator.credentials.create({ publicKey: pk }) : navigator.credentials.get({ publicKey: pk });
      }).then(function (cred) {
        if (!cred) throw new Error("No passkey was chosen. Try again.");
        form.querySelector('input[name="credential"]').value = answer(cred);
        form.submit();
      }).catch(function (err) {
        done();
        // The server's messages are for people; the browser's are not.
        var msg = !(err instanceof DOMException) && err && err.message ? err.message :
          err && err.name === "NotAllowedError" ? "The passkey request was cancelled or timed out. Try again." :
          err && err.name === "InvalidStateError" ? "This device already holds a passkey for your account." :
          err && err.name === "SecurityError" ? "This browser refused passkeys at this address. Open Keygate at its public address and try again." :
          "Something went wrong. Try again.";
        showError(form, msg);
      });
    });
  });
})();

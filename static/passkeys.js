// Passkeys (WebAuthn) for forms marked data-passkey="create" (register) or "get" (sign in):
// on submit, fetch the options from data-options (the ceremony is stored server side),
// ask the authenticator, put the answer (JSON, binary fields as base64url) and the
// challenge id into the form's hidden fields and post it. No framework, no inline script.
(function () {
  "use strict";

  function toBuffer(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var bin = atob(b64);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes.buffer;
  }

  function toText(buffer) {
    if (!buffer) return null;
    var bytes = new Uint8Array(buffer);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function csrf(form) {
    var field = form.querySelector('input[name="csrf_token"]');
    return field ? field.value : "";
  }

  function show(form, message) {
    var el = form.querySelector("[data-passkey-error]");
    if (el) {
      el.textContent = message;
      el.hidden = false;
    }
  }

  async function options(form) {
    var res = await fetch(form.getAttribute("data-options"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf(form), "Accept": "application/json" },
    });
    if (!res.ok) throw new Error("The server refused to start (" + res.status + "). Reload the page and try again.");
    return res.json();
  }

  function ids(list) {
    (list || []).forEach(function (c) { c.id = toBuffer(c.id); });
  }

  async function create(publicKey) {
    publicKey.challenge = toBuffer(publicKey.challenge);
    publicKey.user.id = toBuffer(publicKey.user.id);
    ids(publicKey.excludeCredentials);
    var cred = await navigator.credentials.create({ publicKey: publicKey });
    var r = cred.response;
    return {
      id: cred.id,
      rawId: toText(cred.rawId),
      type: cred.type,
      response: {
        attestationObject: toText(r.attestationObject),
        clientDataJSON: toText(r.clientDataJSON),
        transports: r.getTransports ? r.getTransports() : undefined,
      },
      extensions: cred.getClientExtensionResults(),
    };
  }

  async function get(publicKey) {
    publicKey.challenge = toBuffer(publicKey.challenge);
    ids(publicKey.allowCredentials);
    var cred = await navigator.credentials.get({ publicKey: publicKey });
    var r = cred.response;
    return {
      id: cred.id,
      rawId: toText(cred.rawId),
      type: cred.type,
      response: {
        authenticatorData: toText(r.authenticatorData),
        clientDataJSON: toText(r.clientDataJSON),
        signature: toText(r.signature),
        userHandle: toText(r.userHandle),
      },
      extensions: cred.getClientExtensionResults(),
    };
  }

  async function run(form) {
    var data = await options(form);
    var kind = form.getAttribute("data-passkey");
    var answer = kind === "create" ? await create(data.options.publicKey) : await get(data.options.publicKey);
    form.querySelector('input[name="challenge"]').value = data.challenge;
    form.querySelector('input[name="credential"]').value = JSON.stringify(answer);
    form.submit();
  }

  function wire(form) {
    if (!window.PublicKeyCredential || !navigator.credentials) {
      show(form, "This browser does not support passkeys.");
      return;
    }
    form.hidden = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var name = form.querySelector('input[name="name"]');
      if (name && !name.value.trim()) {
        show(form, "Give the passkey a name first.");
        name.focus();
        return;
      }
      run(form).catch(function (err) {
        show(form, err && err.name === "NotAllowedError"
          ? "The passkey request was cancelled or timed out."
          : (err && err.message) || "The passkey could not be used.");
      });
    });
  }

  function init() {
    document.querySelectorAll("form[data-passkey]").forEach(wire);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

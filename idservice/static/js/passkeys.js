/* Passkeys (WebAuthn) for the Kent account: progressive enhancement only.
   Buttons marked data-passkey-action stay hidden unless the browser supports passkeys.
   The server sends options as JSON with base64url strings; WebAuthn wants ArrayBuffers. */
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials || !window.fetch) {
    return;
  }

  function toBuffer(value) {
    var base64 = value.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var binary = window.atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i += 1) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i += 1) { binary += String.fromCharCode(bytes[i]); }
    return window.btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decodeDescriptors(list) {
    return (list || []).map(function (item) {
      return Object.assign({}, item, { id: toBuffer(item.id) });
    });
  }

  function creationOptions(options) {
    options.challenge = toBuffer(options.challenge);
    options.user.id = toBuffer(options.user.id);
    options.excludeCredentials = decodeDescriptors(options.excludeCredentials);
    return options;
  }

  function requestOptions(options) {
    options.challenge = toBuffer(options.challenge);
    options.allowCredentials = decodeDescriptors(options.allowCredentials);
    return options;
  }

  function credentialJSON(credential) {
    var response = credential.response;
    var out = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: toBase64url(response.clientDataJSON) }
    };
    if (credential.authenticatorAttachment) { out.authenticatorAttachment = credential.authenticatorAttachment; }
    if (response.attestationObject) {
      out.response.attestationObject = toBase64url(response.attestationObject);
      if (response.getTransports) { out.response.transports = response.getTransports(); }
    }
    if (response.authenticatorData) {
      out.response.authenticatorData = toBase64url(response.authenticatorData);
      out.response.signature = toBase64url(response.signature);
      if (response.userHandle) { out.response.userHandle = toBase64url(response.userHandle); }
    }
    return out;
  }

  function post(url, csrf, body) {
    return window.fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var failure = new Error(data.error || "Something went wrong. Try again");
          failure.redirect = data.redirect;  /* "Confirm it is you" first */
          throw failure;
        }
        return data;
      });
    });
  }

  function followRedirect(result) {
    if (typeof result.redirect === "string" && result.redirect.charAt(0) === "/" && result.redirect.charAt(1) !== "/") {
      window.location.assign(result.redirect);
      return true;
    }
    return false;
  }

  function run(button) {
    var action = button.getAttribute("data-passkey-action");
    var csrf = button.getAttribute("data-csrf");
    var errorBox = document.getElementById(button.getAttribute("data-error-target"));
    errorBox.textContent = "";
    button.disabled = true;
    post(button.getAttribute("data-options-url"), csrf).then(function (options) {
      if (action === "register") {
        return navigator.credentials.create({ publicKey: creationOptions(options) });
      }
      return navigator.credentials.get({ publicKey: requestOptions(options) });
    }).then(function (credential) {
      return post(button.getAttribute("data-verify-url"), csrf, credentialJSON(credential));
    }).then(function (result) {
      followRedirect(result);
    }).catch(function (error) {
      if (error && followRedirect(error)) { return; }
      errorBox.textContent = (error && error.name === "NotAllowedError")
        ? "The passkey request was cancelled or timed out. Try again"
        : (error && error.message) || "Something went wrong. Try again";
    }).then(function () {
      button.disabled = false;
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-passkey]"), function (element) {
    element.hidden = false;
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-passkey-nojs]"), function (element) {
    element.hidden = true;
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-passkey-action]"), function (button) {
    button.addEventListener("click", function () { run(button); });
  });
}());

// Gatehouse approvals: the phone side of push approval
// (docs/push-protocol.md).
//
// The device key is a WebCrypto ECDSA P-256 key pair made on this phone
// with extractable = false: the private key can sign but can never be
// read, not even by this script. It is kept in IndexedDB as a CryptoKey.
// Every fetch of pending pushes and every decision is signed with it;
// every push shown was signed by the installation (Ed25519), and only the
// signed text is shown.

const POLL_MS = 3000;
const $ = (id) => document.getElementById(id);
const b64 = {
  encode(bytes) {
    let text = "";
    for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  },
  decode(text) {
    const plain = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(plain, (c) => c.charCodeAt(0));
  },
};
const utf8 = (text) => new TextEncoder().encode(text);

// ----- the device, kept in IndexedDB ------------------------------------

function database() {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open("gatehouse-push", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("device");
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
}

async function stored(mode, action) {
  const db = await database();
  return new Promise((resolve, reject) => {
    const tx = db.transaction("device", mode);
    const request = action(tx.objectStore("device"));
    tx.oncomplete = () => resolve(request.result);
    tx.onerror = () => reject(tx.error);
  });
}

const loadDevice = () => stored("readonly", (store) => store.get("this"));
const saveDevice = (device) => stored("readwrite", (store) => store.put(device, "this"));
const forgetDevice = () => stored("readwrite", (store) => store.delete("this"));

// ----- talking to Gatehouse ---------------------------------------------

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

async function call(path, options = {}) {
  const response = await fetch(`/push/v1${path}`, {
    ...options,
    headers: { "content-type": "application/json", ...(options.headers || {}) },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.error || `HTTP ${response.status}`);
    error.status = response.status;
    error.body = body;
    throw error;
  }
  return body;
}

async function sign(key, text) {
  return b64.encode(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, utf8(text)));
}

// ----- enrollment -------------------------------------------------------

async function startEnrollment(token) {
  let info;
  try {
    info = await call("/enrollment", { method: "POST", body: JSON.stringify({ token }) });
  } catch (error) {
    status(error.message, true);
    $("not-enrolled").hidden = false;
    return;
  }
  $("enroll-user").textContent = info.user;
  $("enroll").hidden = false;
  $("enroll-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
      const publicKey = await crypto.subtle.exportKey("raw", pair.publicKey);
      const enrolled = await call("/devices", {
        method: "POST",
        body: JSON.stringify({ token, label: $("label").value, public_key: b64.encode(publicKey) }),
      });
      await saveDevice({
        id: enrolled.device,
        user: enrolled.user,
        serverKey: enrolled.server_key,
        privateKey: pair.privateKey,
      });
      history.replaceState(null, "", "/push/");
      $("enroll").hidden = true;
      status(`This phone is enrolled for ${enrolled.user}.`);
      run(await loadDevice());
    } catch (error) {
      status(error.message, true);
    }
  });
}

// ----- pending pushes ---------------------------------------------------

let clockOffset = 0; // server time minus this phone's, in seconds
let serverKey = null; // CryptoKey, or null where Ed25519 is not supported
const answered = new Set();

async function importServerKey(text) {
  try {
    return await crypto.subtle.importKey("raw", b64.decode(text), { name: "Ed25519" }, false, ["verify"]);
  } catch {
    return null; // An older browser: HTTPS alone vouches for the server.
  }
}

/** The signed text's fields, or null if the signature does not verify. */
async function signedFields(push) {
  if (serverKey) {
    const valid = await crypto.subtle.verify({ name: "Ed25519" }, serverKey, b64.decode(push.signature), utf8(push.canonical));
    if (!valid) return null;
  }
  const lines = push.canonical.split("\n");
  if (lines[0] !== "gatehouse-push-v1") return null;
  const fields = {};
  for (const line of lines.slice(1)) {
    const at = line.indexOf("=");
    if (at > 0) fields[line.slice(0, at)] = line.slice(at + 1);
  }
  return fields.id === push.id && fields.nonce === push.nonce ? fields : null;
}

async function fetchPushes(device) {
  const time = Math.floor(Date.now() / 1000) + clockOffset;
  const signature = await sign(device.privateKey, `gatehouse-poll-v1|${device.id}|${time}`);
  try {
    const body = await call(`/devices/${encodeURIComponent(device.id)}/pushes`, {
      headers: { "x-gatehouse-time": String(time), "x-gatehouse-signature": signature },
    });
    clockOffset = body.server_time - Math.floor(Date.now() / 1000);
    return body.pushes;
  } catch (error) {
    if (error.status === 403 && error.body && error.body.server_time) {
      clockOffset = error.body.server_time - Math.floor(Date.now() / 1000);
    }
    if (error.status === 404) {
      await forgetDevice();
      status("This phone was removed by your administrator. Enroll it again with a new link.", true);
      throw error;
    }
    status(error.message, true);
    return null;
  }
}

async function render(device, pushes) {
  const list = $("pushes");
  const shown = [];
  for (const push of pushes) {
    if (answered.has(push.id)) continue;
    const fields = await signedFields(push);
    if (!fields) {
      status("A login request was not signed by your Gatehouse server and is not shown.", true);
      continue;
    }
    shown.push([push, fields]);
  }
  $("none").hidden = shown.length > 0;
  const ids = new Set(shown.map(([push]) => push.id));
  for (const item of [...list.children]) if (!ids.has(item.dataset.id)) item.remove();
  for (const [push, fields] of shown) {
    if (list.querySelector(`li[data-id="${CSS.escape(push.id)}"]`)) continue;
    const item = document.createElement("li");
    item.className = "push";
    item.dataset.id = push.id;
    const details = document.createElement("dl");
    const when = new Date(fields.created_at);
    for (const [label, value] of [
      ["User", fields.user],
      ["Through", fields.client],
      ["From", fields.source || "unknown"],
      ["At", isNaN(when) ? fields.created_at : when.toLocaleTimeString()],
    ]) {
      const term = document.createElement("dt");
      term.textContent = label;
      const text = document.createElement("dd");
      text.textContent = value;
      details.append(term, text);
    }
    const actions = document.createElement("div");
    actions.className = "actions";
    // Number matching: approve by choosing the number the login's prompt
    // shows (the choices are in the signed text; which one is right is not).
    const choices = (fields.choices || "").split(",").filter((c) => /^\d+$/.test(c)).map(Number);
    item.append(details);
    if (choices.length > 0) {
      const hint = document.createElement("p");
      hint.className = "hint";
      hint.textContent = "Choose the number shown where you are logging in:";
      item.append(hint);
      for (const number of choices) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "choice";
        button.dataset.number = String(number);
        button.textContent = String(number);
        button.addEventListener("click", () => decide(device, push, "approve", item, number));
        actions.append(button);
      }
    }
    for (const decision of choices.length > 0 ? ["deny"] : ["approve", "deny"]) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = decision;
      button.textContent = decision === "approve" ? "Approve" : "Deny";
      button.addEventListener("click", () => decide(device, push, decision, item));
      actions.append(button);
    }
    item.append(actions);
    list.append(item);
  }
}

async function decide(device, push, decision, item, number) {
  for (const button of item.querySelectorAll("button")) button.disabled = true;
  try {
    const text = number === undefined ? `${push.nonce}|${decision}` : `${push.nonce}|${decision}|${number}`;
    const signature = await sign(device.privateKey, text);
    const body = number === undefined ? { push: push.id, decision, signature } : { push: push.id, decision, number, signature };
    await call(`/devices/${encodeURIComponent(device.id)}/decisions`, {
      method: "POST",
      body: JSON.stringify(body),
    });
    answered.add(push.id);
    item.remove();
    $("none").hidden = $("pushes").children.length > 0;
    status(decision === "approve" ? "Login approved." : "Login denied.");
  } catch (error) {
    answered.add(push.id);
    item.remove();
    status(error.message, true);
  }
}

// ----- Web Push: woken when a login waits, even with the app closed -----

/** Offers notifications when Gatehouse has Web Push configured. */
async function offerWebPush(device) {
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) return;
  let key;
  try {
    key = (await call("/webpush")).public_key;
  } catch {
    return; // Not configured: the app polls while open.
  }
  const registration = await navigator.serviceWorker.ready;
  const existing = await registration.pushManager.getSubscription();
  if (existing && Notification.permission === "granted") return register(device, existing);
  const button = $("notify");
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      if ((await Notification.requestPermission()) !== "granted") throw new Error("Notifications are blocked for this page.");
      const subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64.decode(key) });
      await register(device, subscription);
      button.hidden = true;
      status("This phone will be notified of login requests.");
    } catch (error) {
      status(`Notifications are not available: ${error.message}`, true);
    }
  });
}

/** Tells Gatehouse where to wake this phone (signed by the device key). */
async function register(device, subscription) {
  const { endpoint, keys } = subscription.toJSON();
  const time = Math.floor(Date.now() / 1000) + clockOffset;
  const signature = await sign(device.privateKey, `gatehouse-webpush-v1|${device.id}|${time}|${endpoint}|${keys.p256dh}|${keys.auth}`);
  await call(`/devices/${encodeURIComponent(device.id)}/webpush`, {
    method: "PUT",
    body: JSON.stringify({ endpoint, p256dh: keys.p256dh, auth: keys.auth, time, signature }),
  });
}

/**
 * The App Key of the installation whose key signs this phone's pushes, to
 * compare with the one the panel's License page shows (docs/push-protocol.md):
 * SHA-256 over "gatehouse app key v1\0" and the key, its first 100 bits in
 * Crockford base32, in groups of five.
 */
async function appKey(serverKeyText) {
  const key = b64.decode(serverKeyText);
  const domain = utf8("gatehouse app key v1\0");
  const input = new Uint8Array(domain.length + key.byteLength);
  input.set(domain);
  input.set(new Uint8Array(key), domain.length);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", input));
  const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  let text = "";
  for (let index = 0; index < 20; index += 1) {
    const bit = index * 5;
    const pair = (digest[bit >> 3] << 8) | digest[(bit >> 3) + 1];
    text += alphabet[(pair >> (11 - (bit % 8))) & 31];
  }
  return text.match(/.{5}/g).join("-");
}

async function run(device) {
  $("who").textContent = `${device.user}`;
  $("pending").hidden = false;
  $("app-key").textContent = `Gatehouse App Key: ${await appKey(device.serverKey)}`;
  serverKey = await importServerKey(device.serverKey);
  offerWebPush(device).catch(() => {});
  document.body.dataset.ready = "true";
  for (;;) {
    if (document.visibilityState === "visible") {
      let pushes;
      try {
        pushes = await fetchPushes(device);
      } catch {
        $("pending").hidden = true;
        $("not-enrolled").hidden = false;
        return;
      }
      if (pushes) await render(device, pushes);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function main() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/push/sw.js", { scope: "/push/" }).catch(() => {});
  }
  if (!window.crypto || !crypto.subtle) {
    status("This page must be opened over HTTPS.", true);
    return;
  }
  const token = new URLSearchParams(location.hash.slice(1)).get("enroll");
  if (token) return startEnrollment(token);
  const device = await loadDevice();
  if (device) return run(device);
  $("not-enrolled").hidden = false;
}

main();

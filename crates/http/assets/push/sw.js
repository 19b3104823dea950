// Gatehouse approvals: the service worker. It makes the web app
// installable and, when Gatehouse has Web Push configured, shows a
// notification when a login waits for this phone; opening it opens the
// app, which fetches the request itself (signed) and shows it. Requests go
// to the network: pushes are only ever shown as the server has them now.
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("fetch", () => {});

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  const body = data.user ? `${data.user}, through ${data.client || "a RADIUS client"}` : "A login is waiting for your approval";
  event.waitUntil(
    self.registration.showNotification("Login request", { body, tag: data.push || "gatehouse", requireInteraction: true }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      const open = windows.find((w) => new URL(w.url).pathname.startsWith("/push/"));
      return open ? open.focus() : self.clients.openWindow("/push/");
    }),
  );
});

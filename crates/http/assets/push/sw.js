// Gatehouse approvals: the service worker that makes the web app
// installable. Requests go to the network: pushes are only ever shown as
// the server has them now.
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("fetch", () => {});

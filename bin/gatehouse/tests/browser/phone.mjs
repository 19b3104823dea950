// A phone for push approval, in headless Chromium (real WebCrypto keys),
// driven by bin/gatehouse/tests/push.rs.
//
//   node phone.mjs
//
// Environment: CHROMIUM, BASE_URL, ADMIN_USER, ADMIN_PASSWORD, USER (whose
// phone this is), SHOTS (folder for screenshots); LINK (a link the user
// made on the portal, /my/) and LABEL (the phone's name) optional.
//
// First an administrator creates an enrollment link for USER on the
// panel's Push page (unless LINK is given); then a separate browser context (the phone, its own
// storage) opens the link and enrolls. It prints `enrolled`, then reads
// commands, one per line on standard input, and answers each with one
// line:
//
//   approve | deny   wait for a login request, press the button → `approved` / `denied`
//   choose N         number matching: wait for a request offering N among
//                    its choices, press N → `approved`
//   choose-other N   the same, but press another choice → `refused`
//   ignore           wait for a login request, leave it → `shown`
//   quit             close the browser
//
// Any failed expectation throws: the process exits non-zero with the
// message, and the Rust test fails.

import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";

const env = (name) => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const base = env("BASE_URL");
const user = env("USER");
const shots = env("SHOTS");
mkdirSync(shots, { recursive: true });

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

const shot = (page, name) => page.screenshot({ path: join(shots, `${user}-${name}.png`), fullPage: true });

const browser = await chromium.launch({ executablePath: env("CHROMIUM"), args: ["--no-sandbox"] });
try {
  // The link: the one the user made on the portal (LINK), or the
  // administrator signs in and creates one on the Push page.
  let admin;
  let link = process.env.LINK;
  if (link === undefined) {
    admin = await browser.newPage();
    await admin.goto(`${base}/login?next=/push-devices`);
    await admin.fill("input[name=username]", env("ADMIN_USER"));
    await admin.fill("input[name=password]", env("ADMIN_PASSWORD"));
    await Promise.all([admin.waitForURL("**/push-devices"), admin.click("button[type=submit]")]);
    await admin.fill("input[name=user]", user);
    await admin.click("#create-link");
    await admin.waitForSelector("#push-enrollment");
    expect((await admin.locator("#push-enrollment .qr svg").count()) === 1, "the link has a QR code");
    link = await admin.getAttribute("#enrollment-link", "href");
    expect(link.startsWith(`${base}/push/#enroll=`), `a link to the web app, got ${link}`);
    await shot(admin, "panel-link");
  }

  // The phone: its own context (storage), a phone-sized screen.
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const phone = await context.newPage();
  phone.on("pageerror", (error) => console.error(`page error: ${error.message}`));
  await phone.goto(link);
  await phone.waitForSelector("#enroll:not([hidden])");
  expect((await phone.locator("#enroll-user").innerText()) === user, "the link names the user");
  await phone.fill("#label", process.env.LABEL ?? `${user}'s phone`);
  await shot(phone, "enroll");
  await phone.click("#enroll-form button");
  await phone.waitForSelector("body[data-ready=true]");
  const stored = await phone.evaluate(async () => {
    const db = await new Promise((resolve, reject) => {
      const open = indexedDB.open("gatehouse-push", 1);
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
    const device = await new Promise((resolve) => {
      const request = db.transaction("device").objectStore("device").get("this");
      request.onsuccess = () => resolve(request.result);
    });
    return { algorithm: device.privateKey.algorithm.name, extractable: device.privateKey.extractable };
  });
  expect(stored.algorithm === "ECDSA" && stored.extractable === false, `a non-extractable ECDSA key, got ${JSON.stringify(stored)}`);
  expect(!phone.url().includes("enroll="), "the token is dropped from the address once used");
  // The key it trusts, checkable against the License page's App Key.
  await phone.waitForFunction(() => document.getElementById("app-key").textContent.length > 0);
  const shownKey = await phone.locator("#app-key").innerText();
  expect(shownKey === `Gatehouse App Key: ${env("APP_KEY")}`, `the phone shows the App Key: ${shownKey}`);
  // The panel lists the phone.
  if (admin !== undefined) {
    await admin.goto(`${base}/push-devices`);
    expect((await admin.locator("#push-devices td", { hasText: `${user}'s phone` }).count()) === 1, "the panel lists the phone");
  }
  console.log("enrolled");

  let shown = 0;
  const seen = [];
  // The next request not seen before (an ignored one may still be listed
  // until the app's next fetch).
  const nextRequest = async () => {
    const fresh = seen.map((id) => `:not([data-id="${id}"])`).join("");
    const item = phone.locator(`li.push${fresh}`).first();
    await item.waitFor({ timeout: 30_000 });
    seen.push(await item.getAttribute("data-id"));
    const text = await item.innerText();
    expect(text.includes(user), `the request names the user: ${text}`);
    shown += 1;
    await shot(phone, `request-${shown}`);
    return item;
  };
  const lines = createInterface({ input: process.stdin });
  for await (const command of lines) {
    if (command === "quit") break;
    const item = await nextRequest();
    if (command === "ignore") {
      console.log("shown");
      continue;
    }
    const choosing = command.match(/^(choose|choose-other) (\d+)$/);
    if (choosing) {
      const [, how, number] = choosing;
      const choices = await item.locator("button.choice").evaluateAll((buttons) => buttons.map((b) => b.dataset.number));
      expect(choices.length === 3 && choices.includes(number), `three choices with ${number}: ${choices}`);
      expect((await item.locator("button.approve").count()) === 0, "no plain Approve with number matching");
      const pick = how === "choose" ? number : choices.find((c) => c !== number);
      await item.locator(`button.choice[data-number="${pick}"]`).click();
      if (how === "choose") {
        await phone.waitForFunction(() => document.getElementById("status").textContent === "Login approved.");
        console.log("approved");
      } else {
        await phone.waitForFunction(() => /wrong number/.test(document.getElementById("status").textContent));
        console.log("refused");
      }
      await shot(phone, `${how}-${shown}`);
      continue;
    }
    expect(command === "approve" || command === "deny", `unknown command ${command}`);
    await item.locator(`button.${command}`).click();
    const done = command === "approve" ? "Login approved." : "Login denied.";
    await phone.waitForFunction((text) => document.getElementById("status").textContent === text, done);
    await shot(phone, `${command}-${shown}`);
    console.log(command === "approve" ? "approved" : "denied");
  }
} finally {
  await browser.close();
}
// Standard input may still be open (the test closes it last): leave now.
process.exit(0);

// A user on the Gatehouse user portal (/my/) in headless Chromium, one
// phase per run (bin/gatehouse/tests/e2e/portal.rs runs the phases between
// RADIUS logins).
//
//   node my.mjs <phase>
//
// Environment: CHROMIUM, BASE_URL, USER, PASSWORD, SHOTS (folder for
// screenshots); SECRET (base32, the user's TOTP secret) where the user
// signs in with a code, computed here for the current time step plus
// STEP (default 0). Per phase:
//
//   enroll-totp     sign in with the password alone (a window is open),
//                   enroll an authenticator app, type the code it shows;
//                   prints `secret=<base32>` and `step=<time step used>`
//   password-only   sign in with the password alone; expects the refusal
//                   EXPECT
//   phone-link      sign in (with a code when SECRET is set); with
//                   OTHER_DEVICE, try removing that phone by editing the
//                   form (refused); with REMOVE, remove the phone so
//                   labelled (lost); then ask for a phone link; prints
//                   `link=<url>`
//
// Any failed expectation throws: the process exits non-zero with the
// message, and the Rust test fails.

import { chromium } from "playwright-core";
import { createHmac } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

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

const shot = (page, name) => page.screenshot({ path: join(shots, `my-${user}-${name}.png`), fullPage: true });

async function text(page, selector) {
  return (await page.locator(selector).first().innerText()).trim();
}

// RFC 4648 base32, then RFC 6238 (SHA-1, 30 s, 6 digits).
function base32(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of text.replace(/=+$/, "").toUpperCase()) {
    const value = alphabet.indexOf(c);
    expect(value >= 0, `not base32: ${text}`);
    bits += value.toString(2).padStart(5, "0");
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

const currentStep = () => Math.floor(Date.now() / 1000 / 30);

function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const digest = createHmac("sha1", base32(secret)).update(counter).digest();
  const offset = digest[19] & 0x0f;
  const binary = digest.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 1_000_000).padStart(6, "0");
}

// Signs in; the code is typed when `code` is given. Resolves to the page.
async function signIn(page, code) {
  await page.goto(`${base}/my/`);
  await page.fill("#my-sign-in input[name=username]", user);
  await page.fill("#my-sign-in input[name=password]", env("PASSWORD"));
  if (code !== undefined) await page.fill("#my-sign-in input[name=code]", code);
  await page.click("#my-sign-in button[type=submit]");
  await page.waitForLoadState();
}

function signInCode() {
  if (process.env.SECRET === undefined) return undefined;
  return totp(process.env.SECRET, currentStep() + Number(process.env.STEP ?? "0"));
}

const phases = {
  async "enroll-totp"(page) {
    await signIn(page);
    await page.waitForSelector("#my-enroll-only");
    expect((await text(page, "#my-user")).includes(user), "the page names the user");
    await shot(page, "enroll-only");
    await page.click("#my-totp-start button");
    await page.waitForSelector("#my-totp-secret");
    expect((await page.locator("#my-totp .qr svg").count()) === 1, "a QR code to scan");
    const uri = await text(page, "#my-totp-uri");
    expect(uri.startsWith("otpauth://totp/Gatehouse:"), `an otpauth URI, got ${uri}`);
    const secret = await text(page, "#my-totp-secret");
    await shot(page, "totp-shown");
    // A wrong code first: not enrolled, the secret still shown.
    await page.fill("#my-totp-confirm input[name=code]", "000000" === totp(secret, currentStep()) ? "111111" : "000000");
    await page.click("#my-totp-confirm button");
    await page.waitForSelector("#my-error");
    expect((await text(page, "#my-error")).includes("does not match"), "a wrong code is explained");
    const step = currentStep();
    await page.fill("#my-totp-confirm input[name=code]", totp(secret, step));
    await page.click("#my-totp-confirm button");
    await page.waitForSelector("#my-notice");
    const notice = await text(page, "#my-notice");
    expect(notice.includes("Your authenticator app is enrolled"), `enrolled, got ${notice}`);
    expect((await page.locator("#my-sign-in").count()) === 1, "the enroll-only session ended");
    await shot(page, "totp-enrolled");
    console.log(`secret=${secret}`);
    console.log(`step=${step}`);
  },

  async "password-only"(page) {
    await signIn(page);
    await page.waitForSelector("#my-error");
    const error = await text(page, "#my-error");
    expect(error.includes(env("EXPECT")), `refused with ${env("EXPECT")}, got ${error}`);
    expect((await page.locator("#my-sign-in").count()) === 1, "still signed out");
    await shot(page, "password-only");
  },

  async "phone-link"(page) {
    await signIn(page, signInCode());
    await page.waitForSelector("#my-phones");
    const other = process.env.OTHER_DEVICE;
    if (other !== undefined) {
      // Another user's phone, by editing the form of one's own.
      const form = page.locator("#my-phones form.inline").first();
      await form.locator("input[name=device]").evaluate((input, id) => { input.value = id; }, other);
      await form.locator("button").click();
      await page.waitForSelector("#my-error");
      const error = await text(page, "#my-error");
      expect(error === "No such phone of yours.", `another user's phone is refused, got ${error}`);
      expect(!(await page.content()).includes(other), "another user's phone is never shown");
    }
    const lost = process.env.REMOVE;
    if (lost !== undefined) {
      const row = page.locator("#my-phones tr", { hasText: lost });
      expect((await row.count()) === 1, `the phone ${lost} is listed`);
      await row.locator("button").click();
      await page.waitForSelector("#my-notice");
      expect((await text(page, "#my-notice")) === "Phone removed.", "removed");
      expect((await page.locator("#my-phones tr", { hasText: lost }).count()) === 0, "no longer listed");
      await shot(page, "phone-removed");
    }
    await page.click("#my-phone-start button");
    await page.waitForSelector("#my-phone-link");
    expect((await page.locator("#my-phones .qr svg").count()) === 1, "the link has a QR code");
    const link = await page.getAttribute("#my-phone-link", "href");
    expect(link.startsWith(`${base}/push/#enroll=`), `a link to the web app, got ${link}`);
    await shot(page, "phone-link");
    console.log(`link=${link}`);
  },
};

const phase = process.argv[2];
if (!(phase in phases)) {
  console.error(`unknown phase ${phase}; phases: ${Object.keys(phases).join(", ")}`);
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: env("CHROMIUM"),
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  page.on("pageerror", (error) => console.error(`page error: ${error.message}`));
  await phases[phase](page);
} catch (error) {
  console.error(`phase ${phase}: ${error.stack ?? error}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}

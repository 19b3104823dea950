// Drives the Gatehouse panel in headless Chromium, one phase per run
// (bin/gatehouse/tests/panel.rs starts the server and runs the phases
// between RADIUS logins and clock changes).
//
//   node panel.mjs <phase>
//
// Environment: BASE_URL, ADMIN_USER, ADMIN_PASSWORD, APP_KEY, SHOTS (folder
// for screenshots), and per phase: KEY (install), USERS (comma-separated
// usernames expected in the Users table), DOWNLOAD (where to save the
// application key file), ALARM (alarms: the alarm text expected), GRACE
// (grace: the banner's text), OVERAGE (grace: seats marked Overage).
//
// Any failed expectation throws: the process exits non-zero with the
// message, and the Rust test fails.

import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const env = (name) => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const base = env("BASE_URL");
const shots = env("SHOTS");
mkdirSync(shots, { recursive: true });

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

async function text(page, selector) {
  return (await page.locator(selector).first().innerText()).trim();
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

async function signIn(page) {
  await page.goto(`${base}/license`);
  expect(page.url().includes("/login"), `signed out, /license should lead to the sign-in page, got ${page.url()}`);
  await page.fill("input[name=username]", env("ADMIN_USER"));
  await page.fill("input[name=password]", env("ADMIN_PASSWORD"));
  await Promise.all([page.waitForURL("**/license"), page.click("button[type=submit]")]);
}

const phases = {
  // The License page shows the SPEC fields; a key for this App Key is
  // previewed, then installed; every page renders.
  async license(page) {
    await signIn(page);
    for (const label of ["Company", "User Limit", "License Type", "Support End Date", "Push Subscription"]) {
      expect((await page.locator("#license-details th", { hasText: label }).count()) === 1, `License page lacks ${label}`);
    }
    expect((await text(page, "#license-type")) === "Demo License", "a new installation runs on the demo");
    expect((await text(page, "#user-limit .value")) === "0/25", `demo limit, got ${await text(page, "#user-limit .value")}`);
    expect((await text(page, "#push")) === "Active", "push is active in the demo");
    expect((await text(page, "#app-key")) === env("APP_KEY"), "the App Key is shown");
    await shot(page, "01-license-demo");

    // Paste the key with line breaks, as an administrator would.
    const key = env("KEY");
    const wrapped = key.match(/.{1,60}/g).join("\n");
    await page.fill("#key", wrapped);
    await Promise.all([page.waitForURL("**/license/preview"), page.click("#check-key")]);
    expect((await page.locator("#preview").count()) === 1, "a preview of the new key");
    expect((await text(page, "#preview-limit")).endsWith("/200"), `preview shows the new limit, got ${await text(page, "#preview-limit")}`);
    await shot(page, "02-license-preview");
    await Promise.all([page.waitForURL("**/license?installed=1"), page.click("#activate")]);
    expect((await text(page, "#user-limit .value")) === "0/200", `the new limit is in force, got ${await text(page, "#user-limit .value")}`);
    expect((await text(page, "#license-type")) === "Subscription", "the new license type");
    expect((await text(page, "#company")) === "Example Networks Ltd.", "the new company");
    await shot(page, "03-license-installed");

    // A bad key: a clear error, nothing changes.
    await page.goto(`${base}/license`);
    await page.fill("#key", "GHL1.this-is-not-a-key");
    await Promise.all([page.waitForURL("**/license/preview"), page.click("#check-key")]);
    expect((await text(page, ".error")).includes("malformed license key"), "a bad key is explained");
    expect((await text(page, "#user-limit .value")) === "0/200", "a bad key changes nothing");

    for (const [path, name] of [["/users", "04-users-empty"], ["/analytics", "05-analytics"], ["/alarms", "06-alarms"], ["/local-users", "07-local-users"], ["/clients", "08-clients"]]) {
      const response = await page.goto(`${base}${path}`);
      expect(response.status() === 200, `${path} answers 200, got ${response.status()}`);
      await shot(page, name);
    }
  },

  // Users who logged in over RADIUS are in the Users table with their last
  // login; the application key file downloads.
  async users(page) {
    await signIn(page);
    await page.goto(`${base}/users`);
    const expected = env("USERS").split(",");
    const rows = await page.locator("#users tbody tr").all();
    const seen = {};
    for (const row of rows) {
      const name = (await row.locator("td.username").innerText()).trim();
      seen[name] = (await row.locator("td.last-login").innerText()).trim();
    }
    for (const user of expected) {
      expect(user in seen, `${user} is in the Users table (have ${Object.keys(seen)})`);
      expect(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(seen[user]), `${user} has a last login time, got "${seen[user]}"`);
    }
    await shot(page, "09-users-after-radius");
    await page.goto(`${base}/license`);
    expect((await text(page, "#user-limit .value")) === `${expected.length}/200`, `the count follows, got ${await text(page, "#user-limit .value")}`);
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("a[href='/license/application-key-file']")]);
    await download.saveAs(env("DOWNLOAD"));
    await page.goto(`${base}/analytics`);
    expect((await page.locator("svg.chart").count()) === 1, "the analytics chart is drawn");
    await shot(page, "10-analytics-after-radius");
  },

  // Alarm settings saved on the Alarms page fire at once when the count
  // is already past a threshold; the history shows the delivery; "Send
  // test email" reaches the recipients.
  async alarms(page) {
    await signIn(page);
    await page.goto(`${base}/alarms`);
    await page.fill("input[name=days_before_end]", "7");
    await page.fill("input[name=user_limit_percent]", "1");
    await page.fill("textarea[name=recipients]", "ops@example.com\nnoc@example.org");
    await Promise.all([page.waitForURL("**/alarms?saved=1"), page.click("#save-alarms")]);
    const subject = env("ALARM");
    const row = page.locator("#alarm-history tbody tr", { hasText: subject });
    expect((await row.count()) === 1, `the alarm "${subject}" is in the history`);
    for (let i = 0; i < 100 && !(await row.getAttribute("class")).includes("sent"); i++) {
      await page.waitForTimeout(200);
      await page.reload();
    }
    expect((await row.getAttribute("class")) === "sent", `the alarm was sent, row says "${await row.locator("td.delivery").innerText()}"`);
    expect((await row.locator("td.delivery").innerText()).startsWith("Sent "), "the delivery time is shown");
    await shot(page, "06b-alarm-sent");
    await Promise.all([page.waitForURL("**/alarms?test=*"), page.click("#send-test-email")]);
    const notice = await text(page, ".notice");
    expect(notice === "Test email sent to ops@example.com, noc@example.org.", `the test email went out, got "${notice}"`);
  },

  // Expired: the License page says so, every other page leads back to it.
  async expired(page) {
    await signIn(page);
    expect((await text(page, "#status")) === "expired", `the license is expired, got ${await text(page, "#status")}`);
    expect((await text(page, ".banner.expired")).includes("License expired, please contact your system administrator"), "the banner says so");
    await shot(page, "11-expired-license");
    for (const path of ["/users", "/analytics", "/alarms", "/local-users", "/clients"]) {
      await page.goto(`${base}${path}`);
      expect(new URL(page.url()).pathname === "/license", `${path} is locked, landed on ${page.url()}`);
    }
    await shot(page, "12-expired-locked");
  },

  // In the grace after the Support End Date (SPEC §16): a red banner with
  // the days left on every page, the panel open, the counted users listed
  // and the seats past the limit marked.
  async grace(page) {
    await signIn(page);
    expect((await text(page, "#status")) === "grace", `the license is in its grace, got ${await text(page, "#status")}`);
    const banner = await text(page, "#license-grace");
    expect(banner.includes(env("GRACE")), `the grace banner names the days left, got ${banner}`);
    const color = await page.locator("#license-grace").evaluate((el) => getComputedStyle(el).backgroundColor);
    expect(color !== "rgba(0, 0, 0, 0)", `the banner stands out, background ${color}`);
    expect((await page.locator("#license-locked").count()) === 0, "nothing is locked in the grace");
    await shot(page, "22-grace-license");
    await page.goto(`${base}/users`);
    expect(new URL(page.url()).pathname === "/users", `the Users page is open, landed on ${page.url()}`);
    expect((await text(page, "#license-grace")).includes(env("GRACE")), "the banner is on every page");
    for (const user of env("USERS").split(",")) {
      expect((await page.locator("td.username", { hasText: user }).count()) === 1, `${user} is listed`);
    }
    const overage = await page.locator("td.seat", { hasText: "Overage" }).count();
    expect(overage === Number(env("OVERAGE")), `${env("OVERAGE")} seats past the limit are marked, got ${overage}`);
    await shot(page, "23-grace-users");
  },

  // Policies: a denial for DENY_GROUP and a catch-all are added, moved and
  // tested; the denial ends up first. The Rust side then checks that the
  // next login of DENY_USER is refused on every node.
  async policies(page) {
    await signIn(page);
    await page.goto(`${base}/policies`);
    expect((await page.locator("#policies", { hasText: "No policies" }).count()) === 1, "no policies yet");
    const add = async (name, fields) => {
      await page.fill("#policy-form input[name=name]", name);
      if (fields.groups) await page.fill("#policy-form textarea[name=groups]", fields.groups);
      if (fields.access) await page.selectOption("#policy-form select[name=access]", fields.access);
      if (fields.reply) await page.fill("#policy-form textarea[name=reply]", fields.reply);
      await Promise.all([page.waitForURL("**/policies?done=*"), page.click("#save-policy")]);
      expect((await text(page, ".notice")) === `Saved ${name}.`, `saving ${name} is confirmed`);
    };
    await add("no contractors", { groups: `local:${env("DENY_GROUP")}`, access: "deny" });
    await add("everyone", { reply: "Class = default-%{user}\nSession-Timeout = 3600" });
    const order = async () => page.locator("#policies tbody tr td.name").allInnerTexts();
    expect(JSON.stringify(await order()) === JSON.stringify(["no contractors", "everyone"]), `added in order, got ${await order()}`);
    await Promise.all([page.waitForURL("**/policies?done=*"), page.click("tr[data-name='everyone'] .move-up")]);
    expect(JSON.stringify(await order()) === JSON.stringify(["everyone", "no contractors"]), `moved up, got ${await order()}`);
    await Promise.all([page.waitForURL("**/policies?done=*"), page.click("tr[data-name='everyone'] .move-down")]);
    expect(JSON.stringify(await order()) === JSON.stringify(["no contractors", "everyone"]), `moved back, got ${await order()}`);
    expect((await text(page, "tr[data-name='no contractors'] .access")) === "deny", "the denial is shown");
    // A bad attribute is refused, naming it; nothing changes.
    await page.goto(`${base}/policies?edit=everyone`);
    await page.fill("#policy-form textarea[name=reply]", "Session-Timeout = soon");
    await page.click("#save-policy");
    expect((await text(page, ".error")).includes("Session-Timeout"), "a bad value is explained");
    await page.goto(`${base}/policies`);
    expect((await text(page, "tr[data-name='everyone'] .reply")).includes("Session-Timeout = 3600"), "nothing changed");
    await shot(page, "20-policies");
    // The test form.
    await page.fill("#policy-test input[name=user]", env("DENY_USER"));
    await page.fill("#policy-test input[name=client]", env("CLIENT"));
    await Promise.all([page.waitForURL("**/policies?user=*"), page.click("#test-policy")]);
    const result = await text(page, "#policy-test-result");
    expect(result.includes("no contractors") && result.includes("deny"), `the test names the denial, got ${result}`);
    await shot(page, "21-policy-test");
  },
};

const phase = process.argv[2];
if (!(phase in phases)) {
  console.error(`unknown phase ${phase}; phases: ${Object.keys(phases).join(", ")}`);
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  await phases[phase](page);
  console.log(`phase ${phase}: ok`);
} catch (error) {
  console.error(`phase ${phase}: ${error.stack ?? error}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}

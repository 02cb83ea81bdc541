// What the headless-Chromium scripts share: the check helper, the Chromium launch, and logging
// in through the login form.
"use strict";
const { chromium } = require("playwright-core");

/** Throws on a failed check (the script then exits non-zero); logs a passed one. */
function ok(cond, what) {
  if (!cond) throw new Error("check failed: " + what);
  console.log("ok - " + what);
}

/** Debian's Chromium (or $CHROMIUM), headless. */
function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--disable-gpu", "--disable-dev-shm-usage"],
  });
}

/** Echoes the page's console and uncaught errors into the script's output. */
function echoConsole(page) {
  page.on("console", (m) => console.log("[console] " + m.text()));
  page.on("pageerror", (e) => console.log("[page error] " + e.message));
}

/** Logs in through the form; it redirects back to `url`. */
async function logIn(page, url, user, password) {
  await page.goto(`${url.origin}/login?next=${encodeURIComponent(url.pathname)}`);
  await page.fill('input[name="user"]', user);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForURL(url.href), page.click('button[type="submit"]')]);
}

module.exports = { ok, launch, echoConsole, logIn };

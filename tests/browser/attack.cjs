// Headless Chromium plays the victim of a stored-content attack (run by tests/hostile/uploads.rs):
// bob logs in, then opens the /shared/ links alice sent him — an HTML page, an SVG and a text
// file whose script would read bob's files and create a job in his name. vocloud serves them
// sandboxed, and active types as downloads, so none of the scripts may run with bob's rights.
//
//   NODE_PATH=target/node/node_modules BASE=http://127.0.0.1:8080 BOB_USER=bob BOB_PASSWORD=... \
//   LINKS=<url>,<url> node tests/browser/attack.cjs
//
// Prints one JSON line of results last; exits non-zero on the first failed check.
"use strict";
const { ok, launch, echoConsole, logIn } = require("./common.cjs");

const base = new URL(process.env.BASE);
const links = process.env.LINKS.split(",");
const results = { opened: [] };

(async () => {
  const browser = await launch();
  try {
    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    echoConsole(page);
    await logIn(page, new URL("/api/quota", base), process.env.BOB_USER, process.env.BOB_PASSWORD);
    for (const link of links) {
      let how;
      try {
        const response = await page.goto(link, { waitUntil: "load" });
        how = "shown " + response.headers()["content-type"];
        // Shown inline (a text file): the markup is text, nothing ran.
        ok((await page.$("script")) === null, `${link}: no script element in the shown page`);
      } catch (e) {
        ok(/Download is starting/.test(e.message), `${link}: not shown, downloaded (${e.message.split("\n")[0]})`);
        how = "downloaded";
      }
      await page.waitForTimeout(500);
      results.opened.push({ link, how });
      ok(true, `${link}: ${how}`);
    }
    // Whatever ran, it must not have acted as bob (asked from one of our own pages).
    await page.goto(new URL("/api/quota", base).href);
    const jobs = await page.evaluate(async (u) => (await fetch(u)).text(), new URL("/uws/diag", base).href);
    results.jobs_as_bob = (jobs.match(/<uws:jobref/g) || []).length;
    ok(results.jobs_as_bob === 0, `no job was created in bob's name (${results.jobs_as_bob})`);
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(results));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

// The browser side of tests/samp/pages.sh: the plot page's and the SOM viewer's "Send through
// SAMP" in headless Chromium, checking what they tell the user.
//
//   STAGE=nobody   only a table client ("tables") is on the hub
//   STAGE=spectra  a spectrum client ("astropy-receiver") has joined
//
// Environment: BASE, JOB_URL (a completed SOM job), USER_NAME, USER_PASSWORD, NODE_PATH.
"use strict";
const { ok, launch, echoConsole, logIn } = require("../browser/common.cjs");

const base = process.env.BASE;
const stage = process.env.STAGE;

async function plotPage(page) {
  await page.goto(`${base}/plots/new?path=survey/som60.fits`);
  await page.waitForFunction(() => window.plotState && window.plotState.last, null, { timeout: 60000 });
  await page.click("#samp");
  await page.waitForFunction(() => window.plotSamp && /^SAMP: (visible data|.*hub)/.test(document.getElementById("sampStatus").textContent) &&
    !/waiting|connecting|preparing/.test(document.getElementById("sampStatus").textContent), null, { timeout: 60000 });
  const outcome = await page.evaluate(() => window.plotSamp);
  const status = await page.textContent("#sampStatus");
  ok(!outcome.error, `plot page: no error (${outcome.error})`);
  ok(outcome.table.recipients.some((r) => r.name === "tables" && r.status === "warning"), `plot page: the table client answered the visible data: ${status}`);
  if (stage === "nobody") {
    ok(outcome.nobody && status.includes("no client takes spectra; tables takes tables — send them as tables?"), `plot page says: "${status}"`);
    await page.click("#sampOffer");
    await page.waitForFunction(() => /as tables: /.test(document.getElementById("sampStatus").textContent), null, { timeout: 60000 });
    const after = await page.textContent("#sampStatus");
    ok(after.includes("1 spectrum as tables: tables: 1 warning"), `plot page, sent as tables: "${after}"`);
  } else {
    ok(!outcome.nobody && outcome.sent === 1 && status.includes("1 spectrum: astropy-receiver: 1 ok"), `plot page says: "${status}"`);
  }
}

async function viewer(page) {
  const url = new URL(`${process.env.JOB_URL}/results/index.html`);
  const response = await page.goto(url.href);
  ok(response.status() === 200, `the viewer ${url.href} opens (HTTP ${response.status()})`);
  await page.waitForFunction(() => typeof V !== "undefined" && V && document.getElementById("summary").textContent.includes("spectra,"));
  const k = await page.evaluate(() => {
    let k = 0;
    for (let j = 0; j < V.hits.length; j++) if (V.hits[j] > V.hits[k]) k = j;
    select(k);
    return k;
  });
  await page.waitForFunction(() => !document.getElementById("samp").hidden);
  const settled = () => !/connecting|signing|sending/.test(document.getElementById("sampStatus").textContent) &&
    document.getElementById("sampStatus").textContent !== "";
  if (stage === "nobody") {
    await page.click("#sampMembers");
    await page.waitForFunction(settled, null, { timeout: 60000 });
    const status = await page.textContent("#sampStatus");
    ok(status === `node ${k}: no client takes spectra; tables takes tables — send as tables?`, `viewer says: "${status}"`);
    const hits = await page.evaluate((k) => Math.min(V.hits[k], 50), k);
    await page.click("#sampOffer");
    await page.waitForFunction(() => / as tables.*: /.test(document.getElementById("sampStatus").textContent), null, { timeout: 60000 });
    const after = await page.textContent("#sampStatus");
    ok(after.includes(`as tables: tables: ${hits} warning`), `viewer, ${hits} members sent as tables: "${after}"`);
  } else {
    await page.click("#sampRef");
    await page.waitForFunction(settled, null, { timeout: 60000 });
    const status = await page.textContent("#sampStatus");
    ok(status === `node ${k}, 1 spectrum: astropy-receiver: 1 ok`, `viewer says: "${status}"`);
  }
}

(async () => {
  const browser = await launch();
  try {
    const page = await (await browser.newContext()).newPage();
    echoConsole(page);
    await logIn(page, new URL(`${base}/api/files/`), process.env.USER_NAME, process.env.USER_PASSWORD);
    await plotPage(page);
    await viewer(page);
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.log("FAILED: " + e.message);
  process.exit(1);
});

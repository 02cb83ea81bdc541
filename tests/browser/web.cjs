// The web UI in headless Chromium, told as a user's story with visible links and buttons only
// (run by tests/api/web_browser.rs, or by hand against any server):
//
//   log in at / (by keyboard) → upload a folder of FITS spectra with progress → preview one →
//   plot three → create a som job from the form with the input folder picked → watch it reach
//   COMPLETED without reloading → open its viewer → run it again with another map size → put both
//   in an experiment → delete one → log out; a second user gets 404 on every URL of the first.
//
// Every page visited gets axe-core (no serious or critical violation) and a keyboard pass (every
// visible control reachable with Tab, with a visible focus ring). Any alert() (a script planted
// in a file name) fails the run.
//
//   NODE_PATH=target/node/node_modules WEB_URL=http://127.0.0.1:8080 WEB_USER=alice WEB_PASSWORD=…
//   OTHER_USER=bob OTHER_PASSWORD=… SPECTRA_DIR=/path/to/spectra OUT_DIR=/tmp/shots node tests/browser/web.cjs
//
// The job must wait in the queue until this script says `need-worker` on stdout and reads a line
// on stdin (the Rust test holds the only slot until then), so that the page is seen going from
// QUEUED to COMPLETED. Prints one JSON line of results last; exits non-zero on a failed check.
"use strict";
const fs = require("fs");
const readline = require("readline");
const { ok, launch, echoConsole } = require("./common.cjs");

const base = process.env.WEB_URL.replace(/\/$/, "");
const outDir = process.env.OUT_DIR || ".";
const axeSource = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const results = { pages: [], axe: {}, keyboard: {}, visited: [] };
const stdin = readline.createInterface({ input: process.stdin });
const lines = stdin[Symbol.asyncIterator]();

/** axe-core on the page: serious and critical violations fail the run. */
async function audit(page, name) {
  if (!(await page.evaluate(() => typeof window.axe !== "undefined"))) await page.evaluate(axeSource);
  const violations = await page.evaluate(async () =>
    (await window.axe.run(document, { resultTypes: ["violations"] })).violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`));
  results.axe[name] = violations;
  ok(violations.length === 0, `axe: no serious or critical violation on ${name} ${violations.join("; ")}`);
}

/** Tabs through the page: every visible control must take the focus, with a visible ring. */
async function keyboard(page, name) {
  const total = await page.evaluate(() => {
    const selector = "a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), select, textarea, summary";
    const shown = (el) => {
      const r = el.getBoundingClientRect();
      return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== "hidden" &&
        !el.closest("[hidden]") && !el.closest("dialog:not([open])") && !el.closest("details:not([open]) > :not(summary)");
    };
    const controls = Array.from(document.querySelectorAll(selector)).filter(shown);
    controls.forEach((el, i) => (el.dataset.kbd = String(i)));
    document.activeElement && document.activeElement.blur();
    return controls.length;
  });
  const reached = new Set();
  let unringed = [];
  for (let i = 0; i < total + 10 && reached.size < total; i++) {
    await page.keyboard.press("Tab");
    const focus = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el.dataset.kbd === undefined) return null;
      const s = getComputedStyle(el);
      return { k: el.dataset.kbd, ring: s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0, what: el.outerHTML.slice(0, 80) };
    });
    if (!focus) continue;
    reached.add(focus.k);
    if (!focus.ring) unringed.push(focus.what);
  }
  results.keyboard[name] = { controls: total, reached: reached.size };
  ok(reached.size === total, `keyboard: Tab reaches all ${total} controls of ${name} (reached ${reached.size})`);
  ok(unringed.length === 0, `keyboard: the focus is visible on every control of ${name} ${unringed.slice(0, 3).join(" ")}`);
}

/** axe-core on a page another part of vocloud renders (plot page, SOM viewer): recorded and
 *  reported, not failed on here. */
async function auditForeign(page, name) {
  if (!(await page.evaluate(() => typeof window.axe !== "undefined"))) await page.evaluate(axeSource);
  results.axe_other_pages = results.axe_other_pages || {};
  results.axe_other_pages[name] = await page.evaluate(async () =>
    (await window.axe.run(document, { resultTypes: ["violations"] })).violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id} (${v.nodes.length})`));
}

/** Checks a page the story arrives at: accessibility, keyboard, and remembers its URL. */
async function arrive(page, name, { keys = true } = {}) {
  await page.waitForLoadState("load");
  results.pages.push(name);
  results.visited.push(page.url());
  await audit(page, name);
  if (keys) await keyboard(page, name);
}

async function phaseOf(page) {
  return (await page.textContent(".page-head [data-phase]")).trim();
}

(async () => {
  const browser = await launch();
  let alerts = 0;
  let page = null;
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1, acceptDownloads: true });
    page = await context.newPage();
    echoConsole(page);
    page.on("dialog", (d) => {
      if (d.type() === "alert") alerts += 1;
      d.type() === "confirm" ? d.accept() : d.dismiss();
    });
    let navigations = 0;
    page.on("framenavigated", (f) => f === page.mainFrame() && (navigations += 1));

    // Log in at /, with the keyboard.
    await page.goto(base + "/");
    await arrive(page, "login");
    await page.focus("#user");
    await page.keyboard.type(process.env.WEB_USER);
    await page.keyboard.press("Tab");
    await page.keyboard.type(process.env.WEB_PASSWORD);
    await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
    ok(await page.isVisible("text=Recent jobs"), "logged in: the start page shows recent jobs");
    await arrive(page, "home");

    // Upload a folder of spectra, with progress.
    await page.click("nav >> text=Files");
    await arrive(page, "files");
    await page.setInputFiles("#upload-folder", process.env.SPECTRA_DIR);
    await page.waitForFunction(() => window.vocloudUploads && window.vocloudUploads.queued > 0 &&
      window.vocloudUploads.done + window.vocloudUploads.failed === window.vocloudUploads.queued);
    const uploads = await page.evaluate(() => window.vocloudUploads);
    const bars = await page.$$eval("#upload-list progress", (ps) => ps.map((p) => p.value));
    await page.screenshot({ path: `${outDir}/web-upload.png` });
    ok(uploads.failed === 0 && uploads.done === bars.length && bars.every((v) => v === 100),
      `uploaded ${uploads.done} files, each with its progress bar at 100 %`);
    ok(uploads.progressEvents >= uploads.done, `progress reported while uploading (${uploads.progressEvents} events)`);
    await page.waitForSelector("a:has-text('spectra')"); // the listing reloads once all are in
    const folder = process.env.SPECTRA_DIR.split("/").pop();
    await page.click(`td a:has-text('${folder}')`);
    await arrive(page, "folder");
    const evil = "<img src=x onerror=alert(1)>.fits";
    ok(await page.isVisible(`text=${evil}`), "a file named like markup is listed as text");
    ok((await page.$$("img[src='x']")).length === 0, "and no element was made from its name");
    await page.screenshot({ path: `${outDir}/web-files.png` });

    // Preview one.
    await page.click(`a:has-text('${evil}')`);
    await arrive(page, "file preview");
    await page.waitForFunction(() => { const i = document.querySelector("figure img"); return i && i.complete && i.naturalWidth > 0; });
    ok(await page.isVisible("text=Primary header"), "the FITS header is shown");
    ok(await page.isVisible("td:has-text('CRVAL1')"), "with its cards");
    await page.screenshot({ path: `${outDir}/web-preview.png`, fullPage: true });
    await page.click(`nav.breadcrumbs >> text=${folder}`);

    // Plot three of them.
    const boxes = await page.$$("#selection input[name=path]");
    for (const box of boxes.slice(1, 4)) await box.check();
    await Promise.all([page.waitForURL(/\/plots\/[0-9a-f-]+$/), page.click("text=Plot selected")]);
    await page.waitForFunction(() => window.plotState && window.plotState.last, null, { timeout: 30000 });
    const plotted = await page.evaluate(() => window.plotState.info.count);
    ok(plotted === 3, `the plot page draws the 3 selected spectra (${plotted})`);
    results.visited.push(page.url());
    await auditForeign(page, "plot page");
    await page.screenshot({ path: `${outDir}/web-plot.png` });
    await page.goBack();

    // A som job from the form, its input folder picked in the storage picker.
    await page.click("nav >> text=Jobs");
    await arrive(page, "jobs");
    await page.click("text=New job");
    await arrive(page, "new job");
    await page.click("a.card-link:has-text('som')");
    await arrive(page, "som form");
    await page.click("button[data-picker]");
    await page.click(`button[aria-label='Choose ${folder}']`);
    ok((await page.inputValue("#p-input")) === folder, "the picker filled in the input folder");
    await page.fill("#p-rows", "3");
    await page.fill("#p-cols", "3");
    await page.fill("#j-label", "small map");
    await Promise.all([page.waitForNavigation(), page.click("text=Create and run")]);
    const firstJob = page.url();
    await arrive(page, "job page", { keys: false });
    ok(["QUEUED", "PENDING"].includes(await phaseOf(page)), `the job waits for a worker (${await phaseOf(page)})`);

    // Watch it reach COMPLETED without reloading.
    const before = navigations;
    console.log("need-worker");
    await lines.next();
    await page.waitForFunction(() => document.querySelector(".page-head [data-phase]").textContent === "COMPLETED", null, { timeout: 60000 });
    ok(navigations === before, "COMPLETED shown without a reload");
    results.live = await page.evaluate(() => window.vocloudLive);
    await page.waitForSelector("iframe.viewer");
    await page.waitForSelector("text=Result files");
    await keyboard(page, "completed job page");
    await page.screenshot({ path: `${outDir}/web-job.png`, fullPage: true });

    // Open its viewer.
    const [viewer] = await Promise.all([context.waitForEvent("page"), page.click("text=Open the viewer in its own tab")]);
    await viewer.waitForFunction(() => /spectra, \d+×\d+/.test(document.getElementById("summary").textContent), null, { timeout: 30000 });
    ok(/3×3/.test(await viewer.textContent("#summary")), "the viewer shows the 3×3 map");
    results.visited.push(viewer.url());
    await auditForeign(viewer, "som viewer");
    await viewer.close();

    // Preview a result table.
    await Promise.all([page.waitForNavigation(), page.click("a:has-text('Preview bmus.vot')")]);
    await arrive(page, "result preview");
    ok(await page.isVisible("text=Table, rows 1–16 of 16"), "the result table is shown");
    await Promise.all([page.waitForNavigation(), page.click(`nav.breadcrumbs >> text=som ${firstJob.split("/").pop()}`)]);

    // Run it again with another map size.
    await page.click("aside >> text=Run again…");
    await page.waitForURL(/\/jobs\/new\/som\?from=/);
    await arrive(page, "run again form");
    ok((await page.inputValue("#p-input")) === folder && (await page.inputValue("#p-rows")) === "3", "the form is filled from the first job");
    await page.fill("#p-rows", "4");
    await page.fill("#j-label", "bigger map");
    await Promise.all([page.waitForNavigation(), page.click("text=Create and run")]);
    const secondJob = page.url();
    await page.waitForFunction(() => document.querySelector(".page-head [data-phase]").textContent === "COMPLETED", null, { timeout: 60000 });
    results.visited.push(secondJob);

    // Put both in an experiment: the second into a new one, the first into that one.
    await page.fill("#new_experiment", "map sizes");
    await Promise.all([page.waitForNavigation(), page.click("form[action$='/experiment'] >> text=Move")]);
    ok(await page.isVisible("text=The job is now in experiment 'map sizes'."), "the second job joined the new experiment");
    await Promise.all([page.waitForNavigation(), page.click("nav >> text=Jobs")]);
    await Promise.all([page.waitForNavigation(), page.click(`a:has-text('${firstJob.split("/").pop()}')`)]);
    await page.selectOption("#experiment", "map sizes");
    await Promise.all([page.waitForNavigation(), page.click("form[action$='/experiment'] >> text=Move")]);
    await Promise.all([page.waitForNavigation(), page.click("text=Open experiment map sizes")]);
    await arrive(page, "experiment");
    const cards = await page.$$("article");
    ok(cards.length === 2, "the experiment shows both jobs side by side");
    ok(await page.isVisible("article >> text=Differs"), "with the parameter that differs first");
    await page.screenshot({ path: `${outDir}/web-experiment.png`, fullPage: true });

    // Delete one (the page asks first; the dialog is accepted).
    await Promise.all([page.waitForNavigation(), page.click(`a.mono:has-text('${secondJob.split("/").pop()}')`)]);
    await Promise.all([page.waitForNavigation(), page.click("button:has-text('Delete…')")]);
    ok(await page.isVisible(`text=Deleted job ${secondJob.split("/").pop()}.`), "the job was deleted");
    await arrive(page, "jobs after delete", { keys: false });
    const response = await page.goto(secondJob).catch(() => null);
    ok(response && response.status() === 404, "the deleted job's page is gone");
    await page.goBack();

    await page.click(".account a");
    await arrive(page, "settings");

    // The second user: every URL of the first is a 404.
    await page.click("text=Log out");
    await page.fill("#user", process.env.OTHER_USER);
    await page.fill("#password", process.env.OTHER_PASSWORD);
    await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
    const own = /\/(jobs\/[0-9a-z]{12}(\/.*)?|files\/.+|experiments\/.+|plots\/[^/]+|uws\/.+)$/;
    const urls = [...new Set(results.visited)].filter((u) => own.test(new URL(u).pathname) && u !== secondJob);
    ok(urls.length >= 6, `the first user's pages to try: ${urls.length}`);
    for (const u of urls) {
      const r = await page.request.get(u, { maxRedirects: 0 });
      ok(r.status() === 404, `${process.env.OTHER_USER} gets 404 on ${new URL(u).pathname} (${r.status()})`);
    }
    ok(alerts === 0, "no script ran from user content");
    results.alerts = alerts;
  } catch (e) {
    // What the page looked like when the story broke off.
    if (page) await page.screenshot({ path: `${outDir}/web-failure.png`, fullPage: true }).catch(() => {});
    if (page) console.log("failed on " + page.url());
    throw e;
  } finally {
    await browser.close();
    stdin.close();
  }
  console.log(JSON.stringify(results));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});


// Headless Chromium test of the SOM map viewer (run by tests/api/browser.rs, or by hand against
// any server): log in through the form, open the job's index.html result, click the busiest
// neuron, check its reference spectrum and member list, follow the "open in plotter" links
// (303 → /plots/<id>, whose page draws a frame), take screenshots.
//
//   NODE_PATH=target/node/node_modules SOM_URL=http://127.0.0.1:8080/uws/som/<id>/results/index.html \
//   SOM_USER=alice SOM_PASSWORD=... OUT_DIR=/tmp/shots node tests/browser/som.cjs
//
// Prints one JSON line of results last; exits non-zero on the first failed check.
"use strict";
const { ok, launch, echoConsole, logIn } = require("./common.cjs");

const url = new URL(process.env.SOM_URL);
const outDir = process.env.OUT_DIR || ".";
const results = {};

// Fraction of the canvas' pixels close to the given colour.
function inkOf(page, id, rgb) {
  return page.evaluate(([id, rgb]) => {
    const c = document.getElementById(id);
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (Math.abs(d[i] - rgb[0]) < 40 && Math.abs(d[i + 1] - rgb[1]) < 40 && Math.abs(d[i + 2] - rgb[2]) < 40) n++;
    }
    return n / (d.length / 4);
  }, [id, rgb]);
}

// Follows a plotter link: the route answers 303 to /plots/<id>, whose page draws a first frame.
async function openInPlotter(context, page, selector, what) {
  const href = await page.getAttribute(selector, "href");
  const response = await context.request.get(new URL(href, url).href, { maxRedirects: 0 });
  ok(response.status() === 303, `${what}: ${href} answers ${response.status()} (want 303)`);
  const location = response.headers()["location"];
  ok(/\/plots\/[0-9a-f-]+$/.test(location), `${what}: redirected to ${location}`);
  // The link itself opens a new tab on the plot page.
  const [tab] = await Promise.all([context.waitForEvent("page"), page.click(selector)]);
  await tab.waitForURL(/\/plots\/[0-9a-f-]+$/, { timeout: 30000 });
  await tab.waitForFunction(() => window.plotState && window.plotState.last, null, { timeout: 30000 });
  const info = await tab.evaluate(() => window.plotState.info);
  await tab.screenshot({ path: `${outDir}/som-plotter-${what.replace(/\W+/g, "-")}.png` });
  await tab.close();
  return info.count;
}

(async () => {
  const browser = await launch();
  try {
    const context = await browser.newContext({ viewport: { width: 1300, height: 900 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    echoConsole(page);

    await logIn(page, url, process.env.SOM_USER, process.env.SOM_PASSWORD);
    await page.waitForFunction(() => /spectra, \d+×\d+/.test(document.getElementById("summary").textContent));
    results.map_drawn_ms = await page.evaluate(() => performance.now());
    const summary = await page.textContent("#summary");
    ok(true, `map drawn ${results.map_drawn_ms.toFixed(0)} ms after navigation: ${summary}`);
    ok((await inkOf(page, "map", [68, 1, 84])) + (await inkOf(page, "map", [253, 231, 37])) > 0, "U-matrix cells drawn");

    // The busiest neuron, clicked at the centre of its cell.
    const target = await page.evaluate(() => {
      let k = 0;
      for (let j = 0; j < V.hits.length; j++) if (V.hits[j] > V.hits[k]) k = j;
      const cell = geometry(), [x, y] = cellOrigin(k, cell);
      return { k, hits: V.hits[k], x: x + cell / 2, y: y + cell / 2 };
    });
    const box = await (await page.$("#map")).boundingBox();
    await page.mouse.click(box.x + target.x, box.y + target.y);
    await page.waitForFunction((k) => document.getElementById("info").textContent.startsWith("node " + k + " "), target.k);
    const info = await page.textContent("#info");
    ok(info.includes(`hits ${target.hits}`), `clicked node ${target.k}: "${info.split("\n")[0]}"`);
    const listed = (info.split("\nspectra: ")[1] || "").split(", ").filter((s) => s && s !== "…");
    ok(listed.length === Math.min(target.hits, 20), `member list shows ${listed.length} of ${target.hits} spectra`);
    const red = await inkOf(page, "plot", [214, 39, 40]);
    ok(red > 0.001, `reference spectrum drawn in red (${(red * 100).toFixed(2)} % of the plot)`);
    ok((await page.evaluate(() => location.hash)) === `#node=${target.k}&mode=overlay`, "the URL names the node");
    await page.screenshot({ path: `${outDir}/som-viewer.png` });

    // Neighbour navigation. Which node wins depends on the CPU's floating point (OpenBLAS picks
    // kernels per CPU), so the key is chosen from where the node sits: a step that stays inside
    // the map, whichever column or row it is in.
    const step = await page.evaluate((k) => {
      const r = Math.floor(k / V.cols), c = k % V.cols;
      if (c + 1 < V.cols) return { key: "ArrowRight", to: k + 1 };
      if (c > 0) return { key: "ArrowLeft", to: k - 1 };
      if (r + 1 < V.rows) return { key: "ArrowDown", to: k + V.cols };
      return { key: "ArrowUp", to: k - V.cols };
    }, target.k);
    await page.keyboard.press(step.key);
    await page.waitForFunction((k) => !document.getElementById("info").textContent.startsWith("node " + k + " "), target.k);
    const moved = (await page.textContent("#info")).split("\n")[0];
    ok(moved.startsWith(`node ${step.to} `), `${step.key} from node ${target.k} moved to its neighbour: "${moved}"`);
    await page.mouse.click(box.x + target.x, box.y + target.y);
    await page.waitForFunction((k) => document.getElementById("info").textContent.startsWith("node " + k + " "), target.k);

    ok(!(await page.isHidden("#samp")), "the SAMP buttons are offered");
    results.reference_series = await openInPlotter(context, page, "#plotRef", "reference spectrum");
    ok(results.reference_series === 1, "the plotter shows the one codebook row");
    results.member_series = await openInPlotter(context, page, "#plotMembers", "member spectra");
    ok(results.member_series === target.hits, `the plotter shows the node's ${target.hits} member spectra`);
    results.node = target.k;
    results.hits = target.hits;
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(results));
})().catch((e) => {
  console.log("FAILED: " + e.message);
  process.exit(1);
});

// Load time of the SOM map viewer in headless Chromium for a big map: serves a folder written by
// `som_demo` (index.html, viewer.json, members.json, viewer.bin) with HTTP Range support, opens
// index.html, and reports when the map is drawn and when a neuron's spectra are shown.
//
//   cargo run --release -p vocloud-workers --example som_demo -- /tmp/som-big 100000 2000 50 50 1
//   NODE_PATH=target/node/node_modules node benches/som/viewer_load.cjs /tmp/som-big/results
"use strict";
const fs = require("fs");
const http = require("http");
const path = require("path");
const { chromium } = require("playwright-core");

const dir = process.argv[2];
const types = { ".html": "text/html", ".json": "application/json", ".bin": "application/octet-stream" };

// A static server with single-range support (what the result route of vocloud does).
const server = http.createServer((req, res) => {
  const file = path.join(dir, path.basename(new URL(req.url, "http://x").pathname));
  if (!fs.existsSync(file)) return res.writeHead(404).end();
  const size = fs.statSync(file).size, type = types[path.extname(file)] || "application/octet-stream";
  const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range || "");
  if (m) {
    const [from, to] = [+m[1], Math.min(+m[2], size - 1)];
    res.writeHead(206, { "Content-Type": type, "Content-Length": to - from + 1, "Content-Range": `bytes ${from}-${to}/${size}` });
    return fs.createReadStream(file, { start: from, end: to }).pipe(res);
  }
  res.writeHead(200, { "Content-Type": type, "Content-Length": size });
  fs.createReadStream(file).pipe(res);
});

(async () => {
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${server.address().port}/`;
  const sizes = Object.fromEntries(["viewer.json", "members.json", "viewer.bin"].map((f) => [f, fs.statSync(path.join(dir, f)).size]));
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: ["--disable-gpu", "--disable-dev-shm-usage"] });
  const out = { sizes };
  try {
    for (const run of [1, 2, 3]) {
      const context = await browser.newContext({ viewport: { width: 1300, height: 900 } }); // cold cache each run
      const page = await context.newPage();
      await page.goto(base + "index.html");
      await page.waitForFunction(() => /spectra, \d+×\d+/.test(document.getElementById("summary").textContent), null, { timeout: 120000, polling: 5 });
      const mapMs = await page.evaluate(() => performance.now());
      // The busiest node: first click also loads members.json.
      const t0 = await page.evaluate(() => {
        let k = 0;
        for (let j = 0; j < V.hits.length; j++) if (V.hits[j] > V.hits[k]) k = j;
        window.__t0 = performance.now();
        select(k);
        return k;
      });
      await page.waitForFunction((k) => document.getElementById("info").textContent.startsWith("node " + k + " "), t0, { timeout: 120000, polling: 5 });
      const nodeMs = await page.evaluate(() => performance.now() - window.__t0);
      // A second node (members.json already loaded).
      await page.evaluate(() => { window.__t1 = performance.now(); select(1); });
      await page.waitForFunction(() => document.getElementById("info").textContent.startsWith("node 1 "), null, { timeout: 60000, polling: 5 });
      const nextMs = await page.evaluate(() => performance.now() - window.__t1);
      const hits = await page.evaluate((k) => V.hits[k], t0);
      out[`run${run}`] = { map_drawn_ms: Math.round(mapMs), first_node_ms: Math.round(nodeMs), first_node_hits: hits, next_node_ms: Math.round(nextMs) };
      console.log(JSON.stringify(out[`run${run}`]));
      if (run === 1) await page.screenshot({ path: path.join(dir, "..", "viewer-50x50.png") });
      await context.close();
    }
  } finally {
    await browser.close();
    server.close();
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });

// Headless Chromium test of the plot page (run by tests/api/browser.rs, or by hand against any
// server): log in through the form, wait for the first frame, drag-pan, wheel-zoom, box-zoom,
// home, hover, measure input → settled-frame latency, take screenshots.
//
//   NODE_PATH=target/node/node_modules PLOT_URL=http://127.0.0.1:8080/plots/<id> \
//   PLOT_USER=alice PLOT_PASSWORD=... OUT_DIR=/tmp/shots node tests/browser/plot.cjs
//
// Prints one JSON line of results last; exits non-zero on the first failed check.
"use strict";
const { ok, launch, echoConsole, logIn } = require("./common.cjs");

const url = new URL(process.env.PLOT_URL);
const outDir = process.env.OUT_DIR || ".";
const results = {};
const near = (a, b, tol) => Math.abs(a - b) <= tol * Math.max(Math.abs(a), Math.abs(b), 1e-12);

// Runs an interaction, waits until its input has gone out (drag and wheel go out on the next
// animation frame), then until a frame including it is drawn.
async function act(page, fn) {
  const before = await page.evaluate(() => window.plotState.sent);
  await fn();
  await page.waitForFunction((b) => window.plotState.sent > b, before, { polling: 10, timeout: 10000 });
  return settled(page);
}

async function settled(page) {
  await page.waitForFunction(() => {
    const s = window.plotState;
    return s && s.last && s.last.events === s.sent;
  }, null, { polling: 20, timeout: 30000 });
  return page.evaluate(() => window.plotState.last);
}

(async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1040, height: 720 }, deviceScaleFactor: 1 });
    echoConsole(page);

    // Log in through the form; it redirects back to the plot page.
    await logIn(page, url, process.env.PLOT_USER, process.env.PLOT_PASSWORD);
    const first = await settled(page);
    const info = await page.evaluate(() => window.plotState.info);
    ok(info.count >= 1, `first frame drawn: ${info.count} spectra, ${first.bytes} B PNG, density=${first.density}`);
    const home = first.view;
    const canvas = await page.$("#overlay");
    const box = await canvas.boundingBox();
    const P = first.plot; // device px = CSS px at deviceScaleFactor 1
    const ink = await page.evaluate(() => {
      const c = document.getElementById("frame");
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] < 250 || d[i + 1] < 250 || d[i + 2] < 250) n++;
      return n / (d.length / 4);
    });
    ok(ink > 0.05, `canvas has plot ink (${(ink * 100).toFixed(1)} % non-white)`);
    await page.screenshot({ path: `${outDir}/01-initial.png` });

    // Drag left by 200 px: the view moves right by 200 px worth of wavelength.
    const cx = box.x + P.left + P.width / 2, cy = box.y + P.top + P.height / 2;
    const sentBefore = await page.evaluate(() => window.plotState.sent);
    const framesBefore = await page.evaluate(() => window.plotState.frames);
    await page.mouse.move(cx, cy);
    const dragged = await act(page, async () => {
      await page.mouse.down();
      await page.mouse.move(cx - 200, cy, { steps: 20 });
      await page.mouse.up();
    });
    const span = home.x1 - home.x0;
    const expect = (span * 200) / P.width;
    const sent = (await page.evaluate(() => window.plotState.sent)) - sentBefore;
    const frames = (await page.evaluate(() => window.plotState.frames)) - framesBefore;
    ok(near(dragged.view.x0 - home.x0, expect, 1e-6), `drag pans x by ${(dragged.view.x0 - home.x0).toFixed(2)} (expected ${expect.toFixed(2)})`);
    console.log(`drag: ${sent} pan messages, ${frames} frames`);
    results.drag = { messages: sent, frames };
    await page.screenshot({ path: `${outDir}/02-after-drag.png` });

    // One wheel notch zooms in 1.25x around the pointer.
    await page.mouse.move(cx, cy);
    const zoomed = await act(page, () => page.mouse.wheel(0, -120));
    const zs = zoomed.view.x1 - zoomed.view.x0;
    ok(near(zs, span / 1.25, 1e-6), `wheel zooms 1.25x (span ${span.toFixed(1)} -> ${zs.toFixed(1)})`);

    // Box zoom with shift-drag over the left half, top half of the plot area.
    const bx0 = box.x + P.left + 10, by0 = box.y + P.top + 10;
    const bx1 = box.x + P.left + P.width / 2, by1 = box.y + P.top + P.height / 2;
    await page.keyboard.down("Shift");
    await page.mouse.move(bx0, by0);
    const boxed = await act(page, async () => {
      await page.mouse.down();
      await page.mouse.move(bx1, by1, { steps: 5 });
      await page.mouse.up();
    });
    await page.keyboard.up("Shift");
    const v = zoomed.view;
    const ex0 = v.x0 + ((v.x1 - v.x0) * 10) / P.width, ex1 = v.x0 + (v.x1 - v.x0) / 2;
    ok(near(boxed.view.x0, ex0, 1e-6) && near(boxed.view.x1, ex1, 1e-6), `box zoom to x ${boxed.view.x0.toFixed(2)}..${boxed.view.x1.toFixed(2)}`);
    await page.screenshot({ path: `${outDir}/03-after-box.png` });

    // Hover: the read-out names the nearest spectrum.
    await page.mouse.move(cx + 30, cy + 10);
    await page.waitForFunction(() => window.plotState.hover && window.plotState.hover.name, null, { polling: 20, timeout: 10000 });
    const readout = await page.textContent("#readout");
    ok(/nearest: \S+/.test(readout), `hover read-out: "${readout}"`);

    // Home restores the first view.
    const back = await act(page, () => page.click('[data-act="home"]'));
    ok(["x0", "x1", "y0", "y1"].every((k) => back.view[k] === home[k]), "home restores the initial view");

    // Latency: input → settled frame drawn, over wheel notches (in-page clock).
    await page.mouse.move(cx, cy); // clicking Home moved the pointer off the canvas
    await page.evaluate(() => (window.plotState.latencies.length = 0));
    for (let i = 0; i < 10; i++) {
      await act(page, () => page.mouse.wheel(0, i % 2 ? 120 : -120));
    }
    const lat = (await page.evaluate(() => window.plotState.latencies.slice())).sort((a, b) => a - b);
    const median = lat[Math.floor(lat.length / 2)];
    const last = await page.evaluate(() => window.plotState.last);
    console.log(`latency input->settled frame over ${lat.length} wheel notches: median ${median.toFixed(1)} ms, max ${lat[lat.length - 1].toFixed(1)} ms; last frame render ${last.render_ms.toFixed(1)} ms + PNG ${last.encode_ms.toFixed(1)} ms`);
    results.latency_ms = { median, max: lat[lat.length - 1], render_ms: last.render_ms, encode_ms: last.encode_ms };

    // Resizing the window re-renders at the new canvas size.
    const before = (await page.evaluate(() => window.plotState.last)).width;
    const resized = await act(page, () => page.setViewportSize({ width: 840, height: 640 }));
    ok(resized.width < before && resized.width === (await page.evaluate(() => document.getElementById("frame").width)),
      `resize re-renders at the new size (${before} -> ${resized.width} px wide)`);

    // Fonts really render in the page (width differs from the monospace fallback).
    const widths = await page.evaluate(() => {
      const c = document.createElement("canvas").getContext("2d");
      c.font = '20px "DejaVu Sans"';
      const a = c.measureText("Spectra wavelength").width;
      c.font = "20px monospace";
      return [a, c.measureText("Spectra wavelength").width];
    });
    ok(widths[0] > 0 && widths[0] !== widths[1], `page text renders (${widths[0].toFixed(1)} px vs monospace ${widths[1].toFixed(1)} px)`);
    await page.screenshot({ path: `${outDir}/04-home.png` });
    await canvas.screenshot({ path: `${outDir}/05-canvas.png` });

    // Send through SAMP: narrow the view (the whole set is too many samples for one table),
    // press the button; with no hub running the page reports that, but the signed links it got
    // must fetch without any cookie: the visible data as a VOTable, the plotted FITS file.
    ok(await page.isVisible("#samp"), "the Send through SAMP button is on the page");
    await page.fill('#range input[name="x0"]', "6500");
    await page.fill('#range input[name="x1"]', "6520");
    const narrowed = await act(page, () => page.press('#range input[name="x1"]', "Enter"));
    ok(narrowed.view.x0 === 6500 && narrowed.view.x1 === 6520, "typed x range applied");
    await page.click("#samp");
    await page.waitForFunction(() => window.plotSamp && (window.plotSamp.error || window.plotSamp.sent !== null), null, { polling: 50, timeout: 30000 });
    const samp = await page.evaluate(() => window.plotSamp);
    ok(samp.links && samp.links.table && samp.links.spectra.length === 1, `signed links: ${JSON.stringify(samp.links)}`);
    console.log(`SAMP outcome: ${samp.error || "sent " + samp.sent}`);
    ok(samp.sent === 1 || /SAMP hub/.test(samp.error || ""), "samp-web.js loaded and the hub was tried");
    const table = await fetch(samp.links.table.url); // Node's fetch: no cookie, no password
    const text = await table.text();
    const rows = (text.match(/<TR>/g) || []).length;
    ok(table.status === 200 && text.includes("<VOTABLE") && rows > 1000, `visible-data VOTable fetches without a cookie (${rows} rows)`);
    const file = await fetch(samp.links.spectra[0].url);
    const body = Buffer.from(await file.arrayBuffer());
    const name = samp.links.spectra[0].name;
    const fitsOk = !/\.fits?$/i.test(name) || body.subarray(0, 6).toString() === "SIMPLE";
    ok(file.status === 200 && body.length > 0 && fitsOk, `plotted file fetches without a cookie (${name}, ${body.length} B)`);
    const forged = await fetch(samp.links.spectra[0].url.replace(/\/shared\/(\d+)\//, (m, e) => `/shared/${Number(e) + 60}/`));
    ok(forged.status === 403, "a link with a changed expiry is refused (403)");
    results.samp = { error: samp.error, rows };
    results.frames = await page.evaluate(() => window.plotState.frames);
    console.log(JSON.stringify(results));
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

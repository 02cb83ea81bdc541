// vocloud plot client: shows server-rendered PNG frames and sends input over the WebSocket
// (protocol documented in src/plots/ws.rs). The last frame is shifted/scaled at once while a
// new one is on its way, so panning feels immediate; at most one frame is in flight (the
// server waits for our "ack"), and drag/wheel input is coalesced to one message per animation
// frame. `window.plotState` exposes counters for tests: `sent` counts input messages, each
// frame's `events` says how many the server folded in; equal means settled.
"use strict";
(() => {
  const root = document.getElementById("plot");
  const id = root.dataset.id;
  const stage = document.getElementById("stage");
  const canvas = document.getElementById("frame");
  const overlay = document.getElementById("overlay");
  const ctx = canvas.getContext("2d");
  const octx = overlay.getContext("2d");
  const statusEl = document.getElementById("status");
  const readout = document.getElementById("readout");
  const $ = (sel) => root.querySelector(sel);

  const state = (window.plotState = {
    open: false, frames: 0, sent: 0, last: null, info: null, closed: null, hover: null,
    latencies: [], // input → settled frame drawn, ms
  });
  let ws = null;
  let image = null; // last frame as ImageBitmap
  let meta = null; // its metadata
  let target = null; // the view we expect after our inputs (data units)
  let pendingMeta = null;
  let firstUnsettled = null; // time of the first input not yet in a drawn frame
  let decodeChain = Promise.resolve();
  let hoverBusy = false;

  // ---- view math (the same as src/plots/render.rs View) ----
  const fwd = (v, log) => (log ? Math.log10(v) : v);
  const inv = (v, log) => (log ? Math.pow(10, v) : v);
  const T = (v) => [fwd(v.x0, v.xlog), fwd(v.x1, v.xlog), fwd(v.y0, v.ylog), fwd(v.y1, v.ylog)];
  const fromT = (v, a, b, c, d) => ({ ...v, x0: inv(a, v.xlog), x1: inv(b, v.xlog), y0: inv(c, v.ylog), y1: inv(d, v.ylog) });
  const plotPx = (x, y) => [x * meta.dpr - meta.plot.left, y * meta.dpr - meta.plot.top];
  function panView(v, dx, dy) {
    const [a, b, c, d] = T(v), w = meta.plot.width, h = meta.plot.height;
    const sx = ((b - a) * dx * meta.dpr) / w, sy = ((d - c) * dy * meta.dpr) / h;
    return fromT(v, a - sx, b - sx, c + sy, d + sy);
  }
  function zoomView(v, x, y, f) {
    const [a, b, c, d] = T(v), [px, py] = plotPx(x, y);
    const cx = a + ((b - a) * px) / meta.plot.width, cy = d - ((d - c) * py) / meta.plot.height, k = 1 / f;
    return fromT(v, cx - (cx - a) * k, cx + (b - cx) * k, cy - (cy - c) * k, cy + (d - cy) * k);
  }
  function dataAt(x, y) {
    const v = target || meta.view, [a, b, c, d] = T(v), [px, py] = plotPx(x, y);
    return [inv(a + ((b - a) * px) / meta.plot.width, v.xlog), inv(d - ((d - c) * py) / meta.plot.height, v.ylog)];
  }

  // ---- sending ----
  function send(msg, isInput = true) {
    if (!ws || ws.readyState !== 1) return;
    ws.send(JSON.stringify(msg));
    if (isInput) {
      state.sent++;
      if (firstUnsettled === null) firstUnsettled = performance.now();
    }
  }

  // Drag and wheel accumulate here and go out once per animation frame.
  let acc = { dx: 0, dy: 0, push: false, zoom: null };
  let scheduled = false;
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      if (acc.dx || acc.dy) send({ type: "pan", dx: acc.dx, dy: acc.dy, push: acc.push });
      if (acc.zoom) send({ type: "zoom", ...acc.zoom });
      acc = { dx: 0, dy: 0, push: false, zoom: null };
    });
  }

  // ---- drawing ----
  function draw() {
    if (!image || !meta) return;
    ctx.drawImage(image, 0, 0);
    const v = target;
    if (!v || v.xlog !== meta.view.xlog || v.ylog !== meta.view.ylog) return;
    const same = ["x0", "x1", "y0", "y1"].every((k) => v[k] === meta.view[k]);
    if (same) return;
    // Show the plot area of the last frame where its data would be in the expected view.
    const P = meta.plot, [fa, fb, fc, fd] = T(meta.view), [ta, tb, tc, td] = T(v);
    const dx = P.left + ((fa - ta) / (tb - ta)) * P.width, dw = ((fb - fa) / (tb - ta)) * P.width;
    const dy = P.top + ((td - fd) / (td - tc)) * P.height, dh = ((fd - fc) / (td - tc)) * P.height;
    ctx.save();
    ctx.beginPath();
    ctx.rect(P.left, P.top, P.width, P.height);
    ctx.clip();
    ctx.fillStyle = "#fff";
    ctx.fillRect(P.left, P.top, P.width, P.height);
    ctx.drawImage(image, P.left, P.top, P.width, P.height, dx, dy, dw, dh);
    ctx.restore();
  }

  function onFrame(m, blob) {
    // Decode in order; the ack went out already, so the server renders the next frame meanwhile.
    decodeChain = decodeChain.then(async () => {
      const bitmap = await createImageBitmap(blob);
      if (canvas.width !== m.width || canvas.height !== m.height) {
        canvas.width = m.width;
        canvas.height = m.height;
      }
      image = bitmap;
      meta = m;
      const settled = m.events === state.sent;
      if (settled) {
        target = { ...m.view };
        if (firstUnsettled !== null) state.latencies.push(performance.now() - firstUnsettled);
        firstUnsettled = null;
      } else if (!target) {
        target = { ...m.view };
      }
      draw();
      state.frames++;
      state.last = m;
      updateControls(m);
      statusEl.textContent = `frame ${m.seq}: ${m.render_ms.toFixed(1)} ms render, ${m.encode_ms.toFixed(1)} ms PNG, ${(m.bytes / 1024).toFixed(0)} KiB` +
        (m.density ? `, density (max ${m.max_count} lines/pixel)` : "");
    });
  }

  function fmt(x) {
    if (!isFinite(x)) return "";
    const a = Math.abs(x);
    return a !== 0 && (a >= 1e6 || a < 1e-3) ? x.toExponential(4) : String(+x.toPrecision(7));
  }

  function updateControls(m) {
    $('[data-act="back"]').disabled = !m.back;
    $('[data-act="forward"]').disabled = !m.forward;
    $("#xlog").checked = m.view.xlog;
    $("#ylog").checked = m.view.ylog;
    const form = $("#range");
    if (!form.contains(document.activeElement)) {
      for (const k of ["x0", "x1", "y0", "y1"]) form.elements[k].value = fmt(m.view[k]);
    }
    const boxes = document.querySelectorAll("#legend input");
    boxes.forEach((b, i) => (b.checked = m.visible[i] !== false));
  }

  function buildLegend(info) {
    const legend = document.getElementById("legend");
    legend.textContent = "";
    if (info.count > info.series.length || info.count < 2) return;
    info.series.forEach((s, i) => {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = true;
      box.addEventListener("change", () => send({ type: "visible", series: i, on: box.checked }));
      const sw = document.createElement("span");
      sw.className = "swatch";
      sw.style.background = s.colour;
      label.append(box, sw, document.createTextNode(s.name));
      label.title = s.name;
      legend.append(label);
    });
  }

  // ---- size ----
  let cssSize = [0, 0];
  function sizeCanvases() {
    const r = stage.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
    const w = Math.max(64, Math.floor(r.width)), h = Math.max(64, Math.floor(r.height));
    for (const c of [canvas, overlay]) {
      c.style.width = w + "px";
      c.style.height = h + "px";
    }
    overlay.width = Math.round(w * dpr);
    overlay.height = Math.round(h * dpr);
    if (w === cssSize[0] && h === cssSize[1] && dpr === cssSize[2]) return null;
    cssSize = [w, h, dpr];
    return { width: w, height: h, dpr };
  }
  new ResizeObserver(() => {
    const s = sizeCanvases();
    if (s && state.open) send({ type: "resize", ...s });
  }).observe(stage);
  matchMedia(`(resolution: ${window.devicePixelRatio}dppx)`).addEventListener?.("change", () => {
    const s = sizeCanvases();
    if (s && state.open) send({ type: "resize", ...s });
  });

  // ---- pointer ----
  let drag = null; // {x, y, box, first}
  const tool = () => $("#tool").value;
  overlay.addEventListener("mousedown", (e) => {
    if (e.button !== 0 || !meta) return;
    drag = { x: e.offsetX, y: e.offsetY, x0: e.offsetX, y0: e.offsetY, box: e.shiftKey || tool() === "box", first: true };
    e.preventDefault();
  });
  window.addEventListener("mousemove", (e) => {
    const r = overlay.getBoundingClientRect();
    const x = e.clientX - r.left, y = e.clientY - r.top;
    if (!drag) return hover(x, y);
    if (drag.box) {
      drawBox(drag.x0, drag.y0, x, y);
      return;
    }
    const dx = x - drag.x, dy = y - drag.y;
    drag.x = x;
    drag.y = y;
    if (!dx && !dy) return;
    acc.dx += dx;
    acc.dy += dy;
    if (drag.first) acc.push = true;
    drag.first = false;
    target = panView(target || meta.view, dx, dy);
    draw();
    schedule();
  });
  window.addEventListener("mouseup", (e) => {
    if (!drag) return;
    const r = overlay.getBoundingClientRect();
    const x = e.clientX - r.left, y = e.clientY - r.top;
    if (drag.box) {
      clearOverlay();
      if (Math.abs(x - drag.x0) > 4 && Math.abs(y - drag.y0) > 4) send({ type: "box", x0: drag.x0, y0: drag.y0, x1: x, y1: y });
    }
    drag = null;
  });
  let lastWheel = 0;
  overlay.addEventListener("wheel", (e) => {
    if (!meta) return;
    e.preventDefault();
    const f = Math.pow(1.25, e.deltaY < 0 ? 1 : -1);
    const now = performance.now();
    const push = now - lastWheel > 500;
    lastWheel = now;
    if (acc.zoom && acc.zoom.x === e.offsetX && acc.zoom.y === e.offsetY) acc.zoom.factor *= f;
    else {
      if (acc.zoom) send({ type: "zoom", ...acc.zoom });
      acc.zoom = { x: e.offsetX, y: e.offsetY, factor: f, push };
    }
    target = zoomView(target || meta.view, e.offsetX, e.offsetY, f);
    draw();
    schedule();
  }, { passive: false });
  overlay.addEventListener("mouseleave", () => (readout.textContent = ""));

  function clearOverlay() {
    octx.clearRect(0, 0, overlay.width, overlay.height);
  }
  function drawBox(x0, y0, x1, y1) {
    const d = window.devicePixelRatio || 1;
    clearOverlay();
    octx.setLineDash([4 * d, 3 * d]);
    octx.strokeStyle = "#000";
    octx.lineWidth = d;
    octx.strokeRect(x0 * d, y0 * d, (x1 - x0) * d, (y1 - y0) * d);
    octx.fillStyle = "rgba(80,120,200,0.12)";
    octx.fillRect(x0 * d, y0 * d, (x1 - x0) * d, (y1 - y0) * d);
  }

  let hoverNext = null;
  function hover(x, y) {
    if (!meta || x < 0 || y < 0 || x > cssSize[0] || y > cssSize[1]) return;
    const [px, py] = plotPx(x, y);
    if (px < 0 || py < 0 || px > meta.plot.width || py > meta.plot.height) return (readout.textContent = "");
    const [wx, wy] = dataAt(x, y);
    readout.textContent = `λ ${fmt(wx)}  flux ${fmt(wy)}` + (state.hover?.name ? `  nearest: ${state.hover.name}` : "");
    if (hoverBusy) return void (hoverNext = [x, y]);
    hoverBusy = true;
    send({ type: "hover", x, y }, false);
  }

  // ---- toolbar ----
  root.querySelectorAll("[data-act]").forEach((b) => b.addEventListener("click", () => send({ type: b.dataset.act })));
  $("#xlog").addEventListener("change", (e) => send({ type: "scale", xlog: e.target.checked }));
  $("#ylog").addEventListener("change", (e) => send({ type: "scale", ylog: e.target.checked }));
  $("#mode").addEventListener("change", (e) => send({ type: "mode", mode: e.target.value }));
  $("#range").addEventListener("submit", (e) => {
    e.preventDefault();
    const val = (k) => {
      const v = parseFloat(e.target.elements[k].value);
      return isFinite(v) ? v : null;
    };
    send({ type: "range", x0: val("x0"), x1: val("x1"), y0: val("y0"), y1: val("y1") });
    document.activeElement.blur();
  });
  root.querySelectorAll("[data-fmt]").forEach((a) => {
    a.href = `/plots/${id}/export.${a.dataset.fmt}`;
    a.target = "_blank";
  });
  // ---- Send through SAMP ----
  // The server signs short-lived links (no cookie needed) for the visible data as a VOTable and
  // for the plotted files, each with its format from its content; the page sends them through the
  // desktop hub's Web Profile (/static/samp-web.js) as calls and says what each client answered.
  // When no client takes spectra it says so and offers the clients that take tables instead.
  // `window.plotSamp` keeps the links and the outcome (tests).
  const sampButton = document.getElementById("samp");
  // Its own line in the footer: frame statistics keep updating the status beside it.
  const sampStatus = document.createElement("span");
  sampStatus.id = "sampStatus";
  statusEl.after(sampStatus);
  let samp = null; // one registration for the page's life: the hub asks the user once
  async function sampClient() {
    if (!samp) {
      const { SampWeb } = await import("/static/samp-web.js");
      samp = new SampWeb("vocloud plot", "vocloud: spectra plotted in the browser");
    }
    return samp.connect();
  }
  const spectraCount = (k) => (k === 1 ? "1 spectrum" : `${k} spectra`);
  function offer(label, action) {
    const button = document.createElement("button");
    button.id = "sampOffer";
    button.textContent = label;
    button.addEventListener("click", async () => {
      button.remove();
      await action();
    });
    sampStatus.after(button);
  }
  sampButton.addEventListener("click", async () => {
    sampButton.disabled = true;
    document.getElementById("sampOffer")?.remove();
    // `sent` stays null until the page has finished (then: spectra some client took).
    const outcome = (window.plotSamp = { links: null, table: null, spectra: [], sent: null, nobody: false, error: null });
    try {
      sampStatus.textContent = "SAMP: preparing links…";
      const token = document.querySelector('meta[name="csrf-token"]')?.content;
      const headers = token ? { "X-CSRF-Token": token } : {};
      const r = await fetch(`/plots/${id}/samp`, { method: "POST", credentials: "same-origin", headers });
      if (!r.ok) throw new Error(`${r.status}: ${await r.text()}`);
      const links = (outcome.links = await r.json());
      sampStatus.textContent = "SAMP: connecting to the hub (accept vocloud in the hub's dialog)…";
      const { SPECTRUM, describe, summarise, taken, tableMType } = await import("/static/samp-web.js");
      const client = await sampClient();
      sampStatus.textContent = "SAMP: sent, waiting for the clients' answers…";
      outcome.table = await client.sendTable(links.table.url, links.table.name, { format: links.table.format });
      const said = [`visible data: ${describe(outcome.table)}`];
      const more = links.more ? ` (${links.more} more files not sent)` : "";
      const spectra = links.spectra;
      if (spectra.length && (await client.clients(SPECTRUM)).length === 0) {
        outcome.nobody = true;
        const asTables = spectra.filter((s) => tableMType(s.format));
        const takers = await client.clientsOf(asTables.map((s) => tableMType(s.format)));
        const names = takers.map((c) => c.name).join(", ");
        said.push(`no client takes spectra${takers.length ? `; ${names} take${takers.length === 1 ? "s" : ""} tables — send them as tables?` : ""}`);
        if (takers.length) {
          offer(`send ${spectraCount(asTables.length)} as tables`, async () => {
            sampStatus.textContent = "SAMP: sending the spectra as tables…";
            const reports = [];
            for (const s of asTables) reports.push(await client.sendTable(s.url, s.name, { format: s.format }));
            outcome.spectra = reports;
            outcome.sent = taken(reports);
            sampStatus.textContent = `SAMP: ${spectraCount(asTables.length)} as tables: ${summarise(reports)}`;
          });
        }
      } else if (spectra.length) {
        for (const s of spectra) outcome.spectra.push(await client.sendSpectrum(s.url, s.name, { format: s.format }));
        outcome.sent = taken(outcome.spectra);
        said.push(`${spectraCount(spectra.length)}: ${summarise(outcome.spectra)}${more}`);
      }
      if (outcome.sent === null) outcome.sent = 0;
      sampStatus.textContent = `SAMP: ${said.join("; ")}`;
    } catch (e) {
      outcome.error = String(e.message || e);
      sampStatus.textContent = `SAMP: ${outcome.error} — is a SAMP hub running (TOPCAT, Aladin)?`;
    } finally {
      sampButton.disabled = false;
    }
  });
  window.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT") return;
    if (e.key === "h") send({ type: "home" });
    else if (e.key === "ArrowLeft" && e.altKey) send({ type: "back" });
    else if (e.key === "ArrowRight" && e.altKey) send({ type: "forward" });
  });

  // ---- socket ----
  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(`${proto}//${location.host}/plots/${id}/ws`);
    ws.binaryType = "blob";
    ws.onopen = () => {
      state.open = true;
      statusEl.textContent = "connected";
      const s = sizeCanvases() || { width: cssSize[0], height: cssSize[1], dpr: cssSize[2] };
      send({ type: "hello", ...s });
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") {
        // Pair with the metadata read synchronously before this, then ack at once.
        const m = pendingMeta;
        pendingMeta = null;
        ws.send('{"type":"ack"}');
        if (m) onFrame(m, ev.data);
        return;
      }
      const msg = JSON.parse(ev.data);
      if (msg.type === "frame") pendingMeta = msg;
      else if (msg.type === "info") {
        state.info = msg;
        buildLegend(msg);
      } else if (msg.type === "hover") {
        state.hover = msg;
        hoverBusy = false;
        if (msg.name && readout.textContent) {
          readout.textContent = `λ ${fmt(msg.x)}  flux ${fmt(msg.y)}  nearest: ${msg.name} (${fmt(msg.value)})`;
        }
        if (hoverNext) {
          const [x, y] = hoverNext;
          hoverNext = null;
          hover(x, y);
        }
      }
    };
    ws.onclose = (ev) => {
      state.open = false;
      state.closed = { code: ev.code, reason: ev.reason };
      statusEl.textContent = `disconnected (${ev.code}${ev.reason ? ": " + ev.reason : ""}); reload the page to reconnect`;
    };
  }
  sizeCanvases();
  connect();
})();

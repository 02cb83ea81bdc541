// Uploads on the files page: files or whole folders (picked, or dropped), each streamed with
// PUT /api/files/<folder>/<name> (the files API), three at a time, with one progress bar per
// file and one for everything, a cancel button per file and for all, and the server's own
// words when it refuses one (over quota, over the size limit). When every upload succeeded the
// listing reloads to show the new files.
//
// window.vocloudUploads tells tests what happened: {queued, done, failed, progressEvents}.

import { csrfToken, encodePath } from "/assets/app.js";

const PARALLEL = 3;

export function setUpUploads(zone) {
  const folder = zone.dataset.uploadDir;
  const maxUpload = Number(zone.dataset.maxUpload || 0);
  const list = zone.querySelector("#upload-list");
  const overall = zone.querySelector("#upload-overall");
  const summary = zone.querySelector("#upload-summary");
  const total = zone.querySelector("#upload-total");
  const state = (window.vocloudUploads = { queued: 0, done: 0, failed: 0, progressEvents: 0 });
  const items = [];
  let running = 0;

  function refresh() {
    const size = items.reduce((s, i) => s + i.file.size, 0) || 1;
    const sent = items.reduce((s, i) => s + (i.status === "done" ? i.file.size : i.loaded), 0);
    const percent = Math.round((100 * sent) / size);
    overall.value = percent;
    overall.textContent = percent + "%";
    const waiting = items.filter((i) => i.status === "waiting" || i.status === "sending").length;
    summary.textContent = `${state.done} of ${items.length} uploaded` +
      (state.failed ? `, ${state.failed} failed` : "") + (waiting ? `, ${waiting} to go` : "");
  }

  function settle(item, status, message) {
    item.status = status;
    item.state.textContent = message;
    item.cancel.hidden = true;
    if (status === "done") {
      state.done += 1;
      item.bar.value = 100;
    } else {
      state.failed += 1;
      item.row.classList.add("failed");
    }
    running -= 1;
    refresh();
    next();
    if (running === 0 && !items.some((i) => i.status === "waiting")) finished();
  }

  function finished() {
    total.querySelector("#upload-cancel").hidden = true;
    if (state.failed === 0 && state.done > 0) {
      summary.textContent = `All ${state.done} uploaded.`;
      setTimeout(() => window.location.reload(), 400);
    }
  }

  function send(item) {
    running += 1;
    item.status = "sending";
    item.state.textContent = "uploading";
    const xhr = (item.xhr = new XMLHttpRequest());
    xhr.open("PUT", "/api/files/" + encodePath(item.path));
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.addEventListener("progress", (e) => {
      state.progressEvents += 1;
      item.loaded = e.loaded;
      item.bar.value = e.total ? Math.round((100 * e.loaded) / e.total) : 0;
      item.bar.textContent = item.bar.value + "%";
      refresh();
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) settle(item, "done", "uploaded");
      else settle(item, "failed", `refused (${xhr.status}): ${xhr.responseText.trim()}`);
    });
    xhr.addEventListener("error", () => settle(item, "failed", "the connection failed"));
    xhr.addEventListener("abort", () => settle(item, "failed", "cancelled"));
    xhr.send(item.file);
  }

  function next() {
    while (running < PARALLEL) {
      const item = items.find((i) => i.status === "waiting");
      if (!item) return;
      send(item);
    }
  }

  function add(file, relative) {
    const path = (folder ? folder + "/" : "") + relative;
    const row = document.createElement("li");
    const name = document.createElement("span");
    name.textContent = relative;
    name.className = "mono";
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload of " + relative);
    const stateText = document.createElement("span");
    stateText.textContent = "waiting";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.textContent = "Cancel";
    cancel.setAttribute("aria-label", "Cancel upload of " + relative);
    row.append(name, bar, stateText, cancel);
    list.append(row);
    const item = { file, path, row, bar, state: stateText, cancel, loaded: 0, status: "waiting", xhr: null };
    cancel.addEventListener("click", () => {
      if (item.status === "sending") item.xhr.abort();
      else if (item.status === "waiting") {
        running += 1; // settle() gives it back
        settle(item, "failed", "cancelled");
      }
    });
    items.push(item);
    state.queued += 1;
    total.hidden = false;
    total.querySelector("#upload-cancel").hidden = false;
    if (maxUpload && file.size > maxUpload) {
      running += 1;
      settle(item, "failed", `too large: the limit is ${maxUpload} bytes`);
    }
  }

  function start(files) {
    for (const [file, relative] of files) add(file, relative);
    refresh();
    next();
  }

  // Picked files, and picked folders (their files carry the relative path).
  zone.querySelector("#upload-files").addEventListener("change", (e) => {
    start(Array.from(e.target.files, (f) => [f, f.name]));
    e.target.value = "";
  });
  zone.querySelector("#upload-folder").addEventListener("change", (e) => {
    start(Array.from(e.target.files, (f) => [f, f.webkitRelativePath || f.name]));
    e.target.value = "";
  });
  zone.querySelector("#upload-cancel").addEventListener("click", () => {
    for (const item of items) if (item.status === "waiting" || item.status === "sending") item.cancel.click();
  });

  // Dropped files and folders: folders are walked through the File System API.
  async function walk(entry, prefix, out) {
    if (entry.isFile) {
      const file = await new Promise((ok, fail) => entry.file(ok, fail));
      out.push([file, prefix + entry.name]);
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((ok, fail) => reader.readEntries(ok, fail));
        if (!batch.length) break;
        for (const child of batch) await walk(child, prefix + entry.name + "/", out);
      }
    }
  }
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", async (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const entries = Array.from(e.dataTransfer.items, (i) => i.webkitGetAsEntry && i.webkitGetAsEntry()).filter(Boolean);
    const files = [];
    if (entries.length) for (const entry of entries) await walk(entry, "", files);
    else for (const f of e.dataTransfer.files) files.push([f, f.name]);
    start(files);
  });
}

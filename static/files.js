// The files pages: uploads (upload.js) and "Send through SAMP" for the selected files, which
// asks the server for short-lived signed links (POST /api/links: desktop tools do not have the
// browser's cookie) and hands them to the desktop hub with the SAMP Web Profile client
// (/static/samp-web.js): FITS files as spectra, VOTables and CSV as tables.

import { send } from "/assets/app.js";
import { setUpUploads } from "/assets/upload.js";

const zone = document.getElementById("upload");
if (zone) setUpUploads(zone);

const status = document.getElementById("samp-status");

async function sampSend(paths) {
  status.textContent = "Connecting to the SAMP hub…";
  try {
    const links = [];
    for (const path of paths) {
      const body = new URLSearchParams({ path });
      const response = await send("/api/links", { method: "POST", body });
      if (!response.ok) throw new Error(`${path}: ${(await response.text()).trim()}`);
      links.push({ path, url: (await response.json()).url });
    }
    const { SampWeb } = await import("/static/samp-web.js");
    const samp = new SampWeb("vocloud files", "vocloud: files sent from the browser");
    await samp.connect();
    for (const { path, url } of links) {
      const name = path.split("/").pop();
      if (/\.(fits?|fts)$/i.test(name)) await samp.sendSpectrum(url, name);
      else await samp.sendTable(url, name);
    }
    await samp.disconnect();
    status.textContent = `Sent ${links.length} file${links.length === 1 ? "" : "s"} through SAMP.`;
  } catch (e) {
    status.textContent = "SAMP: " + (e && e.message ? e.message : e);
  }
}

const many = document.getElementById("samp-send");
if (many) {
  many.hidden = false;
  many.addEventListener("click", () => {
    const paths = Array.from(document.querySelectorAll('#selection input[name="path"]:checked'), (b) => b.value);
    if (!paths.length) status.textContent = "Select files to send first.";
    else sampSend(paths);
  });
}
const one = document.getElementById("samp-one");
if (one) {
  one.hidden = false;
  one.addEventListener("click", () => sampSend([one.dataset.path]));
}

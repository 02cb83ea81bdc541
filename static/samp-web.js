// SAMP Web Profile client for vocloud pages: "Send through SAMP" to TOPCAT, SPLAT-VO or any
// client on the user's desktop hub (http://localhost:21012/, SAMP 1.3 Web Profile).
//
//   import { SampWeb, SPECTRUM, describe } from "/static/samp-web.js";
//   const samp = new SampWeb("vocloud");
//   await samp.connect();                                   // the hub asks the user to accept
//   const r = await samp.sendTable(url, "job 42 result", { format: "application/x-votable+xml" });
//   r.recipients;   // [{id, name, status: "ok"|"warning"|"error"|"no answer", text}]: who got it, what they said
//   describe(r);    // "topcat: ok" or "nobody takes table.load.votable"
//   await samp.sendSpectrum(url, "HD 123", { format: "application/fits", to: id });
//   await samp.clients(SPECTRUM);                           // [{id, name}] for a "send to" menu
//   await samp.disconnect();                                // also done on pagehide
//
// Messages go out as calls and the answers are collected (pulled from the hub), so a page can say
// what happened instead of "sent": nobody took it, TOPCAT loaded it, SPLAT refused it. `format`
// is the file's MIME type as the server knows it from its content (never guessed from the URL):
// it picks table.load.fits or table.load.votable, and a spectrum's Access.Format.
//
// The URLs sent must be fetchable without the browser's cookie (TOPCAT and SPLAT do not share
// it): use the short-lived signed links of POST /api/links. XML-RPC carries only strings, lists
// and maps, in ASCII: the JSAMP hub inside TOPCAT faults on typed values and non-ASCII text.

const HUB = "http://localhost:21012/";

/** Replaces what SAMP strings cannot carry: accents are dropped, other non-ASCII becomes "?". */
export function ascii(text) {
  return String(text)
    .normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/[^\t\n\r\x20-\x7e]/g, "?");
}

function escapeXml(text) {
  return ascii(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Encodes a JS string / array / plain object as an XML-RPC value (strings only). */
export function encodeValue(v) {
  if (Array.isArray(v)) return `<value><array><data>${v.map(encodeValue).join("")}</data></array></value>`;
  if (v !== null && typeof v === "object") {
    const members = Object.entries(v)
      .filter(([, x]) => x !== undefined && x !== null)
      .map(([k, x]) => `<member><name>${escapeXml(k)}</name>${encodeValue(x)}</member>`);
    return `<value><struct>${members.join("")}</struct></value>`;
  }
  return `<value><string>${escapeXml(v)}</string></value>`; // numbers/booleans travel as strings
}

/** Decodes an XML-RPC <value> element leniently (typed scalars become strings). */
export function decodeValue(el) {
  const typed = Array.from(el.children)[0];
  if (!typed) return el.textContent;
  switch (typed.localName) {
    case "array": {
      const data = typed.getElementsByTagName("data")[0];
      return data ? Array.from(data.children).filter((c) => c.localName === "value").map(decodeValue) : [];
    }
    case "struct": {
      const out = {};
      for (const m of Array.from(typed.children)) {
        if (m.localName !== "member") continue;
        const name = m.getElementsByTagName("name")[0];
        const value = Array.from(m.children).find((c) => c.localName === "value");
        out[name ? name.textContent : ""] = value ? decodeValue(value) : "";
      }
      return out;
    }
    case "boolean":
      return typed.textContent.trim() === "1" ? "1" : "0";
    case "nil":
      return "";
    default:
      return typed.textContent;
  }
}

export class SampError extends Error {}

/** One XML-RPC call to the Web Profile hub. */
export async function rpc(method, params, { timeoutMs = 30000 } = {}) {
  const body = `<?xml version="1.0" encoding="UTF-8"?><methodCall><methodName>${escapeXml(method)}</methodName>` +
    `<params>${params.map((p) => `<param>${encodeValue(p)}</param>`).join("")}</params></methodCall>`;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let text;
  try {
    const response = await fetch(HUB, { method: "POST", headers: { "Content-Type": "text/xml" }, body, signal: abort.signal });
    text = await response.text();
  } catch (e) {
    throw new SampError(`no SAMP hub answers at ${HUB} (start TOPCAT or another hub with the Web Profile): ${e.message}`);
  } finally {
    clearTimeout(timer);
  }
  const doc = new DOMParser().parseFromString(text, "text/xml");
  const fault = doc.getElementsByTagName("fault")[0];
  if (fault) {
    const v = decodeValue(fault.getElementsByTagName("value")[0]);
    throw new SampError(`the SAMP hub refused ${method}: ${v.faultString || "fault"}`);
  }
  const value = doc.querySelector("params > param > value");
  return value ? decodeValue(value) : "";
}

export const SPECTRUM = "spectrum.load.ssa-generic";
const VOTABLE = "application/x-votable+xml";
const FITS = "application/fits";

/** The table.load MType for a MIME type, or null when it is not a table format. */
export function tableMType(format) {
  const f = String(format || "").toLowerCase().split(";")[0].trim();
  if (f === FITS || f === "image/fits") return "table.load.fits";
  if (f === VOTABLE || f === "application/votable+xml") return "table.load.votable";
  return null;
}

/** One line for a delivery report: "topcat: ok; splat: error: not a spectrum", or "nobody takes …". */
export function describe(report) {
  if (!report.recipients.length) return `nobody takes ${report.mtype}`;
  return report.recipients.map((r) => `${r.name}: ${r.status}${r.text ? ": " + r.text : ""}`).join("; ");
}

/** One line for many reports: "splat: 5 ok, 1 error (not a spectrum)", or "nobody takes …". */
export function summarise(reports) {
  const byClient = new Map();
  for (const report of reports) {
    for (const r of report.recipients) {
      const c = byClient.get(r.name) || { counts: {}, text: "" };
      c.counts[r.status] = (c.counts[r.status] || 0) + 1;
      if (r.text && r.status !== "ok") c.text = r.text;
      byClient.set(r.name, c);
    }
  }
  if (!byClient.size) return reports.length ? `nobody takes ${reports[0].mtype}` : "nothing sent";
  return [...byClient]
    .map(([name, c]) => `${name}: ${Object.entries(c.counts).map(([s, n]) => `${n} ${s}`).join(", ")}${c.text ? ` (${c.text})` : ""}`)
    .join("; ");
}

/** How many reports at least one client answered ok (or with a warning) to. */
export function taken(reports) {
  return reports.filter((r) => r.recipients.some((x) => x.status === "ok" || x.status === "warning")).length;
}

let counter = 0;
function freshId() {
  counter += 1;
  return `vocloud-web-${Date.now()}-${counter}`;
}

export class SampWeb {
  constructor(name = "vocloud", description = "vocloud web UI: spectra processing service") {
    this.metadata = { "samp.name": name, "samp.description.text": description };
    this.key = null;
    this.selfId = null;
    this.handlers = { "samp.app.ping": async () => ({}) }; // mtype -> async (params, senderId) => result map
    this.awaiting = new Map(); // msg-tag -> {answers: Map(id -> response), wake}
    this.pulling = false;
    this.onPageHide = () => this.disconnect({ beacon: true });
  }

  get connected() {
    return this.key !== null;
  }

  /** Registers (the hub asks the user to accept this page) and declares our metadata. */
  async connect() {
    if (this.key) return this;
    const reg = await rpc("samp.webhub.register", [{ "samp.name": this.metadata["samp.name"] }], { timeoutMs: 120000 });
    this.key = reg["samp.private-key"];
    this.selfId = reg["samp.self-id"];
    this.hubId = reg["samp.hub-id"];
    this.translator = reg["samp.url-translator"];
    await this.call("declareMetadata", [this.metadata]);
    window.addEventListener("pagehide", this.onPageHide);
    return this;
  }

  /** A hub method with our private key first. */
  call(method, params = []) {
    if (!this.key) throw new SampError("not connected to a SAMP hub");
    return rpc(`samp.webhub.${method}`, [this.key, ...params]);
  }

  /** A client's samp.name, or its id. */
  async nameOf(id) {
    try {
      return (await this.call("getMetadata", [id]))["samp.name"] || id;
    } catch (_) {
      return id; // The client left in the meantime.
    }
  }

  /** [{id, name}] of the clients subscribed to mtype (the hub itself left out). */
  async clients(mtype) {
    const subscribed = await this.call("getSubscribedClients", [mtype]);
    const ids = Object.keys(subscribed).filter((id) => id !== this.hubId && id !== this.selfId);
    return Promise.all(ids.map(async (id) => ({ id, name: await this.nameOf(id) })));
  }

  /** The clients subscribed to any of `mtypes`, each once. */
  async clientsOf(mtypes) {
    const all = (await Promise.all([...new Set(mtypes)].map((m) => this.clients(m)))).flat();
    return all.filter((c, i) => all.findIndex((d) => d.id === c.id) === i);
  }

  /**
   * Calls one client (`to`: id) or every subscriber and waits up to `timeoutMs` for their answers.
   * Resolves to {mtype, recipients: [{id, name, status, text}]}: the recipients are the ones the hub
   * returned, so an empty list means nobody takes this MType.
   */
  async deliver(mtype, params, { to, timeoutMs = 30000 } = {}) {
    await this.callable();
    const message = { "samp.mtype": mtype, "samp.params": params };
    const tag = freshId();
    // Registered before the call: an answer may be pulled before the call itself returns.
    const wait = { answers: new Map(), wake: () => {} };
    this.awaiting.set(tag, wait);
    try {
      const ids = to ? (await this.call("call", [to, tag, message]), [to]) : Object.keys(await this.call("callAll", [tag, message]));
      const deadline = Date.now() + timeoutMs;
      while (ids.some((id) => !wait.answers.has(id)) && Date.now() < deadline) {
        await new Promise((resolve) => {
          wait.wake = resolve;
          setTimeout(resolve, Math.min(500, Math.max(0, deadline - Date.now())));
        });
      }
      const recipients = await Promise.all(
        ids.map(async (id) => ({ id, name: await this.nameOf(id), ...outcome(wait.answers.get(id), timeoutMs) })),
      );
      return { mtype, recipients };
    } finally {
      this.awaiting.delete(tag);
    }
  }

  /** A table (VOTable or FITS, by `format`) to every client that takes it, or to `to`. */
  sendTable(url, name, { format = VOTABLE, to, timeoutMs } = {}) {
    const mtype = tableMType(format);
    if (!mtype) return Promise.reject(new SampError(`${format} is not a table format SAMP clients load`));
    return this.deliver(mtype, { url, name, "table-id": freshId() }, { to, timeoutMs });
  }

  /** A spectrum (`format`: its MIME type, FITS, VOTable or CSV) to every client that takes spectra, or to `to`. */
  sendSpectrum(url, name, { format, to, timeoutMs } = {}) {
    if (!format) return Promise.reject(new SampError("the spectrum's format (MIME type) is needed"));
    const meta = { "Access.Format": format, "Target.Name": name };
    return this.deliver(SPECTRUM, { url, name, meta, "spectrum-id": freshId() }, { to, timeoutMs });
  }

  /** Receives: subscribes `handlers` ({mtype: fn(params, sender)}) and answers what they return. */
  async listen(handlers) {
    Object.assign(this.handlers, handlers);
    await this.callable();
    await this.call("declareSubscriptions", [Object.fromEntries(Object.keys(this.handlers).map((m) => [m, {}]))]);
  }

  /** Lets the hub queue callbacks for us (calls, and answers to our calls) and starts pulling them. */
  async callable() {
    if (this.pulling) return;
    // JSAMP refuses subscriptions from a client that is not callable yet: allow callbacks first.
    await this.call("allowReverseCallbacks", ["1"]);
    this.pulling = true;
    (async () => {
      while (this.pulling && this.key) {
        let callbacks = [];
        try {
          // JSAMP long-polls up to the timeout; astropy answers at once, hence the pause below.
          callbacks = await rpc("samp.webhub.pullCallbacks", [this.key, "20"], { timeoutMs: 30000 });
        } catch (_) {
          await new Promise((r) => setTimeout(r, 2000));
          continue;
        }
        for (const cb of callbacks || []) this.dispatch(cb);
        if (!callbacks || callbacks.length === 0) await new Promise((r) => setTimeout(r, 300));
      }
    })();
  }

  async dispatch(cb) {
    const [sender, a, b] = cb["samp.params"] || [];
    const method = cb["samp.methodName"];
    if (method === "receiveResponse") {
      const wait = this.awaiting.get(a); // [responder, msg-tag, response]
      if (wait) {
        wait.answers.set(sender, b || {});
        wait.wake();
      }
      return;
    }
    const isCall = method === "receiveCall";
    const message = isCall ? b : a;
    if (!message || (method !== "receiveNotification" && !isCall)) return;
    const handler = this.handlers[message["samp.mtype"]];
    let response;
    try {
      if (!handler) throw new Error(`not handled: ${message["samp.mtype"]}`);
      response = { "samp.status": "samp.ok", "samp.result": (await handler(message["samp.params"] || {}, sender)) || {} };
    } catch (e) {
      response = { "samp.status": "samp.error", "samp.error": { "samp.errortxt": e.message } };
    }
    if (isCall) await this.call("reply", [a, response]).catch(() => {});
  }

  /** Translates a URL another (desktop) client sent into one this page may fetch. */
  translate(url) {
    return this.translator ? this.translator + encodeURIComponent(url) : url;
  }

  /** Unregisters; on page unload a beacon-free best effort (the hub drops us either way). */
  async disconnect() {
    this.pulling = false;
    window.removeEventListener("pagehide", this.onPageHide);
    if (!this.key) return;
    const key = this.key;
    this.key = null;
    try {
      await rpc("samp.webhub.unregister", [key], { timeoutMs: 5000 });
    } catch (_) {
      // The hub is gone already.
    }
  }
}

/** {status, text} of one recipient's answer (undefined: none came in time). */
function outcome(response, timeoutMs) {
  if (!response) return { status: "no answer", text: `none within ${Math.round(timeoutMs / 1000)} s` };
  const status = String(response["samp.status"] || "").replace(/^samp\./, "");
  const text = (response["samp.error"] && response["samp.error"]["samp.errortxt"]) || "";
  if (["ok", "warning", "error"].includes(status)) return { status, text };
  return { status: "error", text: `an answer without a valid samp.status (${status || "none"})` };
}

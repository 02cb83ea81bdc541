// SAMP Web Profile client for vocloud pages: "Send through SAMP" to TOPCAT, SPLAT-VO or any
// client on the user's desktop hub (http://localhost:21012/, SAMP 1.3 Web Profile).
//
//   import { SampWeb } from "/static/samp-web.js";
//   const samp = new SampWeb("vocloud");
//   await samp.connect();                           // the hub asks the user to accept
//   await samp.sendTable(url, "job 42 result");     // table.load.votable to every subscriber
//   await samp.sendSpectrum(url, "HD 123", { to: id, format: "application/fits" });
//   await samp.clients("table.load.votable");       // [{id, name}] for a "send to" menu
//   await samp.disconnect();                        // also done on pagehide
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

function guessFormat(url) {
  return /\.(fits?|fts)(\?|#|$)/i.test(url) ? "application/fits" : "application/x-votable+xml";
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
    this.handlers = {}; // mtype -> async (params, senderId) => result map
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

  /** [{id, name}] of the clients subscribed to mtype (the hub itself left out). */
  async clients(mtype) {
    const subscribed = await this.call("getSubscribedClients", [mtype]);
    const out = [];
    for (const id of Object.keys(subscribed)) {
      if (id === this.hubId || id === this.selfId) continue;
      let name = "";
      try {
        name = (await this.call("getMetadata", [id]))["samp.name"] || "";
      } catch (_) {
        // The client left in the meantime.
      }
      out.push({ id, name });
    }
    return out;
  }

  /** Sends a message to one client (`to`: id) or every subscriber; returns the recipients' ids. */
  async send(mtype, params, { to } = {}) {
    const message = { "samp.mtype": mtype, "samp.params": params };
    if (to) {
      await this.call("notify", [to, message]);
      return [to];
    }
    return this.call("notifyAll", [message]);
  }

  sendTable(url, name, { to, mtype } = {}) {
    const type = mtype || (guessFormat(url) === "application/fits" ? "table.load.fits" : "table.load.votable");
    return this.send(type, { url, name, "table-id": freshId() }, { to });
  }

  sendSpectrum(url, name, { to, format } = {}) {
    const meta = { "Access.Format": format || guessFormat(url), "Target.Name": name };
    return this.send("spectrum.load.ssa-generic", { url, name, meta, "spectrum-id": freshId() }, { to });
  }

  /** Receives: subscribes `handlers` ({mtype: fn(params, sender)}) and pulls callbacks. */
  async listen(handlers) {
    this.handlers = { "samp.app.ping": async () => ({}), ...handlers };
    // JSAMP refuses subscriptions from a client that is not callable yet: allow callbacks first.
    await this.call("allowReverseCallbacks", ["1"]);
    await this.call("declareSubscriptions", [Object.fromEntries(Object.keys(this.handlers).map((m) => [m, {}]))]);
    if (this.pulling) return;
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
    const isCall = cb["samp.methodName"] === "receiveCall";
    const message = isCall ? b : a;
    if (!message || (cb["samp.methodName"] !== "receiveNotification" && !isCall)) return;
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

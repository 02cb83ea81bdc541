// The storage picker of job forms: "Browse…" next to a path field opens a dialog listing the
// user's folders (GET /api/files/<folder>, JSON); pick a file, or use the folder shown. Without
// script the field is a plain text box for the path.

import { encodePath } from "/assets/app.js";

const dialog = document.getElementById("picker");
const list = document.getElementById("picker-list");
const where = document.getElementById("picker-where");
let target = null;
let folder = "";

async function show(path) {
  const response = await fetch("/api/files/" + encodePath(path), { credentials: "same-origin" });
  if (!response.ok) {
    where.textContent = "Cannot list /" + path + ": " + (await response.text());
    return;
  }
  const listing = await response.json();
  folder = listing.path || "";
  where.textContent = "Folder: /" + folder;
  list.replaceChildren();
  const entries = listing.entries.slice().sort((a, b) =>
    a.type === b.type ? a.name.localeCompare(b.name) : a.type === "folder" ? -1 : 1);
  for (const entry of entries.slice(0, 500)) {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.textContent = (entry.type === "folder" ? "📁 " : "") + entry.name;
    const full = folder ? folder + "/" + entry.name : entry.name;
    const actions = document.createElement("span");
    if (entry.type === "folder") {
      const open = document.createElement("button");
      open.type = "button";
      open.textContent = "Open";
      open.setAttribute("aria-label", "Open folder " + entry.name);
      open.addEventListener("click", () => show(full));
      actions.append(open, " ");
    }
    const pick = document.createElement("button");
    pick.type = "button";
    pick.textContent = "Choose";
    pick.setAttribute("aria-label", "Choose " + entry.name);
    pick.addEventListener("click", () => choose(full));
    actions.append(pick);
    item.append(name, actions);
    list.append(item);
  }
  if (entries.length > 500) {
    const more = document.createElement("li");
    more.textContent = `${entries.length - 500} more entries not shown; type the path instead.`;
    list.append(more);
  }
  if (!entries.length) {
    const empty = document.createElement("li");
    empty.textContent = "This folder is empty.";
    list.append(empty);
  }
}

function choose(path) {
  target.value = path;
  target.dispatchEvent(new Event("input", { bubbles: true }));
  dialog.close();
  target.focus();
}

for (const button of document.querySelectorAll("[data-picker]")) {
  button.addEventListener("click", async () => {
    target = document.getElementById(button.dataset.picker);
    const start = target.value.includes("/") ? target.value.slice(0, target.value.lastIndexOf("/")) : "";
    dialog.showModal();
    await show(start).catch(() => show(""));
  });
}
document.getElementById("picker-here").addEventListener("click", () => choose(folder));
document.getElementById("picker-up").addEventListener("click", () =>
  show(folder.includes("/") ? folder.slice(0, folder.lastIndexOf("/")) : ""));
document.getElementById("picker-close").addEventListener("click", () => dialog.close());

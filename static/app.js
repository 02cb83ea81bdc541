// What every vocloud page shares: the CSRF token for scripted requests, "select all" buttons,
// and confirmation dialogs for destructive form buttons. The pages work without this file: the
// server asks for confirmation on its own page when a form arrives unconfirmed.

/** The page's CSRF token (from <meta name="csrf-token">), sent as X-CSRF-Token. */
export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

/** fetch() with the CSRF header and the login cookie. */
export function send(url, options = {}) {
  const headers = new Headers(options.headers || {});
  headers.set("X-CSRF-Token", csrfToken());
  return fetch(url, { credentials: "same-origin", ...options, headers });
}

/** A storage path as URL path segments, each encoded ("a b/c#.fits" -> "a%20b/c%23.fits"). */
export function encodePath(path) {
  return path.split("/").map(encodeURIComponent).join("/");
}

// Both behaviours below listen on the document, so they also work in parts of a page that were
// swapped in later (the live job panel).

// "Select all" toggles every checkbox of that name in the button's form.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-select-all]");
  if (!button || !button.form) return;
  const boxes = button.form.querySelectorAll(`input[type=checkbox][name="${button.dataset.selectAll}"]`);
  const all = Array.from(boxes).every((b) => b.checked);
  for (const b of boxes) b.checked = !all;
});

// Destructive buttons ask in a dialog; the form then says it was confirmed.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.matches("form[data-confirm]")) return;
  const submitter = event.submitter;
  const action = form.dataset.confirmAction;
  if (form.dataset.confirmed || (action && (!submitter || submitter.value !== action))) return;
  event.preventDefault();
  if (!window.confirm(form.dataset.confirm)) return;
  const flag = document.createElement("input");
  flag.type = "hidden";
  flag.name = "confirmed";
  flag.value = "1";
  form.append(flag);
  form.dataset.confirmed = "1";
  // Not from inside this submit event: the browser ignores a submission started there.
  setTimeout(() => form.requestSubmit(submitter), 0);
});

// Live phases and progress on job lists and the job page, pushed by the server over one
// Server-Sent Events stream per page (GET /live/jobs?ids=...). Without script the pages show
// the state at load time.
//
// window.vocloudLive records what arrived (for tests): {events, phases: {id: phase}, changedAt}.

const live = (window.vocloudLive = { events: 0, phases: {}, changedAt: {} });

function follow(ids, onJob) {
  if (!ids.trim()) return;
  const source = new EventSource("/live/jobs?ids=" + encodeURIComponent(ids.trim()));
  source.addEventListener("job", (e) => {
    const job = JSON.parse(e.data);
    live.events += 1;
    if (live.phases[job.id] !== job.phase) live.changedAt[job.id] = performance.now();
    live.phases[job.id] = job.phase;
    onJob(job);
  });
  source.addEventListener("end", () => source.close());
}

/** Shows a job's phase and progress in the elements of `scope`. */
function paint(scope, job) {
  const badge = scope.querySelector("[data-phase]");
  if (badge && badge.textContent !== job.phase) {
    badge.textContent = job.phase;
    badge.className = badge.className.replace(/phase-[A-Z]+/, "phase-" + job.phase);
  }
  const bar = scope.querySelector("[data-progress]");
  if (bar) {
    bar.hidden = job.progress === null;
    if (job.progress !== null) {
      bar.value = job.progress;
      bar.textContent = job.progress + "%";
    }
  }
  const message = scope.querySelector("[data-progress-message]");
  if (message) message.textContent = job.message || "";
}

// Job lists: one row per job.
for (const box of document.querySelectorAll("[data-live-jobs]")) {
  follow(box.dataset.liveJobs, (job) => {
    const row = box.querySelector(`tr[data-job="${job.id}"]`);
    if (row) paint(row, job);
  });
}

// The job page: the phase and progress at once; when the phase changes, the server-rendered
// panel (times, error, results, viewer, actions) is fetched and swapped in.
const page = document.querySelector("[data-live-job]");
if (page) {
  const id = page.dataset.liveJob;
  let phase = page.dataset.jobPhase;
  follow(id, async (job) => {
    paint(document, job);
    if (job.phase === phase) return;
    phase = job.phase;
    const response = await fetch(`/jobs/${id}/panel`, { credentials: "same-origin" });
    if (!response.ok) return;
    const panel = document.getElementById("job-panel");
    panel.innerHTML = await response.text();
    page.dataset.jobPhase = phase;
    document.dispatchEvent(new CustomEvent("vocloud:panel", { detail: job }));
    const status = document.getElementById("live-status");
    if (status) status.textContent = "Job is now " + phase;
  });
}

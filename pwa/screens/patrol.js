// /patrol — guards (property staff) start a run on a shift, see which
// checkpoints are done and end it; supervisors (property, police, wardens)
// see recent runs and what they were flagged for. Checkpoints are recorded by
// scanning their tags (/scanner → /p/{token}, screens/patroltag.js).

import { api, isAbort } from "../api.js";
import { h, link, replace, errorBanner, notice, busy } from "../dom.js";
import { t, label, formatDateTime } from "../i18n.js";
import * as session from "../session.js";

const RUN_KEY = "anju.patrol.run"; // the guard's current run, for the tag screen

export function currentRun() {
  return Number(localStorage.getItem(RUN_KEY)) || null;
}

function setCurrentRun(id) {
  if (id) localStorage.setItem(RUN_KEY, String(id));
  else localStorage.removeItem(RUN_KEY);
}

export async function render({ signal }) {
  const heading = h("h1", {}, t("patrol.title"));
  if (!session.isStaff()) {
    return h("section", { class: "screen" }, heading, notice(t("patrol.staff_only")));
  }
  const guard = session.account()?.role === "property";
  try {
    const communities = (await api("/api/communities", { signal })) || [];
    const run = guard && currentRun() ? await api(`/api/patrol/runs/${currentRun()}`, { signal }).catch(() => null) : null;
    if (run && run.status !== "open") setCurrentRun(null);
    const sections = await Promise.all(communities.map((c) => communitySection(c, guard, signal)));
    return h("section", { class: "screen" }, heading, run && run.status === "open" ? runCard(run) : null, sections);
  } catch (err) {
    if (isAbort(err)) throw err;
    return h("section", { class: "screen" }, heading, errorBanner(err));
  }
}

async function communitySection(community, guard, signal) {
  const [routes, runs] = await Promise.all([
    api(`/api/communities/${encodeURIComponent(community.id)}/patrol/routes`, { signal }),
    api(`/api/communities/${encodeURIComponent(community.id)}/patrol/runs`, { signal }),
  ]);
  return h(
    "section",
    {},
    h("h2", {}, community.name),
    routes.map((route) => routeCard(route, guard)),
    h("h3", {}, t("patrol.recent_runs")),
    runs.length ? h("ul", { class: "queue-list" }, runs.map(runSummary)) : h("p", { class: "empty" }, t("patrol.no_runs")),
  );
}

function routeCard(route, guard) {
  const status = h("div", { class: "status-area", "aria-live": "polite" });
  const shifts = route.shifts.map((shift) => {
    const start = h("button", { type: "button", class: "btn btn-small btn-primary", dataset: { testid: "start-run", shiftId: String(shift.id) } }, t("patrol.start"));
    start.addEventListener("click", () =>
      busy(start, async () => {
        try {
          const run = await api("/api/patrol/runs", { body: { shift_id: shift.id } });
          setCurrentRun(run.id);
          replace(status, runCard(run));
        } catch (err) {
          if (!isAbort(err)) replace(status, errorBanner(err));
        }
      }),
    );
    const every = shift.every_minutes ? t("patrol.every", { minutes: shift.every_minutes }) : "";
    return h("li", {}, `${shift.name} ${shift.starts}–${shift.ends} ${every}`, " ", guard ? start : null);
  });
  return h(
    "article",
    { class: "card", dataset: { testid: "patrol-route" } },
    h("h3", {}, route.name),
    h("ol", {}, route.checkpoints.map((c) => h("li", {}, c.name, c.place ? ` · ${c.place}` : ""))),
    h("ul", { class: "link-list" }, shifts),
    status,
  );
}

/** The guard's open run: checkpoints done, the scanner, and ending it. */
export function runCard(run) {
  const status = h("div", { class: "status-area", "aria-live": "polite" });
  const end = h("button", { type: "button", class: "btn btn-outline", dataset: { testid: "end-run" } }, t("patrol.end"));
  const card = h("article", { class: "card", dataset: { testid: "current-run", runId: String(run.id) } });
  end.addEventListener("click", () =>
    busy(end, async () => {
      try {
        const ended = await api(`/api/patrol/runs/${encodeURIComponent(run.id)}/end`, { method: "POST" });
        setCurrentRun(null);
        replace(card, runSummary(ended));
      } catch (err) {
        if (!isAbort(err)) replace(status, errorBanner(err));
      }
    }),
  );
  return replace(
    card,
    h("h3", {}, t("patrol.current_run", { route: run.route })),
    h("p", { class: "muted" }, t("patrol.round", { start: formatDateTime(run.round_start), end: formatDateTime(run.round_end) })),
    h("p", { dataset: { testid: "run-progress" } }, t("patrol.progress", { done: run.scans.length, total: run.checkpoints })),
    h("ol", {}, run.scans.map((s) => h("li", { dataset: { testid: "run-scan" } }, s.checkpoint, " · ", formatDateTime(s.at)))),
    h("div", { class: "actions actions-inline" }, link("/scanner", { class: "btn btn-primary" }, t("patrol.scan_checkpoint")), end),
    status,
  );
}

function runSummary(run) {
  return h(
    "li",
    { class: "card queue-item", dataset: { testid: "patrol-run", status: run.status } },
    h("strong", {}, `${run.route} · ${run.shift}`),
    h("p", { class: "muted small" }, [run.guard, formatDateTime(run.round_start), label("run_status", run.status), t("patrol.progress", { done: run.scans.length, total: run.checkpoints })].join(" · ")),
    run.flags.length
      ? h("ul", { class: "badges" }, run.flags.map((f) => h("li", { class: "badge badge-warning", dataset: { testid: "patrol-flag", kind: f.kind } }, `${label("flag_kind", f.kind)}: ${f.checkpoint}`)))
      : run.status === "closed"
        ? h("p", { class: "small" }, t("patrol.no_flags"))
        : null,
  );
}

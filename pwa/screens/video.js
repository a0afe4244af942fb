// /video — 视频监控 for property staff and the community police: per community, the required
// areas without a camera and the cameras to look at (offline, recorded under 30 days), and video
// inspection (视频巡检): property staff run a round camera by camera (verdict, note, snapshot);
// everyone here reads the rounds, their snapshots (an audited read) and the missed windows.

import { api, isAbort } from "../api.js";
import { h, replace, errorBanner, link, loading, busy } from "../dom.js";
import { t, label, formatDateTime } from "../i18n.js";
import * as session from "../session.js";

const VERDICTS = ["normal", "no_signal", "blurred", "blocked", "moved"];

export async function render({ signal }) {
  const communities = (await api("/api/communities", { signal })) || [];
  const inspector = session.account()?.role === "property"; // roles/matrix.py: inspect_video
  const watcher = ["property", "police"].includes(session.account()?.role); // watch_video
  return h(
    "section",
    { class: "screen" },
    h("h1", {}, t("video.title")),
    watcher ? h("p", {}, link("/wall", { class: "btn btn-primary", dataset: { testid: "open-wall" } }, t("wall.open"))) : null,
    communities.length ? communities.map((c) => communityVideo(c, inspector, signal)) : h("p", { class: "muted" }, t("metrics.none")),
  );
}

function communityVideo(community, inspector, signal) {
  const base = `/api/communities/${encodeURIComponent(community.id)}/video`;
  const body = h("div", {}, loading());
  const refresh = async () => {
    try {
      const [coverage, cameras, inspections] = await Promise.all([
        api(`${base}/coverage`, { signal }),
        api(`${base}/cameras`, { signal }),
        api(`${base}/inspections`, { signal }),
      ]);
      const open = inspector ? inspections.rounds.find((r) => r.status === "open") : null;
      replace(
        body,
        coverageCard(coverage),
        open ? roundEditor(open, cameras, refresh) : inspector ? startButton(base, refresh) : null,
        inspectionList(inspections),
      );
    } catch (err) {
      if (!isAbort(err)) replace(body, errorBanner(err));
    }
  };
  refresh();
  return h("section", { class: "card", dataset: { testid: "video-community" } }, h("h2", {}, community.name), body);
}

function coverageCard(coverage) {
  const gaps = coverage.gaps.map((g) => h("li", { dataset: { testid: "video-gap", area: g.area } }, [label("video_area", g.area), g.place].filter(Boolean).join(" · ")));
  const flags = coverage.flags.map((f) =>
    h("li", { dataset: { testid: "video-flag", reason: f.reason } }, `${f.name}: ${t(`video.flag.${f.reason}`, { days: f.retention_days ?? "", min: coverage.retention_days_min })}`),
  );
  return h(
    "div",
    { dataset: { testid: "video-coverage", complete: String(coverage.complete) } },
    h("h3", {}, t("video.coverage")),
    coverage.complete ? h("p", {}, t("video.complete")) : null,
    gaps.length ? h("div", {}, h("p", { class: "small" }, t("video.gaps", { count: gaps.length })), h("ul", { class: "small" }, gaps)) : null,
    flags.length ? h("div", {}, h("p", { class: "small" }, t("video.flags", { count: flags.length })), h("ul", { class: "small" }, flags)) : null,
  );
}

function startButton(base, refresh) {
  const status = h("div");
  const button = h("button", { type: "button", class: "btn btn-primary", dataset: { testid: "start-inspection" } }, t("video.start"));
  button.addEventListener("click", () =>
    busy(button, async () => {
      try {
        await api(`${base}/inspections`, { method: "POST" });
        refresh();
      } catch (err) {
        replace(status, errorBanner(err));
      }
    }),
  );
  return h("div", {}, button, status);
}

/** The caller's open round: each camera not checked yet gets a verdict, a note and a snapshot. */
function roundEditor(round, cameras, refresh) {
  const status = h("div");
  const end = h("button", { type: "button", class: "btn btn-outline", dataset: { testid: "end-inspection" } }, t("video.end"));
  end.addEventListener("click", () =>
    busy(end, async () => {
      try {
        await api(`/api/video/inspections/${encodeURIComponent(round.id)}/end`, { method: "POST" });
        refresh();
      } catch (err) {
        replace(status, errorBanner(err));
      }
    }),
  );
  const todo = cameras.filter((c) => round.unchecked.includes(c.id));
  return h(
    "div",
    { dataset: { testid: "inspection-round" } },
    h("h3", {}, t("video.round_open", { at: formatDateTime(round.started_at) })),
    h("ul", { class: "pass-list" }, todo.map((c) => checkForm(round, c, refresh))),
    end,
    status,
  );
}

function checkForm(round, camera, refresh) {
  const id = (name) => `check-${camera.id}-${name}`;
  const verdict = h("select", { id: id("verdict"), name: "verdict" }, VERDICTS.map((v) => h("option", { value: v }, label("video_verdict", v))));
  const note = h("input", { id: id("note"), name: "note", type: "text", maxlength: 300 });
  const snapshot = h("input", { id: id("snapshot"), name: "snapshot", type: "file", accept: "image/jpeg,image/png,image/webp" });
  const status = h("div");
  const submit = h("button", { type: "submit", class: "btn btn-small btn-primary" }, t("video.record"));
  const form = h(
    "form",
    { class: "card", dataset: { testid: "check-camera", camera: String(camera.id) } },
    h("strong", {}, camera.name),
    h("p", { class: "small muted" }, [label("video_area", camera.area), camera.place].filter(Boolean).join(" · ")),
    h("div", { class: "field" }, h("label", { for: id("verdict") }, t("video.verdict")), verdict),
    h("div", { class: "field" }, h("label", { for: id("note") }, t("video.note")), note),
    h("div", { class: "field" }, h("label", { for: id("snapshot") }, t("video.snapshot")), snapshot),
    submit,
    status,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(submit, async () => {
      try {
        const after = await api(`/api/video/inspections/${encodeURIComponent(round.id)}/checks`, {
          body: { camera_id: camera.id, verdict: verdict.value, note: note.value.trim() },
        });
        const file = snapshot.files && snapshot.files[0];
        const check = after.checks.find((c) => c.camera_id === camera.id);
        if (file && check) {
          await api(`/api/video/checks/${encodeURIComponent(check.id)}/snapshot`, { method: "PUT", raw: file, headers: { "Content-Type": file.type || "application/octet-stream" } });
        }
        refresh();
      } catch (err) {
        replace(status, errorBanner(err));
      }
    });
  });
  return h("li", {}, form);
}

function inspectionList(inspections) {
  const schedule = inspections.rounds_per_day
    ? t("video.schedule", { count: inspections.rounds_per_day, missed: inspections.missed.length })
    : t("video.no_schedule");
  return h(
    "div",
    {},
    h("h3", {}, t("video.inspections")),
    h("p", { class: "small muted", dataset: { testid: "inspection-schedule", missed: String(inspections.missed.length) } }, schedule),
    inspections.rounds.length
      ? h("ul", { class: "pass-list" }, inspections.rounds.map(roundCard))
      : h("p", { class: "muted" }, t("video.no_rounds")),
  );
}

function roundCard(round) {
  return h(
    "li",
    { class: "card", dataset: { testid: "inspection", status: round.status } },
    h("p", { class: "small" }, `${formatDateTime(round.started_at)} · ${round.operator} · ${label("video_round", round.status)}`),
    h(
      "ul",
      { class: "small" },
      round.checks.map((c) =>
        h(
          "li",
          { dataset: { testid: "inspection-check", verdict: c.verdict } },
          `${c.camera}: ${label("video_verdict", c.verdict)}${c.note ? ` (${c.note})` : ""}`,
          c.has_snapshot ? snapshotButton(c.id) : null,
        ),
      ),
    ),
  );
}

function snapshotButton(checkId) {
  const holder = h("div");
  const button = h("button", { type: "button", class: "btn btn-small btn-outline", dataset: { testid: "show-snapshot" } }, t("video.show_snapshot"));
  button.addEventListener("click", () =>
    busy(button, async () => {
      try {
        // The snapshot needs the bearer token: fetched, then shown from a blob: URL.
        const url = URL.createObjectURL(await api(`/api/video/checks/${encodeURIComponent(checkId)}/snapshot`, { blob: true }));
        replace(holder, h("img", { src: url, alt: t("video.snapshot"), class: "request-photo", dataset: { testid: "snapshot" } }));
        button.hidden = true;
      } catch (err) {
        replace(holder, errorBanner(err));
      }
    }),
  );
  return h("div", {}, button, holder);
}

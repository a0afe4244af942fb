// /p/{token} — a patrol checkpoint's tag, scanned (or its URL opened): the
// guard's current run records it, with the phone's position when it gives one.

import { api, isAbort } from "../api.js";
import { h, link, errorBanner, notice } from "../dom.js";
import { t } from "../i18n.js";
import * as session from "../session.js";
import { currentRun, runCard } from "./patrol.js";

const POSITION_WAIT_MS = 3000; // a checkpoint scan never waits long for GPS

export async function render({ params }) {
  const heading = h("h1", {}, t("patroltag.title"));
  const back = link("/patrol", { class: "btn btn-outline" }, t("patrol.title"));
  if (!session.isSignedIn() || session.account()?.role !== "property") {
    return h("section", { class: "screen" }, heading, notice(t("patroltag.guards_only")));
  }
  const run = currentRun();
  if (!run) {
    return h("section", { class: "screen" }, heading, notice(t("patroltag.no_run")), back);
  }
  try {
    const body = { token: params.token, ...(await position()) };
    const updated = await api(`/api/patrol/runs/${encodeURIComponent(run)}/scans`, { body });
    const last = updated.scans[updated.scans.length - 1];
    return h("section", { class: "screen" }, heading, h("div", { class: "banner banner-success", role: "status", dataset: { testid: "checkpoint-recorded" } }, t("patroltag.recorded", { name: last ? last.checkpoint : "" })), runCard(updated));
  } catch (err) {
    if (isAbort(err)) throw err;
    return h("section", { class: "screen" }, heading, errorBanner(err), back);
  }
}

function position() {
  if (!navigator.geolocation) return Promise.resolve({});
  return new Promise((resolve) => {
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ latitude: p.coords.latitude, longitude: p.coords.longitude }),
      () => resolve({}),
      { timeout: POSITION_WAIT_MS, maximumAge: 60000 },
    );
    setTimeout(() => resolve({}), POSITION_WAIT_MS + 500);
  });
}

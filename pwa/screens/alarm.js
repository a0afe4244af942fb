// /alarms/{id} — where an alarm's push notification leads: the alarm, where it
// happened, who pressed (a paired button; an audited read) and its handling
// so far. Handling itself is on the board, which the staff reach from here.
// Family members routed a help button's push may not read alarms: they are
// told who handles it instead of seeing an error.

import { api, isAbort } from "../api.js";
import { h, link, errorBanner, notice } from "../dom.js";
import { t, label, formatDateTime } from "../i18n.js";
import { viewCameraLink } from "../camera_link.js";

export async function render({ params, signal }) {
  const screen = h("section", { class: "screen", dataset: { testid: "alarm-screen" } }, h("h1", {}, t("alarm.title")));
  try {
    const { alarm, steps, person } = await api(`/api/alarms/${encodeURIComponent(params.token)}`, { signal });
    screen.append(summary(alarm, person));
    if (alarm.type === "watched_person") screen.append(capture(alarm.id, signal));
    screen.append(history(steps), link("/board", { class: "btn btn-primary" }, t("alarm.open_board")));
  } catch (err) {
    if (isAbort(err)) throw err;
    screen.append(err.status === 403 || err.status === 404 ? notice(t("alarm.handled_by_staff")) : errorBanner(err));
  }
  return screen;
}

function summary(alarm, person) {
  return h(
    "div",
    { class: ["card", `severity-${alarm.severity}`], dataset: { testid: "alarm", state: alarm.state } },
    h("h2", {}, label("alarm_type", alarm.type)),
    h("span", { class: "badge" }, label("alarm_state", alarm.state)),
    h("p", {}, [alarm.location, alarm.detail].filter(Boolean).join(" · ")),
    h("p", { class: "muted small" }, [label("severity", alarm.severity), formatDateTime(alarm.first_at)].join(" · ")),
    person ? h("p", { class: "small", dataset: { testid: "alarm-person" } }, `${person.name} ${person.phone}`) : null,
    viewCameraLink(alarm),
  );
}

/** A watch-list sighting's capture (police only, while it is kept): fetched with the token, shown from a blob: URL. */
function capture(alarmId, signal) {
  const img = h("img", { class: "face-photo", alt: t("alarm.capture"), hidden: true, dataset: { testid: "alarm-capture" } });
  api(`/api/alarms/${encodeURIComponent(alarmId)}/capture`, { blob: true, signal })
    .then((blob) => {
      img.src = URL.createObjectURL(blob);
      img.hidden = false;
      signal.addEventListener("abort", () => URL.revokeObjectURL(img.src));
    })
    .catch(() => {}); // erased after its window: the alarm still shows
  return h("figure", {}, img);
}

function history(steps) {
  return h(
    "ol",
    { class: "timeline" },
    steps.map((step) =>
      h(
        "li",
        {},
        h("strong", {}, label("alarm_state", step.state)),
        h("span", { class: "muted small" }, ` ${formatDateTime(step.at)} ${step.account_name}`),
        step.note ? h("p", { class: "small" }, step.note) : null,
      ),
    ),
  );
}

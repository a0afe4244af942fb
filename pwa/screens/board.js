// /board — the management centre's board: the community's map (buildings,
// gates, perimeter zones), its alarms as they happen, device health, and the
// handling steps. The live stream is the one source of alarm updates: an
// action posts a step and the board redraws when the stream announces it.

import { api, isAbort } from "../api.js";
import { h, replace, errorBanner, notice, loading, busy, safeUrl } from "../dom.js";
import { t, label, formatDateTime } from "../i18n.js";
import { watchLive } from "../live.js";
import { viewCameraLink } from "../camera_link.js";

const SVG = "http://www.w3.org/2000/svg";
const MAP_MARGIN = 40;
const LOW_BATTERY_PERCENT = 20; // the server's default ANJU_ALARM_BATTERY_LOW_PERCENT
// The steps each state allows (backend/alarms/kinds.py TRANSITIONS); closing needs a note.
const NEXT_STEPS = {
  new: ["acknowledged"],
  acknowledged: ["dispatched", "resolved", "false_alarm"],
  dispatched: ["resolved", "false_alarm"],
};
const NEEDS_NOTE = new Set(["resolved", "false_alarm"]);
const OPEN = new Set(Object.keys(NEXT_STEPS));

export async function render({ signal }) {
  const communities = (await api("/api/communities", { signal })) || [];
  const body = h("div", { class: "board-body" });
  const screen = h("section", { class: "screen board", dataset: { testid: "board" } }, h("h1", {}, t("board.title")));
  if (!communities.length) return replace(screen, h("h1", {}, t("board.title")), notice(t("board.no_community")));
  let stop = () => {};
  const show = (community) => {
    stop();
    stop = showCommunity(body, community.id, signal);
  };
  signal.addEventListener("abort", () => stop());
  if (communities.length > 1) {
    const picker = h(
      "select",
      { id: "board-community", onchange: () => show(communities[picker.selectedIndex]) },
      communities.map((c) => h("option", { value: String(c.id) }, c.name)),
    );
    screen.append(h("div", { class: "field" }, h("label", { for: "board-community" }, t("board.community")), picker));
  }
  screen.append(soundToggle(), body);
  show(communities[0]);
  return screen;
}

// --- sound: browsers let a page play audio only after a user gesture ---------

let audio = null;

function soundToggle() {
  const button = h("button", { type: "button", class: "btn btn-small btn-outline", "aria-pressed": String(Boolean(audio)), dataset: { testid: "sound" } }, t(audio ? "board.sound_off" : "board.sound_on"));
  button.addEventListener("click", () => {
    if (audio) {
      audio.close();
      audio = null;
    } else {
      audio = new AudioContext();
      beep();
    }
    button.setAttribute("aria-pressed", String(Boolean(audio)));
    button.textContent = t(audio ? "board.sound_off" : "board.sound_on");
  });
  return h("div", { class: "actions" }, button);
}

function beep() {
  if (!audio) return;
  const tone = audio.createOscillator();
  const volume = audio.createGain();
  tone.frequency.value = 880;
  volume.gain.setValueAtTime(0.2, audio.currentTime);
  volume.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.6);
  tone.connect(volume).connect(audio.destination);
  tone.start();
  tone.stop(audio.currentTime + 0.6);
}

// --- one community ------------------------------------------------------------

function showCommunity(body, communityId, signal) {
  const alarms = new Map();
  const notes = new Map(); // alarm id → the note being typed: kept when the list redraws
  const status = h("div", { class: "status-area", "aria-live": "polite" });
  const live = h("p", { class: "muted small", dataset: { testid: "live-state" } }, t("board.connecting"));
  const list = h("ul", { class: "list board-alarms", dataset: { testid: "alarm-list" } });
  const mapHolder = h("div", { class: "board-map" }, loading());
  const health = h("div", { class: "board-health", dataset: { testid: "device-health" } });
  const popup = h("div", { class: "board-popup", hidden: true, role: "dialog", "aria-live": "assertive", dataset: { testid: "alarm-popup" } });
  let map = null;
  let popupAlarm = null;

  const redraw = () => {
    const sorted = [...alarms.values()].sort((a, b) => OPEN.has(b.state) - OPEN.has(a.state) || b.raised_at.localeCompare(a.raised_at));
    replace(list, ...(sorted.length ? sorted.map((a) => alarmItem(a, map, status, notes, openPopup)) : [h("li", { class: "muted" }, t("board.no_alarms"))]));
    if (map) highlight(map, sorted.filter((a) => OPEN.has(a.state)));
    if (popupAlarm) fillPopup(alarms.get(popupAlarm));
  };
  function openPopup(alarm) {
    popupAlarm = alarm.id;
    fillPopup(alarm);
  }
  function fillPopup(alarm) {
    popup.hidden = false;
    const close = h("button", { type: "button", class: "btn btn-small btn-ghost", "aria-label": t("common.dismiss") }, "×");
    close.addEventListener("click", () => {
      popupAlarm = null;
      popup.hidden = true;
    });
    replace(
      popup,
      h("div", { class: "board-popup-head" }, h("strong", {}, label("alarm_type", alarm.type)), close),
      h("p", {}, alarmWhere(alarm, map)),
      h("h3", {}, t("board.cameras")),
      viewCameraLink(alarm),
      cameraList(alarm, map),
      stepActions(alarm, status, notes),
    );
  }

  (async () => {
    try {
      const [shape, current] = await Promise.all([
        api(`/api/communities/${communityId}/map`, { signal }),
        api(`/api/communities/${communityId}/alarms`, { signal }),
      ]);
      map = drawMap(shape);
      replace(mapHolder, map.svg);
      for (const alarm of current) alarms.set(alarm.id, alarm);
      redraw();
    } catch (err) {
      if (!isAbort(err)) replace(mapHolder, errorBanner(err));
    }
  })();
  deviceHealth(health, communityId, signal);

  const stop = watchLive(
    communityId,
    (event) => {
      if (event.topic !== "alarm" || !event.data || event.data.community !== communityId) return;
      const known = alarms.get(event.data.id);
      alarms.set(event.data.id, event.data);
      if (!known && event.data.state === "new") {
        beep();
        openPopup(event.data);
      }
      redraw();
    },
    { onState: (state) => replace(live, t(`board.live_${state}`)) },
  );

  replace(
    body,
    status,
    live,
    h("div", { class: "board-layout" }, h("div", { class: "board-main" }, mapHolder, popup), h("div", { class: "board-side" }, health, h("h2", {}, t("board.alarms")), list)),
  );
  return stop;
}

// --- the map --------------------------------------------------------------------

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  el.append(...children);
  return el;
}

/** The community's map scaled to its own extent; zones and buildings by id for highlighting. */
function drawMap(shape) {
  const points = [...shape.buildings, ...shape.gates].map((p) => [p.x, p.y]).concat(shape.zones.flatMap((z) => z.polygon));
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const [left, top] = [Math.min(0, ...xs), Math.min(0, ...ys)];
  const [width, height] = [Math.max(1, ...xs) - left + MAP_MARGIN, Math.max(1, ...ys) - top + MAP_MARGIN];
  const title = svg("title");
  title.textContent = t("board.map");
  const root = svg("svg", { viewBox: `${left - MAP_MARGIN / 2} ${top - MAP_MARGIN / 2} ${width} ${height}`, role: "img", class: "board-svg", "data-testid": "board-map" }, title);
  const zones = new Map();
  const buildings = new Map();
  const houses = new Map();
  const detectors = new Map(); // device id → zone id: a detector's tamper or offline is at its zone too
  for (const zone of shape.zones) {
    for (const device of zone.detectors) detectors.set(device, zone.id);
    const shapeEl = svg("polygon", { points: zone.polygon.map((p) => p.join(",")).join(" "), class: "map-zone", "data-testid": "map-zone", "data-zone": zone.id });
    const name = mapLabel(zone.name, zone.polygon[0][0] + 8, zone.polygon[0][1] + 24);
    root.append(svg("g", {}, shapeEl, name));
    zones.set(zone.id, { el: shapeEl, zone });
  }
  for (const building of shape.buildings) {
    const box = svg("rect", { x: building.x - 60, y: building.y - 40, width: 120, height: 80, rx: 6, class: "map-building", "data-testid": "map-building", "data-building": building.id });
    root.append(svg("g", {}, box, mapLabel(building.name, building.x, building.y + 6, "middle")));
    buildings.set(building.id, { el: box, building });
    for (const house of building.houses) houses.set(house, building.id);
  }
  for (const gate of shape.gates) {
    root.append(svg("g", {}, svg("circle", { cx: gate.x, cy: gate.y, r: 14, class: "map-gate" }), mapLabel(gate.name, gate.x + 20, gate.y + 6)));
  }
  return { svg: root, zones, buildings, houses, detectors };
}

function mapLabel(text, x, y, anchor = "start") {
  const el = svg("text", { x, y, "text-anchor": anchor, class: "map-label" });
  el.textContent = text;
  return el;
}

/** Mark the zones and buildings that have an open alarm (new ones pulse). */
function highlight(map, open) {
  const marks = new Map();
  for (const alarm of open) {
    const place = placeOf(alarm, map);
    if (place && marks.get(place) !== "new") marks.set(place, alarm.state === "new" ? "new" : "open");
  }
  for (const { el } of [...map.zones.values(), ...map.buildings.values()]) {
    el.classList.toggle("map-alarm", marks.has(el));
    el.classList.toggle("map-alarm-new", marks.get(el) === "new");
  }
}

function placeOf(alarm, map) {
  const zone = zoneOf(alarm, map);
  if (zone) return zone.el;
  const building = alarm.house != null ? map.houses.get(alarm.house) : null;
  return building != null ? map.buildings.get(building).el : null;
}

/** The alarm's zone: the one it names (an intrusion), else the one its device guards. */
function zoneOf(alarm, map) {
  if (!map) return null;
  return map.zones.get(alarm.zone ?? map.detectors.get(alarm.device)) ?? null;
}

function alarmWhere(alarm, map) {
  const zone = zoneOf(alarm, map);
  return [zone ? zone.zone.name : null, alarm.location, alarm.detail].filter(Boolean).join(" · ");
}

/** The cameras watching the alarm's zone, each with its live view when one is configured. */
function cameraList(alarm, map) {
  const zone = zoneOf(alarm, map);
  const cameras = zone ? zone.zone.cameras : [];
  if (!cameras.length) return h("p", { class: "muted" }, t("board.no_camera"));
  return h(
    "ul",
    { class: "list", dataset: { testid: "alarm-cameras" } },
    cameras.map((c) => h("li", {}, h("strong", {}, c.name), " ", h("span", { class: "badge" }, t(c.online ? "doors.online" : "doors.offline")), streamLink(c))),
  );
}

/** http(s): a link that opens the view; rtsp: the address for the monitoring room's player. */
function streamLink(camera) {
  const web = safeUrl(camera.stream_url);
  if (web) return h("p", {}, h("a", { href: web, target: "_blank", rel: "noopener noreferrer", class: "btn btn-small btn-outline", dataset: { testid: "camera-stream" } }, t("board.open_stream")));
  if (camera.stream_url) return h("p", { class: "small" }, h("code", { dataset: { testid: "camera-stream" } }, camera.stream_url));
  return h("p", { class: "muted small" }, t("board.no_stream"));
}

// --- alarms ---------------------------------------------------------------------

function alarmItem(alarm, map, status, notes, openPopup) {
  const details = h("button", { type: "button", class: "btn btn-small btn-ghost" }, t("board.details"));
  details.addEventListener("click", () => openPopup(alarm));
  return h(
    "li",
    { class: ["board-alarm", `severity-${alarm.severity}`, `state-${alarm.state}`], dataset: { testid: "alarm", alarmId: String(alarm.id), state: alarm.state } },
    h(
      "div",
      { class: "board-alarm-head" },
      h("strong", {}, label("alarm_type", alarm.type)),
      h("span", { class: "badge", dataset: { testid: "alarm-state" } }, label("alarm_state", alarm.state)),
    ),
    h("p", { class: "small" }, alarmWhere(alarm, map)),
    h("p", { class: "muted small" }, [label("severity", alarm.severity), formatDateTime(alarm.raised_at), alarm.signals > 1 ? t("board.signals", { count: alarm.signals }) : null].filter(Boolean).join(" · ")),
    alarm.note ? h("p", { class: "small" }, alarm.note) : null,
    details,
    stepActions(alarm, status, notes),
  );
}

/** The next steps with a note field; the board changes when the stream tells it, not here. */
function stepActions(alarm, status, notes) {
  const next = NEXT_STEPS[alarm.state];
  if (!next) return null;
  const note = h("input", { type: "text", maxlength: 500, placeholder: t("board.note"), "aria-label": t("board.note"), class: "board-note", value: notes.get(alarm.id) || "" });
  note.addEventListener("input", () => notes.set(alarm.id, note.value));
  const buttons = next.map((state) => {
    const button = h("button", { type: "button", class: ["btn", "btn-small", state === next[0] ? "btn-primary" : "btn-outline"], dataset: { testid: `step-${state}` } }, t(`board.step_${state}`));
    button.addEventListener("click", () =>
      busy(button, async () => {
        replace(status);
        if (NEEDS_NOTE.has(state) && !note.value.trim()) {
          replace(status, errorBanner(t("board.note_required")));
          return;
        }
        try {
          await api(`/api/alarms/${alarm.id}/steps`, { body: { state, note: note.value.trim() } });
          notes.delete(alarm.id); // taken with this step; the next one starts blank
        } catch (err) {
          if (!isAbort(err)) replace(status, errorBanner(err));
        }
      }),
    );
    return button;
  });
  return h("div", { class: "board-steps" }, note, h("div", { class: "actions" }, buttons));
}

// --- device health ------------------------------------------------------------

function deviceHealth(holder, communityId, signal) {
  api(`/api/communities/${communityId}/devices`, { signal })
    .then((devices) => {
      const offline = devices.filter((d) => !d.online).length;
      const low = devices.filter((d) => d.battery != null && d.battery <= LOW_BATTERY_PERCENT).length;
      const count = (key, value, testid) => h("div", { class: "board-count", dataset: { testid } }, h("strong", {}, String(value)), h("span", { class: "small" }, t(key)));
      replace(
        holder,
        h("h2", {}, t("board.devices")),
        h("div", { class: "board-counts" }, count("board.online", devices.length - offline, "devices-online"), count("board.offline", offline, "devices-offline"), count("board.low_battery", low, "devices-low")),
      );
    })
    .catch((err) => {
      // Wardens handle alarms but do not see the device fleet (view_devices): no panel for them.
      if (!isAbort(err) && err.status !== 403) replace(holder, errorBanner(err));
    });
}

// The PTZ pad (云台): arrows that turn the camera while pressed (press: move, release: stop),
// zoom in and out the same way, and the camera's presets. Every command goes to
// POST /api/video/cameras/{id}/ptz (audited there), one after the other, so a stop never
// overtakes its move. The wall mounts it on the selected tile; refusals (no ONVIF address,
// camera unreachable) show as an error banner under the pad.

import { api, isAbort } from "./api.js";
import { h, replace, errorBanner } from "./dom.js";
import { t } from "./i18n.js";

// name, pan, tilt, zoom (unit directions; scaled by the pad's speed), label
const MOVES = [
  ["up", 0, 1, 0, "▲"],
  ["left", -1, 0, 0, "◀"],
  ["right", 1, 0, 0, "▶"],
  ["down", 0, -1, 0, "▼"],
  ["zoom_in", 0, 0, 1, "+"],
  ["zoom_out", 0, 0, -1, "−"],
];

/** A pad for one camera: returns its element; `speed` (0…1) scales every move. */
export function ptzPad(cameraId, { speed = 0.5 } = {}) {
  const path = `/api/video/cameras/${encodeURIComponent(cameraId)}/ptz`;
  const status = h("div", { class: "status-area", "aria-live": "polite", dataset: { testid: "ptz-status" } });
  let queue = Promise.resolve();
  let moving = false;
  const send = (body) => {
    queue = queue
      .then(() => api(path, { body }))
      .then(
        () => replace(status),
        (err) => {
          if (!isAbort(err)) replace(status, errorBanner(err));
        },
      );
    return queue;
  };
  const start = (pan, tilt, zoom) => {
    moving = true;
    send({ action: "move", pan: pan * speed, tilt: tilt * speed, zoom: zoom * speed });
  };
  const stop = () => {
    if (!moving) return;
    moving = false;
    send({ action: "stop" });
  };

  const button = ([name, pan, tilt, zoom, glyph]) => {
    const el = h("button", { type: "button", class: ["btn", "btn-outline", "ptz-btn", `ptz-${name}`], "aria-label": t(`ptz.${name}`), title: t(`ptz.${name}`), dataset: { testid: `ptz-${name}` } }, glyph);
    el.addEventListener("pointerdown", (event) => {
      event.preventDefault();
      el.setPointerCapture?.(event.pointerId);
      start(pan, tilt, zoom);
    });
    for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) el.addEventListener(type, stop);
    // The keyboard: held Enter or Space moves, releasing it stops.
    el.addEventListener("keydown", (event) => {
      if ((event.key === "Enter" || event.key === " ") && !event.repeat) {
        event.preventDefault();
        start(pan, tilt, zoom);
      }
    });
    el.addEventListener("keyup", (event) => {
      if (event.key === "Enter" || event.key === " ") stop();
    });
    el.addEventListener("blur", stop);
    return el;
  };
  const buttons = Object.fromEntries(MOVES.map((move) => [move[0], button(move)]));

  const presets = h("select", { class: "ptz-presets", "aria-label": t("ptz.presets"), disabled: true, dataset: { testid: "ptz-presets" } }, h("option", { value: "" }, t("ptz.presets")));
  presets.addEventListener("change", () => {
    if (presets.value) send({ action: "goto_preset", preset: presets.value });
  });
  api(`${path}/presets`)
    .then((found) => {
      presets.append(...found.map((p) => h("option", { value: p.token }, p.name)));
      presets.disabled = !found.length;
    })
    .catch((err) => {
      if (!isAbort(err)) replace(status, errorBanner(err));
    });

  return h(
    "div",
    { class: "ptz-pad", role: "group", "aria-label": t("ptz.pad"), dataset: { testid: "ptz-pad", camera: String(cameraId) } },
    h("div", { class: "ptz-arrows" }, h("span"), buttons.up, h("span"), buttons.left, h("span"), buttons.right, h("span"), buttons.down, h("span")),
    h("div", { class: "ptz-zoom" }, buttons.zoom_out, buttons.zoom_in),
    presets,
    status,
  );
}

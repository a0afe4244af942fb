// /scanner — scan a doorplate (or a patrol checkpoint's tag) from inside the
// app. Live camera decoding with BarcodeDetector where the browser has it;
// everywhere else (and as a fallback) a photo that is decoded on the server.
// Either way we end at /d/{token} (or /p/{token}).

import { api, isAbort } from "../api.js";
import { h, replace, errorBanner, notice, busy } from "../dom.js";
import { t } from "../i18n.js";
import { navigate } from "../router.js";

// Phone photos are often 4000 px and several MB; a QR code decodes fine from
// a smaller copy, which is much quicker to upload on a mobile connection.
const MAX_UPLOAD_PX = 2000;

/** The in-app path of a scanned text: one of our doorplate (/d/) or patrol tag (/p/) URLs, else null. */
export function pathFromText(text, origin = location.origin) {
  const token = tokenFromText(text, origin);
  if (token) return `/d/${encodeURIComponent(token)}`;
  const tag = tokenFromText(text, origin, "p");
  return tag ? `/p/${encodeURIComponent(tag)}` : null;
}

/** The token from a scanned text, if it is one of our doorplate URLs (<origin>/d/<token>). */
export function tokenFromText(text, origin = location.origin, prefix = "d") {
  if (typeof text !== "string") return null;
  let url;
  try {
    url = new URL(text.trim(), origin);
  } catch {
    return null;
  }
  if (url.origin !== origin) return null;
  const m = new RegExp(`^/${prefix}/([^/]+)/?$`).exec(url.pathname);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return null;
  }
}

async function detectorSupported() {
  if (!("BarcodeDetector" in window)) return false;
  try {
    const formats = await window.BarcodeDetector.getSupportedFormats();
    return formats.includes("qr_code");
  } catch {
    return false;
  }
}

export async function render({ signal }) {
  const status = h("div", { class: "status-area", "aria-live": "polite" });
  const live = await detectorSupported();
  const detector = live ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;


  // --- live camera ---------------------------------------------------------
  let cameraCard = null;
  if (live && navigator.mediaDevices?.getUserMedia) {
    const video = h("video", { class: "viewfinder", playsinline: true, muted: true, hidden: true, "aria-label": t("scanner.viewfinder") });
    const startBtn = h("button", { type: "button", class: "btn btn-primary btn-block btn-large", dataset: { testid: "scan-camera" } }, t("scanner.start_camera"));
    const stopBtn = h("button", { type: "button", class: "btn btn-outline btn-block", hidden: true }, t("scanner.stop_camera"));
    let stream = null;
    let timer = null;
    let lastWrong = "";

    const stop = () => {
      clearTimeout(timer);
      stream?.getTracks().forEach((tr) => tr.stop());
      stream = null;
      video.hidden = true;
      stopBtn.hidden = true;
      startBtn.hidden = false;
    };
    // Leaving the screen must release the camera.
    signal.addEventListener("abort", stop);

    const tick = async () => {
      if (!stream) return;
      try {
        for (const code of await detector.detect(video)) {
          const path = pathFromText(code.rawValue);
          if (path) {
            stop();
            navigate(path);
            return;
          }
          if (code.rawValue !== lastWrong) {
            lastWrong = code.rawValue;
            replace(status, notice(t("scanner.not_doorplate"), "warning"));
          }
        }
      } catch {
        /* a frame that cannot be read yet (video warming up): try the next */
      }
      timer = setTimeout(tick, 250);
    };

    startBtn.addEventListener("click", () =>
      busy(startBtn, async () => {
        try {
          stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: "environment" } }, audio: false });
        } catch (err) {
          replace(status, errorBanner(err && err.name === "NotAllowedError" ? t("scanner.camera_denied") : t("scanner.camera_failed")));
          return;
        }
        if (signal.aborted) return stop();
        video.srcObject = stream;
        video.hidden = false;
        stopBtn.hidden = false;
        startBtn.hidden = true;
        await video.play().catch(() => {});
        replace(status, notice(t("scanner.point_camera")));
        tick();
      }),
    );
    stopBtn.addEventListener("click", stop);
    cameraCard = h("div", { class: "card" }, h("h2", {}, t("scanner.camera_title")), video, startBtn, stopBtn);
  }

  // --- photo ---------------------------------------------------------------
  const photo = h("input", { id: "scan-photo", type: "file", accept: "image/*", class: "file-input", dataset: { testid: "scan-photo" } });
  photo.addEventListener("change", async () => {
    const file = photo.files && photo.files[0];
    if (!file) return;
    photo.disabled = true;
    replace(status, notice(t("scanner.decoding")));
    try {
      const path = (detector && (await detectLocally(detector, file))) || (await decodeOnServer(file, signal));
      if (path) navigate(path);
    } catch (err) {
      if (!isAbort(err)) replace(status, errorBanner(err));
    } finally {
      photo.disabled = false;
      photo.value = ""; // the same photo can be chosen again
    }
  });
  const photoCard = h(
    "div",
    { class: "card" },
    h("h2", {}, live ? t("scanner.photo_title_alt") : t("scanner.photo_title")),
    h("p", { class: "muted" }, t("scanner.photo_hint")),
    // The input is visually hidden but stays focusable; its label is the big button.
    photo,
    h("label", { for: "scan-photo", class: ["btn", "btn-block", "file-label", live ? "btn-outline" : "btn-primary btn-large"] }, t("scanner.choose_photo")),
  );

  // --- paste a link (desktop, or a plate URL received in a message) --------
  const linkInput = h("input", { id: "plate-link", type: "url", inputmode: "url", autocomplete: "off", placeholder: `${location.origin}/d/…` });
  const linkForm = h(
    "form",
    {
      class: "card form",
      novalidate: true,
      onsubmit: (e) => {
        e.preventDefault();
        const path = pathFromText(linkInput.value);
        if (path) navigate(path);
        else replace(status, errorBanner(t("scanner.not_doorplate")));
      },
    },
    h("div", { class: "field" }, h("label", { for: "plate-link" }, t("scanner.link_label")), h("div", { class: "input-row" }, linkInput, h("button", { type: "submit", class: "btn btn-secondary" }, t("scanner.open")))),
  );

  return h("section", { class: "screen screen-narrow" }, h("h1", {}, t("scanner.title")), h("p", { class: "lead" }, t("scanner.lead")), status, cameraCard, photoCard, linkForm);
}

async function detectLocally(detector, file) {
  try {
    const bitmap = await createImageBitmap(file);
    const codes = await detector.detect(bitmap);
    bitmap.close?.();
    for (const c of codes) {
      const path = pathFromText(c.rawValue);
      if (path) return path;
    }
  } catch {
    /* fall through to the server, which may read what we could not */
  }
  return null;
}

async function decodeOnServer(file, signal) {
  const form = new FormData();
  form.append("image", await shrink(file), file.name || "plate.jpg");
  const res = await api("/api/scan/decode", { form, signal });
  return res && res.token ? `/d/${encodeURIComponent(res.token)}` : null;
}

/** Downscale big photos before upload; anything unexpected sends the original. */
async function shrink(file) {
  try {
    const bitmap = await createImageBitmap(file);
    const scale = MAX_UPLOAD_PX / Math.max(bitmap.width, bitmap.height);
    if (scale >= 1) {
      bitmap.close?.();
      return file;
    }
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close?.();
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));
    return blob || file;
  } catch {
    return file;
  }
}

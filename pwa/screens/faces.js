// Face gate enrolment of a household, on its card under 我的家 (/homes): the
// household's enrolments (the photos the signed-in resident enrolled, and a
// delete button each), and enrolling a member: the consent text first, then a
// photo from the front camera (or a chosen file), checked by the server.

import { api, isAbort } from "../api.js";
import { h, replace, errorBanner, notice, loading, busy } from "../dom.js";
import { t, label, formatDate } from "../i18n.js";

export function facesSection(home, signal) {
  const list = h("div", {}, loading());
  const refresh = () => load(home, list, refresh, signal);
  refresh();
  return h(
    "div",
    { class: "faces", dataset: { testid: "faces" } },
    h("h3", {}, t("faces.title")),
    h("p", { class: "muted small" }, t("faces.other_ways")),
    list,
    enrolForm(home, refresh, signal),
  );
}

async function load(home, list, refresh, signal) {
  try {
    const faces = (await api(`/api/houses/${encodeURIComponent(home.house_id)}/faces`, { signal })) || [];
    replace(list, faces.length ? h("ul", { class: "pass-list" }, faces.map((f) => enrolment(f, refresh, signal))) : h("p", { class: "muted small" }, t("faces.none")));
  } catch (err) {
    if (!isAbort(err)) replace(list, errorBanner(err));
  }
}

function enrolment(face, refresh, signal) {
  const picture = h("img", { class: "face-photo", alt: face.name, width: 96, height: 96, hidden: true, dataset: { testid: "face-photo" } });
  if (face.mine) showPhoto(face.id, picture, signal);
  const remove = h("button", { type: "button", class: "btn btn-small btn-outline", dataset: { testid: "face-delete" } }, t("faces.delete"));
  const status = h("div");
  remove.addEventListener("click", () =>
    busy(remove, async () => {
      try {
        await api(`/api/faces/${encodeURIComponent(face.id)}`, { method: "DELETE" });
        refresh();
      } catch (err) {
        replace(status, errorBanner(err));
      }
    }),
  );
  return h(
    "li",
    { class: "card", dataset: { testid: "face", faceId: String(face.id) } },
    picture,
    h("strong", {}, face.name),
    h("p", { class: "muted small" }, `${label("consent_method", face.consent_method)} · ${formatDate(face.created_at)}`),
    remove,
    status,
  );
}

/** The photo needs the bearer token: fetched, then shown from a blob: URL. */
async function showPhoto(faceId, img, signal) {
  try {
    img.src = URL.createObjectURL(await api(`/api/faces/${encodeURIComponent(faceId)}/photo`, { blob: true, signal }));
    img.hidden = false;
    signal.addEventListener("abort", () => URL.revokeObjectURL(img.src));
  } catch {
    /* the list still shows the enrolment */
  }
}

function enrolForm(home, refresh, signal) {
  const person = h("select", { name: "person_id", required: true, dataset: { testid: "face-person" } });
  const consentText = h("p", { class: "small consent-text", dataset: { testid: "face-consent-text" } }, loading());
  const accept = h("input", { type: "checkbox", id: `face-consent-${home.house_id}`, dataset: { testid: "face-consent" } });
  const status = h("div", { class: "status-area" });
  const video = h("video", { class: "face-video", playsinline: true, muted: true, hidden: true, dataset: { testid: "face-video" } });
  const start = h("button", { type: "button", class: "btn btn-outline", dataset: { testid: "face-camera" } }, t("faces.start_camera"));
  const shoot = h("button", { type: "button", class: "btn btn-primary", hidden: true, dataset: { testid: "face-shoot" } }, t("faces.take_photo"));
  const file = h("input", { type: "file", accept: "image/*", capture: "user", class: "file-input", dataset: { testid: "face-file" } });
  let version = null;
  let stream = null;
  const stop = () => {
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    video.hidden = shoot.hidden = true;
    start.hidden = false;
  };
  signal.addEventListener("abort", stop);

  api("/api/faces/consent", { signal, auth: false })
    .then((consent) => {
      version = consent.version;
      replace(consentText, consent.text);
    })
    .catch((err) => {
      if (!isAbort(err)) replace(consentText, errorBanner(err));
    });
  if (home.plate) {
    api(`/api/scan/${encodeURIComponent(home.plate)}`, { signal })
      .then((view) => replace(person, ...(view.residents || []).map((r) => h("option", { value: String(r.person_id) }, r.name))))
      .catch((err) => {
        if (!isAbort(err)) replace(status, errorBanner(err));
      });
  }

  const upload = async (blob) => {
    if (!accept.checked || !version) {
      replace(status, errorBanner(t("faces.consent_first")));
      return;
    }
    replace(status, notice(t("faces.checking")));
    const query = new URLSearchParams({ consent: version });
    try {
      await api(`/api/houses/${encodeURIComponent(home.house_id)}/people/${encodeURIComponent(person.value)}/face?${query}`, {
        method: "POST",
        raw: blob,
        headers: { "Content-Type": blob.type || "image/jpeg" },
      });
      stop();
      replace(status, notice(t("faces.enrolled"), "success"));
      refresh();
    } catch (err) {
      replace(status, errorBanner(err));
    }
  };

  start.addEventListener("click", () =>
    busy(start, async () => {
      if (!accept.checked) {
        replace(status, errorBanner(t("faces.consent_first")));
        return;
      }
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "user", width: { ideal: 1280 } }, audio: false });
      } catch (err) {
        replace(status, errorBanner(t(err && err.name === "NotAllowedError" ? "faces.camera_denied" : "faces.camera_failed")));
        return;
      }
      video.srcObject = stream;
      video.hidden = shoot.hidden = false;
      start.hidden = true;
      await video.play().catch(() => {});
      replace(status, notice(t("faces.look")));
    }),
  );
  shoot.addEventListener("click", () =>
    busy(shoot, async () => {
      const canvas = document.createElement("canvas");
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext("2d").drawImage(video, 0, 0);
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.92));
      await upload(blob);
    }),
  );
  file.addEventListener("change", async () => {
    const chosen = file.files && file.files[0];
    if (chosen) await upload(chosen);
    file.value = "";
  });

  return h(
    "details",
    { class: "face-enrol" },
    h("summary", { dataset: { testid: "face-enrol-open" } }, t("faces.enrol")),
    h("label", {}, t("faces.person"), person),
    h("h4", {}, t("faces.consent_title")),
    consentText,
    h("label", { class: "checkbox", for: accept.id }, accept, " ", t("faces.consent_accept")),
    video,
    h("div", { class: "actions" }, start, shoot),
    h("label", { class: "small" }, t("faces.or_file"), file),
    status,
  );
}

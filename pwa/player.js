// Live video of a camera in a <video>: the server starts the streaming engine (ffmpeg → HLS) on
// POST /api/video/cameras/{id}/live and answers the playlist's URL; hls.js (vendored, loaded on
// first use) plays it, sending the access token with every playlist and segment request. Each of
// those requests keeps the stream running on the server; stopping the player lets it go idle.
//
// The video element's data-state says where it is: starting | playing | retrying | error (with
// data-error the API's code, e.g. video_engine_unavailable). Where hls.js cannot run (no Media
// Source Extensions) the browser's own HLS is used; it cannot send the token (known limit).

import { api } from "./api.js";
import * as session from "./session.js";

const HLS_SRC = "/app/vendor/hls.min.js";
const RETRY_MS = 3000;
let loadingHls = null;

/** window.Hls from the vendored UMD build, loaded once (CSP: script-src 'self'). */
export function loadHls() {
  if (window.Hls) return Promise.resolve(window.Hls);
  if (!loadingHls) {
    loadingHls = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = HLS_SRC;
      script.async = true;
      script.onload = () => (window.Hls ? resolve(window.Hls) : reject(new Error("hls.js did not load")));
      script.onerror = () => {
        loadingHls = null;
        reject(new Error("hls.js did not load"));
      };
      document.head.append(script);
    });
  }
  return loadingHls;
}

function authorize(xhr) {
  const token = session.accessToken();
  if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
}

/**
 * Play camera `cameraId` live in `video`; returns the function that stops it (and frees the element).
 * @param {HTMLVideoElement} video
 * @param {number} cameraId
 * @param {{onState?: (state: string, code?: string|null) => void}} [opts]
 */
export function play(video, cameraId, opts = {}) {
  let stopped = false;
  let hls = null;
  let retry = null;
  video.muted = true; // autoplay is allowed muted; cameras send no sound anyway
  video.playsInline = true;
  video.autoplay = true;

  const state = (name, code = null) => {
    if (stopped) return;
    video.dataset.state = name;
    if (code) video.dataset.error = code;
    else delete video.dataset.error;
    opts.onState?.(name, code);
  };

  const detach = () => {
    if (hls) {
      hls.destroy();
      hls = null;
    }
    video.removeAttribute("src");
    video.load();
  };

  const again = () => {
    detach();
    if (stopped) return;
    state("retrying", video.dataset.error || null);
    clearTimeout(retry);
    retry = setTimeout(start, RETRY_MS);
  };

  async function start() {
    if (stopped) return;
    state("starting");
    let live;
    try {
      // api() refreshes an expired access token once; the player's requests then use the new one.
      live = await api(`/api/video/cameras/${encodeURIComponent(cameraId)}/live`, { method: "POST" });
    } catch (err) {
      if (stopped) return;
      state("error", err?.code || "network");
      // A camera without video may come back; a refusal or a missing engine will not by waiting.
      if (err?.status === 503 && err.code === "video_source_unavailable") again();
      return;
    }
    if (stopped) return;
    let Hls = null;
    try {
      Hls = await loadHls();
    } catch {
      Hls = null;
    }
    if (stopped) return;
    if (Hls && Hls.isSupported()) {
      hls = new Hls({
        enableWorker: false, // a blob: worker would need worker-src blob: in the CSP
        liveSyncDurationCount: 2,
        xhrSetup: authorize,
      });
      hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch(() => {}));
      hls.on(Hls.Events.ERROR, (_, data) => {
        if (!data.fatal) return;
        const status = data.response?.code;
        video.dataset.error = status === 401 || status === 403 ? "forbidden" : "stream_lost";
        again(); // the next start asks the server again (and refreshes the token)
      });
      hls.loadSource(live.playlist);
      hls.attachMedia(video);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = live.playlist;
      video.play().catch(() => {});
    } else {
      state("error", "hls_unsupported");
      return;
    }
    video.addEventListener("playing", onPlaying);
  }

  function onPlaying() {
    state("playing");
  }

  start();
  return function stop() {
    if (stopped) return;
    stopped = true;
    clearTimeout(retry);
    video.removeEventListener("playing", onPlaying);
    detach();
    delete video.dataset.state;
    delete video.dataset.error;
  };
}

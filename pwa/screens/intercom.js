// /intercom — the video intercom (可视对讲): visitors calling the household from the unit door.
//
// The screen listens to each verified home's call stream (/api/houses/{id}/calls/live); a call
// ringing this account (or the one a ring's web push opened: ?call=ID) shows the incoming-call
// panel. Answering is WebRTC peer to peer with the door panel: Anju relays only the signalling
// (the panel's offer in GET /api/calls/{id}, our answer in POST …/answer), both descriptions with
// their ICE candidates (we wait for gathering to end before answering: nothing trickles). The
// panel's video plays in a <video>, the microphone goes to the panel, and "open" sends the door
// command through the panel's unit door. Any member may answer while it rings; the first wins.

import { api, isAbort } from "../api.js";
import { h, replace, errorBanner, notice, loading } from "../dom.js";
import { t, formatDateTime } from "../i18n.js";
import { watchStream } from "../live.js";
import * as session from "../session.js";

const GATHER_MS = 5000; // ICE gathering on a LAN takes milliseconds; a STUN server that never answers, not longer
const OVER = new Set(["missed", "ended"]);

export async function render({ query, signal }) {
  const homes = ((await api("/api/me/homes", { signal })) || []).filter((home) => home.status === "verified");
  const screen = h("section", { class: "screen intercom", dataset: { testid: "intercom" } }, h("h1", {}, t("intercom.title")));
  if (!homes.length) return replace(screen, h("h1", {}, t("intercom.title")), notice(t("intercom.none")));

  const me = session.account()?.id;
  const status = h("p", { class: "muted small", dataset: { testid: "intercom-status" }, role: "status" }, loading());
  const incoming = h("div", { class: "card", hidden: true, dataset: { testid: "incoming-call" }, role: "alert" });
  const inCall = h("div", { class: "card", hidden: true, dataset: { testid: "in-call" } });
  const log = h("ul", { class: "call-log", dataset: { testid: "call-log" } });
  const problems = h("div", {});
  let current = null; // { id, connection, stream } of the call on screen
  let ringer = null;

  async function refreshLog() {
    try {
      const lists = await Promise.all(homes.map((home) => api(`/api/houses/${home.house_id}/calls`, { signal })));
      const calls = lists.flat().sort((a, b) => (a.started_at < b.started_at ? 1 : -1));
      replace(log, calls.length ? calls.map(logItem) : h("li", { class: "muted" }, t("intercom.log_empty")));
      return calls;
    } catch (err) {
      if (!isAbort(err)) replace(problems, errorBanner(err));
      return [];
    }
  }

  function ring(on) {
    if (on && !ringer) {
      try {
        const audio = new AudioContext();
        const tone = audio.createOscillator();
        const gain = audio.createGain();
        tone.frequency.value = 660;
        gain.gain.value = 0.05;
        tone.connect(gain).connect(audio.destination);
        tone.start();
        ringer = audio;
      } catch {
        ringer = null; // no audio output: the screen still shows the call
      }
    } else if (!on && ringer) {
      ringer.close();
      ringer = null;
    }
  }

  async function offerCall(callId) {
    if (current) return; // one call at a time
    let call;
    try {
      call = await api(`/api/calls/${callId}`, { signal });
    } catch (err) {
      if (!isAbort(err)) replace(problems, errorBanner(err));
      return;
    }
    if (call.state !== "ringing" || call.ringing !== me || !call.offer) return;
    const accept = h("button", { type: "button", class: "btn btn-primary", dataset: { testid: "accept-call" } }, t("intercom.accept"));
    const decline = h("button", { type: "button", class: "btn btn-outline", dataset: { testid: "decline-call" } }, t("intercom.decline"));
    accept.addEventListener("click", () => answer(call));
    decline.addEventListener("click", async () => {
      hideIncoming();
      await api(`/api/calls/${call.id}/hangup`, { method: "POST" }).catch(() => {});
      refreshLog();
    });
    replace(incoming, h("p", { class: "call-title" }, t("intercom.incoming", { panel: call.panel, room: call.room })), h("div", { class: "actions" }, accept, " ", decline));
    incoming.dataset.call = String(call.id);
    incoming.hidden = false;
    ring(true);
  }

  function hideIncoming(callId) {
    if (callId !== undefined && incoming.dataset.call !== String(callId)) return;
    incoming.hidden = true;
    delete incoming.dataset.call;
    ring(false);
  }

  async function answer(call) {
    hideIncoming();
    const connection = new RTCPeerConnection({ iceServers: call.ice_servers || [] });
    const video = h("video", { autoplay: true, playsinline: true, class: "call-video", dataset: { testid: "call-video" } });
    video.peer = connection; // for diagnostics: its getStats() says what flows each way
    const remote = new MediaStream();
    video.srcObject = remote;
    connection.addEventListener("track", (event) => {
      remote.addTrack(event.track);
      video.play().catch(() => {}); // autoplay may wait for a gesture; the tap on "answer" was one
    });
    current = { id: call.id, connection, microphone: null };
    const state = h("p", { class: "muted small", dataset: { testid: "call-state" } }, t("intercom.connecting"));
    const door = h("p", { dataset: { testid: "door-result" }, role: "status" });
    const open = h("button", { type: "button", class: "btn btn-primary", dataset: { testid: "open-door" } }, t("intercom.open"));
    const hangup = h("button", { type: "button", class: "btn btn-outline", dataset: { testid: "hang-up" } }, t("intercom.hangup"));
    replace(inCall, h("p", { class: "call-title" }, t("intercom.talking", { panel: call.panel })), video, state, door, h("div", { class: "actions" }, open, " ", hangup));
    inCall.hidden = false;
    open.addEventListener("click", async () => {
      open.disabled = true;
      try {
        const result = await api(`/api/calls/${call.id}/open`, { method: "POST" });
        replace(door, t(result.opened ? "intercom.opened" : "intercom.not_opened"));
        door.dataset.opened = String(result.opened);
      } catch (err) {
        replace(door, errorBanner(err));
      } finally {
        open.disabled = false;
      }
    });
    hangup.addEventListener("click", async () => {
      await api(`/api/calls/${call.id}/hangup`, { method: "POST" }).catch(() => {});
      endCall(call.id);
    });
    connection.addEventListener("connectionstatechange", () => {
      if (connection.connectionState === "connected") replace(state, "");
      if (connection.connectionState === "failed") replace(state, t("intercom.ended"));
    });
    try {
      await connection.setRemoteDescription({ type: "offer", sdp: call.offer });
      try {
        const microphone = await navigator.mediaDevices.getUserMedia({ audio: true });
        for (const track of microphone.getAudioTracks()) connection.addTrack(track, microphone);
        current.microphone = microphone;
      } catch {
        replace(state, t("intercom.no_mic")); // listen only
      }
      await connection.setLocalDescription(await connection.createAnswer());
      await gathered(connection);
      await api(`/api/calls/${call.id}/answer`, { body: { sdp: connection.localDescription.sdp } });
    } catch (err) {
      endCall(call.id);
      replace(problems, err && err.code === "call_taken" ? notice(t("intercom.taken")) : errorBanner(err));
    }
    refreshLog();
  }

  function endCall(callId) {
    if (!current || current.id !== callId) return;
    current.connection.close();
    for (const track of current.microphone?.getTracks() || []) track.stop();
    current = null;
    replace(inCall, h("p", { dataset: { testid: "call-ended" } }, t("intercom.ended")));
  }

  function onEvent(event) {
    if (event.topic !== "call" || !event.data) return;
    const { id, state, ringing } = event.data;
    if (state === "ringing" && ringing === me) offerCall(id);
    else hideIncoming(id); // answered by someone, moved on to the next member, or over
    if (OVER.has(state)) endCall(id);
    refreshLog();
  }

  const stops = homes.map((home) =>
    watchStream(`/api/houses/${home.house_id}/calls/live`, onEvent, { onState: (state) => replace(status, t(`intercom.live_${state}`)) }),
  );
  signal.addEventListener("abort", () => {
    for (const stop of stops) stop();
    ring(false);
    if (current) endCall(current.id);
  });

  // A ring that came before this screen did (the push that opened it, or a call already ringing).
  const calls = await refreshLog();
  const asked = Number(query.get("call"));
  if (asked) offerCall(asked);
  else {
    const ringingMe = calls.find((call) => call.state === "ringing" && call.ringing === me);
    if (ringingMe) offerCall(ringingMe.id);
  }

  return replace(screen, h("h1", {}, t("intercom.title")), status, problems, incoming, inCall, h("h2", {}, t("intercom.log")), log);
}

function logItem(call) {
  return h(
    "li",
    { class: ["card", call.state === "missed" ? "call-missed" : ""], dataset: { testid: "call-log-item", state: call.state, call: String(call.id) } },
    h("div", { class: "door-head" }, h("strong", {}, `${call.panel} · ${call.room}`), h("span", { class: `badge badge-${call.state}` }, t(`intercom.state.${call.state}`))),
    h("p", { class: "muted small" }, formatDateTime(call.started_at), call.answered_by_name ? ` · ${call.answered_by_name}` : ""),
  );
}

// Until ICE gathering is complete (every candidate in the local description), or GATHER_MS.
function gathered(connection) {
  if (connection.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (connection.iceGatheringState !== "complete") return;
      connection.removeEventListener("icegatheringstatechange", done);
      resolve();
    };
    connection.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, GATHER_MS);
  });
}

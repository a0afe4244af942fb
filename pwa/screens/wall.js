// /wall — the monitoring-room wall (电视墙) for property security staff and the community police
// (roles/matrix.py: watch_video): a 1/4/9/16-way split of live cameras (player.js: ffmpeg → HLS),
// each tile assigned a camera; camera groups and their timed patrol (分组轮巡): the group's cameras
// page by page in the chosen split, the next page every dwell_seconds. /wall?camera=ID opens that
// camera alone (the alarm pop-up links there).
//
// Hook for tile controls (PTZ): every tile is a [data-testid=wall-tile] element with
// data-camera-id (empty when unassigned) and an empty .wall-tile-tools slot; clicking a tile
// selects it (data-selected) and dispatches "wall-select" on the grid, detail {tile, cameraId}.
//
// On the selected tile, a camera with ONVIF (CameraOut.ptz) gets the PTZ pad (pwa/ptz.js) for
// those who may turn cameras (control_ptz); one pad at a time, gone when another tile is selected
// or the tile's camera changes. Video inspection (视频巡检, inspect_video) runs from the wall too:
// while the operator's round is open every tile offers the verdicts, and a verdict carries the
// picture the tile is showing (its <video> drawn on a canvas → JPEG → the check's snapshot); a
// tile with no picture records the verdict alone. The cameras not checked yet are listed in the
// toolbar; choosing one puts it on the selected tile.
//
// The alarm pop-up: a new alarm on the community's live stream (live.js, as the board gets them)
// whose place a camera watches (camera_id) shows a banner; "show its camera" puts that camera on
// the wall alone (1-way), selected, with its PTZ pad where it has one.

import { api, isAbort } from "../api.js";
import { h, replace, errorBanner, loading, busy } from "../dom.js";
import { t, has, label } from "../i18n.js";
import * as session from "../session.js";
import { play } from "../player.js";
import { ptzPad } from "../ptz.js";
import { watchLive } from "../live.js";

export const SPLITS = [1, 4, 9, 16];
const WATCHERS = new Set(["property", "police"]); // roles/matrix.py: watch_video
const MANAGERS = new Set(["property"]); // manage_video
const PTZ = new Set(["property", "police"]); // control_ptz
const INSPECTORS = new Set(["property"]); // inspect_video
export const VERDICTS = ["normal", "no_signal", "blurred", "blocked", "moved"];
const STORE = "anju.wall.";

export async function render({ query, signal }) {
  const account = session.account();
  if (!WATCHERS.has(account?.role)) {
    return h("section", { class: "screen" }, h("h1", {}, t("wall.title")), errorBanner(t("wall.not_allowed")));
  }
  const communities = (await api("/api/communities", { signal })) || [];
  if (!communities.length) return h("section", { class: "screen" }, h("h1", {}, t("wall.title")), h("p", { class: "muted" }, t("metrics.none")));
  const wanted = Number(query?.get("camera")) || null;
  const lists = await Promise.all(
    communities.map(async (c) => ({ community: c, cameras: (await api(`/api/communities/${encodeURIComponent(c.id)}/video/cameras`, { signal })) || [] })),
  );
  const start = (wanted && lists.find((l) => l.cameras.some((c) => c.id === wanted))) || lists[0];
  const screen = h("section", { class: "screen screen-wide", dataset: { testid: "wall" } }, h("h1", {}, t("wall.title")));
  const body = h("div");
  if (lists.length > 1) {
    const pick = h(
      "select",
      { id: "wall-community", dataset: { testid: "wall-community" } },
      lists.map((l) => h("option", { value: String(l.community.id), selected: l === start }, l.community.name)),
    );
    pick.addEventListener("change", () => open(lists.find((l) => String(l.community.id) === pick.value)));
    screen.append(h("div", { class: "field" }, h("label", { for: "wall-community" }, t("wall.community")), pick));
  }
  screen.append(body);
  let current = null;
  const open = (list, camera = null) => {
    current?.close();
    current = wall(list.community, list.cameras, camera, account, signal);
    replace(body, current.node);
  };
  signal.addEventListener("abort", () => current?.close());
  open(start, wanted);
  return screen;
}

function saved(communityId) {
  try {
    return JSON.parse(localStorage.getItem(STORE + communityId) || "{}") || {};
  } catch {
    return {};
  }
}

function save(communityId, value) {
  try {
    localStorage.setItem(STORE + communityId, JSON.stringify(value));
  } catch {
    /* private mode: the wall just forgets */
  }
}

/** One community's wall: toolbar, grid, patrol and groups. Returns {node, close}. */
function wall(community, cameras, wanted, account, signal) {
  const byId = new Map(cameras.map((c) => [c.id, c]));
  const memory = saved(community.id);
  let split = SPLITS.includes(memory.split) ? memory.split : 4;
  let assigned = Array.isArray(memory.cameras) ? memory.cameras.filter((id) => byId.has(id)) : cameras.map((c) => c.id);
  if (wanted && byId.has(wanted)) {
    split = 1;
    assigned = [wanted];
  }
  let patrol = null; // {group, page, timer}
  const tiles = []; // {node, video, select, tools, inspect, cameraId, stop}
  let pad = null; // {tile, node}: the PTZ pad on the selected tile
  let round = null; // the caller's open inspection round (RoundOut)
  const grid = h("div", { class: "wall-grid", dataset: { testid: "wall-grid", split: String(split) } });
  const status = h("div");
  const pageLabel = h("span", { class: "small muted", dataset: { testid: "patrol-page" } });

  function remember() {
    if (!patrol) save(community.id, { split, cameras: assigned });
  }

  function show(cameraIds) {
    // Streams a page leaves are stopped at once; a tile keeping its camera keeps playing.
    for (let i = 0; i < tiles.length; i += 1) {
      const id = cameraIds[i] ?? null;
      if (tiles[i].cameraId !== id) assign(tiles[i], id);
    }
  }

  function assign(tile, cameraId) {
    if (tile.node.dataset.selected) {
      delete tile.node.dataset.selected;
      if (pad?.tile === tile) dropPad();
    }
    tile.stop?.();
    tile.stop = null;
    tile.cameraId = cameraId;
    tile.node.dataset.cameraId = cameraId ? String(cameraId) : "";
    tile.select.value = cameraId ? String(cameraId) : "";
    const camera = cameraId ? byId.get(cameraId) : null;
    tile.name.textContent = camera ? camera.name : t("wall.empty");
    tile.node.dataset.video = camera?.video || "";
    tile.state.textContent = "";
    if (camera) {
      tile.stop = play(tile.video, camera.id, {
        onState: (state, code) => {
          const key = code && has(`error.${code}`) ? `error.${code}` : `wall.state.${state}`;
          tile.state.textContent = state === "playing" ? "" : t(key);
        },
      });
    }
    verdicts(tile);
  }

  function layout() {
    dropPad();
    for (const tile of tiles.splice(0)) tile.stop?.();
    grid.dataset.split = String(split);
    grid.replaceChildren();
    for (let i = 0; i < split; i += 1) {
      const tile = newTile(i);
      tiles.push(tile);
      grid.append(tile.node);
    }
    show(patrol ? page(patrol) : assigned);
  }

  function newTile(index) {
    const video = h("video", { class: "wall-video", muted: true, playsinline: true, dataset: { testid: "tile-video" } });
    const select = h(
      "select",
      { class: "wall-tile-camera", "aria-label": t("wall.assign"), dataset: { testid: "tile-camera" } },
      h("option", { value: "" }, t("wall.empty")),
      cameras.map((c) => h("option", { value: String(c.id) }, c.name)),
    );
    const name = h("span", { class: "wall-tile-name" });
    const tools = h("div", { class: "wall-tile-tools" }); // PTZ and other per-camera controls go here
    const inspect = h("div", { class: "wall-tile-inspect", dataset: { testid: "tile-inspect" } });
    const state = h("span", { class: "wall-tile-state small", role: "status" });
    const node = h(
      "div",
      { class: "wall-tile", dataset: { testid: "wall-tile", index: String(index), cameraId: "" } },
      video,
      h("div", { class: "wall-tile-bar" }, name, state, select),
      inspect,
      tools,
    );
    const tile = { node, video, select, name, state, tools, inspect, cameraId: null, stop: null };
    select.addEventListener("change", () => {
      stopPatrol();
      const id = Number(select.value) || null;
      assign(tile, id);
      assigned[index] = id;
      remember();
    });
    node.addEventListener("click", (e) => {
      if (e.target === select || tools.contains(e.target) || inspect.contains(e.target)) return;
      if (node.dataset.selected && pad?.tile === tile) return; // keep the pad in use
      for (const other of tiles) delete other.node.dataset.selected;
      node.dataset.selected = "true";
      mountPad(tile);
      grid.dispatchEvent(new CustomEvent("wall-select", { detail: { tile: node, cameraId: tile.cameraId } }));
    });
    return tile;
  }

  // --- PTZ (云台) on the selected tile ---
  function dropPad() {
    pad?.node.remove();
    pad = null;
  }

  function mountPad(tile) {
    dropPad();
    const camera = tile.cameraId ? byId.get(tile.cameraId) : null;
    if (!camera?.ptz || !PTZ.has(account.role)) return;
    pad = { tile, node: ptzPad(camera.id) };
    tile.tools.append(pad.node);
  }

  // --- video inspection (视频巡检) ---
  const inspectBar = h("div", { class: "wall-inspection", dataset: { testid: "wall-inspection" } });
  const inspectStatus = h("div", { role: "status" });

  async function loadRound() {
    if (!INSPECTORS.has(account.role)) return;
    try {
      const found = await api(`/api/communities/${encodeURIComponent(community.id)}/video/inspections`, { signal });
      round = found.rounds.find((r) => r.status === "open" && r.operator_id === account.id) || null;
      inspection();
    } catch (err) {
      if (!isAbort(err)) replace(inspectStatus, errorBanner(err));
    }
  }

  /** The toolbar's part: start, or the open round's progress, its unchecked cameras and end. */
  function inspection() {
    for (const tile of tiles) verdicts(tile);
    if (!INSPECTORS.has(account.role)) return;
    if (!round) {
      const start = h("button", { type: "button", class: "btn btn-small btn-primary", dataset: { testid: "wall-inspection-start" } }, t("video.start"));
      start.addEventListener("click", () =>
        busy(start, async () => {
          try {
            round = await api(`/api/communities/${encodeURIComponent(community.id)}/video/inspections`, { method: "POST" });
            replace(inspectStatus);
            inspection();
          } catch (err) {
            replace(inspectStatus, errorBanner(err));
            if (err?.code === "round_open") loadRound();
          }
        }),
      );
      replace(inspectBar, start, inspectStatus);
      return;
    }
    const total = round.checks.length + round.unchecked.length;
    const progress = h(
      "span",
      { class: "small", dataset: { testid: "inspection-progress", checked: String(round.checks.length), total: String(total) } },
      t("wall.inspect_progress", { checked: round.checks.length, total }),
    );
    const end = h("button", { type: "button", class: "btn btn-small btn-outline", dataset: { testid: "wall-inspection-end" } }, t("video.end"));
    end.addEventListener("click", () =>
      busy(end, async () => {
        try {
          await api(`/api/video/inspections/${encodeURIComponent(round.id)}/end`, { method: "POST" });
          round = null;
          replace(inspectStatus);
          inspection();
        } catch (err) {
          replace(inspectStatus, errorBanner(err));
        }
      }),
    );
    const todo = round.unchecked
      .filter((id) => byId.has(id))
      .map((id) => {
        const b = h("button", { type: "button", class: "btn btn-small btn-ghost", dataset: { testid: "inspection-todo", camera: String(id) } }, byId.get(id).name);
        b.addEventListener("click", () => showCamera(id));
        return b;
      });
    replace(
      inspectBar,
      h("div", { class: "wall-toolbar" }, h("strong", { class: "small" }, t("wall.inspecting")), progress, end),
      todo.length ? h("div", { class: "wall-todo small" }, t("wall.inspect_todo"), " ", todo) : null,
      inspectStatus,
    );
  }

  /** Put a camera on the selected tile (the first if none is), leaving the patrol. */
  function showCamera(cameraId) {
    stopPatrol();
    const tile = tiles.find((x) => x.node.dataset.selected) || tiles[0];
    if (!tile) return;
    const index = Number(tile.node.dataset.index);
    if (tile.cameraId !== cameraId) assign(tile, cameraId);
    assigned[index] = cameraId;
    remember();
  }

  /** A tile's verdict buttons while a round is open, or what it recorded for that camera. */
  function verdicts(tile) {
    if (!round || !tile.cameraId) return replace(tile.inspect);
    const done = round.checks.find((c) => c.camera_id === tile.cameraId);
    if (done) {
      return replace(
        tile.inspect,
        h("span", { class: "badge", dataset: { testid: "tile-checked", verdict: done.verdict, snapshot: String(done.has_snapshot) } }, `✓ ${label("video_verdict", done.verdict)}`),
      );
    }
    const cameraId = tile.cameraId;
    const buttons = VERDICTS.map((verdict) => {
      const b = h(
        "button",
        { type: "button", class: ["btn", "btn-small", verdict === "normal" ? "btn-primary" : "btn-outline"], dataset: { testid: `verdict-${verdict}`, verdict } },
        label("video_verdict", verdict),
      );
      b.addEventListener("click", () => busy(b, () => record(tile, cameraId, verdict)));
      return b;
    });
    replace(tile.inspect, h("div", { class: "wall-verdicts", role: "group", "aria-label": t("video.verdict") }, buttons));
  }

  async function record(tile, cameraId, verdict) {
    const id = round.id;
    try {
      const shot = tile.cameraId === cameraId ? await capture(tile.video) : null; // the picture as it was when pressed
      let after = await api(`/api/video/inspections/${encodeURIComponent(id)}/checks`, { body: { camera_id: cameraId, verdict } });
      const check = after.checks.find((c) => c.camera_id === cameraId);
      if (shot && check) {
        after = await api(`/api/video/checks/${encodeURIComponent(check.id)}/snapshot`, { method: "PUT", raw: shot, headers: { "Content-Type": "image/jpeg" } });
      }
      if (round?.id === id) round = after;
      replace(inspectStatus);
    } catch (err) {
      if (isAbort(err)) return;
      replace(inspectStatus, errorBanner(err));
      if (err?.code === "round_ended" || err?.code === "already_checked") return loadRound();
    }
    inspection();
  }

  // --- the alarm pop-up ---
  const alarmBox = h("div", { class: "wall-alarms", "aria-live": "assertive", dataset: { testid: "wall-alarms", live: "connecting" } });
  const bannered = new Set();

  function alarmBanner(alarm) {
    const what = [label("alarm_type", alarm.type), alarm.location].filter(Boolean).join(" · ");
    const open = h("button", { type: "button", class: "btn btn-small btn-primary", dataset: { testid: "wall-alarm-open" } }, t("wall.alarm_open"));
    const dismiss = h("button", { type: "button", class: "btn btn-small btn-ghost", dataset: { testid: "wall-alarm-dismiss" } }, t("wall.alarm_dismiss"));
    const banner = h(
      "div",
      { class: "banner banner-error wall-alarm", role: "alert", dataset: { testid: "wall-alarm", alarm: String(alarm.id), camera: String(alarm.camera_id) } },
      h("span", {}, t("wall.alarm", { what })),
      open,
      dismiss,
    );
    open.addEventListener("click", () => {
      banner.remove();
      stopPatrol();
      split = 1;
      assigned = [alarm.camera_id];
      layout();
      tiles[0].node.dataset.selected = "true";
      mountPad(tiles[0]);
    });
    dismiss.addEventListener("click", () => banner.remove());
    return banner;
  }

  const stopLive = watchLive(community.id, (event) => {
    const alarm = event.topic === "alarm" ? event.data : null;
    if (!alarm || alarm.community !== community.id || alarm.state !== "new" || !byId.has(alarm.camera_id) || bannered.has(alarm.id)) return;
    bannered.add(alarm.id);
    alarmBox.prepend(alarmBanner(alarm));
    while (alarmBox.children.length > 5) alarmBox.lastElementChild.remove();
  }, { onState: (state) => (alarmBox.dataset.live = state) });

  // --- patrol (分组轮巡) ---
  function page(p) {
    const ids = p.group.camera_ids.filter((id) => byId.has(id));
    const pages = Math.max(1, Math.ceil(ids.length / split));
    p.page %= pages;
    pageLabel.textContent = t("wall.page", { page: p.page + 1, pages, name: p.group.name });
    pageLabel.dataset.page = String(p.page + 1);
    return ids.slice(p.page * split, p.page * split + split);
  }

  function startPatrol(group) {
    stopPatrol();
    patrol = { group, page: 0, timer: null };
    patrol.timer = setInterval(() => {
      patrol.page += 1;
      show(page(patrol));
    }, group.dwell_seconds * 1000);
    show(page(patrol));
    patrolButton.textContent = t("wall.patrol_stop");
    patrolButton.dataset.testid = "patrol-stop";
  }

  function stopPatrol() {
    if (!patrol) return;
    clearInterval(patrol.timer);
    patrol = null;
    pageLabel.textContent = "";
    delete pageLabel.dataset.page;
    patrolButton.textContent = t("wall.patrol_start");
    patrolButton.dataset.testid = "patrol-start";
  }

  // --- toolbar ---
  const splits = h(
    "div",
    { class: "wall-splits", role: "group", "aria-label": t("wall.split") },
    SPLITS.map((n) => {
      const b = h("button", { type: "button", class: "btn btn-small btn-outline", dataset: { testid: `split-${n}` } }, t("wall.split_n", { n }));
      b.addEventListener("click", () => {
        split = n;
        remember();
        layout();
      });
      return b;
    }),
  );
  const groupSelect = h("select", { id: `wall-group-${community.id}`, dataset: { testid: "patrol-group" } });
  const patrolButton = h("button", { type: "button", class: "btn btn-small btn-primary", dataset: { testid: "patrol-start" } }, t("wall.patrol_start"));
  let groups = [];
  patrolButton.addEventListener("click", () => {
    if (patrol) {
      stopPatrol();
      show(assigned);
      return;
    }
    const group = groups.find((g) => String(g.id) === groupSelect.value);
    if (group) startPatrol(group);
  });
  const groupsBox = h("div");

  async function loadGroups() {
    try {
      groups = (await api(`/api/communities/${encodeURIComponent(community.id)}/video/groups`, { signal })) || [];
      const chosen = groupSelect.value;
      replace(groupSelect, groups.map((g) => h("option", { value: String(g.id), selected: String(g.id) === chosen }, `${g.name} (${g.camera_ids.length})`)));
      if (MANAGERS.has(account.role)) replace(groupsBox, groupEditor(community, cameras, groups, loadGroups));
    } catch (err) {
      if (!isAbort(err)) replace(status, errorBanner(err));
    }
  }

  const node = h(
    "div",
    { class: "wall", dataset: { testid: "wall-community-view", community: String(community.id) } },
    h("div", { class: "wall-toolbar" }, splits, h("label", { for: groupSelect.id, class: "small" }, t("wall.group")), groupSelect, patrolButton, pageLabel),
    alarmBox,
    INSPECTORS.has(account.role) ? inspectBar : null,
    status,
    cameras.length ? grid : h("p", { class: "muted" }, t("wall.no_cameras")),
    groupsBox,
  );
  layout();
  loadGroups();
  loadRound();
  return {
    node,
    close() {
      stopLive();
      stopPatrol();
      for (const tile of tiles) tile.stop?.();
    },
  };
}

/** The frame `video` shows, as a JPEG blob of the stream's own size; null when it shows none. */
export function capture(video) {
  if (video.dataset.state !== "playing" || video.readyState < 2 || !video.videoWidth || !video.videoHeight) return Promise.resolve(null);
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob((blob) => resolve(blob), "image/jpeg", 0.85));
}

/** Property staff (manage_video) make, change and remove the community's camera groups. */
function groupEditor(community, cameras, groups, reload) {
  const status = h("div");
  const name = h("input", { id: `group-name-${community.id}`, type: "text", maxlength: 100, required: true, dataset: { testid: "group-name" } });
  const dwell = h("input", { id: `group-dwell-${community.id}`, type: "number", min: 3, max: 3600, value: 10, dataset: { testid: "group-dwell" } });
  const boxes = cameras.map((c) =>
    h("label", { class: "check" }, h("input", { type: "checkbox", value: String(c.id), dataset: { testid: "group-camera" } }), ` ${c.name}`),
  );
  const submit = h("button", { type: "submit", class: "btn btn-small btn-primary", dataset: { testid: "group-save" } }, t("wall.group_add"));
  const form = h(
    "form",
    { class: "card", dataset: { testid: "group-form" } },
    h("h3", {}, t("wall.groups")),
    h(
      "ul",
      { class: "small" },
      groups.map((g) => {
        const remove = h("button", { type: "button", class: "btn btn-small btn-ghost", dataset: { testid: "group-delete" } }, t("wall.group_delete"));
        remove.addEventListener("click", () =>
          busy(remove, async () => {
            try {
              await api(`/api/video/groups/${encodeURIComponent(g.id)}`, { method: "DELETE" });
              reload();
            } catch (err) {
              replace(status, errorBanner(err));
            }
          }),
        );
        const names = g.camera_ids.map((id) => cameras.find((c) => c.id === id)?.name || `#${id}`).join("、");
        return h("li", { dataset: { testid: "group", group: String(g.id) } }, `${g.name} · ${t("wall.dwell", { s: g.dwell_seconds })} · ${names} `, remove);
      }),
    ),
    h("div", { class: "field" }, h("label", { for: name.id }, t("wall.group_name")), name),
    h("div", { class: "field" }, h("label", { for: dwell.id }, t("wall.group_dwell")), dwell),
    h("fieldset", {}, h("legend", { class: "small" }, t("wall.group_cameras")), boxes),
    submit,
    status,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(submit, async () => {
      try {
        const camera_ids = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => Number(i.value));
        await api(`/api/communities/${encodeURIComponent(community.id)}/video/groups`, {
          body: { name: name.value.trim(), dwell_seconds: Number(dwell.value) || 10, camera_ids },
        });
        reload();
      } catch (err) {
        replace(status, errorBanner(err));
      }
    });
  });
  return form;
}

// "查看监控 / View camera" on an alarm: the monitoring-room wall opened on the camera watching
// the alarm's place (the API's camera_id, backend/video/watching.py). Only for the roles that may
// watch video (roles/matrix.py view_video); everyone else sees no link.

import { link } from "./dom.js";
import { t } from "./i18n.js";
import * as session from "./session.js";

const VIDEO_ROLES = new Set(["property", "police", "district_admin"]);
export const WALL = "/wall";

export function mayWatchVideo(acc = session.account()) {
  return Boolean(acc && VIDEO_ROLES.has(acc.role));
}

/** The link for an alarm, or null (no camera watches its place, or the caller may not watch). */
export function viewCameraLink(alarm) {
  if (alarm.camera_id == null || !mayWatchVideo()) return null;
  const href = `${WALL}?camera=${encodeURIComponent(alarm.camera_id)}`;
  return link(href, { class: "btn btn-small btn-outline", dataset: { testid: "view-camera", camera: String(alarm.camera_id) } }, t("alarm.view_camera"));
}

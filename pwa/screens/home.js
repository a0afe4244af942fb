// / — signed out: what Anju is, the scanner and sign-in. Signed in: shortcuts
// by role, and for staff the live registry metrics of their communities.

import { api, isAbort } from "../api.js";
import { h, link, replace, errorBanner, loading, busy } from "../dom.js";
import { t, label, formatPercent } from "../i18n.js";
import * as session from "../session.js";

// The seed's targets: 95 % of residents verified, 100 % doorplate coverage.
const VERIFICATION_TARGET = 0.95;
const COVERAGE_TARGET = 1;
// Above this many communities (a district) show one at a time via a picker
// instead of firing a metrics request per community.
const MAX_INLINE = 3;
// Who may watch a community's alarms live (roles/matrix.py: view_alarms and watch_live).
const BOARD_ROLES = new Set(["police", "warden", "property", "maintenance", "district_admin"]);
// Who reaches the video screen (roles/matrix.py: view_video).
const VIDEO_ROLES = new Set(["property", "police", "district_admin"]);
// Who administers something (staff, grants, devices, doorplates: screens/admin.js).
const ADMIN_ROLES = new Set(["property", "maintenance", "district_admin"]);

export function render({ signal }) {
  const acc = session.account();
  return session.isSignedIn() && acc ? signedIn(acc, signal) : signedOut();
}

function signedOut() {
  return h(
    "section",
    { class: "screen" },
    h("h1", {}, t("home.title")),
    h("p", { class: "lead" }, t("home.lead")),
    h(
      "div",
      { class: "actions actions-stack" },
      link("/scanner", { class: "btn btn-primary btn-block btn-large" }, t("home.scan")),
      link("/signin", { class: "btn btn-outline btn-block" }, t("home.sign_in")),
    ),
    h(
      "ul",
      { class: "feature-list" },
      h("li", {}, h("strong", {}, t("home.feature_scan_title")), " ", t("home.feature_scan")),
      h("li", {}, h("strong", {}, t("home.feature_register_title")), " ", t("home.feature_register")),
      h("li", {}, h("strong", {}, t("home.feature_staff_title")), " ", t("home.feature_staff")),
    ),
  );
}

function signedIn(acc, signal) {
  const staff = session.isStaff(acc);
  const tile = (href, title, sub) => link(href, { class: "tile" }, h("span", { class: "tile-title" }, t(title)), h("span", { class: "tile-sub" }, t(sub)));
  const patrols = ["property", "police", "warden"].includes(acc.role);
  const shortcuts = [
    link("/scanner", { class: "tile" }, h("span", { class: "tile-title" }, t("home.scan")), h("span", { class: "tile-sub" }, t("home.scan_sub"))),
    staff
      ? link("/queue", { class: "tile" }, h("span", { class: "tile-title" }, t("home.queue")), h("span", { class: "tile-sub" }, t("home.queue_sub")))
      : link("/homes", { class: "tile", dataset: { testid: "my-homes" } }, h("span", { class: "tile-title" }, t("home.homes")), h("span", { class: "tile-sub" }, t("home.homes_sub"))),
    acc.role === "police"
      ? link("/key-persons", { class: "tile", dataset: { testid: "key-persons" } }, h("span", { class: "tile-title" }, t("home.key_persons")), h("span", { class: "tile-sub" }, t("home.key_persons_sub")))
      : null,
    staff
      ? null
      : link("/visitors", { class: "tile", dataset: { testid: "visitors-tile" } }, h("span", { class: "tile-title" }, t("home.visitors")), h("span", { class: "tile-sub" }, t("home.visitors_sub"))),
    noticesTile(signal),
    staff ? null : tile("/services", "home.services", "home.services_sub"),
    staff ? null : tile("/intercom", "home.intercom", "home.intercom_sub"),
    acc.role === "property" ? tile("/service-queue", "home.service_queue", "home.service_queue_sub") : null,
    patrols ? tile("/patrol", "home.patrol", "home.patrol_sub") : null,
    BOARD_ROLES.has(acc.role) ? tile("/board", "home.board", "home.board_sub") : null,
    ADMIN_ROLES.has(acc.role) ? tile("/admin", "home.admin", "home.admin_sub") : null,
    ["police", "warden"].includes(acc.role) ? tile("/findings", "home.findings", "home.findings_sub") : null,
    // The guard desk is property staff's (register_walk_in, admit_vehicle); 布控 is the police's.
    acc.role === "property" ? tile("/desk", "home.desk", "home.desk_sub") : null,
    acc.role === "police" ? tile("/watch-list", "home.watch_list", "home.watch_list_sub") : null,
    ["police", "property"].includes(acc.role) ? tile("/organisations", "home.organisations", "home.organisations_sub") : null,
    ["police", "property"].includes(acc.role) ? tile("/buildings", "home.buildings", "home.buildings_sub") : null,
    VIDEO_ROLES.has(acc.role) ? tile("/video", "home.video", "home.video_sub") : null,
    acc.role === "district_admin" ? tile("/district", "home.district", "home.district_sub") : null,
    ["police", "property"].includes(acc.role) ? tile("/compliance", "home.compliance", "home.compliance_sub") : null,
    link("/passes", { class: "tile", dataset: { testid: "passes-tile" } }, h("span", { class: "tile-title" }, t("home.passes")), h("span", { class: "tile-sub" }, t(staff ? "home.passes_sub_staff" : "home.passes_sub"))),
    link("/me", { class: "tile" }, h("span", { class: "tile-title" }, t("home.me")), h("span", { class: "tile-sub" }, t("home.me_sub"))),
  ];
  return h(
    "section",
    { class: "screen" },
    h("h1", {}, t("home.hello", { name: acc.name || "" })),
    h("p", { class: "muted" }, label("role", acc.role)),
    h("nav", { class: "tiles", "aria-label": t("home.shortcuts") }, shortcuts),
    doorsSection(signal),
    staff ? metricsSection(signal) : null,
  );
}

/** The notices tile, with the unread count of the caller's communities once it is known. */
function noticesTile(signal) {
  const badge = h("span", { class: "badge badge-unread", hidden: true, dataset: { testid: "notices-unread" } });
  api("/api/notices", { signal })
    .then((feeds) => {
      const unread = (feeds || []).reduce((sum, f) => sum + f.unread, 0);
      badge.textContent = t("home.notices_unread", { count: unread });
      badge.hidden = unread === 0;
    })
    .catch(() => {}); // the tile still leads to the feed, which shows the error
  return link("/notices", { class: "tile", dataset: { testid: "notices-tile" } }, h("span", { class: "tile-title" }, t("home.notices"), " ", badge), h("span", { class: "tile-sub" }, t("home.notices_sub")));
}

/** The doors this account may open now, one tap each. */
function doorsSection(signal) {
  const body = h("div", {}, loading());
  const section = h("section", { class: "doors", "aria-labelledby": "doors-title" }, h("h2", { id: "doors-title" }, t("doors.title")), body);
  api("/api/doors", { signal })
    .then((doors) => replace(body, doors && doors.length ? h("ul", { class: "door-list" }, doors.map(doorItem)) : h("p", { class: "muted" }, t("doors.none"))))
    .catch((err) => {
      if (!isAbort(err)) replace(body, errorBanner(err));
    });
  return section;
}

function doorItem(door) {
  const status = h("div", { class: "door-status", "aria-live": "polite" });
  const button = h("button", { type: "button", class: "btn btn-primary", dataset: { testid: "open-door" } }, t("doors.open"));
  button.addEventListener("click", () =>
    busy(button, async () => {
      replace(status);
      try {
        // One key per tap: a retried request opens the door once.
        const opened = await api(`/api/doors/${encodeURIComponent(door.id)}/open`, { method: "POST", headers: { "Idempotency-Key": crypto.randomUUID() } });
        replace(status, opened.opened ? h("p", { class: "banner banner-success", role: "status", dataset: { testid: "door-opened" } }, t("doors.opened")) : errorBanner(t("doors.refused")));
      } catch (err) {
        replace(status, errorBanner(err));
      }
    }),
  );
  return h(
    "li",
    { class: ["door", door.online ? "door-online" : "door-offline"], dataset: { testid: "door", doorId: String(door.id) } },
    h("div", { class: "door-head" }, h("strong", {}, door.name), h("span", { class: "badge" }, door.online ? t("doors.online") : t("doors.offline"))),
    button,
    status,
  );
}

function metricsSection(signal) {
  const body = h("div", {}, loading());
  const section = h("section", { class: "metrics", "aria-labelledby": "metrics-title" }, h("h2", { id: "metrics-title" }, t("metrics.title")), body);

  (async () => {
    try {
      const communities = (await api("/api/communities", { signal })) || [];
      if (!communities.length) {
        replace(body, h("p", { class: "muted" }, t("metrics.none")));
        return;
      }
      if (communities.length <= MAX_INLINE) {
        replace(body, ...communities.map((c) => communityCard(c, signal)));
        return;
      }
      const holder = h("div");
      const select = h(
        "select",
        { id: "metrics-community", onchange: () => replace(holder, communityCard(communities[select.selectedIndex], signal)) },
        communities.map((c) => h("option", { value: String(c.id) }, c.name)),
      );
      replace(body, h("div", { class: "field" }, h("label", { for: "metrics-community" }, t("metrics.community")), select), holder);
      replace(holder, communityCard(communities[0], signal));
    } catch (err) {
      if (!isAbort(err)) replace(body, errorBanner(err));
    }
  })();
  return section;
}

function communityCard(c, signal) {
  const body = h("div", {}, loading());
  const card = h(
    "article",
    { class: "card metric-card" },
    h("h3", {}, c.name),
    h("p", { class: "muted small" }, [c.street, c.police_station, c.tier ? label("tier", c.tier) : null].filter(Boolean).join(" · ")),
    body,
  );
  api(`/api/communities/${encodeURIComponent(c.id)}/metrics`, { signal })
    .then((m) => {
      const cov = m.doorplate_coverage || {};
      replace(
        body,
        bar(t("metrics.verification_rate"), m.verification_rate, VERIFICATION_TARGET, [
          t("metrics.verified_of", { verified: m.verified, total: m.total }),
          t("metrics.target", { target: formatPercent(VERIFICATION_TARGET) }),
        ].join(" · ")),
        m.people && m.houses && m.organisations
          ? h("p", { class: "muted small", dataset: { testid: "verified-by-kind" } }, t("metrics.by_kind", {
              people: m.people.verified, people_total: m.people.total,
              houses: m.houses.verified, houses_total: m.houses.total,
              organisations: m.organisations.verified, organisations_total: m.organisations.total,
            }))
          : null,
        h("h4", {}, t("metrics.coverage"), " ", h("span", { class: "small" }, `(${t("metrics.target", { target: formatPercent(COVERAGE_TARGET) })})`)),
        ["overall", "gate", "building", "unit", "house"].filter((k) => cov[k] != null).map((k) => bar(label("coverage", k), cov[k], COVERAGE_TARGET)),
        ebikeCoverage(c, signal),
      );
    })
    .catch((err) => {
      if (!isAbort(err)) replace(body, errorBanner(err));
    });
  return card;
}

/** E-bikes carrying an anti-theft tag (物联网防盗芯片安装率), once the community has e-bikes. */
function ebikeCoverage(c, signal) {
  const holder = h("div", { dataset: { testid: "ebike-coverage" } });
  api(`/api/communities/${encodeURIComponent(c.id)}/ebike-coverage`, { signal })
    .then((e) => {
      if (e.ebikes) replace(holder, bar(t("metrics.ebike_tags"), e.coverage, e.target, t("metrics.ebikes_tagged", { tagged: e.tagged, ebikes: e.ebikes })));
    })
    .catch((err) => {
      if (!isAbort(err)) replace(holder, errorBanner(err));
    });
  return holder;
}

/**
 * A labelled percentage with a bar; the text carries the meaning, the bar is
 * decoration (its colour says whether the target is met).
 */
function bar(name, fraction, target, sub) {
  const value = Math.max(0, Math.min(1, Number(fraction) || 0));
  const ok = value >= target;
  const fill = h("span");
  fill.style.width = `${(value * 100).toFixed(1)}%`; // CSSOM, not a style attribute: fine under a strict CSP
  return h(
    "div",
    { class: ["metric", ok ? "metric-ok" : "metric-low"] },
    h(
      "div",
      { class: "metric-head" },
      h("span", {}, name),
      h("strong", {}, formatPercent(value)),
    ),
    h("div", { class: "metric-bar", "aria-hidden": "true" }, fill),
    sub ? h("p", { class: "muted small" }, sub) : null,
  );
}

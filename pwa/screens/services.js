// /services — a resident's services: their community's tiles (民生服务), a
// form to ask the property staff for something (with a photo), and their
// requests with what staff did, unread steps marked, and a rating once closed.

import { api, isAbort } from "../api.js";
import { h, link, replace, errorBanner, notice, busy, safeUrl, phoneLink } from "../dom.js";
import { t, label, formatDateTime } from "../i18n.js";
import * as session from "../session.js";

export const CATEGORIES = ["repairs", "cleaning", "utilities", "security", "neighbours", "other"];

export async function render({ signal }) {
  const heading = h("h1", {}, t("services.title"));
  if (session.isStaff()) {
    return h("section", { class: "screen" }, heading, notice(t("services.residents_only")), link("/service-queue", { class: "btn btn-primary" }, t("home.service_queue")));
  }
  let homes;
  let mine;
  try {
    [homes, mine] = await Promise.all([api("/api/services/home", { signal }), api("/api/service-requests/mine", { signal })]);
  } catch (err) {
    if (isAbort(err)) throw err;
    return h("section", { class: "screen" }, heading, errorBanner(err));
  }
  if (!homes.length) {
    return h("section", { class: "screen" }, heading, notice(t("services.no_home")));
  }
  const list = h("ul", { class: "queue-list", dataset: { testid: "my-requests" } }, mine.map((r) => requestItem(r, { own: true })));
  const empty = h("p", { class: "empty", hidden: mine.length > 0 }, t("services.no_requests"));
  const added = (request) => {
    list.prepend(requestItem(request, { own: true }));
    empty.hidden = true;
  };
  return h(
    "section",
    { class: "screen" },
    heading,
    homes.map((home) => [h("h2", {}, home.community), tileList(home.tiles), requestForm(home.community_id, added)]),
    h("h2", {}, t("services.my_requests")),
    list,
    empty,
  );
}

/** A community's service tiles: title, text, hours, a phone link or an https link. */
export function tileList(tiles) {
  if (!tiles || !tiles.length) return null;
  return h(
    "ul",
    { class: "tiles service-tiles", dataset: { testid: "service-tiles" } },
    tiles.map((tile) => {
      const href = safeUrl(tile.url);
      return h(
        "li",
        { class: "tile", dataset: { testid: "service-tile", kind: tile.kind } },
        h("span", { class: "tile-title" }, tile.title),
        h("span", { class: "tile-sub" }, label("tile_kind", tile.kind)),
        tile.text ? h("span", { class: "small" }, tile.text) : null,
        tile.hours ? h("span", { class: "small muted" }, t("services.hours", { hours: tile.hours })) : null,
        tile.phone ? phoneLink(tile.phone) : null,
        href ? h("a", { href, target: "_blank", rel: "noopener noreferrer" }, t("services.open_link")) : null,
      );
    }),
  );
}

function requestForm(communityId, added) {
  const id = (name) => `${name}-${communityId}`;
  const status = h("div", { class: "status-area", "aria-live": "polite" });
  const category = h("select", { id: id("category"), dataset: { testid: "request-category" } }, CATEGORIES.map((c) => h("option", { value: c }, label("request_category", c))));
  const text = h("textarea", { id: id("text"), rows: 3, maxlength: 1000, required: true, dataset: { testid: "request-text" } });
  // capture: the phone offers its camera first; a file from the gallery works as well.
  const photo = h("input", { id: id("photo"), type: "file", accept: "image/jpeg,image/png,image/webp", capture: "environment", dataset: { testid: "request-photo" } });
  const submit = h("button", { type: "submit", class: "btn btn-primary", dataset: { testid: "request-submit" } }, t("services.submit"));
  const form = h(
    "form",
    { class: "card form", novalidate: true },
    h("h3", {}, t("services.new_request")),
    h("div", { class: "field" }, h("label", { for: id("category") }, t("services.category")), category),
    h("div", { class: "field" }, h("label", { for: id("text") }, t("services.text")), text),
    h("div", { class: "field" }, h("label", { for: id("photo") }, t("services.photo")), photo, h("p", { class: "hint" }, t("services.photo_hint"))),
    status,
    submit,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!text.value.trim()) {
      replace(status, errorBanner(t("services.text_required")));
      return;
    }
    busy(submit, async () => {
      try {
        let request = await api(`/api/communities/${encodeURIComponent(communityId)}/service-requests`, { body: { category: category.value, text: text.value.trim() } });
        const file = photo.files && photo.files[0];
        if (file) request = await attachPhoto(request.id, file);
        added(request);
        form.reset();
        replace(status, notice(t("services.filed"), "success"));
      } catch (err) {
        if (!isAbort(err)) replace(status, errorBanner(err));
      }
    });
  });
  return form;
}

async function attachPhoto(requestId, file) {
  return api(`/api/service-requests/${encodeURIComponent(requestId)}/photo`, { method: "PUT", raw: file, headers: { "Content-Type": file.type || "application/octet-stream" } });
}

/** One request: status, text, its steps, the photo on demand; for its requester a rating once closed. */
export function requestItem(request, { own = false, actions = null } = {}) {
  const status = h("div", { class: "status-area", "aria-live": "polite" });
  const li = h("li", { class: "card queue-item", dataset: { testid: "service-request", status: request.status, requestId: String(request.id) } });
  const fill = (r) => {
    li.dataset.status = r.status;
    replace(
      li,
      h(
        "div",
        { class: "resident-head" },
        h("strong", {}, label("request_category", r.category)),
        h(
          "span",
          { class: "badges" },
          h("span", { class: `badge badge-${r.status === "closed" ? "verified" : "pending"}`, dataset: { testid: "request-status" } }, label("request_status", r.status)),
          own && r.unseen ? h("span", { class: "badge badge-warning", dataset: { testid: "unseen" } }, t("services.unseen", { count: r.unseen })) : null,
        ),
      ),
      h("p", {}, r.text),
      h("p", { class: "muted small" }, [own ? null : r.requester, r.place, formatDateTime(r.created_at)].filter(Boolean).join(" · ")),
      r.events.length ? h("ol", { class: "timeline" }, r.events.map((e) => h("li", {}, h("time", { datetime: e.at }, formatDateTime(e.at)), " ", label("request_step", e.step), " · ", e.by, e.note ? h("p", { class: "small" }, e.note) : null))) : null,
      r.has_photo ? photoButton(r.id, status) : null,
      r.rating ? h("p", { dataset: { testid: "rating" } }, "★".repeat(r.rating), r.rating_comment ? ` ${r.rating_comment}` : "") : null,
      own && r.status === "closed" && !r.rating ? ratingForm(r.id, fill, status) : null,
      actions ? actions(r, fill, status) : null,
      status,
    );
  };
  fill(request);
  return li;
}

function photoButton(requestId, status) {
  const holder = h("div");
  const button = h("button", { type: "button", class: "btn btn-small btn-outline", dataset: { testid: "show-photo" } }, t("services.show_photo"));
  button.addEventListener("click", () =>
    busy(button, async () => {
      try {
        // The photo needs the bearer token: fetched, then shown from a blob: URL.
        const url = URL.createObjectURL(await api(`/api/service-requests/${encodeURIComponent(requestId)}/photo`, { blob: true }));
        replace(holder, h("img", { src: url, alt: t("services.photo"), class: "request-photo" }));
        button.hidden = true;
      } catch {
        replace(status, errorBanner(t("services.photo_failed")));
      }
    }),
  );
  return h("div", {}, button, holder);
}

function ratingForm(requestId, fill, status) {
  const stars = h("select", { id: `stars-${requestId}`, dataset: { testid: "rating-stars" } }, [5, 4, 3, 2, 1].map((n) => h("option", { value: String(n) }, "★".repeat(n))));
  const comment = h("input", { id: `comment-${requestId}`, type: "text", maxlength: 300 });
  const submit = h("button", { type: "submit", class: "btn btn-small btn-primary", dataset: { testid: "rate" } }, t("services.rate"));
  const form = h(
    "form",
    { class: "form" },
    h("div", { class: "field" }, h("label", { for: `stars-${requestId}` }, t("services.rating")), stars),
    h("div", { class: "field" }, h("label", { for: `comment-${requestId}` }, t("services.rating_comment")), comment),
    submit,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(submit, async () => {
      try {
        fill(await api(`/api/service-requests/${encodeURIComponent(requestId)}/rating`, { body: { stars: Number(stars.value), comment: comment.value.trim() } }));
      } catch (err) {
        if (!isAbort(err)) replace(status, errorBanner(err));
      }
    });
  });
  return form;
}

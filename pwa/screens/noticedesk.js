// /notices/desk — writers and reviewers of a community's notices: write a draft,
// submit policy and police content for review, approve or return it with a
// comment, publish now or at a time, withdraw, and see how many have read it.

import { api, isAbort } from "../api.js";
import { h, link, replace, errorBanner, notice, busy } from "../dom.js";
import { t, label, formatDateTime } from "../i18n.js";
import * as session from "../session.js";

const KINDS = ["general", "activity", "property", "security", "police_alert", "policy"];

export async function render({ signal }) {
  const heading = h("h1", {}, t("noticedesk.title"));
  let desks;
  try {
    const feeds = ((await api("/api/notices", { signal })) || []).filter((f) => f.may_write);
    const lists = await Promise.all(feeds.map((f) => api(`/api/communities/${encodeURIComponent(f.community_id)}/notices/desk`, { signal })));
    desks = feeds.map((f, i) => ({ feed: f, notices: lists[i] }));
  } catch (err) {
    if (isAbort(err)) throw err;
    return h("section", { class: "screen" }, heading, errorBanner(err));
  }
  if (!desks.length) {
    return h("section", { class: "screen" }, heading, notice(t("noticedesk.writers_only")), link("/notices", { class: "btn btn-outline" }, t("notices.title")));
  }
  return h("section", { class: "screen" }, heading, desks.map(communityDesk));
}

function communityDesk({ feed, notices }) {
  const list = h("ul", { class: "queue-list", dataset: { testid: "desk-notices" } });
  const add = (n) => list.prepend(deskItem(n, feed));
  notices.slice().reverse().forEach(add);
  return [h("h2", {}, feed.community), draftForm(feed.community_id, add), list];
}

function draftForm(communityId, added) {
  const status = h("div", { "aria-live": "polite" });
  const field = (id, text, input) => h("div", { class: "field" }, h("label", { for: id }, text), input);
  const kind = h("select", { id: `kind-${communityId}`, dataset: { testid: "notice-kind" } }, KINDS.map((k) => h("option", { value: k }, label("notice_kind", k))));
  const title = h("input", { id: `title-${communityId}`, type: "text", maxlength: 100, required: true, dataset: { testid: "notice-title" } });
  const body = h("textarea", { id: `body-${communityId}`, maxlength: 5000, rows: 5, required: true, dataset: { testid: "notice-body-input" } });
  const urgent = h("input", { id: `urgent-${communityId}`, type: "checkbox", dataset: { testid: "notice-urgent" } });
  const committee = session.account()?.role === "property" ? h("input", { id: `committee-${communityId}`, type: "checkbox", dataset: { testid: "notice-committee" } }) : null;
  const save = h("button", { type: "submit", class: "btn btn-primary", dataset: { testid: "notice-save" } }, t("noticedesk.save"));
  const form = h(
    "form",
    { class: "form card" },
    h("h3", {}, t("noticedesk.new")),
    field(kind.id, t("noticedesk.kind"), kind),
    field(title.id, t("noticedesk.notice_title"), title),
    field(body.id, t("noticedesk.body"), body),
    h("div", { class: "field field-check" }, urgent, h("label", { for: urgent.id }, t("noticedesk.urgent"))),
    committee ? h("div", { class: "field field-check" }, committee, h("label", { for: committee.id }, t("noticedesk.for_committee"))) : null,
    save,
    status,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(save, async () => {
      replace(status);
      try {
        const data = { kind: kind.value, title: title.value.trim(), body: body.value.trim(), urgent: urgent.checked, for_committee: Boolean(committee?.checked) };
        added(await api(`/api/communities/${encodeURIComponent(communityId)}/notices`, { body: data }));
        form.reset();
      } catch (err) {
        if (!isAbort(err)) replace(status, errorBanner(err));
      }
    });
  });
  return form;
}

function deskItem(n, feed) {
  const item = h("li", { class: "card", dataset: { testid: "desk-notice", status: n.status } });
  const fill = (current) => {
    item.dataset.status = current.status;
    const status = h("div", { "aria-live": "polite" });
    replace(
      item,
      h("strong", { class: "notice-title" }, current.title),
      h("p", { class: "muted small" }, [label("notice_kind", current.kind), label("notice_status", current.status), current.needs_review ? reviewState(current) : null].filter(Boolean).join(" · ")),
      current.reviews.map((r) => h("p", { class: "small", dataset: { testid: "review" } }, `${label("notice_side", r.side)} ${r.by}: ${label("notice_verdict", r.verdict)}${r.comment ? ` — ${r.comment}` : ""}`)),
      current.status === "scheduled" ? h("p", { class: "small" }, t("noticedesk.scheduled_for", { at: formatDateTime(current.publish_at) })) : null,
      current.status === "published" ? receipts(current) : null,
      actions(current, feed, fill, status),
      status,
    );
  };
  fill(n);
  return item;
}

function reviewState(n) {
  return t("noticedesk.approvals", { community: n.community_approved ? "✓" : "…", police: n.police_approved ? "✓" : "…" });
}

function receipts(n) {
  const out = h("p", { class: "small", dataset: { testid: "receipts" } });
  api(`/api/notices/${encodeURIComponent(n.id)}/receipts`)
    .then((r) => replace(out, t("noticedesk.read_by", { count: r.read })))
    .catch((err) => isAbort(err) || replace(out, errorBanner(err)));
  return out;
}

function actions(n, feed, fill, status) {
  const step = (name, testid, body) => {
    const button = h("button", { type: "button", class: "btn btn-small btn-primary", dataset: { testid } }, t(`noticedesk.${testid}`));
    button.addEventListener("click", () =>
      busy(button, async () => {
        replace(status);
        try {
          fill(await api(`/api/notices/${encodeURIComponent(n.id)}/${name}`, { body: body() }));
        } catch (err) {
          if (!isAbort(err)) replace(status, errorBanner(err));
        }
      }),
    );
    return button;
  };
  const none = () => ({});
  const ready = n.needs_review ? n.status === "approved" : n.status === "draft";
  const parts = [];
  if (n.status === "draft" && n.needs_review) parts.push(step("submit", "submit", none));
  if (n.status === "in_review" && feed.may_review) {
    const id = `comment-${n.id}`;
    const comment = h("input", { id, type: "text", maxlength: 500, dataset: { testid: "review-comment" } });
    parts.push(h("div", { class: "field" }, h("label", { for: id }, t("noticedesk.comment")), comment));
    parts.push(step("review", "approve", () => ({ verdict: "approve", comment: comment.value.trim() })));
    parts.push(step("review", "return", () => ({ verdict: "return", comment: comment.value.trim() })));
  }
  if (ready) {
    const id = `at-${n.id}`;
    const at = h("input", { id, type: "datetime-local", dataset: { testid: "publish-at" } });
    parts.push(step("publish", "publish", none));
    parts.push(h("div", { class: "field" }, h("label", { for: id }, t("noticedesk.at")), at));
    parts.push(step("publish", "schedule", () => ({ at: at.value ? new Date(at.value).toISOString() : null })));
  }
  if (n.status === "published" || n.status === "scheduled") parts.push(step("withdraw", "withdraw", none));
  return parts.length ? h("div", { class: "actions actions-inline" }, parts) : null;
}

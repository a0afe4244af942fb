// A community's live stream (GET /api/communities/{id}/live): server-sent
// events read through fetch, because EventSource cannot send the bearer token
// (and tokens never go in URLs). It reconnects by itself with Last-Event-ID,
// so events committed while a connection was down still arrive, once each.
//
//   const stop = watchLive(communityId, (event) => …, { onState: (state, err) => … });
//   event: { id, topic, data }   state: "open" | "reconnecting" | "refused"

import { errorFromBody, restoreSession } from "./api.js";
import * as session from "./session.js";

const FIRST_RETRY_MS = 1000;
const LAST_RETRY_MS = 30000;

export function watchLive(communityId, onEvent, options = {}) {
  return watchStream(`/api/communities/${encodeURIComponent(communityId)}/live`, onEvent, options);
}

// Any of our event streams (a household's calls: /api/houses/{id}/calls/live), the same way.
export function watchStream(url, onEvent, { onState = () => {} } = {}) {
  const stopper = new AbortController();
  let lastId = null;

  async function connect() {
    if (session.isSignedIn() && !session.accessToken()) await restoreSession();
    const headers = { Accept: "text/event-stream" };
    if (session.accessToken()) headers.Authorization = `Bearer ${session.accessToken()}`;
    if (lastId !== null) headers["Last-Event-ID"] = String(lastId);
    return fetch(url, {
      headers,
      signal: stopper.signal,
      credentials: "same-origin",
    });
  }

  (async () => {
    let retry = FIRST_RETRY_MS;
    while (!stopper.signal.aborted) {
      try {
        const res = await connect();
        if (res.status === 401 && (await restoreSession())) continue; // the token expired: once more
        if (!res.ok) throw errorFromBody(res.status, await res.json().catch(() => null));
        onState("open");
        retry = FIRST_RETRY_MS;
        for await (const event of events(res.body)) {
          lastId = event.id;
          onEvent(event);
        }
      } catch (err) {
        if (stopper.signal.aborted) return;
        if (err && (err.status === 401 || err.status === 403 || err.status === 404)) {
          onState("refused", err); // retrying would not change the answer
          return;
        }
      }
      onState("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, retry * (0.5 + Math.random() / 2)));
      retry = Math.min(retry * 2, LAST_RETRY_MS);
    }
  })();

  return () => stopper.abort();
}

// The text/event-stream format: fields until a blank line; comments (":")
// are heartbeats. Only complete events with an id are ours to deliver.
async function* events(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let fields = {};
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    // A chunk may end between the \r and \n of one line break: keep the \r for the next.
    const held = buffer.endsWith("\r") ? "\r" : "";
    const lines = buffer.slice(0, buffer.length - held.length).split(/\r\n|\r|\n/);
    buffer = lines.pop() + held;
    for (const line of lines) {
      if (line === "") {
        if (fields.id !== undefined && fields.data !== undefined) {
          yield { id: Number(fields.id), topic: fields.event || "message", data: JSON.parse(fields.data) };
        }
        fields = {};
      } else if (!line.startsWith(":")) {
        const colon = line.indexOf(":");
        const name = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        fields[name] = name === "data" && fields.data !== undefined ? `${fields.data}\n${value}` : value;
      }
    }
  }
}

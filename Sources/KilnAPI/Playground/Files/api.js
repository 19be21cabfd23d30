// Talking to Kiln's API from the page: the API key, JSON requests and Server-Sent Events read
// from a POST (EventSource can only GET), with the server's OpenAI-style errors as exceptions.

const KEY_STORAGE = "kiln.apiKey";

/** The API key typed in this tab; sessionStorage keeps it for the tab's life, no longer. */
export function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) ?? "";
}

export function setApiKey(key) {
  if (key) {
    sessionStorage.setItem(KEY_STORAGE, key);
  } else {
    sessionStorage.removeItem(KEY_STORAGE);
  }
}

/** An error answer of the API: its HTTP status and the body's `error.message` and `error.code`. */
export class APIError extends Error {
  constructor(status, message, code) {
    super(message);
    this.name = "APIError";
    this.status = status;
    this.code = code;
  }
}

function headers(extra) {
  const result = { ...extra };
  const key = apiKey();
  if (key) result.Authorization = `Bearer ${key}`;
  return result;
}

async function errorFrom(response) {
  let message = `${response.status} ${response.statusText}`;
  let code = null;
  try {
    const body = await response.json();
    if (body && body.error) {
      message = body.error.message ?? message;
      code = body.error.code ?? null;
    }
  } catch {
    // Not JSON: the status line says enough.
  }
  return new APIError(response.status, message, code);
}

/** GET `path` and return its JSON body. */
export async function getJSON(path, signal) {
  const response = await fetch(path, { headers: headers({ Accept: "application/json" }), signal });
  if (!response.ok) throw await errorFrom(response);
  return response.json();
}

/**
 * POST `body` as JSON to `path` and yield the answer's Server-Sent Events as `{ event, data }`,
 * `event` being "message" when the server names none. An `error` event is thrown as an APIError.
 */
export async function* postEvents(path, body, signal) {
  const response = await fetch(path, {
    method: "POST",
    headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
    body: JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await errorFrom(response);
  const parser = new EventStreamParser();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    const events = done ? parser.finish() : parser.push(value);
    for (const event of events) {
      if (event.event === "error") {
        let message = event.data;
        let code = null;
        try {
          const error = JSON.parse(event.data).error;
          message = error.message;
          code = error.code;
        } catch {
          // An error event that is not JSON: its text is the message.
        }
        throw new APIError(response.status, message, code);
      }
      yield event;
    }
    if (done) return;
  }
}

/**
 * The text/event-stream format (WHATWG HTML, "Server-sent events"): lines end in CRLF, LF or CR;
 * `data:` lines accumulate; a blank line dispatches the event; `:` lines are comments.
 */
export class EventStreamParser {
  constructor() {
    this.buffer = "";
    this.data = [];
    this.event = "";
  }

  /** Feeds decoded text; returns the events it completed. */
  push(text) {
    this.buffer += text;
    const events = [];
    let start = 0;
    for (;;) {
      const match = /\r\n|\r|\n/g;
      match.lastIndex = start;
      const found = match.exec(this.buffer);
      // A CR at the very end may be the first half of a CRLF: wait for the next chunk.
      if (!found || (found[0] === "\r" && found.index === this.buffer.length - 1)) break;
      this.line(this.buffer.slice(start, found.index), events);
      start = found.index + found[0].length;
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  /** The stream ended: a last line without its terminator still counts; an unfinished event does not. */
  finish() {
    const events = [];
    if (this.buffer) this.line(this.buffer, events);
    this.buffer = "";
    return events;
  }

  line(line, events) {
    if (line === "") {
      if (this.data.length > 0) events.push({ event: this.event || "message", data: this.data.join("\n") });
      this.data = [];
      this.event = "";
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
  }
}

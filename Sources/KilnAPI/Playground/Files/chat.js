// The chat panel: a conversation streamed from /v1/chat/completions. Model output is only ever
// added as text nodes, never parsed as HTML.

import { postEvents } from "./api.js";

/** Appends a message to the list and returns the text node its content grows in. */
export function addMessage(list, role, text = "") {
  const item = document.createElement("li");
  item.className = `message ${role}`;
  const label = document.createElement("span");
  label.className = "role";
  label.textContent = role;
  const content = document.createElement("div");
  content.className = "content";
  const node = document.createTextNode(text);
  content.append(node);
  item.append(label, content);
  list.append(item);
  item.scrollIntoView({ block: "end" });
  return { item, node };
}

/** Adds one streamed piece of the model's answer to its message: as text, whatever it holds. */
export function renderDelta(message, delta) {
  if (typeof delta !== "string" || delta === "") return;
  message.node.appendData(delta);
  message.item.scrollIntoView({ block: "end" });
}

/** A note under a message (why it stopped, an error), as text. */
export function addNote(message, text) {
  const note = document.createElement("p");
  note.className = "note";
  note.textContent = text;
  message.item.append(note);
}

/** The request body for the conversation so far and the panel's settings. */
export function requestBody(settings, history) {
  const messages = [];
  if (settings.system) messages.push({ role: "system", content: settings.system });
  messages.push(...history);
  const body = {
    model: settings.model,
    messages,
    stream: true,
    stream_options: { include_usage: true },
  };
  if (Number.isFinite(settings.temperature)) body.temperature = settings.temperature;
  if (Number.isInteger(settings.maxTokens)) body.max_tokens = settings.maxTokens;
  // JSON mode (response_format) and tools join the body here once the server supports them.
  return body;
}

/**
 * Streams one answer into `message`. Resolves with `{ text, finishReason, usage, seconds }`;
 * throws the API's error or an AbortError.
 */
export async function streamAnswer(body, message, signal) {
  const started = performance.now();
  let text = "";
  let finishReason = null;
  let usage = null;
  for await (const event of postEvents("/v1/chat/completions", body, signal)) {
    if (event.data === "[DONE]") break;
    const chunk = JSON.parse(event.data);
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices ?? []) {
      const delta = choice.delta?.content;
      if (typeof delta === "string") {
        text += delta;
        renderDelta(message, delta);
      }
      if (choice.finish_reason) finishReason = choice.finish_reason;
    }
  }
  return { text, finishReason, usage, seconds: (performance.now() - started) / 1000 };
}

// The image panel: /v1/images/generations streamed, each partial preview shown as it comes,
// then the finished image.

import { postEvents } from "./api.js";

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** A PNG's base64 as a data: URL; anything else in the field is refused rather than used. */
export function pngURL(base64) {
  if (typeof base64 !== "string" || base64.length === 0 || !BASE64.test(base64)) {
    throw new Error("the server sent an image that is not base64");
  }
  return `data:image/png;base64,${base64}`;
}

/** The request body from the panel's settings; empty fields are left to the server's defaults. */
export function requestBody(settings) {
  const body = { prompt: settings.prompt, n: 1, stream: true };
  if (Number.isInteger(settings.previews)) body.partial_images = settings.previews;
  if (Number.isInteger(settings.steps)) body.steps = settings.steps;
  if (Number.isInteger(settings.seed)) body.seed = settings.seed;
  return body;
}

/**
 * Streams one generation. `show(url, caption, final)` is called for every preview and for the
 * finished image. Throws the API's error or an AbortError.
 */
export async function generate(body, show, signal) {
  const started = performance.now();
  let finished = false;
  for await (const event of postEvents("/v1/images/generations", body, signal)) {
    if (event.data === "[DONE]") break;
    const payload = JSON.parse(event.data);
    if (payload.type === "image_generation.partial_image") {
      const caption = `Preview ${payload.partial_image_index + 1} · step ${payload.step} of ${payload.total_steps}`;
      show(pngURL(payload.b64_json), caption, false);
    } else if (payload.type === "image_generation.completed") {
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      show(pngURL(payload.b64_json), `${payload.size} · ${seconds} s`, true);
      finished = true;
    }
  }
  if (!finished) throw new Error("the stream ended without an image");
}

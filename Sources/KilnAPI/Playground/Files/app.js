// The playground's entry point: finds the page's elements by their data-testid, fills the model
// picker, and wires the chat and image panels to their modules.

import { apiKey, getJSON, setApiKey } from "./api.js";
import * as chat from "./chat.js";
import * as images from "./images.js";

const element = (id) => document.querySelector(`[data-testid="${id}"]`);

const status = element("status");
function setStatus(text, isError = false) {
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function numberField(id) {
  const input = element(id);
  return input.value.trim() === "" ? NaN : Number(input.value);
}

function integerField(id) {
  const value = numberField(id);
  return Number.isInteger(value) ? value : undefined;
}

function describe(error) {
  if (error.name === "APIError" && error.status === 401) return `${error.message} (enter the key above)`;
  return error.message || String(error);
}

// MARK: API key and models

const keyInput = element("api-key");
const modelSelect = element("model");
let modelRetry = null;

async function loadModels() {
  clearTimeout(modelRetry);
  try {
    const list = await getJSON("/v1/models");
    const previous = modelSelect.value;
    modelSelect.replaceChildren(
      ...list.data.map((model) => {
        const option = document.createElement("option");
        option.value = model.id;
        option.textContent = model.id;
        return option;
      }),
    );
    // The language model comes first in Kiln's list; keep the user's choice across reloads.
    if (list.data.some((model) => model.id === previous)) modelSelect.value = previous;
    setStatus(`${list.data.length} model${list.data.length === 1 ? "" : "s"} served`);
  } catch (error) {
    setStatus(`Models: ${describe(error)}`, true);
    // 503 while the server loads its models: ask again shortly.
    if (error.status === 503) modelRetry = setTimeout(loadModels, 2000);
  }
}

keyInput.value = apiKey();
keyInput.addEventListener("change", () => {
  setApiKey(keyInput.value.trim());
  loadModels();
});

// MARK: Chat

const messages = element("messages");
const chatForm = element("chat-form");
const prompt = element("prompt");
const send = element("send");
const stop = element("stop");
const chatStats = element("chat-stats");
/** What was said so far, as the API takes it; failed turns are left out. */
let history = [];
let chatController = null;

function setChatBusy(busy) {
  send.disabled = busy;
  stop.disabled = !busy;
  messages.setAttribute("aria-busy", String(busy));
}

async function sendPrompt() {
  const text = prompt.value;
  if (text.trim() === "" || chatController) return;
  prompt.value = "";
  chat.addMessage(messages, "user", text);
  const turn = [...history, { role: "user", content: text }];
  const body = chat.requestBody(
    {
      model: modelSelect.value,
      temperature: numberField("temperature"),
      maxTokens: integerField("max-tokens"),
      system: element("system").value.trim(),
    },
    turn,
  );
  const answer = chat.addMessage(messages, "assistant");
  chatController = new AbortController();
  setChatBusy(true);
  chatStats.textContent = "";
  try {
    const result = await chat.streamAnswer(body, answer, chatController.signal);
    history = [...turn, { role: "assistant", content: result.text }];
    if (result.finishReason === "length") chat.addNote(answer, "Stopped at the max tokens limit.");
    const tokens = result.usage?.completion_tokens;
    chatStats.textContent = tokens === undefined
      ? `${result.seconds.toFixed(1)} s`
      : `${tokens} tokens in ${result.seconds.toFixed(1)} s (${(tokens / result.seconds).toFixed(1)} tokens/s)`;
  } catch (error) {
    answer.item.classList.add("failed");
    chat.addNote(answer, error.name === "AbortError" ? "Stopped." : describe(error));
  } finally {
    chatController = null;
    setChatBusy(false);
  }
}

chatForm.addEventListener("submit", (event) => {
  event.preventDefault();
  sendPrompt();
});
prompt.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    sendPrompt();
  }
});
stop.addEventListener("click", () => chatController?.abort());
element("clear").addEventListener("click", () => {
  chatController?.abort();
  history = [];
  messages.replaceChildren();
  chatStats.textContent = "";
});

// MARK: Images

const imageForm = element("image-form");
const imageSend = element("image-send");
const imageStop = element("image-stop");
const figure = element("image-figure");
const picture = element("image-result");
const caption = element("image-caption");
const download = element("image-download");
let imageController = null;

function showImage(url, text, final) {
  figure.hidden = false;
  picture.src = url;
  caption.textContent = text;
  picture.classList.toggle("preview", !final);
  download.hidden = !final;
  if (final) download.href = url;
}

imageForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = element("image-prompt").value;
  if (text.trim() === "" || imageController) return;
  const body = images.requestBody({
    prompt: text,
    steps: integerField("image-steps"),
    seed: integerField("image-seed"),
    previews: integerField("image-previews"),
  });
  imageController = new AbortController();
  imageSend.disabled = true;
  imageStop.disabled = false;
  caption.textContent = "Generating…";
  caption.classList.remove("error");
  download.hidden = true;
  try {
    await images.generate(body, showImage, imageController.signal);
  } catch (error) {
    figure.hidden = false;
    caption.textContent = error.name === "AbortError" ? "Stopped." : describe(error);
    caption.classList.add("error");
  } finally {
    imageController = null;
    imageSend.disabled = false;
    imageStop.disabled = true;
  }
});
imageStop.addEventListener("click", () => imageController?.abort());

loadModels();

"""The browser playground (`GET /`) in headless Chromium, driven by Selenium through Debian's
chromium-driver, against the real server with its default models: a chat answer streams in, an
image appears after its previews, model output shows as text and never runs as markup, and the
browser console holds no errors."""
import json
import os
import shutil
import urllib.request

import pytest

os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium look for a driver online
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

WAIT = 30  # seconds for one answer or one image; the whole module takes about 10 s here


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.fail("chromium and chromium-driver are missing: run Scripts/setup.sh")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,900", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    yield driver
    driver.quit()


def hook(driver, testid):
    return driver.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')


def open_playground(driver, kiln):
    driver.get(kiln.base + "/")
    driver.get_log("browser")  # only what this test causes counts
    # The model picker is filled from /v1/models once the modules have run.
    WebDriverWait(driver, WAIT).until(
        lambda d: d.execute_script('return document.querySelector(\'[data-testid="model"]\').options.length') > 0)
    assert hook(driver, "model").get_attribute("value") == kiln.model


def console_errors(driver):
    return [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]


def wait_for_answer(driver):
    """Waits until the assistant's message is there and the stream has ended; returns its text."""
    WebDriverWait(driver, WAIT).until(lambda d: d.execute_script(
        'const list = document.querySelector(\'[data-testid="messages"]\');'
        'return list.getAttribute("aria-busy") === "false" && list.querySelector(".message.assistant") !== null;'))
    return driver.execute_script(
        'const items = document.querySelectorAll(\'[data-testid="messages"] .message.assistant .content\');'
        'return items[items.length - 1].textContent;')


# Records the assistant message's text length each time the page changes it, with the time.
RECORD_GROWTH = """
window.__growth = [];
const list = document.querySelector('[data-testid="messages"]');
new MutationObserver(() => {
  const answers = list.querySelectorAll('.message.assistant .content');
  if (answers.length) window.__growth.push([performance.now(), answers[answers.length - 1].textContent.length]);
}).observe(list, {childList: true, subtree: true, characterData: true});
"""

MARKUP = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>bold</b> &amp; <i>'


def test_chat_answer_streams_in(browser, kiln):
    open_playground(browser, kiln)
    browser.execute_script(RECORD_GROWTH)
    # Greedy decoding, so that the answer is the same on every run.
    for testid, value in (("max-tokens", "40"), ("temperature", "0")):
        field = hook(browser, testid)
        field.clear()
        field.send_keys(value)
    # The user's own message is echoed into the list: it must show as typed, markup and all.
    prompt = "Tell me a short story about a cat. " + MARKUP
    hook(browser, "prompt").send_keys(prompt)
    hook(browser, "send").click()
    answer = wait_for_answer(browser)

    assert answer.strip(), "the assistant's message is empty"
    user = browser.execute_script(
        'return document.querySelector(\'[data-testid="messages"] .message.user .content\').textContent')
    assert user == prompt
    assert browser.execute_script(
        'return document.querySelectorAll(\'[data-testid="messages"] img, [data-testid="messages"] script,'
        ' [data-testid="messages"] b, [data-testid="messages"] i\').length') == 0
    assert browser.execute_script("return window.__pwned === undefined")
    growth = browser.execute_script("return window.__growth")
    lengths = [length for _, length in growth]
    partial = [length for length in lengths if 0 < length < len(answer)]
    assert partial, f"the answer appeared at once, not streamed: {growth}"
    assert lengths == sorted(lengths) and lengths[-1] == len(answer)
    assert growth[-1][0] > growth[0][0]
    assert "tokens" in hook(browser, "chat-stats").text
    assert console_errors(browser) == []


def test_image_appears_after_previews(browser, kiln):
    open_playground(browser, kiln)
    browser.execute_script("""
        window.__sources = [];
        const picture = document.querySelector('[data-testid="image-result"]');
        new MutationObserver(() => window.__sources.push(picture.getAttribute('src')))
          .observe(picture, {attributes: true, attributeFilter: ['src']});
    """)
    hook(browser, "image-prompt").send_keys("a large yellow star in the center on a blue background")
    hook(browser, "image-send").click()
    WebDriverWait(browser, WAIT).until(lambda d: d.execute_script(
        'const img = document.querySelector(\'[data-testid="image-result"]\');'
        'return !document.querySelector(\'[data-testid="image-download"]\').hidden'
        ' && img.complete && img.naturalWidth > 0;'))

    picture = hook(browser, "image-result")
    assert picture.get_attribute("src").startswith("data:image/png;base64,")
    assert browser.execute_script("return arguments[0].naturalWidth", picture) == 32  # kiln-shapes-dit's size
    sources = browser.execute_script("return window.__sources")
    assert len(set(sources)) >= 2, "no partial preview was shown before the image"
    assert "32x32" in hook(browser, "image-caption").text
    assert console_errors(browser) == []


def crafted_stream(kiln, pieces):
    """A real streamed chat answer from the server, its content deltas replaced by `pieces`: the
    page gets exactly the server's event shape, with content the small model cannot be made to
    write on demand."""
    request = urllib.request.Request(
        kiln.base + "/v1/chat/completions", method="POST", headers={"Content-Type": "application/json"},
        data=json.dumps({"model": kiln.model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4,
                         "stream": True, "stream_options": {"include_usage": True}}).encode())
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        events = [line[len("data: "):] for line in response.read().decode().split("\n") if line.startswith("data: ")]
    chunks = [json.loads(event) for event in events if event != "[DONE]"]
    template = next(chunk for chunk in chunks if chunk["choices"] and chunk["choices"][0]["delta"].get("content"))
    rest = [chunk for chunk in chunks if not (chunk["choices"] and chunk["choices"][0]["delta"].get("content"))]
    crafted = []
    for piece in pieces:
        chunk = json.loads(json.dumps(template))
        chunk["choices"][0]["delta"]["content"] = piece
        crafted.append(chunk)
    # The role-only first chunk stays first; the finishing and usage chunks stay last.
    head = [chunk for chunk in rest if chunk["choices"] and "role" in chunk["choices"][0]["delta"]]
    tail = [chunk for chunk in rest if chunk not in head]
    return "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in head + crafted + tail) + "data: [DONE]\n\n"


# Answers POST /v1/chat/completions in the page with `arguments[0]`, delivered in 7-byte pieces
# (events and UTF-8 split anywhere), and records the request; every other fetch goes out as usual.
MOCK_CHAT = """
const stream = arguments[0];
const realFetch = window.fetch.bind(window);
window.__chatRequests = [];
window.fetch = (input, init) => {
  if (!String(input).endsWith('/v1/chat/completions')) return realFetch(input, init);
  window.__chatRequests.push({headers: init.headers, body: init.body});
  const bytes = new TextEncoder().encode(stream);
  let offset = 0;
  const body = new ReadableStream({
    async pull(controller) {
      await new Promise((resolve) => setTimeout(resolve, 2));
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + 7));
      offset += 7;
    },
  });
  return Promise.resolve(new Response(body, {status: 200, headers: {'Content-Type': 'text/event-stream'}}));
};
"""


def test_model_output_is_text_never_markup(browser, kiln):
    pieces = ['Here: <img src=x on', 'error="window.__pwned=1">', '<script>window.__pwned=2</scr', 'ipt>',
              '<b>bold</b> &amp; é ✓ ', '<i>']
    open_playground(browser, kiln)
    browser.execute_script(MOCK_CHAT, crafted_stream(kiln, pieces))
    key = hook(browser, "api-key")
    key.send_keys("sk-playground-test")
    hook(browser, "prompt").click()  # leaving the field stores the key
    hook(browser, "prompt").send_keys("Show me some markup")
    hook(browser, "send").click()
    answer = wait_for_answer(browser)

    assert answer == "".join(pieces)
    assert browser.execute_script(
        'return document.querySelectorAll(\'[data-testid="messages"] img, [data-testid="messages"] script,'
        ' [data-testid="messages"] b, [data-testid="messages"] i\').length') == 0
    assert browser.execute_script("return window.__pwned === undefined")
    requests = browser.execute_script("return window.__chatRequests")
    assert len(requests) == 1
    assert requests[0]["headers"]["Authorization"] == "Bearer sk-playground-test"
    assert browser.execute_script("return sessionStorage.getItem('kiln.apiKey')") == "sk-playground-test"
    sent = json.loads(requests[0]["body"])
    assert sent["stream"] is True and sent["model"] == kiln.model and sent["messages"][-1]["role"] == "user"
    assert console_errors(browser) == []
    browser.execute_script("sessionStorage.clear()")


def test_stop_ends_an_answer_midway(browser, kiln):
    open_playground(browser, kiln)
    hook(browser, "prompt").send_keys("Write a long story about a lighthouse keeper.")
    hook(browser, "send").click()
    WebDriverWait(browser, WAIT).until(lambda d: d.execute_script(
        'const answer = document.querySelector(\'[data-testid="messages"] .message.assistant .content\');'
        'return answer !== null && answer.textContent.length > 0;'))
    hook(browser, "stop").click()
    wait_for_answer(browser)
    assert browser.execute_script(
        'return document.querySelector(\'[data-testid="messages"] .message.assistant .note\').textContent') == "Stopped."
    assert hook(browser, "send").is_enabled() and not hook(browser, "stop").is_enabled()
    assert console_errors(browser) == []


# The page's own event-stream parser on what the format allows and Kiln never sends (CRLF and CR
# line ends, comments, multi-line data, fields without a space, a CRLF split between chunks).
PARSE_EVENTS = """
const done = arguments[arguments.length - 1];
import('/playground/api.js').then(({ EventStreamParser }) => {
  const parser = new EventStreamParser();
  const events = [];
  for (const chunk of arguments[0]) events.push(...parser.push(chunk));
  events.push(...parser.finish());
  done(events);
}, (error) => done(String(error)));
"""


def test_event_stream_parser_follows_the_format(browser, kiln):
    open_playground(browser, kiln)
    chunks = [": comment\r\ndata: one\r", "\n\r\nevent: image_generation.completed\rdata:two\rdata:  three\r\r",
              "data: {\"a\": \"é\"}\n\nid: 7\nretry: 1\ndata\n\n", "data: unfinished"]
    events = browser.execute_async_script(PARSE_EVENTS, chunks)
    assert events == [
        {"event": "message", "data": "one"},
        {"event": "image_generation.completed", "data": "two\n three"},
        {"event": "message", "data": "{\"a\": \"é\"}"},
        {"event": "message", "data": ""},
    ]
    assert console_errors(browser) == []


def test_with_api_keys_the_page_loads_and_asks_for_one(browser):
    from conftest import KilnServer
    server = KilnServer("--api-keys", "sk-playground", "--image-model", "none", "--embedding-model", "none",
                        api_key="sk-playground")
    try:
        browser.get(server.base + "/")
        browser.execute_script("sessionStorage.clear()")
        browser.refresh()
        # The page and its modules load without a key; the API answers 401 until one is typed.
        WebDriverWait(browser, WAIT).until(lambda d: "API key" in hook(d, "status").text)
        assert "error" in hook(browser, "status").get_attribute("class")
        errors = console_errors(browser)
        assert errors and all("/v1/models" in entry["message"] and "401" in entry["message"] for entry in errors)
        hook(browser, "api-key").send_keys("sk-playground")
        hook(browser, "prompt").click()
        WebDriverWait(browser, WAIT).until(lambda d: d.execute_script(
            'return document.querySelector(\'[data-testid="model"]\').options.length') == 1)
        assert hook(browser, "model").get_attribute("value") == server.model
        assert hook(browser, "status").text == "1 model served"
        assert console_errors(browser) == []
    finally:
        browser.execute_script("sessionStorage.clear()")
        server.stop()

// The page in a real browser: Debian's chromium, driven by playwright-core,
// against the real server binary on a free loopback port.
//
// Ground truth is this machine's clock: the server reads it too, and Moscow
// is UTC+3 all year, so Moscow time here is Date.now() + 3 h.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { chromium } from "playwright-core";

const BINARY = process.env.MOSCOW_TIME_BIN;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SHOTS = process.env.SCREENSHOT_DIR || "screenshots";
const MOSCOW_MS = 3 * 3600e3;
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1440, height: 900 };

// No network but loopback: none of chromium's own background connections,
// no proxy, and every host name fails to resolve.
const FLAGS = [
  "--no-sandbox", // root in CI
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-default-apps",
  "--no-proxy-server",
  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
];

/** Starts the server binary on 127.0.0.1 and a free port. */
async function startServer() {
  const child = spawn(BINARY, [], {
    env: { ...process.env, HOST: "127.0.0.1", PORT: "0" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  // Kept, not shown: idle connections that chromium opens ahead of time end
  // in header-read timeouts there, which is the server doing its job.
  let errors = "";
  child.stderr.on("data", (chunk) => (errors += chunk));
  const url = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`${BINARY} did not start in 10 s`)), 10_000);
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`${BINARY} exited with ${code}: ${errors}`)));
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const found = out.match(/listening on (http:\/\/\S+)/);
      if (found) {
        clearTimeout(timer);
        resolve(found[1]);
      }
    });
  });
  child.removeAllListeners("exit");
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  };
  return { url, stop };
}

/** Moscow's HH:MM:SS and YYYY-MM-DD at `ms` since the epoch. */
function moscow(ms) {
  const iso = new Date(ms + MOSCOW_MS).toISOString();
  return { hms: iso.slice(11, 19), ymd: iso.slice(0, 10) };
}

/**
 * How far the shown time is from Moscow's now, in ms: the true time minus
 * the middle of the second on display (a perfect clock is within ±500 ms).
 */
async function clockError(page) {
  const start = Date.now();
  const shown = await page.textContent("#time");
  const now = (start + Date.now()) / 2 + MOSCOW_MS;
  const [h, m, s] = shown.split(":").map(Number);
  let error = (now % 86_400_000) - ((h * 3600 + m * 60 + s) * 1000 + 500);
  error = ((error + 43_200_000) % 86_400_000 + 86_400_000) % 86_400_000 - 43_200_000;
  return { shown, error };
}

/** Polls `probe` until it returns something truthy, for at most `ms`. */
async function until(what, probe, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await sleep(50);
  }
}

let server, browser;

before(async () => {
  assert.ok(BINARY, "MOSCOW_TIME_BIN must name the server binary (just test-browser sets it)");
  server = await startServer();
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/**
 * A fresh context (its own empty profile) and page for `origin`. Collects
 * every console error and warning, uncaught error, CSP violation and request
 * that leaves the origin, in `problems`.
 */
async function open(origin, options = {}) {
  const context = await browser.newContext({ viewport: DESKTOP, ...options });
  const problems = [];
  await context.exposeBinding("reportViolation", (_source, text) => problems.push(`CSP: ${text}`));
  await context.addInitScript(() =>
    addEventListener("securitypolicyviolation", (e) =>
      window.reportViolation(`${e.effectiveDirective} blocked ${e.blockedURI || "inline"}`),
    ),
  );
  // Nothing may leave the origin; the guard aborts it and the test fails.
  await context.route((url) => !url.href.startsWith(origin), (route) => {
    problems.push(`request elsewhere: ${route.request().url()}`);
    return route.abort();
  });
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`uncaught: ${e.message}`));
  return { context, page, problems };
}

describe("the page", () => {
  test("the CSP header carries the hashes of the served script and style, and the page is under 6 KiB", async () => {
    const reply = await fetch(server.url);
    const html = await reply.text();
    const policy = reply.headers.get("content-security-policy");
    const hash = (text) => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;
    const [, script] = html.match(/<script>([\s\S]*?)<\/script>/);
    const [, style] = html.match(/<style>([\s\S]*?)<\/style>/);
    const directives = Object.fromEntries(policy.split("; ").map((d) => [d.split(" ")[0], d.split(" ").slice(1).join(" ")]));
    assert.equal(directives["script-src"], hash(script));
    assert.equal(directives["style-src"], hash(style));
    assert.equal(directives["default-src"], "'none'");
    assert.equal(directives["connect-src"], "'self'");
    assert.equal(directives["frame-ancestors"], "'none'");
    assert.doesNotMatch(policy, /unsafe/);
    const bytes = Buffer.byteLength(html);
    assert.ok(bytes < 6 * 1024, `${bytes} bytes`);
    console.log(`# page: ${bytes} bytes`);
  });

  test("the seconds tick on the second and stay within 1 s of Moscow time for 5 s", async () => {
    const { context, page, problems } = await open(server.url);
    await page.goto(server.url);
    await sleep(1000); // loaded and synced
    // Make the page tick() and sync() in the middle of a second: a clock that
    // counts 1000 ms from its last call (setInterval) would then tick half a
    // second late, and fail below.
    await sleep(1500 - (Date.now() % 1000));
    await page.evaluate(() => document.dispatchEvent(new Event("visibilitychange")));
    // Record when each new second appears, by the browser's clock (this
    // machine's, as the server's: no fake clock here).
    await page.evaluate(() => {
      const clock = document.getElementById("time");
      window.ticks = [];
      new MutationObserver(() => window.ticks.push({ text: clock.textContent, at: Date.now() })).observe(clock, {
        childList: true,
        characterData: true,
        subtree: true,
      });
    });
    const seen = new Set();
    const end = Date.now() + 5000;
    while (Date.now() < end) {
      const { shown, error } = await clockError(page);
      assert.ok(Math.abs(error) <= 1000, `shows ${shown}, ${error} ms off`);
      seen.add(shown);
      await sleep(200);
    }
    assert.ok(seen.size >= 5, `only ${[...seen]} in 5 s`);
    const ticks = await page.evaluate(() => window.ticks);
    assert.ok(ticks.length >= 4, `${ticks.length} ticks`);
    // A tick lands just after its second begins (or a hair before: the two
    // clocks agree to a few ms, not exactly); a late timer now and then is
    // the machine, a late median is the page.
    const phases = ticks.map(({ at }) => ((at + 100) % 1000) - 100);
    const report = ticks.map(({ text }, i) => `${text} at +${phases[i]} ms`).join(", ");
    assert.ok([...phases].sort((a, b) => a - b)[phases.length >> 1] < 100, report);
    assert.ok(phases.every((p) => p < 400), report);
    for (const [i, { text }] of ticks.entries()) {
      if (i > 0) assert.equal(text, moscow(Date.parse(`1970-01-01T${ticks[i - 1].text}Z`) + 1000 - MOSCOW_MS).hms, report);
    }
    assert.match(await page.title(), /^\d\d:\d\d:\d\d Moscow time$/);
    assert.equal(await page.textContent("#offset"), "", "clocks agree: no offset line");
    assert.deepEqual(problems, []);
    await context.close();
  });

  test("with the visitor's clock 1 h 7 s ahead, it shows Moscow time and says how far off that clock is", async () => {
    const { context, page, problems } = await open(server.url);
    await context.clock.install({ time: Date.now() + 3_607_000 });
    await page.goto(server.url);
    const note = await until("an offset line", async () => page.textContent("#offset"));
    assert.equal(note, "Your clock is 1 h 7 s ahead");
    for (let i = 0; i < 5; i++) {
      const { shown, error } = await clockError(page);
      assert.ok(Math.abs(error) <= 1000, `shows ${shown}, ${error} ms off`);
      await sleep(300);
    }
    // The visitor's clock is set, now 2 min 14 s behind: the page notices the
    // jump against the monotonic clock and measures again.
    await context.clock.setSystemTime(Date.now() - 134_000);
    await until("the new offset", async () => (await page.textContent("#offset")) === "Your clock is 2 min 14 s behind");
    const { shown, error } = await clockError(page);
    assert.ok(Math.abs(error) <= 1000, `shows ${shown}, ${error} ms off`);
    assert.deepEqual(problems, []);
    await context.close();
  });

  test("it measures again when the tab becomes visible", async () => {
    const { context, page, problems } = await open(server.url);
    await context.clock.install({ time: Date.now() - 5_000 });
    await page.goto(server.url);
    await until("an offset line", async () => (await page.textContent("#offset")) === "Your clock is 5 s behind");
    // Make every later sample say the server's clock jumped 10 s ahead...
    await page.route("**/api/time", async (route) => {
      const reply = await route.fetch();
      const body = await reply.json();
      await route.fulfill({ response: reply, json: { ...body, unix_ms: body.unix_ms + 10_000 } });
    });
    // ...which the page only learns when it asks: on becoming visible.
    await page.evaluate(() => document.dispatchEvent(new Event("visibilitychange")));
    await until("the new offset", async () => (await page.textContent("#offset")) === "Your clock is 15 s behind");
    assert.deepEqual(problems, []);
    await context.close();
  });

  test("with JavaScript disabled it shows the server-rendered time, laid out as with the script", async () => {
    const layouts = [];
    for (const javaScriptEnabled of [false, true]) {
      for (const viewport of [PHONE, DESKTOP]) {
        const { context, page, problems } = await open(server.url, { javaScriptEnabled, viewport });
        await page.goto(server.url);
        const { shown, error } = await clockError(page);
        assert.ok(Math.abs(error) <= 1000, `shows ${shown}, ${error} ms off`);
        assert.equal(await page.getAttribute("#date", "datetime"), moscow(Date.now()).ymd);
        assert.match(await page.title(), /^\d\d:\d\d:\d\d Moscow time$/);
        if (!javaScriptEnabled) {
          // A photograph: a second and a half later it still shows the same.
          await sleep(1500);
          assert.equal(await page.textContent("#time"), shown, "ticks without JavaScript?");
        }
        layouts.push(
          await page.evaluate(() =>
            ["h1", "#time", "#date", ".zone", "#offset"].map((sel) => {
              const r = document.querySelector(sel).getBoundingClientRect();
              return `${sel} ${Math.round(r.x)},${Math.round(r.y)} ${Math.round(r.width)}x${Math.round(r.height)}`;
            }),
          ),
        );
        assert.deepEqual(problems, []);
        await context.close();
      }
    }
    // The same boxes with and without the script, at both widths.
    assert.deepEqual(layouts.slice(2), layouts.slice(0, 2));
  });

  test("the date rolls over at 00:00 Moscow time", async () => {
    const { context, page, problems } = await open(server.url);
    // The visitor's clock and the server's both read 23:59:57.5 on New Year's
    // Eve: the browser's by Playwright's clock, the server's by shifting what
    // it answers on /api/time by the same amount. Page, script and headers are
    // the real ones.
    const eve = Date.parse("2026-12-31T23:59:57.500+03:00");
    const shift = eve - Date.now();
    await context.clock.install({ time: eve });
    await page.route("**/api/time", async (route) => {
      const reply = await route.fetch();
      const body = await reply.json();
      await route.fulfill({ response: reply, json: { ...body, unix_ms: body.unix_ms + shift } });
    });
    await page.goto(server.url);
    await until("New Year's Eve", async () => (await page.textContent("#date")) === "Thursday, 31 December 2026");
    assert.match(await page.textContent("#time"), /^23:59:5[789]$/);
    await until("midnight", async () => (await page.textContent("#time")).startsWith("00:00:0"));
    assert.equal(await page.textContent("#date"), "Friday, 1 January 2027");
    assert.equal(await page.getAttribute("#date", "datetime"), "2027-01-01");
    assert.match(await page.title(), /^00:00:0\d Moscow time$/);
    assert.equal(await page.textContent("#offset"), "", "both clocks read the same");
    assert.deepEqual(problems, []);
    await context.close();
  });

  test("it keeps ticking when the server is gone", async () => {
    const own = await startServer();
    const { context, page, problems } = await open(own.url);
    await page.goto(own.url);
    await sleep(300); // the first sync
    await own.stop();
    await page.evaluate(() => document.dispatchEvent(new Event("visibilitychange")));
    const seen = new Set();
    for (let i = 0; i < 12; i++) {
      const { shown, error } = await clockError(page);
      assert.ok(Math.abs(error) <= 1000, `shows ${shown}, ${error} ms off`);
      seen.add(shown);
      await sleep(250);
    }
    assert.ok(seen.size >= 3, `only ${[...seen]} in 3 s`);
    // The failed requests are logged as such; nothing else went wrong.
    const others = problems.filter((p) => !/Failed to load resource: net::ERR_CONNECTION_REFUSED/.test(p));
    assert.ok(problems.length > others.length, "the sync did try the server");
    assert.deepEqual(others, []);
    await context.close();
  });

  test("the CSP is enforced: a script edited without its hash does not run", async () => {
    const { context, page, problems } = await open(server.url);
    // The real page and headers, with one character of the script changed.
    await page.route(server.url, async (route) => {
      const reply = await route.fetch();
      const html = (await reply.text()).replace("Ticks on", "Ticks at");
      await route.fulfill({ response: reply, body: html });
    });
    await page.goto(server.url);
    await sleep(1500);
    assert.ok(problems.some((p) => p.startsWith("CSP: script-src-elem blocked inline")), problems.join("\n"));
    assert.equal(await page.evaluate(() => document.documentElement.className), "", "the script ran");
    await context.close();
  });

  test("animation only without prefers-reduced-motion", async () => {
    for (const [reducedMotion, expected] of [["no-preference", "beat"], ["reduce", "none"]]) {
      const { context, page, problems } = await open(server.url, { reducedMotion });
      await page.goto(server.url);
      const name = await page.evaluate(() => getComputedStyle(document.querySelector("h1"), "::before").animationName);
      assert.equal(name, expected, reducedMotion);
      assert.deepEqual(problems, []);
      await context.close();
    }
  });

  test("readable from a narrow phone to a wall screen: nothing overflows, the clock grows", async () => {
    let last = 0;
    for (const viewport of [{ width: 320, height: 568 }, PHONE, { width: 844, height: 390 }, DESKTOP, { width: 3840, height: 2160 }]) {
      const { context, page, problems } = await open(server.url, { viewport });
      await page.goto(server.url);
      const { scroll, clock } = await page.evaluate(() => {
        const r = document.getElementById("time").getBoundingClientRect();
        const e = document.scrollingElement;
        return { scroll: [e.scrollWidth - e.clientWidth, e.scrollHeight - e.clientHeight], clock: [r.left, r.right, r.height] };
      });
      const size = `${viewport.width}x${viewport.height}`;
      assert.deepEqual(scroll, [0, 0], `${size} scrolls`);
      assert.ok(clock[0] >= 0 && clock[1] <= viewport.width, `${size}: the clock is cut off (${clock})`);
      if (viewport.width > 844) assert.ok(clock[2] > last, `${size}: the clock does not grow`);
      last = clock[2];
      assert.deepEqual(problems, []);
      await context.close();
    }
  });

  test("a screen reader finds the time and a polite status line, and nothing that speaks every second", async () => {
    const { context, page, problems } = await open(server.url);
    await context.clock.install({ time: Date.now() + 134_000 });
    await page.goto(server.url);
    await until("an offset line", async () => page.textContent("#offset"));
    const tree = await page.locator("main").ariaSnapshot();
    assert.match(tree, /heading "Moscow time" \[level=1\]/);
    assert.match(tree, /time: \d\d:\d\d:\d\d/);
    assert.match(tree, /status: Your clock is 2 min 14 s ahead/);
    const live = await page.evaluate(() =>
      [...document.querySelectorAll("[aria-live], [role]")].map((e) => e.id + " " + (e.getAttribute("role") || e.getAttribute("aria-live"))),
    );
    assert.deepEqual(live, ["offset status"], "only the offset line is live");
    assert.deepEqual(problems, []);
    await context.close();
  });

  test("screenshots: phone and desktop, light and dark", async () => {
    await mkdir(SHOTS, { recursive: true });
    for (const [name, viewport] of [["phone", PHONE], ["desktop", DESKTOP]]) {
      for (const colorScheme of ["light", "dark"]) {
        // Reduced motion: the dot is caught whole, not halfway through its beat.
        const options = { viewport, colorScheme, reducedMotion: "reduce", deviceScaleFactor: name === "phone" ? 2 : 1 };
        const { context, page, problems } = await open(server.url, options);
        // A visitor whose clock is 2 min 14 s ahead, so the offset line shows.
        await context.clock.install({ time: Date.now() + 134_000 });
        await page.goto(server.url);
        await until("an offset line", async () => page.textContent("#offset"));
        const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
        assert.equal(background, colorScheme === "dark" ? "rgb(14, 16, 20)" : "rgb(244, 241, 234)", colorScheme);
        await page.screenshot({ path: `${SHOTS}/page-${name}-${colorScheme}.png` });
        assert.deepEqual(problems, []);
        await context.close();
      }
    }
  });
});

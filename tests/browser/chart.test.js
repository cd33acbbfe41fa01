// The size chart (media/sizes.svg, drawn by scripts/sizes-chart.awk) in
// headless chromium: at every width a reader may see it, each text lies
// inside the chart, so no label or footer is cut off.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { chromium } from "playwright-core";

const ROOT = new URL("../../", import.meta.url).pathname;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
// A phone, a narrow column, GitHub's README column, and wider than drawn.
const WIDTHS = [320, 390, 830, 1280];

/** The chart scripts/sizes-chart.awk draws from NAME|BYTES|GZIP rows. */
function draw(rows, title, footer) {
  return execFileSync("awk", ["-f", `${ROOT}scripts/sizes-chart.awk`, "-v", `title=${title}`, "-v", `footer=${footer}`], {
    input: rows.map((r) => r.join("|")).join("\n") + "\n",
  }).toString();
}

/**
 * Every <text> of `svg` drawn `width` px wide whose box leaves the chart's:
 * [{ text, box }] with the box in CSS px, relative to the chart's.
 */
async function clipped(page, svg, width) {
  await page.setContent(`<!doctype html><body style="margin:0">
    <div style="width:${width}px">${svg}</div></body>`);
  return page.evaluate(() => {
    const chart = document.querySelector("svg");
    chart.style.width = "100%"; // as an <img> with max-width: 100% scales it
    chart.style.height = "auto";
    const outer = chart.getBoundingClientRect();
    const out = [];
    for (const t of chart.querySelectorAll("text")) {
      const b = t.getBoundingClientRect();
      const slack = 0.5;
      if (b.left < outer.left - slack || b.right > outer.right + slack || b.top < outer.top - slack || b.bottom > outer.bottom + slack) {
        out.push({ text: t.textContent, box: [b.left - outer.left, b.top - outer.top, b.right - outer.left, b.bottom - outer.top].map(Math.round) });
      }
    }
    return out;
  });
}

describe("the size chart", () => {
  let browser, page;
  before(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
    page = await browser.newPage();
  });
  after(async () => browser?.close());

  const committed = readFileSync(`${ROOT}media/sizes.svg`, "utf8");

  for (const width of WIDTHS) {
    test(`media/sizes.svg at ${width} px: every text inside the chart`, async () => {
      assert.ok((committed.match(/<text/g) || []).length > 10, "the chart has its labels");
      assert.deepEqual(await clipped(page, committed, width), []);
    });
  }

  test("a chart of long names and a long footer: every text inside it", async () => {
    const svg = draw(
      [
        ["registry.example.com/a/very/long/repository/moscow-time:distroless-arm64", "35620000", "8910000"],
        ["scratch-amd64", "900000", "430000"],
        ["lab: Python on distroless", "107000000", ""],
      ],
      "a title long enough to need more than the bars need, log scale (MB = 1,000,000 bytes)",
      "Bases: " + "localhost/moscow-time-stand-in/distroless-cc:debian12-amd64 ".repeat(6),
    );
    for (const width of WIDTHS) assert.deepEqual(await clipped(page, svg, width), [], `at ${width} px`);
  });

  test("the check itself fails on a label moved off the chart (mutant)", async () => {
    const mutant = committed.replace(/<text x="[0-9.]+"/, '<text x="-120"');
    assert.notEqual(mutant, committed);
    assert.equal((await clipped(page, mutant, 830)).length, 1);
  });
});

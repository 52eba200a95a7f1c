// Drive headless Chromium through the blue-green skew scenario (tests/test_bluegreen_browser.py).
//
// usage: node bluegreen.mjs URL USER_DATA_DIR
// Opens URL (a page of build A), prints {"opened": ..., "deploymentId": ...} and waits for a
// line on stdin (the test deploys build B meanwhile: A stays warm). Then runs the page's Server
// Action, navigates client-side to the lazy page (an RSC request, then A's lazy chunk), and
// prints {"action": ..., "lazy": ..., "chart": bool, "url": ..., "failed": [...]} with every
// failed request and page error. Every wait is bounded.
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const [url, userDataDir] = process.argv.slice(2);
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
});
const failed = [];
const page = context.pages()[0] ?? (await context.newPage());
page.on("response", (r) => {
  if (r.status() >= 400) failed.push(`${r.status()} ${new URL(r.url()).pathname}`);
});
// A request the page itself cancels (the router dropping a prefetch when it navigates) is
// net::ERR_ABORTED: not an answer that failed. A reset, refused or empty answer still counts.
page.on("requestfailed", (r) => {
  const why = r.failure()?.errorText ?? "";
  if (why !== "net::ERR_ABORTED") failed.push(`failed ${new URL(r.url()).pathname} ${why}`);
});
page.on("pageerror", (e) => failed.push(`pageerror ${e.name}: ${e.message.split("\n")[0]}`));
let navigations = 0; // full document loads (a hard navigation), not client-side ones
page.on("load", () => {
  navigations += 1;
});

const say = (data) => process.stdout.write(`${JSON.stringify(data)}\n`);
try {
  await page.goto(url, { waitUntil: "networkidle", timeout: 60000 });
  await page.waitForSelector("#action", { timeout: 30000 });
  // Next marks the page with its deployment id, and its asset URLs with ?dpl=.
  const dpl = await page.evaluate(() => {
    const marked = document.querySelector("[data-dpl-id]")?.getAttribute("data-dpl-id");
    const src = [...document.scripts].map((s) => s.src).find((s) => s.includes("dpl="));
    return marked ?? (src ? new URL(src).searchParams.get("dpl") : null);
  });
  say({ opened: await page.textContent("#version"), deploymentId: dpl });
  const lines = createInterface({ input: process.stdin });
  await new Promise((resolve) => lines.once("line", resolve));
  lines.close();
  const loadsBefore = navigations;
  await page.click("#action");
  let action = null;
  try {
    await page.waitForFunction(
      () => document.querySelector("#action-result")?.textContent,
      null,
      { timeout: 15000 },
    );
    action = await page.textContent("#action-result");
  } catch {
    action = null;
  }
  await page.click("text=Open the lazy page");
  let lazy = null;
  let chart = false;
  try {
    lazy = await (await page.waitForSelector("h1", { timeout: 15000 })).textContent();
    await page.waitForSelector("#chart", { timeout: 15000 });
    chart = true;
    lazy = await page.textContent("h1");
  } catch {
    chart = false;
  }
  say({ action, lazy, chart, url: page.url(), hardLoads: navigations - loadsBefore, failed });
} finally {
  await context.close();
}

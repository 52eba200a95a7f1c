// Drive headless Chromium through the blue-green skew scenario (tests/test_bluegreen_browser.py).
//
// usage: node bluegreen.mjs URL USER_DATA_DIR
// Opens URL (a page of build A), prints {"opened": ..., "deploymentId": ...} and waits for a
// line on stdin (the test deploys build B meanwhile: A stays warm). Then runs the page's Server
// Action, navigates client-side to the lazy page (an RSC request, then A's lazy chunk), and
// prints {"action": ..., "lazy": ..., "chart": bool, "url": ..., "failed": [...]} with every
// failed request and page error. Every wait is bounded.
import { nextLine, openBrowser, say } from "./chromium.mjs";

const [url, userDataDir] = process.argv.slice(2);
const { context, page, failed } = await openBrowser(userDataDir);
let navigations = 0; // full document loads (a hard navigation), not client-side ones
page.on("load", () => {
  navigations += 1;
});

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
  await nextLine();
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

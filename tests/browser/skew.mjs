// Drive headless Chromium through one version-skew scenario (tests/test_skew_browser.py).
//
// usage: node skew.mjs URL USER_DATA_DIR
// Opens URL, prints {"opened": ...} and waits for a line on stdin (the test deploys and switches
// to a new build meanwhile), then performs the client-side navigation that renders the lazy
// panel and prints {"panel": text or null, "failed": [...]} with every failed static request and
// page error. Exits by itself: every wait is bounded.
import { nextLine, openBrowser, say } from "./chromium.mjs";

const [url, userDataDir] = process.argv.slice(2);
const { context, page, failed } = await openBrowser(userDataDir);

try {
  await page.goto(url, { waitUntil: "networkidle", timeout: 60000 });
  await page.waitForSelector("#open", { timeout: 30000 });
  const dpl = await page.evaluate(() => globalThis.NEXT_DEPLOYMENT_ID ?? null);
  say({ opened: await page.title(), deploymentId: dpl });
  await nextLine();
  await page.click("#open");
  let panel = null;
  try {
    panel = await (await page.waitForSelector("#panel", { timeout: 15000 })).textContent();
  } catch {
    panel = null; // the chunk never arrived: what `failed` shows
  }
  say({ panel, url: page.url(), failed });
} finally {
  await context.close();
}

// Drive headless Chromium through one version-skew scenario (tests/test_skew_browser.py).
//
// usage: node skew.mjs URL USER_DATA_DIR
// Opens URL, prints {"opened": ...} and waits for a line on stdin (the test deploys and switches
// to a new build meanwhile), then performs the client-side navigation that renders the lazy
// panel and prints {"panel": text or null, "failed": [...]} with every failed static request and
// page error. Exits by itself: every wait is bounded.
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
page.on("requestfailed", (r) => failed.push(`failed ${new URL(r.url()).pathname}`));
page.on("pageerror", (e) => failed.push(`pageerror ${e.name}: ${e.message.split("\n")[0]}`));

const say = (data) => process.stdout.write(`${JSON.stringify(data)}\n`);
try {
  await page.goto(url, { waitUntil: "networkidle", timeout: 60000 });
  await page.waitForSelector("#open", { timeout: 30000 });
  const dpl = await page.evaluate(() => globalThis.NEXT_DEPLOYMENT_ID ?? null);
  say({ opened: await page.title(), deploymentId: dpl });
  const lines = createInterface({ input: process.stdin });
  await new Promise((resolve) => lines.once("line", resolve));
  lines.close();
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

// Headless Chromium in a canary (tests/test_canary_e2e.py): a visitor holding a given bucket.
//
// usage: node canary.mjs URL USER_DATA_DIR COOKIE BUCKET
// Sets the sticky bucket cookie COOKIE=BUCKET (as nginx would have on an earlier visit), opens
// URL, runs the page's Server Action, and prints {"version": the page's build, "action": the
// action's answer ("<version> <release>"), "cookie": the cookie's value afterwards, "failed":
// [...] every failed request and page error}. Every wait is bounded.
import { openBrowser, say } from "./chromium.mjs";

const [url, userDataDir, cookie, bucket] = process.argv.slice(2);
const { context, page, failed } = await openBrowser(userDataDir);

try {
  await context.addCookies([{ name: cookie, value: bucket, url }]);
  await page.goto(url, { waitUntil: "networkidle", timeout: 60000 });
  await page.waitForSelector("#action", { timeout: 30000 });
  const version = await page.textContent("#version");
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
  const kept = (await context.cookies(url)).find((c) => c.name === cookie)?.value ?? null;
  say({ version, action, cookie: kept, failed });
} finally {
  await context.close();
}

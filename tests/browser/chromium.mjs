// Headless Chromium for the browser tests: one page, and every request that failed on it.
//
// `failed` collects answers >= 400, requests that got no answer (reset, refused, empty) and page
// errors. A request the page cancels itself (the router dropping a prefetch when it navigates)
// is net::ERR_ABORTED: not an answer that failed, so it is not collected.
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

export async function openBrowser(userDataDir) {
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
  page.on("requestfailed", (r) => {
    const why = r.failure()?.errorText ?? "";
    if (why !== "net::ERR_ABORTED") failed.push(`failed ${new URL(r.url()).pathname} ${why}`);
  });
  page.on("pageerror", (e) => failed.push(`pageerror ${e.name}: ${e.message.split("\n")[0]}`));
  return { context, page, failed };
}

// One JSON object per line on stdout: what the test reads.
export const say = (data) => process.stdout.write(`${JSON.stringify(data)}\n`);

// Wait for the test to say (one line on stdin) that it has done its part.
export async function nextLine() {
  const lines = createInterface({ input: process.stdin });
  await new Promise((resolve) => lines.once("line", resolve));
  lines.close();
}

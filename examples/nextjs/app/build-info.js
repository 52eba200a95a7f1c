import { readFileSync } from "node:fs";
import path from "node:path";

// Read at request time from the directory the worker runs in (PM2 starts it in the deploy
// root's `current` path, which the kernel resolves to the release the worker started in).
export function buildInfo() {
  let buildId = "unknown";
  try {
    buildId = readFileSync(path.join(process.cwd(), ".next", "BUILD_ID"), "utf8").trim();
  } catch {
    // a build directory without BUILD_ID (never in production): say so instead of failing
  }
  return {
    version: process.env.APP_VERSION,
    release: process.env.RELEASE_ID,
    buildId,
    pid: process.pid,
  };
}

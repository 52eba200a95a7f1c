import { CRASH_AFTER_SECONDS } from "./faults.mjs";

// Next calls register() once when a server process starts. The injected crash (faults.mjs)
// arms only in a process PM2 runs (PM2 sets pm_id), never in `next build`.
export function register() {
  if (CRASH_AFTER_SECONDS > 0 && process.env.NEXT_RUNTIME === "nodejs" && "pm_id" in process.env) {
    setTimeout(() => {
      console.error("injected fault (faults.mjs CRASH_AFTER_SECONDS): exiting");
      process.exit(1);
    }, CRASH_AFTER_SECONDS * 1000).unref();
  }
}

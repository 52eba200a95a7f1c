// Faults an end-to-end test injects into its own copy of this source before a deploy
// (examples/nextjs_stack.py set_faults; tests/test_canary_e2e.py). Both 0: a healthy app.
// FAIL_ONE_IN: the page `/` throws (answers 500) on one page view in this many, per worker.
export const FAIL_ONE_IN = 0;
// CRASH_AFTER_SECONDS: each server process PM2 runs exits this long after it started, so PM2
// restarts it again and again (a crash loop that begins after the health check passed).
export const CRASH_AFTER_SECONDS = 0;

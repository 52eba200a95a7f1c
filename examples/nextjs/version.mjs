// The label the demo changes between deploys (v1 -> v2 -> v3): every response carries it in the
// `x-app-version` header (next.config.mjs) and the pages show it, so the load generator can
// tell which build answered each request.
export const VERSION = "v1";

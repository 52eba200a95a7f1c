import { VERSION } from "./version.mjs";

// RELEASE_ID is set by `releases deploy` for its build commands; the "old way" build (one app
// directory rebuilt in place) has none.
const releaseId = process.env.RELEASE_ID || "in-place";

/** @type {import('next').NextConfig} */
const nextConfig = {
  // The "old way" builds into `.next.new` next to the live `.next` and then renames it.
  distDir: process.env.NEXT_DIST_DIR || ".next",
  // The build id is the release id, so a page and its assets name the release that built them.
  generateBuildId: async () => (process.env.RELEASE_ID ? `release-${releaseId}` : null),
  env: { RELEASE_ID: releaseId, APP_VERSION: VERSION },
  poweredByHeader: false,
  async headers() {
    // Baked in at build time: every response names the build that served it.
    return [
      {
        source: "/:path*",
        headers: [
          { key: "x-app-version", value: VERSION },
          { key: "x-release-id", value: releaseId },
        ],
      },
    ];
  },
};

export default nextConfig;

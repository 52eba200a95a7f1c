// PM2 process file for the example (cluster mode, 2 workers).
//
// Environment (all optional):
//   RELEASES_ROOT  the deploy root; default: the one this file was deployed into (Node resolves
//                  `current/ecosystem.config.js` to `releases/<id>/ecosystem.config.js`)
//   APP_CWD        run somewhere else instead (the "old way" comparison: one app directory)
//   APP_NAME, APP_PORT (default 3000)
const path = require("node:path");

const root = process.env.RELEASES_ROOT || path.resolve(__dirname, "..", "..");

module.exports = {
  apps: [
    {
      name: process.env.APP_NAME || "releases-nextjs",
      // The `current` symlink path, never its resolved target: each new worker started by
      // `pm2 reload` chdirs through the link and so runs the release that is live right now.
      cwd: process.env.APP_CWD || path.join(root, "current"),
      // Relative to cwd, so the worker loads the `next` that belongs to its own release.
      script: "node_modules/next/dist/bin/next",
      args: `start -p ${process.env.APP_PORT || "3000"}`,
      exec_mode: "cluster",
      instances: 2,
      // `next start` never calls process.send("ready"), so PM2 treats a worker as up when it
      // listens. wait_ready would make PM2 wait out all of listen_timeout for every worker and
      // widen the window in which old and new builds serve side by side, so it stays off.
      // listen_timeout only caps how long PM2 waits for that listen (a cold start under load
      // with a build running took up to ~3 s here): 10 s is generous, and hitting it only
      // means PM2 moves on without the worker confirmed.
      listen_timeout: 10000,
      // Time from SIGINT to SIGKILL of an old worker. Next answers SIGINT by closing idle
      // connections and finishing in-flight requests; a connection that stays busy keeps the
      // old worker (and the OLD release) answering until this runs out. 5 s covers the slowest
      // page render by far and bounds the two-build overlap to a few seconds.
      kill_timeout: 5000,
      autorestart: true,
      env: { NODE_ENV: "production" },
    },
  ],
};

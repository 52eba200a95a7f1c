import Link from "next/link";
import ActionButton from "./action-button";
import { FAIL_ONE_IN } from "../faults.mjs";
import { buildInfo } from "./build-info";

// Rendered per request, so every page view is served by a live worker (not a cached file).
export const dynamic = "force-dynamic";

let views = 0; // page views this worker rendered (for the injected fault, faults.mjs)

export default function Home() {
  views += 1;
  if (FAIL_ONE_IN > 0 && views % FAIL_ONE_IN === 0) {
    throw new Error(`injected fault (faults.mjs FAIL_ONE_IN): page view ${views}`);
  }
  const info = buildInfo();
  return (
    <main>
      <h1>
        Version <span id="version">{info.version}</span>
      </h1>
      <p>
        release <code id="release">{info.release}</code>, build id{" "}
        <code id="build-id">{info.buildId}</code>, worker pid {info.pid}
      </p>
      <p>
        <Link href="/lazy">Open the lazy page</Link> (client-side navigation; loads a chunk on
        demand) · <a href="/api/version">/api/version</a>
      </p>
      <ActionButton />
    </main>
  );
}

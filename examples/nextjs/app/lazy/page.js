"use client";

import dynamic from "next/dynamic";
import Link from "next/link";

// Split into its own chunk and fetched only when this page renders in the browser: the kind of
// request that fails with a 404 when the old and new builds' assets are not both reachable.
const Chart = dynamic(() => import("./chart"), {
  ssr: false,
  loading: () => <p>loading the chart chunk...</p>,
});

export default function LazyPage() {
  return (
    <main>
      <h1>Lazy page (version {process.env.APP_VERSION})</h1>
      <Chart />
      <Link href="/">Back</Link>
    </main>
  );
}

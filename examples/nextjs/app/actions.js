"use server";

// A Server Action that says which build ran it: during a blue-green grace window, a page of the
// old build sends its deployment id with the action and nginx routes it to the old release.
export async function whichBuild() {
  return `${process.env.APP_VERSION} ${process.env.RELEASE_ID}`;
}

// setup() helpers: the GPT users a scenario's virtual users act as.

import { fail } from "k6";

import { runId, theApp, thePeople } from "./accounts.js";
import { appSignIn, signIn } from "./tokens.js";

// `count` people of one app, each signed in through the full OAuth flow.
export function signedInUsers(count) {
  if (count < 1) {
    fail("LOAD_USERS must be at least 1");
  }
  const run = runId();
  const app = theApp(run);
  return { users: thePeople(run, count).map((person) => signIn(app, person)) };
}

// One app acting for itself, with its per-app (and per-user) limits when setup creates it.
export function appOnlyUser(limits = {}) {
  return { users: [appSignIn(theApp(runId(), limits))] };
}

// Virtual users take turns at the signed-in users: VU n acts as user n (mod their number),
// so several VUs may be one busy person with several conversations open.
export function userOf(data) {
  return data.users[(__VU - 1) % data.users.length];
}

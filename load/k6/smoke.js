// SMOKE: does every endpoint work, end to end, with real tokens? A couple of GPT users for
// ~15 s; each iteration is the whole life of one memory: save it (202), wait for the worker to
// store it, find it, list it, read it, delete it, see it gone. Run in CI on every change.
//
//   make k6-smoke

import { check, sleep } from "k6";

import { ENDPOINTS, finishedJob, get, getGone, list, remove, search, write } from "./lib/api.js";
import { JOB_WAIT_SECONDS, RUN_OPTIONS, THINK_TIME, shape } from "./lib/config.js";
import { steady } from "./lib/stages.js";
import { everyEndpointCalled, thresholdsFor } from "./lib/thresholds.js";
import { newFact } from "./lib/traffic.js";
import { signedInUsers, userOf } from "./lib/users.js";

const SCENARIO = "smoke";
const size = shape({ vus: 2, users: 2, duration: "15s" });

export const options = {
  scenarios: { [SCENARIO]: steady(size.vus, size.duration) },
  thresholds: {
    // Nothing may fail in a smoke test, and every endpoint must have been called.
    ...thresholdsFor(SCENARIO, ENDPOINTS, { errorRate: 0, checksRate: 1 }),
    ...everyEndpointCalled(SCENARIO, ENDPOINTS),
  },
  ...RUN_OPTIONS,
};

export function setup() {
  return signedInUsers(size.users);
}

const includes = (memories, id) => memories.some((memory) => memory.id === id);

// The whole life of one memory, as one GPT user sees it.
function lifeOfAMemory(user) {
  const content = newFact();
  const accepted = write(user, content);
  const state = accepted && finishedJob(user, accepted.job_id, JOB_WAIT_SECONDS);
  const stored = check(state, {
    [`write: stored within ${JOB_WAIT_SECONDS}s`]: (s) =>
      s?.status === "succeeded" && !!s.memory_id,
  });
  if (!stored) {
    return;
  }
  const memoryId = state.memory_id;

  const found = search(user, content);
  check(found, {
    "search: finds the new memory": (b) => b !== null && includes(b.results, memoryId),
  });
  // Other virtual users may be the same person: the new memory is on the first page, not
  // necessarily first.
  const page = list(user, 50);
  check(page, {
    "list: includes the new memory": (b) => b !== null && includes(b.items, memoryId),
  });
  const memory = get(user, memoryId);
  check(memory, { "get: has the saved content": (b) => b !== null && b.content === content });
  remove(user, memoryId);
  getGone(user, memoryId);
}

export default function (data) {
  lifeOfAMemory(userOf(data));
  sleep(THINK_TIME);
}

// SOAK: a steady, moderate load for about ten minutes — long enough for leaks, growing
// queues, exhausted pools or slow drifts to show in the tail latency and the error rate,
// short enough to run before a release.
//
//   make k6 SCENARIO=soak                       50 VUs over 25 users, 1 m ramps, 8 m hold

import { shape } from "./lib/config.js";
import { plateau } from "./lib/stages.js";
import { conversationIteration, conversationOptions, usersWithMemories } from "./lib/traffic.js";

const SCENARIO = "soak";
const size = shape({ vus: 50, users: 25, duration: "8m", ramp: "1m" });

export const options = conversationOptions(SCENARIO, plateau(size.vus, size.ramp, size.duration));

export function setup() {
  return usersWithMemories(size.users);
}

export default conversationIteration;

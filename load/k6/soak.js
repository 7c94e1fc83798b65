// SOAK: a steady, moderate load for about ten minutes — long enough for leaks, growing
// queues, exhausted pools or slow drifts to show in the tail latency and the error rate,
// short enough to run before a release.
//
//   make k6 SCENARIO=soak                       50 VUs over 25 users, 1 m ramps, 8 m hold

import { RUN_OPTIONS, shape } from "./lib/config.js";
import { plateau } from "./lib/stages.js";
import { thresholdsFor } from "./lib/thresholds.js";
import { TRAFFIC_ENDPOINTS, conversationTurn, usersWithMemories } from "./lib/traffic.js";
import { userOf } from "./lib/users.js";

const SCENARIO = "soak";
const size = shape({ vus: 50, users: 25, duration: "8m", ramp: "1m" });

export const options = {
  scenarios: { [SCENARIO]: plateau(size.vus, size.ramp, size.duration) },
  thresholds: thresholdsFor(SCENARIO, TRAFFIC_ENDPOINTS),
  ...RUN_OPTIONS,
};

export function setup() {
  return usersWithMemories(size.users);
}

export default function (data) {
  conversationTurn(userOf(data));
}

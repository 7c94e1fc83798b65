// SPIKE: a baseline of GPT users, a sudden jump (a GPT featured somewhere), then back to the
// baseline. Judged over the whole run, recovery included; the limits are looser than the load
// test's, because a spike may slow things down — it must not break them.
//
//   make k6 SCENARIO=spike                      20 VUs for 1 min, 400 for 1 min, 20 for 1 min

import { RUN_OPTIONS, number, shape } from "./lib/config.js";
import { spike } from "./lib/stages.js";
import { thresholdsFor } from "./lib/thresholds.js";
import { TRAFFIC_ENDPOINTS, conversationTurn, usersWithMemories } from "./lib/traffic.js";
import { userOf } from "./lib/users.js";

const SCENARIO = "spike";
const size = shape({ vus: 20, users: 50, duration: "1m", ramp: "1m" });
const peak = number("LOAD_SPIKE_VUS", 400);

export const options = {
  scenarios: { [SCENARIO]: spike(size.vus, peak, size.duration, size.ramp) },
  thresholds: thresholdsFor(SCENARIO, TRAFFIC_ENDPOINTS, { p95: 2000, p99: 5000, errorRate: 0.05 }),
  ...RUN_OPTIONS,
};

export function setup() {
  return usersWithMemories(size.users);
}

export default function (data) {
  conversationTurn(userOf(data));
}

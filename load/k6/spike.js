// SPIKE: a baseline of GPT users, a sudden jump (a GPT featured somewhere), then back to the
// baseline. Judged over the whole run, recovery included; the limits are looser than the load
// test's, because a spike may slow things down — it must not break them.
//
//   make k6 SCENARIO=spike                      20 VUs for 1 min, 400 for 1 min, 20 for 1 min

import { number, shape } from "./lib/config.js";
import { spike } from "./lib/stages.js";
import { conversationIteration, conversationOptions, usersWithMemories } from "./lib/traffic.js";

const SCENARIO = "spike";
const size = shape({ vus: 20, users: 50, duration: "1m", ramp: "1m" });
const peak = number("LOAD_SPIKE_VUS", 400);

export const options = conversationOptions(
  SCENARIO,
  spike(size.vus, peak, size.duration, size.ramp),
  { p95: 2000, p99: 5000, errorRate: 0.05 },
);

export function setup() {
  return usersWithMemories(size.users);
}

export default conversationIteration;

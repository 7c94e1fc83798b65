// LOAD: the traffic expected in production — many GPT users at once, each conversation
// mostly searching (70 %), sometimes saving a memory (20 %), now and then listing and reading
// one (10 %). Ramp up, hold (the part that is judged), ramp down.
//
//   make k6 SCENARIO=load                       200 VUs over 50 users, 5 min plateau
//   make k6 SCENARIO=load LOAD_VUS=50 LOAD_DURATION=1m

import { shape } from "./lib/config.js";
import { plateau } from "./lib/stages.js";
import { conversationIteration, conversationOptions, usersWithMemories } from "./lib/traffic.js";

const SCENARIO = "load";
const size = shape({ vus: 200, users: 50, duration: "5m", ramp: "1m" });

export const options = conversationOptions(SCENARIO, plateau(size.vus, size.ramp, size.duration));

export function setup() {
  return usersWithMemories(size.users);
}

export default conversationIteration;

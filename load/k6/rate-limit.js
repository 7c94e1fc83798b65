// RATE LIMIT: one app driven past its per-app limit. Exactly LOAD_RATE_LIMIT calls a minute
// get through; the rest are refused with 429, a Retry-After that ChatGPT can honour and the
// RateLimit-* headers — and refusing stays cheap.
//
//   make k6 SCENARIO=rate-limit                 limit 20/min, 40 calls by 4 VUs
//
// setup() creates the app with this limit; against a pre-seeded app (no LOAD_ADMIN_URL), set
// LOAD_RATE_LIMIT to that app's per-app limit (and keep its per-user limit no lower). Calls
// from an earlier run within the last minute count too: fewer get through, never more.

import http from "k6/http";
import { check } from "k6";
import { Counter } from "k6/metrics";

import { callParams } from "./lib/api.js";
import { body, header, isPositiveInteger } from "./lib/checks.js";
import { GATEWAY_URL, RUN_OPTIONS, number, shape } from "./lib/config.js";
import { burst } from "./lib/stages.js";
import { thresholdsFor } from "./lib/thresholds.js";
import { appOnlyUser } from "./lib/users.js";

const SCENARIO = "rate_limit";
const LIMIT = number("LOAD_RATE_LIMIT", 20);
const EXCESS = number("LOAD_RATE_LIMIT_EXCESS", LIMIT);
const size = shape({ vus: 4 });

const allowed = new Counter("rate_limit_allowed");
const refused = new Counter("rate_limit_refused");

export const options = {
  // Well inside the limit's one-minute window, so no call gets through on a freed slot.
  scenarios: { [SCENARIO]: burst(size.vus, LIMIT + EXCESS, "50s") },
  thresholds: {
    ...thresholdsFor(SCENARIO, ["list"], { errorRate: 0, checksRate: 1 }),
    rate_limit_allowed: [`count<=${LIMIT}`, "count>0"],
    rate_limit_refused: ["count>0"],
  },
  ...RUN_OPTIONS,
};

export function setup() {
  return appOnlyUser({ perApp: LIMIT, perUser: LIMIT });
}

export default function (data) {
  const response = http.get(
    `${GATEWAY_URL}/api/v1/memories?limit=1`,
    callParams(data.users[0], "list", { responseCallback: http.expectedStatuses(200, 429) }),
  );
  check(response, { "list: status 200 or 429": (r) => r.status === 200 || r.status === 429 });
  if (response.status === 200) {
    allowed.add(1);
  } else if (response.status === 429) {
    refused.add(1);
    check(response, {
      "429: Retry-After in whole seconds": (r) => isPositiveInteger(header(r, "Retry-After")),
      "429: RateLimit-Limit is the app's limit": (r) =>
        header(r, "RateLimit-Limit") === String(LIMIT),
      "429: RateLimit-Remaining is 0": (r) => header(r, "RateLimit-Remaining") === "0",
      "429: RateLimit-Reset in whole seconds": (r) =>
        isPositiveInteger(header(r, "RateLimit-Reset")),
      "429: error is rate_limited": (r) => body(r)?.error === "rate_limited",
    });
  }
}

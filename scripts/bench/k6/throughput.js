// Throughput of one endpoint for `make bench`: a fixed number of connections (one per virtual
// user, kept alive) sending requests back to back, for a fixed time or until a fixed number of
// requests is made. What to send comes from the plan, a JSON file written by
// scripts/bench/loadgen.py (BENCH_PLAN); the counts go back through --summary-export.
//
// Plan modes:
//   fixed          the same body every time
//   unique-content `{unique}` in the body replaced per request, so writes never collapse
//   refresh        the refresh-token grant; each virtual user walks its own rotation chain

import http from "k6/http";
import { Counter } from "k6/metrics";

const plan = JSON.parse(open(__ENV.BENCH_PLAN));

const expected = new Counter("bench_expected");
const refused = new Counter("bench_refused");
const unexpected = new Counter("bench_unexpected");

const executor =
  plan.iterations > 0
    ? {
        executor: "shared-iterations",
        vus: plan.connections,
        iterations: plan.iterations,
        maxDuration: `${plan.seconds}s`,
      }
    : { executor: "constant-vus", vus: plan.connections, duration: `${plan.seconds}s` };

export const options = {
  scenarios: { bench: executor },
  summaryTrendStats: ["med", "p(95)", "p(99)", "max", "count"],
  // Only the refresh grant needs the answer: the next token of the chain is in it.
  discardResponseBodies: plan.mode !== "refresh",
};

// Virtual users are numbered from 1; each takes its own entry of a list, round robin.
const mine = (list) => list[(__VU - 1) % list.length];

let params = null; // built on a virtual user's first request, when __VU is known
let refreshToken = null; // refresh mode: this virtual user's place in its chain

function requestParams() {
  if (params === null) {
    params = {
      headers: { "Content-Type": plan.content_type },
      responseCallback: http.expectedStatuses(plan.expect, ...plan.refused_statuses),
    };
    if (plan.tokens.length > 0) {
      params.headers.Authorization = `Bearer ${mine(plan.tokens)}`;
    }
  }
  return params;
}

function body() {
  if (plan.mode === "unique-content") {
    // The time too: a warm-up run repeats the same virtual users and iterations.
    return plan.body.replace("{unique}", `${__VU}-${__ITER}-${Date.now()}`);
  }
  if (plan.mode === "refresh") {
    if (refreshToken === null) {
      refreshToken = mine(plan.refresh_tokens);
    }
    return {
      grant_type: "refresh_token",
      refresh_token: refreshToken,
      client_id: plan.client_id,
      client_secret: plan.client_secret,
    };
  }
  return plan.body;
}

export default function () {
  const response = http.request(plan.method, mine(plan.targets), body(), requestParams());
  if (response.status === plan.expect) {
    expected.add(1);
    if (plan.mode === "refresh") {
      refreshToken = response.json().refresh_token;
    }
  } else if (plan.refused_statuses.includes(response.status)) {
    refused.add(1);
  } else {
    unexpected.add(1);
  }
}

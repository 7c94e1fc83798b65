// Pass/fail criteria: tail latency (p95, p99), the share of failed requests and of failed
// checks — never averages, which hide the slow tail users actually feel. Every value comes
// from the environment, so a run can be made stricter (or forced to fail, e.g.
// LOAD_P95_MS=0.001) without editing a script.

import { number } from "./config.js";

// Each latency limit can be set for one endpoint: LOAD_P95_MS_SEARCH, LOAD_P99_MS_WRITE, ...
function latencyLimit(percentile, endpoint, fallback) {
  const general = number(`LOAD_P${percentile}_MS`, fallback);
  return endpoint ? number(`LOAD_P${percentile}_MS_${endpoint.toUpperCase()}`, general) : general;
}

function latency(endpoint, defaults) {
  return [
    `p(95)<${latencyLimit(95, endpoint, defaults.p95)}`,
    `p(99)<${latencyLimit(99, endpoint, defaults.p99)}`,
  ];
}

// Thresholds on the requests of one scenario (setup()'s sign-ins are not part of any
// scenario, so they never count), overall and per endpoint tag.
export function thresholdsFor(scenario, endpoints, defaults) {
  const limits = {
    p95: 1000,
    p99: 2000,
    errorRate: 0.01,
    checksRate: 0.99,
    ...defaults,
  };
  const thresholds = {
    [`http_req_duration{scenario:${scenario}}`]: latency(null, limits),
    [`http_req_failed{scenario:${scenario}}`]: [
      `rate<=${number("LOAD_ERROR_RATE", limits.errorRate)}`,
    ],
    [`checks{scenario:${scenario}}`]: [`rate>=${number("LOAD_CHECKS_RATE", limits.checksRate)}`],
  };
  for (const endpoint of endpoints) {
    thresholds[`http_req_duration{scenario:${scenario},endpoint:${endpoint}}`] = latency(
      endpoint,
      limits,
    );
  }
  return thresholds;
}

// For the smoke test: a threshold that fails when an endpoint was never called at all.
export function everyEndpointCalled(scenario, endpoints) {
  const thresholds = {};
  for (const endpoint of endpoints) {
    thresholds[`http_reqs{scenario:${scenario},endpoint:${endpoint}}`] = ["count>0"];
  }
  return thresholds;
}

// The shapes of traffic, as k6 scenario executors. What a virtual user does is the same in
// the load, spike and soak tests; only the shape differs.

// From no virtual users through `stages`; a virtual user a ramp-down stops gets 10 s to finish
// its iteration.
function rampingVus(stages) {
  return { executor: "ramping-vus", startVUs: 0, stages, gracefulRampDown: "10s" };
}

// A few users for a short while: does every endpoint work at all?
export function steady(vus, duration) {
  return { executor: "constant-vus", vus, duration };
}

// Ramp up to the expected traffic, hold it (the part worth measuring), ramp down.
export function plateau(vus, ramp, hold) {
  return rampingVus([
    { duration: ramp, target: vus },
    { duration: hold, target: vus },
    { duration: ramp, target: 0 },
  ]);
}

// A baseline, a sudden jump to the peak, then back to the baseline: the recovery after the
// peak matters as much as the peak itself. `settle` is how long the baseline lasts before and
// after the peak.
export function spike(baseline, peak, hold, settle) {
  const jump = "10s";
  return rampingVus([
    { duration: jump, target: baseline },
    { duration: settle, target: baseline },
    { duration: jump, target: peak },
    { duration: hold, target: peak },
    { duration: jump, target: baseline },
    { duration: settle, target: baseline },
    { duration: jump, target: 0 },
  ]);
}

// Exactly `iterations` calls shared by a few users, as fast as they go.
export function burst(vus, iterations, maxDuration) {
  return { executor: "shared-iterations", vus, iterations, maxDuration };
}

// Every knob of the load suite, read from the environment (`k6 run -e NAME=value` or the
// shell). Names start with LOAD_ because k6 reads K6_* itself and the shell has USER & co.
// The URL defaults are `make dev`'s ports, so a scenario also runs against the local stack.

function text(name, fallback) {
  const value = __ENV[name];
  return value === undefined || value === "" ? fallback : value;
}

export function number(name, fallback) {
  const raw = text(name, undefined);
  if (raw === undefined) {
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isFinite(value)) {
    throw new Error(`${name} must be a number, got "${raw}"`);
  }
  return value;
}

const trimSlash = (url) => url.replace(/\/+$/, "");

export const GATEWAY_URL = trimSlash(text("LOAD_GATEWAY_URL", "http://127.0.0.1:8000"));
export const AUTH_URL = trimSlash(text("LOAD_AUTH_URL", "http://127.0.0.1:8001"));

// With an admin URL and token, setup() creates the app and the users it signs in; without
// them it uses an app and users created beforehand (`cga-admin apps create`, `users create`).
export const ADMIN_URL = trimSlash(text("LOAD_ADMIN_URL", ""));
export const ADMIN_TOKEN = text("LOAD_ADMIN_TOKEN", "");
export const CLIENT_ID = text("LOAD_CLIENT_ID", "");
export const CLIENT_SECRET = text("LOAD_CLIENT_SECRET", "");
export const REDIRECT_URI = text(
  "LOAD_REDIRECT_URI",
  "https://chatgpt.com/aip/g-load-test/oauth/callback",
);
// What the users grant (the smoke test deletes, so a pre-seeded app needs memories:delete).
export const SCOPES = text("LOAD_SCOPES", "memories:read memories:write memories:delete")
  .split(" ")
  .filter(Boolean);
// Pre-seeded users are USER_EMAIL_TEMPLATE with {n} = 1..users, all with USER_PASSWORD.
export const USER_EMAIL_TEMPLATE = text("LOAD_USER_EMAIL_TEMPLATE", "load-user-{n}@example.com");
export const USER_PASSWORD = text("LOAD_USER_PASSWORD", "load test password, not a secret");

// Apps that setup() creates: limits high enough that the load scenarios measure the system,
// not the rate limiter (the rate-limit scenario sets its own).
export const APP_RATE_LIMIT = number("LOAD_APP_RATE_LIMIT", 1000000);
export const USER_RATE_LIMIT = number("LOAD_USER_RATE_LIMIT", 1000000);

// Pause between a GPT user's calls, in seconds (a person reads the answer before asking again).
export const THINK_TIME = number("LOAD_THINK_TIME", 1);
// How long a write may take to be stored before the smoke test calls it lost.
export const JOB_WAIT_SECONDS = number("LOAD_JOB_WAIT_SECONDS", 15);

// Options every scenario shares.
export const RUN_OPTIONS = {
  // Signing in N users costs N password verifications (argon2id, slow on purpose).
  setupTimeout: text("LOAD_SETUP_TIMEOUT", "5m"),
  // The percentiles every summary shows; thresholds never look at averages.
  summaryTrendStats: ["min", "med", "p(90)", "p(95)", "p(99)", "max", "count"],
};

// The size and length of a scenario: its own defaults, each overridable from the environment.
export function shape(defaults) {
  return {
    vus: number("LOAD_VUS", defaults.vus),
    users: number("LOAD_USERS", defaults.users),
    duration: text("LOAD_DURATION", defaults.duration),
    ramp: text("LOAD_RAMP", defaults.ramp),
  };
}

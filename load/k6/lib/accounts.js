// The app (a Custom GPT's OAuth client) and the people who use it: created through the admin
// API when LOAD_ADMIN_URL and LOAD_ADMIN_TOKEN are set, else taken as pre-seeded from
// LOAD_CLIENT_ID / LOAD_CLIENT_SECRET and LOAD_USER_EMAIL_TEMPLATE.

import http from "k6/http";
import { fail } from "k6";

import {
  ADMIN_TOKEN,
  ADMIN_URL,
  APP_RATE_LIMIT,
  CLIENT_ID,
  CLIENT_SECRET,
  REDIRECT_URI,
  SCOPES,
  USER_EMAIL_TEMPLATE,
  USER_PASSWORD,
  USER_RATE_LIMIT,
} from "./config.js";

const seedsThroughAdmin = ADMIN_URL !== "" && ADMIN_TOKEN !== "";

function admin(path, payload) {
  const response = http.post(`${ADMIN_URL}/admin/v1${path}`, JSON.stringify(payload), {
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/json" },
    tags: { endpoint: "admin" },
  });
  if (response.status !== 201) {
    fail(`admin API ${path} answered ${response.status}: ${response.body}`);
  }
  return response.json();
}

// Several runs may share one database: names made unique per run never collide.
export function runId() {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 4).toString(36)}`;
}

export function theApp(run, limits = {}) {
  if (!seedsThroughAdmin) {
    if (!CLIENT_ID || !CLIENT_SECRET) {
      fail("set LOAD_ADMIN_URL and LOAD_ADMIN_TOKEN, or LOAD_CLIENT_ID and LOAD_CLIENT_SECRET");
    }
    return { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUri: REDIRECT_URI };
  }
  const created = admin("/apps", {
    name: `k6 load test ${run}`,
    redirect_uris: [REDIRECT_URI],
    scopes: SCOPES,
    rate_limit_per_minute: limits.perApp ?? APP_RATE_LIMIT,
    user_rate_limit_per_minute: limits.perUser ?? USER_RATE_LIMIT,
  });
  return {
    clientId: created.app.client_id,
    clientSecret: created.client_secret,
    redirectUri: REDIRECT_URI,
  };
}

// `count` people who can sign in, as { email, password }.
export function thePeople(run, count) {
  const people = [];
  for (let n = 1; n <= count; n += 1) {
    const email = seedsThroughAdmin
      ? `k6-${run}-${n}@example.com`
      : USER_EMAIL_TEMPLATE.replace("{n}", String(n));
    if (seedsThroughAdmin) {
      admin("/users", { email, password: USER_PASSWORD });
    }
    people.push({ email, password: USER_PASSWORD });
  }
  return people;
}

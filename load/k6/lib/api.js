// The Actions API as a GPT calls it. Every request carries an `endpoint` tag (thresholds are
// set per endpoint) and a `name` without ids, so URLs with ids do not make a metric series
// each.

import http from "k6/http";
import { sleep } from "k6";

import { expect } from "./checks.js";
import { GATEWAY_URL } from "./config.js";

const MEMORIES = `${GATEWAY_URL}/api/v1/memories`;
const NAMES = {
  search: "POST /api/v1/memories/search",
  write: "POST /api/v1/memories",
  job: "GET /api/v1/memories/jobs/{job_id}",
  list: "GET /api/v1/memories",
  get: "GET /api/v1/memories/{memory_id}",
  delete: "DELETE /api/v1/memories/{memory_id}",
};
export const ENDPOINTS = Object.keys(NAMES);
const isList = (value) => Array.isArray(value);

// Request parameters of one call by `user` to `endpoint`; `extra` may add k6 params such as
// a responseCallback for statuses that are expected there.
export function callParams(user, endpoint, extra = {}) {
  return {
    headers: { Authorization: `Bearer ${user.accessToken}`, "Content-Type": "application/json" },
    tags: { endpoint, name: NAMES[endpoint] },
    ...extra,
  };
}

export function search(user, query) {
  const response = http.post(
    `${MEMORIES}/search`,
    JSON.stringify({ query, limit: 10 }),
    callParams(user, "search"),
  );
  return expect(response, "search", 200, { "results is a list": (b) => isList(b.results) });
}

export function write(user, content, metadata = {}) {
  const response = http.post(
    MEMORIES,
    JSON.stringify({ content, metadata }),
    callParams(user, "write"),
  );
  return expect(response, "write", 202, {
    "has a job id": (b) => typeof b.job_id === "string" && b.job_id !== "",
    "has a status URL": (b) => typeof b.status_url === "string" && b.status_url.endsWith(b.job_id),
  });
}

export function job(user, jobId) {
  const response = http.get(`${MEMORIES}/jobs/${jobId}`, callParams(user, "job"));
  return expect(response, "job", 200, { "is the job asked for": (b) => b.job_id === jobId });
}

const FINISHED = new Set(["succeeded", "failed"]);

// Poll a write's status until the worker finished it (or `seconds` passed); its last state.
export function finishedJob(user, jobId, seconds) {
  const deadline = Date.now() + seconds * 1000;
  let state = job(user, jobId);
  while (state !== null && !FINISHED.has(state.status) && Date.now() < deadline) {
    sleep(0.2);
    state = job(user, jobId);
  }
  return state;
}

export function list(user, limit = 20) {
  const response = http.get(`${MEMORIES}?limit=${limit}`, callParams(user, "list"));
  return expect(response, "list", 200, { "items is a list": (b) => isList(b.items) });
}

export function get(user, memoryId) {
  const response = http.get(`${MEMORIES}/${memoryId}`, callParams(user, "get"));
  return expect(response, "get", 200, { "is the memory asked for": (b) => b.id === memoryId });
}

// Reading a deleted memory: 404 is the right answer here, not a failed request.
export function getGone(user, memoryId) {
  const response = http.get(
    `${MEMORIES}/${memoryId}`,
    callParams(user, "get", { responseCallback: http.expectedStatuses(404) }),
  );
  return expect(response, "get deleted", 404, {
    "says memory_not_found": (b) => b.error === "memory_not_found",
  });
}

export function remove(user, memoryId) {
  const response = http.del(`${MEMORIES}/${memoryId}`, null, callParams(user, "delete"));
  return expect(response, "delete", 200, {
    "confirms the deletion": (b) => b.id === memoryId && b.deleted === true,
  });
}

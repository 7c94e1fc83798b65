// Checks on responses. A fast wrong answer is still wrong, so every call checks the shape of
// what it got as well as the status; failed checks count in the `checks` threshold.

import { check } from "k6";

// The parsed body, or null: an exception inside a check would end the iteration and hide
// the very failure worth counting.
export function body(response) {
  try {
    return response.json();
  } catch {
    return null;
  }
}

// Response headers by name, whatever their case on the wire.
export function header(response, name) {
  const wanted = name.toLowerCase();
  const found = Object.keys(response.headers).find((key) => key.toLowerCase() === wanted);
  return found === undefined ? undefined : response.headers[found];
}

// check() with the status first; each name is prefixed with the call it is about
// ("search: status 200", "search: results is a list"). The parsed body is passed to every
// predicate and returned when all of them held, else null.
export function expect(response, call, status, predicates = {}) {
  const parsed = body(response);
  const named = { [`${call}: status ${status}`]: (r) => r.status === status };
  for (const [name, predicate] of Object.entries(predicates)) {
    named[`${call}: ${name}`] = () => parsed !== null && predicate(parsed, response);
  }
  return check(response, named) ? parsed : null;
}

export const isPositiveInteger = (value) => /^[1-9][0-9]*$/.test(value ?? "");

// What a GPT user's conversation does to the API, as the load, spike and soak tests replay
// it: mostly searches before answering, sometimes a new memory, now and then a look through
// what is stored.

import { sleep } from "k6";

import { get, list, search, write } from "./api.js";
import { RUN_OPTIONS, THINK_TIME, number } from "./config.js";
import { thresholdsFor } from "./thresholds.js";
import { signedInUsers, userOf } from "./users.js";

const TRAFFIC_ENDPOINTS = ["search", "write", "list", "get"];
const SEARCH_SHARE = 0.7;
const WRITE_SHARE = 0.2; // the remaining 10 %: list, then read one of the listed memories

const FACTS = [
  "drinks green tea every morning",
  "has a sister who lives in Lisbon",
  "is allergic to peanuts",
  "runs a half marathon every spring",
  "prefers window seats on long flights",
  "is learning Portuguese on weekday evenings",
  "keeps a sourdough starter called Bob",
  "works on the payments team",
];
const QUESTIONS = [
  "what tea do I like",
  "where does my sister live",
  "what food allergies do I have",
  "which races do I run",
  "what seat do I prefer",
  "which language am I learning",
  "what is my sourdough starter called",
  "which team do I work on",
];

const pick = (items) => items[Math.floor(Math.random() * items.length)];

// Identical content from one user within a short window is one write, by design: a unique
// suffix makes each write a new memory.
export function newFact() {
  return `The user ${pick(FACTS)} (noted by VU ${__VU}, iteration ${__ITER}, ${Date.now()}).`;
}

// setup() of a conversation scenario: `count` signed-in users with a few memories each
// (LOAD_SEED_MEMORIES), so that searches and listings have something to find.
export function usersWithMemories(count) {
  const data = signedInUsers(count);
  const perUser = number("LOAD_SEED_MEMORIES", 3);
  for (const user of data.users) {
    for (let n = 0; n < perUser; n += 1) {
      write(user, `The user ${FACTS[n % FACTS.length]}.`, { source: "load-test-seed" });
    }
  }
  return data;
}

function conversationTurn(user) {
  const roll = Math.random();
  if (roll < SEARCH_SHARE) {
    search(user, pick(QUESTIONS));
  } else if (roll < SEARCH_SHARE + WRITE_SHARE) {
    write(user, newFact());
  } else {
    const page = list(user);
    if (page !== null && page.items.length > 0) {
      get(user, pick(page.items).id);
    }
  }
  // Jittered, so that virtual users do not march in lockstep.
  sleep(THINK_TIME * (0.5 + Math.random()));
}

// The options of a conversation scenario: its shape of traffic (a k6 executor), thresholds on
// the endpoints a conversation calls (`limits` overrides their defaults) and what every run
// shares.
export function conversationOptions(scenario, executor, limits) {
  return {
    scenarios: { [scenario]: executor },
    thresholds: thresholdsFor(scenario, TRAFFIC_ENDPOINTS, limits),
    ...RUN_OPTIONS,
  };
}

// A virtual user's iteration in a conversation scenario: one turn, as its signed-in user.
export function conversationIteration(data) {
  conversationTurn(userOf(data));
}

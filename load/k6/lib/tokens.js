// Real access tokens, obtained the way ChatGPT obtains them: a person signs in and consents in
// their browser (authorization code, no PKCE: a GPT is a confidential client), then ChatGPT
// exchanges the code at the token endpoint with client_secret_post. App-only scenarios use
// the client_credentials grant instead.

import http from "k6/http";
import { fail } from "k6";
import { parseHTML } from "k6/html";

import { header } from "./checks.js";
import { AUTH_URL, SCOPES } from "./config.js";

const encode = (fields) =>
  Object.entries(fields)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
    .join("&");

function queryOf(url) {
  const query = url.includes("?") ? url.slice(url.indexOf("?") + 1) : "";
  const fields = {};
  for (const pair of query.split("&").filter(Boolean)) {
    const cut = pair.includes("=") ? pair.indexOf("=") : pair.length;
    const [key, value] = [pair.slice(0, cut), pair.slice(cut + 1)];
    fields[decodeURIComponent(key)] = decodeURIComponent(value.replace(/\+/g, " "));
  }
  return fields;
}

const absolute = (location) => (location.startsWith("/") ? AUTH_URL + location : location);

function hiddenField(response, name) {
  const value = parseHTML(response.body).find(`input[name="${name}"]`).attr("value");
  if (value === undefined) {
    fail(`no ${name} field on ${response.url} (status ${response.status})`);
  }
  return value;
}

function expectRedirect(response, step) {
  if (response.status !== 302 && response.status !== 303) {
    fail(`${step}: expected a redirect, got ${response.status}: ${response.body}`);
  }
  return absolute(header(response, "Location"));
}

// A person's browser: its own cookie jar, stopping at every redirect as ChatGPT's callback
// is not ours to follow.
class Browser {
  constructor() {
    this.params = { jar: new http.CookieJar(), redirects: 0, tags: { endpoint: "oauth" } };
  }

  get(url) {
    return http.get(url, this.params);
  }

  post(url, form) {
    return http.post(url, form, this.params);
  }

  signIn(loginUrl, person) {
    const page = this.get(loginUrl);
    const signedIn = this.post(`${AUTH_URL}/oauth/login`, {
      email: person.email,
      password: person.password,
      csrf_token: hiddenField(page, "csrf_token"),
      next: hiddenField(page, "next"),
    });
    return expectRedirect(signedIn, `sign-in of ${person.email}`);
  }

  // Sign in and consent; the URL ChatGPT's callback receives.
  authorize(app, person) {
    const state = `k6-${Math.random().toString(36).slice(2)}`;
    const authorizeUrl = `${AUTH_URL}/oauth/authorize?${encode({
      response_type: "code",
      client_id: app.clientId,
      redirect_uri: app.redirectUri,
      scope: SCOPES.join(" "),
      state,
    })}`;
    let answer = this.get(authorizeUrl);
    if (answer.status === 303) {
      this.signIn(expectRedirect(answer, "authorize"), person);
      answer = this.get(authorizeUrl);
    }
    if (answer.status === 200) {
      // The consent page; a consent given before skips it.
      answer = this.post(authorizeUrl, {
        csrf_token: hiddenField(answer, "csrf_token"),
        decision: "allow",
      });
    }
    const callback = expectRedirect(answer, `authorization for ${person.email}`);
    const query = queryOf(callback);
    if (!callback.startsWith(app.redirectUri) || query.state !== state || !query.code) {
      fail(`authorization for ${person.email} came back as ${callback}`);
    }
    return query.code;
  }
}

function tokenRequest(form, who) {
  const response = http.post(`${AUTH_URL}/oauth/token`, form, { tags: { endpoint: "oauth" } });
  if (response.status !== 200) {
    fail(`token request for ${who} answered ${response.status}: ${response.body}`);
  }
  return response.json();
}

// A signed-in GPT user: { email, accessToken }. No run outlasts an access token (1 h by
// default), so the refresh token is not kept.
export function signIn(app, person) {
  const code = new Browser().authorize(app, person);
  const token = tokenRequest(
    {
      grant_type: "authorization_code",
      code,
      redirect_uri: app.redirectUri,
      client_id: app.clientId,
      client_secret: app.clientSecret,
    },
    person.email,
  );
  return { email: person.email, accessToken: token.access_token };
}

// An app acting for itself (no person): a client_credentials token with every scope the app
// has (no scope asked for).
export function appSignIn(app) {
  const token = tokenRequest(
    {
      grant_type: "client_credentials",
      client_id: app.clientId,
      client_secret: app.clientSecret,
    },
    app.clientId,
  );
  return { accessToken: token.access_token };
}

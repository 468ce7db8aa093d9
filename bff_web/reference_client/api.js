// A small client of bff_web for a browser page on an origin of its own (see
// docs/web-sessions.md). Every call sends the session cookie (credentials: "include"),
// which only works from an origin listed in bff_web's server.cors_origins. The CSRF
// token lives in this module's memory only, never in storage, and goes out on every
// state-changing request.

/** The dashboard's persisted query (bff_web/persisted_queries.json): sent by hash only. */
export const DASHBOARD_QUERY_HASH = "eafceeddd81d0d60003777f5f464fe98121abe6c21bb64bd5ef332cc4b9e1e80";

/** An answer that is not a success: a problem+json body, or what stood in for one. */
export class ApiProblem extends Error {
  constructor(status, problem) {
    super(problem.title);
    this.status = status;
    this.problem = problem; // {type, title, status, detail, field?}
  }
}

export class BffWeb {
  constructor(baseUrl) {
    this.baseUrl = baseUrl.replace(/\/$/, "");
    this.csrfToken = null;
  }

  /** Where the browser goes to sign in; it comes back to returnTo (a listed origin). */
  signInUrl(returnTo, loginHint) {
    const query = new URLSearchParams({ return_to: returnTo });
    if (loginHint) query.set("login_hint", loginHint); // only the stand-in provider reads it
    return `${this.baseUrl}/auth/login?${query}`;
  }

  /** The signed-in session ({user_id, csrf_token, expires_at}), or null when signed out. */
  async session() {
    try {
      const session = await this.#request("GET", "/auth/session");
      this.csrfToken = session.csrf_token;
      return session;
    } catch (error) {
      if (error instanceof ApiProblem && error.status === 401) {
        this.csrfToken = null;
        return null;
      }
      throw error;
    }
  }

  /** The dashboard through its persisted query: {data, errors} (errors per failed field). */
  async dashboard(variables = { orders: 5, recommended: 4 }) {
    const query = new URLSearchParams({
      operationName: "Dashboard",
      variables: JSON.stringify(variables),
      extensions: JSON.stringify({ persistedQuery: { version: 1, sha256Hash: DASHBOARD_QUERY_HASH } }),
    });
    // A GET, so the browser's HTTP cache keeps it and revalidates it with its ETag (304).
    const answer = await this.#request("GET", `/graphql?${query}`, { accept: "application/graphql-response+json" });
    if (answer.data == null) {
      // Not partial data but none (an unknown hash, say): the request failed as a whole.
      throw new ApiProblem(200, { title: answer.errors?.[0]?.message ?? "The dashboard answered no data", detail: "" });
    }
    return answer;
  }

  product(productId) {
    return this.#request("GET", `/v1/products/${encodeURIComponent(productId)}`);
  }

  /** Places an order; idempotencyKey makes a retry of the same order safe. */
  placeOrder(items, idempotencyKey = crypto.randomUUID()) {
    return this.#request("POST", "/v1/orders", { body: { items }, idempotencyKey });
  }

  async logout() {
    await this.#request("POST", "/auth/logout");
    this.csrfToken = null;
  }

  /** Ends every session of the user, on every device; answers {sessions_ended}. */
  async logoutAll() {
    const answer = await this.#request("POST", "/auth/logout-all");
    this.csrfToken = null;
    return answer;
  }

  async #request(method, path, { body, idempotencyKey, accept = "application/json" } = {}) {
    const headers = { Accept: accept };
    if (method !== "GET") {
      if (this.csrfToken) headers["X-CSRF-Token"] = this.csrfToken;
      if (body !== undefined) headers["Content-Type"] = "application/json";
      if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
    }
    let response;
    try {
      response = await fetch(this.baseUrl + path, {
        method,
        headers,
        credentials: "include",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      // A refused CORS check looks exactly like a network failure to a page: no status.
      throw new ApiProblem(0, {
        title: "Cannot reach the API",
        detail: `${this.baseUrl} did not answer this page, or did not allow its origin (${location.origin}) in server.cors_origins`,
      });
    }
    if (response.status === 204) return null;
    const type = response.headers.get("content-type") || "";
    const payload = type.includes("json") ? await response.json() : null;
    if (response.ok) return payload;
    if (type.startsWith("application/problem+json")) throw new ApiProblem(response.status, payload);
    if (payload && Array.isArray(payload.errors)) {
      // GraphQL refused the request as a whole (a 4xx): show its first error.
      throw new ApiProblem(response.status, { title: payload.errors[0].message, detail: "" });
    }
    throw new ApiProblem(response.status, { title: `HTTP ${response.status}`, detail: response.statusText });
  }
}

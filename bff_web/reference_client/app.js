// The page: one screen per section, each marked ok, degraded (left out by the BFF) or
// error. Everything is rendered with textContent: nothing from an answer becomes markup.
import { ApiProblem, BffWeb } from "./api.js";

const params = new URLSearchParams(location.search);
// bff_web's address: ?api=…, else the local stack's (same host, port 8081: same site,
// so the SameSite=Lax session cookie goes along with the page's requests).
const api = new BffWeb(params.get("api") || `${location.protocol}//${location.hostname}:8081`);
const $ = (selector) => document.querySelector(selector);
let currentProduct = null;

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

const money = (price) => el("span", { class: "price" }, `${price.amount} ${price.currency}`);

function showProblem(error) {
  const box = $("#problem");
  if (!error) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const problem = error instanceof ApiProblem ? error.problem : { title: "Unexpected error", detail: String(error) };
  box.replaceChildren(el("strong", { class: "title" }, problem.title), el("span", { class: "detail" }, problem.detail || ""));
  box.hidden = false;
}

function section(id, state, ...content) {
  const node = $(`#${id}`);
  node.dataset.state = state;
  node.querySelector(".body").replaceChildren(...content);
}

/** A section of the dashboard: its data, or why it is missing (a GraphQL error on its path). */
function dashboardSection(id, value, errors, render) {
  const error = errors.find((e) => Array.isArray(e.path) && e.path[0] === "viewer" && e.path[1] === id);
  if (value == null || error) {
    const message = error ? error.message : "not available right now";
    section(id, "degraded", el("p", { class: "notice" }, message));
    if (value == null) return;
  }
  const rendered = render(value);
  if (!error) section(id, "ok", rendered);
  else $(`#${id} .body`).append(rendered);
}

async function loadDashboard() {
  const { data, errors = [] } = await api.dashboard();
  const viewer = data?.viewer ?? {};
  dashboardSection("profile", viewer.profile, errors, (profile) =>
    el("p", {}, el("strong", {}, profile.name), el("br"), profile.email, el("br"), `${profile.address.city}, ${profile.address.country}`),
  );
  dashboardSection("orders", viewer.orders, errors, (orders) =>
    orders.items.length
      ? el("ul", {}, ...orders.items.map((o) => el("li", { "data-order": o.id }, `${o.id} · ${o.status} · `, money(o.total))))
      : el("p", { class: "muted" }, "No orders yet"),
  );
  dashboardSection("recommendations", viewer.recommendations, errors, (items) =>
    el("ul", {}, ...items.filter((r) => r.product).map((r) => el("li", {}, `${r.product.name} · `, money(r.product.price)))),
  );
}

async function loadProduct(productId) {
  $("#place-order").disabled = true;
  try {
    const page = await api.product(productId);
    currentProduct = page.product;
    const stock = page.stock ? `${page.stock.available} in stock (${page.stock.region})` : "stock unknown";
    const content = [
      el("p", {}, el("strong", { class: "name" }, page.product.name), " · ", money(page.product.price)),
      el("p", { class: "muted" }, `${page.product.brand} · ${stock}`),
      el("ul", { class: "related" }, ...page.related.map((p) => el("li", {}, `${p.name} · `, money(p.price)))),
    ];
    if (page.degraded.length) content.push(el("p", { class: "notice degraded" }, `Unavailable now: ${page.degraded.join(", ")}`));
    section("product", page.degraded.length ? "degraded" : "ok", ...content);
    $("#place-order").disabled = false;
  } catch (error) {
    currentProduct = null;
    section("product", "error", el("p", {}, error instanceof ApiProblem ? error.problem.title : "Unexpected error"));
    throw error;
  }
}

async function placeOrder() {
  const result = $("#order-result");
  result.textContent = "Placing the order…";
  try {
    const order = await api.placeOrder([{ product_id: Number(currentProduct.id), quantity: 1 }]);
    result.textContent = `Order ${order.id} placed: ${order.total.amount} ${order.total.currency}`;
    result.dataset.state = "ok";
    showProblem(null);
    await loadDashboard(); // the new order shows up in the list
  } catch (error) {
    result.textContent = "The order was not placed.";
    result.dataset.state = "error";
    showProblem(error);
  }
}

function showSignedOut(reason) {
  $("#session").dataset.state = "signed-out";
  $("#session").textContent = reason;
  $("#screens").hidden = true;
  $("#sign-in").hidden = false;
}

async function loadScreens() {
  showProblem(null);
  const session = await api.session();
  if (!session) {
    showSignedOut("Signed out");
    return;
  }
  $("#session").dataset.state = "signed-in";
  $("#session").textContent = `Signed in as user ${session.user_id}`;
  $("#sign-in").hidden = true;
  $("#screens").hidden = false;
  // Each screen on its own: a failing one shows its problem, the others still render.
  const results = await Promise.allSettled([loadDashboard(), loadProduct($("#product-id").value)]);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) showProblem(failed.reason);
}

let actionsDone = 0;

/** Runs a user's action; body[data-actions-done] counts finished ones (tests wait on it). */
async function run(action) {
  try {
    await action();
  } catch (error) {
    if (error instanceof ApiProblem && error.status === 401) showSignedOut("Your session ended: sign in again");
    showProblem(error);
  } finally {
    document.body.dataset.actionsDone = String(++actionsDone);
  }
}

$("#sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  location.assign(api.signInUrl(location.href, $("#login-hint").value));
});
$("#product-form").addEventListener("submit", (event) => {
  event.preventDefault();
  run(() => loadProduct($("#product-id").value).then(() => showProblem(null)));
});
$("#place-order").addEventListener("click", () => run(placeOrder));
$("#refresh").addEventListener("click", () => run(loadScreens));
$("#logout").addEventListener("click", () => run(() => api.logout().then(() => showSignedOut("Signed out"))));
$("#logout-all").addEventListener("click", () =>
  run(() => api.logoutAll().then((answer) => showSignedOut(`Signed out on ${answer.sessions_ended} devices`))),
);

run(loadScreens);

// Seva Hub live board: a plain ES module, no build step. It speaks the documented contracts
// only (README: "Socket.IO contract", "Live status, streams and notifications", "REST"):
// log in over REST, connect with auth {token}, availability:subscribe with `since`, apply
// deltas in seq order, hold:create / hold:release, notifications, and live:status for staff.

const VENDOR_URL = "/board/vendor/socket.io.esm.min.js";
const VENDOR_COMMAND = "python3 deploy/scripts/vendor_board.py";
const LIVE_STATUSES = ["assigned", "started", "in_progress", "completed"];
const ACK_TIMEOUT_MS = 15000;

const $ = (selector) => document.querySelector(selector);

const state = {
  token: null,
  me: null,
  socket: null,
  connectedOnce: false,
  sub: null, // {tenant_id, resource_id, date, stream, seq, slots: Map, buffered: [], ready}
  holds: new Map(), // hold_id -> hold
  feedSeq: 0, // last seq applied of the user's feed stream (user:{id})
  notifications: new Map(), // id -> notification
  live: new Map(), // booking_id -> live status event
};

// --- small helpers ------------------------------------------------------------------------

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "className") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function newKey() {
  // crypto.randomUUID needs a secure context; getRandomValues works on plain http too.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function showError(error) {
  const box = $("#error");
  const code = (error && error.code) || "error";
  const message = (error && error.message) || String(error);
  box.textContent = `${code}: ${message}`;
  box.dataset.code = code;
  box.hidden = false;
}

function clearError() {
  const box = $("#error");
  box.hidden = true;
  box.textContent = "";
  delete box.dataset.code;
}

function showBanner(text) {
  const banner = $("#banner");
  banner.textContent = text;
  banner.hidden = false;
}

function time(iso) {
  return iso ? new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : "";
}

function rupees(paise) {
  return `₹${(paise / 100).toLocaleString("en-IN", { minimumFractionDigits: 2 })}`;
}

function todayLocal() {
  const now = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

// Errors are the hub's {code, message, details}; a failed fetch becomes one too.
async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (state.token) headers.authorization = `Bearer ${state.token}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (exc) {
    throw { code: "network", message: `could not reach the hub (${exc.message})` };
  }
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok) {
    throw (payload && payload.error) || { code: `http_${response.status}`, message: response.statusText };
  }
  return payload;
}

// A Socket.IO call: resolves with the ack's data, rejects with its {code, message, details}.
function call(event, payload) {
  return new Promise((resolve, reject) => {
    if (!state.socket) {
      reject({ code: "offline", message: "not connected" });
      return;
    }
    state.socket.timeout(ACK_TIMEOUT_MS).emit(event, payload, (timeoutError, ack) => {
      if (timeoutError) reject({ code: "timeout", message: `no answer to ${event}` });
      else if (ack && ack.ok) resolve(ack.data);
      else reject((ack && ack.error) || { code: "invalid", message: `bad answer to ${event}` });
    });
  });
}

async function loadSocketIo() {
  try {
    const module = await import(VENDOR_URL);
    return module.io;
  } catch {
    showBanner(
      `The board's socket.io-client is not vendored on this hub. Run \`${VENDOR_COMMAND}\` ` +
        "in the repository (deploy/scripts/bootstrap.sh does it) and reload this page.",
    );
    return null;
  }
}

// --- login ---------------------------------------------------------------------------------

async function logIn(email, password) {
  clearError();
  const tokens = await api("POST", "/api/v1/auth/login", { email, password });
  state.token = tokens.access_token;
  state.me = await api("GET", "/api/v1/me");
  $("#who").textContent = `${state.me.name} · ${state.me.role}`;
  $("#who").dataset.role = state.me.role;
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#logout").hidden = false;
  $("#staff-panel").hidden = !state.me.permissions.includes("live:push");
  document.body.dataset.role = state.me.role;
  await connectSocket();
  await loadResources();
  if (!$("#staff-panel").hidden) await loadStaffBookings();
}

async function showDemoLogins() {
  let demo;
  try {
    demo = await api("GET", "/api/v1/demo");
  } catch {
    return; // not a --demo hub: log in with the form
  }
  const names = new Map(demo.tenants.map((t) => [t.slug, t.name]));
  const label = { user: "Devotee", staff: "Staff" };
  const buttons = $("#demo-buttons");
  for (const user of demo.users) {
    if (!(user.role in label)) continue;
    buttons.append(
      el(
        "button",
        {
          type: "button",
          dataset: { email: user.email, role: user.role },
          onclick: () => logIn(user.email, user.password).catch(showError),
        },
        `${label[user.role]} · ${names.get(user.tenant) || user.tenant}`,
      ),
    );
  }
  $("#demo-logins").hidden = false;
}

// --- socket --------------------------------------------------------------------------------

async function connectSocket() {
  const io = await loadSocketIo();
  if (!io) return;
  const socket = io(location.origin, { auth: { token: state.token }, transports: ["websocket"] });
  state.socket = socket;
  socket.on("connect", () => onConnect().catch(showError));
  socket.on("disconnect", (reason) => setConnection("offline", reason));
  socket.on("connect_error", (err) => {
    setConnection("offline", "refused");
    showError(err.data || { code: "connect_error", message: err.message });
  });
  socket.on("availability", onDelta);
  socket.on("availability:resync", (event) => {
    const sub = state.sub;
    if (sub && sub.stream === event.stream) resubscribe();
  });
  socket.on("notification", onNotification);
  socket.on("notifications:read", onNotificationsRead);
  socket.on("live:status", onLiveStatus);
  socket.on("session:ended", (event) => {
    showError(event);
    setConnection("offline", "session ended");
  });
  socket.on("feed:resync", () => onConnect().catch(showError));
}

function setConnection(stateName, reason) {
  const badge = $("#conn");
  badge.dataset.state = stateName;
  badge.textContent = reason ? `${stateName} (${reason})` : stateName;
}

// Every (re)connect: resume the availability stream and the feed from the last seq applied.
async function onConnect() {
  setConnection("online");
  const first = !state.connectedOnce;
  state.connectedOnce = true;
  if (state.sub) await resubscribe();
  if (first || state.feedSeq === 0) {
    await loadNotifications();
  } else {
    await call("user:sync", { since: state.feedSeq }); // replayed events go to the handlers
  }
}

// --- availability --------------------------------------------------------------------------

function streamName(sub) {
  return `availability:${sub.tenant_id}:${sub.resource_id}:${sub.date}`;
}

async function subscribe(resource_id, date, since) {
  const previous = state.sub;
  const sub = {
    tenant_id: state.me.tenant_id,
    resource_id,
    date,
    stream: null,
    seq: null,
    slots: previous && since != null ? previous.slots : new Map(),
    buffered: [],
    ready: false,
  };
  sub.stream = streamName(sub);
  state.sub = sub;
  if (previous && previous.stream !== sub.stream && previous.ready) {
    call("availability:unsubscribe", { stream: previous.stream }).catch(() => {});
  }
  const payload = { tenant_id: sub.tenant_id, resource_id, date };
  if (since != null) payload.since = since;
  const data = await call("availability:subscribe", payload);
  if (state.sub !== sub) return; // a newer subscription replaced this one
  // The ack is a full snapshot at data.seq for every mode; replayed deltas before it are older.
  sub.stream = data.stream;
  sub.slots = new Map(data.slots.map((slot) => [slot.slot_id, { ...slot }]));
  sub.seq = data.seq;
  sub.ready = true;
  const buffered = sub.buffered;
  sub.buffered = [];
  for (const delta of buffered) applyDelta(sub, delta);
  sub.mode = data.mode + (data.replayed ? `, ${data.replayed} replayed` : "");
  $("#stream-info").dataset.mode = data.mode;
  $("#stream-info").dataset.replayed = String(data.replayed);
  renderStreamInfo(sub);
  renderSlots();
}

function resubscribe() {
  const sub = state.sub;
  if (!sub) return Promise.resolve();
  const since = sub.ready ? sub.seq : null;
  return subscribe(sub.resource_id, sub.date, since).catch(showError);
}

function onDelta(delta) {
  const sub = state.sub;
  if (!sub || delta.stream !== sub.stream) return;
  if (!sub.ready) {
    sub.buffered.push(delta); // a delta may arrive just before the subscribe ack
    return;
  }
  applyDelta(sub, delta);
}

function applyDelta(sub, delta) {
  if (delta.seq <= sub.seq) return; // already applied (or older than the snapshot)
  const first = delta.coalesced ? delta.from_seq : delta.seq;
  if (first > sub.seq + 1) {
    resubscribe(); // a gap: resume from the last seq applied
    return;
  }
  const changed = [];
  for (const slot of delta.slots) {
    const known = sub.slots.get(slot.slot_id);
    if (known) {
      known.available = slot.available;
      changed.push(slot.slot_id);
    }
  }
  sub.seq = delta.seq;
  renderStreamInfo(sub);
  renderSlots(changed);
}

function renderStreamInfo(sub) {
  const info = $("#stream-info");
  info.textContent = `${sub.stream} · seq ${sub.seq} · subscribed: ${sub.mode}`;
  info.dataset.seq = String(sub.seq);
}

function renderSlots(flash = []) {
  const body = $("#slots tbody");
  const sub = state.sub;
  body.replaceChildren();
  if (!sub) return;
  const slots = [...sub.slots.values()].sort((a, b) => a.starts_at.localeCompare(b.starts_at));
  for (const slot of slots) {
    const row = el(
      "tr",
      { dataset: { slotId: slot.slot_id }, className: slot.available === 0 ? "sold-out" : "" },
      el("td", {}, time(slot.starts_at)),
      el("td", {}, time(slot.ends_at)),
      el(
        "td",
        { className: "available", dataset: { available: String(slot.available) } },
        `${slot.available} / ${slot.capacity}`,
      ),
      el("td", {}, rupees(slot.price_paise)),
      el(
        "td",
        {},
        el("button", { type: "button", className: "hold", onclick: () => holdSlot(slot) }, "Hold 1"),
      ),
    );
    if (flash.includes(slot.slot_id)) row.classList.add("flash");
    body.append(row);
  }
}

async function loadResources() {
  const { resources } = await api("GET", "/api/v1/catalog/resources");
  const select = $("#resource");
  select.replaceChildren(
    ...resources.map((r) => el("option", { value: r.resource_id }, `${r.name} (${r.kind})`)),
  );
  if (resources.length) await showResource(select.value);
}

// The date of the resource's next slot that has not ended (dates are the tenant's), so the
// board opens on a day with slots whatever the browser's timezone; today if none.
async function nextSlotDate(resourceId) {
  const from = new Date(Date.now() - 86400000).toISOString().slice(0, 10);
  const to = new Date(Date.now() + 8 * 86400000).toISOString().slice(0, 10);
  try {
    const { slots } = await api("GET", `/api/v1/catalog/resources/${resourceId}/slots?from=${from}&to=${to}`);
    const now = new Date().toISOString();
    const next = slots.find((slot) => slot.ends_at > now);
    return next ? next.local_date : todayLocal();
  } catch {
    return todayLocal();
  }
}

async function showResource(resourceId) {
  $("#date").value = await nextSlotDate(resourceId);
  await subscribe(resourceId, $("#date").value, null);
}

// --- holds ---------------------------------------------------------------------------------

async function holdSlot(slot) {
  clearError();
  try {
    const hold = await call("hold:create", { slot_id: slot.slot_id, qty: 1, idempotency_key: newKey() });
    hold.starts_at = slot.starts_at;
    state.holds.set(hold.hold_id, hold);
    renderHolds();
  } catch (error) {
    showError(error);
  }
}

async function releaseHold(holdId) {
  clearError();
  try {
    const hold = await call("hold:release", { hold_id: holdId });
    hold.starts_at = state.holds.get(holdId)?.starts_at;
    state.holds.set(holdId, hold);
    renderHolds();
  } catch (error) {
    showError(error);
  }
}

function renderHolds() {
  const list = $("#holds");
  list.replaceChildren(
    ...[...state.holds.values()].map((hold) =>
      el(
        "li",
        { dataset: { holdId: hold.hold_id, status: hold.status, slotId: hold.slot_id } },
        `${time(hold.starts_at)} · ${hold.qty} place · `,
        el("span", { className: "status" }, hold.status),
        " ",
        hold.status === "held"
          ? el("button", { type: "button", className: "release", onclick: () => releaseHold(hold.hold_id) }, "Release")
          : "",
        el("div", { className: "meta" }, hold.status === "held" ? `expires ${time(hold.expires_at)}` : hold.hold_id),
      ),
    ),
  );
}

// --- feed: notifications and live status ---------------------------------------------------

// Feed events carry the user stream's seq: apply each once, in order (README "Delivered after
// commit, never lost").
function freshFeedEvent(event) {
  if (!event.stream || !event.stream.startsWith("user:")) return true;
  if (event.seq <= state.feedSeq) return false;
  state.feedSeq = event.seq;
  return true;
}

async function loadNotifications() {
  const page = await call("notifications:list", { limit: 20 });
  for (const item of page.items) state.notifications.set(item.id, item);
  renderNotifications(page.unread);
}

function onNotification(event) {
  if (!freshFeedEvent(event)) return;
  state.notifications.set(event.id, event);
  renderNotifications();
}

function onNotificationsRead(event) {
  if (!freshFeedEvent(event)) return;
  for (const item of state.notifications.values()) {
    if (event.all || event.ids.includes(item.id)) item.read_at = item.read_at || new Date().toISOString();
  }
  renderNotifications();
}

function renderNotifications(unread) {
  const items = [...state.notifications.values()].sort((a, b) => b.created_at.localeCompare(a.created_at));
  const count = unread ?? items.filter((n) => !n.read_at).length;
  $("#unread").textContent = count ? String(count) : "";
  $("#notifications").replaceChildren(
    ...items.map((n) =>
      el(
        "li",
        { dataset: { id: n.id, type: n.type }, className: n.read_at ? "" : "unread" },
        n.title,
        el("div", { className: "meta" }, `${n.body} · ${time(n.created_at)}`),
      ),
    ),
  );
}

function onLiveStatus(event) {
  if (!freshFeedEvent(event)) return;
  state.live.set(event.booking_id, event);
  $("#live").replaceChildren(
    ...[...state.live.values()].map((s) =>
      el(
        "li",
        { dataset: { bookingId: s.booking_id, status: s.status } },
        "Booking ",
        el("code", {}, s.booking_id.slice(0, 8)),
        ": ",
        el("span", { className: "status" }, s.status.replace("_", " ")),
        el("div", { className: "meta" }, `${s.note ? s.note + " · " : ""}${time(s.at)}`),
      ),
    ),
  );
  if (!$("#staff-panel").hidden) loadStaffBookings().catch(showError);
}

// --- staff ---------------------------------------------------------------------------------

function nextStatuses(current) {
  return LIVE_STATUSES.slice(current ? LIVE_STATUSES.indexOf(current) + 1 : 0);
}

async function loadStaffBookings() {
  const { bookings } = await api("GET", "/api/v1/staff/bookings");
  $("#staff-bookings tbody").replaceChildren(
    ...bookings.map((b) =>
      el(
        "tr",
        { dataset: { bookingId: b.booking_id, status: b.live_status || "" } },
        el("td", {}, el("code", {}, b.booking_id.slice(0, 8))),
        el("td", {}, b.resource_name),
        el("td", {}, time(b.starts_at)),
        el("td", {}, b.devotee_name || ""),
        el("td", { className: "status" }, b.live_status || "—"),
        el(
          "td",
          {},
          ...nextStatuses(b.live_status).map((status) =>
            el(
              "button",
              { type: "button", dataset: { push: status }, onclick: () => pushStatus(b.booking_id, status, "") },
              status.replace("_", " "),
            ),
          ),
        ),
      ),
    ),
  );
}

async function pushStatus(bookingId, status, note) {
  clearError();
  const payload = { booking_id: bookingId, status };
  if (note) payload.note = note;
  try {
    const data = await call("live:status", payload);
    const result = $("#push-result");
    result.textContent = `${data.booking_id}: ${data.status}` + (data.changed ? "" : " (unchanged)");
    result.dataset.status = data.status;
    await loadStaffBookings();
  } catch (error) {
    showError(error);
  }
}

// --- wiring --------------------------------------------------------------------------------

$("#login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  logIn($("#email").value.trim(), $("#password").value).catch(showError);
});

$("#pick-form").addEventListener("submit", (event) => {
  event.preventDefault();
  clearError();
  subscribe($("#resource").value, $("#date").value, null).catch(showError);
});

$("#push-form").addEventListener("submit", (event) => {
  event.preventDefault();
  pushStatus($("#push-booking").value.trim(), $("#push-status").value, $("#push-note").value.trim());
});

$("#resource").addEventListener("change", () => {
  clearError();
  showResource($("#resource").value).catch(showError);
});

$("#reload-bookings").addEventListener("click", () => loadStaffBookings().catch(showError));

$("#logout").addEventListener("click", () => location.reload());

// For the console (and the browser test): the board's state, its socket included.
window.sevaBoard = { state };

document.body.dataset.ready = "true";
showDemoLogins();

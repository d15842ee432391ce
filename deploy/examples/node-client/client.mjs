#!/usr/bin/env node
// A minimal Node.js client of Seva Hub on the official socket.io-client. It proves the
// protocol (README "Socket.IO contract") works outside Python:
//
//   1. logs in over REST (POST /api/v1/auth/login, GET /api/v1/me),
//   2. connects with auth {token} and sends availability:subscribe,
//   3. holds a slot (hold:create with an idempotency key) and sees its own delta,
//   4. is forcibly disconnected (the transport is closed under it), misses what happens
//      meanwhile, reconnects and resubscribes with `since` = the last seq it applied: the hub
//      replays the missed deltas, and the client checks the seq sequence has no gap,
//   5. is dropped once more and left to socket.io's automatic reconnection, which resumes too,
//   6. releases its hold and exits 0 (1 if anything failed or a gap was seen).
//
// Every step is one JSON line on stdout.
//
//   npm ci && node client.mjs --url http://127.0.0.1:8080 \
//     --email user@kashi-mandir.demo --password seva-demo-user [--resource-id ID] [--date D]
//     [--slot-id ID] [--pause-on-disconnect]
//
// Without --resource-id/--date it takes the tenant's first resource and the date of its next
// slot with two free places. While
// disconnected it makes a change itself (a second hold over REST, released at the end) unless
// --pause-on-disconnect is given: then it prints {"step": "disconnected"} and waits for a line
// "resume" on stdin, so that someone else (a test) can change the slot meanwhile.

import { randomUUID } from "node:crypto";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { io } from "socket.io-client";

const { values: opts } = parseArgs({
  options: {
    url: { type: "string", default: "http://127.0.0.1:8080" },
    email: { type: "string", default: "user@kashi-mandir.demo" },
    password: { type: "string", default: "seva-demo-user" },
    "resource-id": { type: "string" },
    date: { type: "string" },
    "slot-id": { type: "string" },
    "pause-on-disconnect": { type: "boolean", default: false },
    "timeout-ms": { type: "string", default: "15000" },
  },
});
const TIMEOUT_MS = Number(opts["timeout-ms"]);

function log(step, fields = {}) {
  console.log(JSON.stringify({ step, ...fields }));
}

class HubError extends Error {
  constructor(error) {
    super(`${error.code}: ${error.message}`);
    this.hub = error;
  }
}

async function rest(method, path, { token, body, headers = {} } = {}) {
  const response = await fetch(new URL(path, opts.url), {
    method,
    headers: {
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const payload = await response.json().catch(() => null);
  if (!response.ok) {
    throw new HubError((payload && payload.error) || { code: `http_${response.status}`, message: "" });
  }
  return payload;
}

function call(socket, event, payload) {
  return socket
    .timeout(TIMEOUT_MS)
    .emitWithAck(event, payload)
    .then((ack) => {
      if (!ack.ok) throw new HubError(ack.error);
      return ack.data;
    });
}

async function until(check, what) {
  const deadline = Date.now() + TIMEOUT_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function waitForLine(expected) {
  const lines = createInterface({ input: process.stdin });
  return new Promise((resolve, reject) => {
    lines.on("line", (line) => {
      if (line.trim() === expected) {
        resolve(); // before close(): closing emits "close" at once
        lines.close();
      }
    });
    lines.on("close", () => reject(new Error(`stdin closed before "${expected}"`)));
  });
}

// The availability stream as this client applies it: deltas strictly in seq order.
const feed = {
  stream: null,
  seq: null, // last seq applied
  slots: new Map(),
  ready: false,
  buffered: [],
  applied: [], // every seq applied, in order: must be consecutive
  gaps: [],
};

function applyDelta(delta) {
  if (delta.seq <= feed.seq) return false; // a duplicate (delivery is at least once)
  const first = delta.coalesced ? delta.from_seq : delta.seq;
  if (first !== feed.seq + 1) feed.gaps.push({ after: feed.seq, got: delta.seq });
  for (const slot of delta.slots) {
    const known = feed.slots.get(slot.slot_id);
    if (known) known.available = slot.available;
  }
  feed.seq = delta.seq;
  feed.applied.push(delta.seq);
  return true;
}

function onDelta(delta) {
  if (delta.stream !== feed.stream) return;
  if (feed.ready) applyDelta(delta);
  else feed.buffered.push(delta); // replayed deltas (and fresh ones) may precede the ack
}

async function subscribe(socket, selection, since) {
  feed.ready = false;
  feed.buffered = [];
  const payload = { ...selection };
  if (since !== null) payload.since = since;
  const ack = await call(socket, "availability:subscribe", payload);
  const replayed = [];
  if (ack.mode === "replay") {
    const missed = feed.buffered.filter((delta) => delta.seq <= ack.seq);
    for (const delta of missed.sort((a, b) => a.seq - b.seq)) {
      if (applyDelta(delta)) replayed.push(delta);
    }
    if (feed.seq !== ack.seq) feed.gaps.push({ after: feed.seq, got: ack.seq });
  }
  // The ack is a full snapshot at ack.seq (in every mode): it is the state from here on.
  feed.slots = new Map(ack.slots.map((slot) => [slot.slot_id, { ...slot }]));
  feed.seq = ack.seq;
  const later = feed.buffered.filter((delta) => delta.seq > ack.seq);
  feed.buffered = [];
  feed.ready = true;
  for (const delta of later.sort((a, b) => a.seq - b.seq)) applyDelta(delta);
  return { ack, replayed };
}

// The tenant-local date of the resource's next slot that has not ended.
async function nextSlotDate(token, resourceId) {
  const day = (offset) => new Date(Date.now() + offset * 86400000).toISOString().slice(0, 10);
  const { slots } = await rest(
    "GET",
    `/api/v1/catalog/resources/${resourceId}/slots?from=${day(-1)}&to=${day(8)}`,
    { token },
  );
  const now = Date.now();
  const next = slots.find((slot) => Date.parse(slot.ends_at) > now && slot.available >= 2);
  if (!next) throw new Error("no slot with two free places in the next 8 days");
  return next.local_date;
}

async function main() {
  const tokens = await rest("POST", "/api/v1/auth/login", {
    body: { email: opts.email, password: opts.password },
  });
  const token = tokens.access_token;
  const me = await rest("GET", "/api/v1/me", { token });
  log("logged_in", { user_id: me.user_id, tenant_id: me.tenant_id, role: me.role });

  let resourceId = opts["resource-id"];
  if (!resourceId) {
    const { resources } = await rest("GET", "/api/v1/catalog/resources", { token });
    resourceId = resources[0].resource_id;
  }
  const selection = {
    tenant_id: me.tenant_id,
    resource_id: resourceId,
    date: opts.date || (await nextSlotDate(token, resourceId)),
  };
  feed.stream = `availability:${selection.tenant_id}:${selection.resource_id}:${selection.date}`;

  const socket = io(opts.url, {
    auth: { token },
    transports: ["websocket"],
    reconnectionDelay: 100,
    reconnectionDelayMax: 1000,
  });
  socket.on("availability", onDelta);
  socket.on("connect_error", (err) => log("connect_error", { error: err.data || err.message }));
  const connects = [];
  socket.on("connect", () => connects.push(Date.now()));
  await until(() => connects.length === 1, "the first connect");
  log("connected", { transport: socket.io.engine.transport.name });

  const first = await subscribe(socket, selection, null);
  const startSeq = first.ack.seq;
  log("subscribed", { stream: first.ack.stream, seq: startSeq, mode: first.ack.mode, slots: first.ack.slots.length });

  const slot = opts["slot-id"]
    ? feed.slots.get(opts["slot-id"])
    : [...feed.slots.values()].find((s) => s.available >= 2);
  if (!slot) throw new Error("no slot with two free places on that date");
  const hold = await call(socket, "hold:create", { slot_id: slot.slot_id, qty: 1, idempotency_key: randomUUID() });
  await until(() => feed.seq >= startSeq + 1, "the delta of our own hold");
  log("hold", { hold_id: hold.hold_id, slot_id: hold.slot_id, status: hold.status, seq: feed.seq, available: feed.slots.get(slot.slot_id).available });

  // Forced disconnect: close the transport under the client. Automatic reconnection is off
  // for this first drop so the gap is ours to fill; it is back on for the second one.
  socket.io.reconnection(false);
  const lastSeqBefore = feed.seq;
  const disconnected = new Promise((resolve) => socket.once("disconnect", resolve));
  socket.io.engine.close();
  const reason = await disconnected;
  log("disconnected", { reason, last_seq: lastSeqBefore });
  let ownRestHold = null;
  if (opts["pause-on-disconnect"]) {
    await waitForLine("resume");
  } else {
    ownRestHold = await rest("POST", "/api/v1/holds", {
      token,
      headers: { "idempotency-key": randomUUID() },
      body: { slot_id: slot.slot_id, qty: 1 },
    });
  }
  // Recovery: reconnect; resubscribe with since = the last seq applied.
  const recovered = new Promise((resolve, reject) => {
    socket.once("connect", () => subscribe(socket, selection, feed.seq).then(resolve, reject));
  });
  socket.io.reconnection(true);
  socket.connect();
  const again = await recovered;
  log("recovered", {
    since: lastSeqBefore,
    mode: again.ack.mode,
    replayed: again.ack.replayed,
    seq: feed.seq,
    replayed_deltas: again.replayed,
    gap_free: feed.gaps.length === 0,
  });

  // A second drop, left to socket.io's own reconnection: the connect handler resumes.
  const resumedAuto = new Promise((resolve, reject) => {
    socket.once("connect", () => subscribe(socket, selection, feed.seq).then(resolve, reject));
  });
  const seqBeforeAuto = feed.seq;
  socket.io.engine.close();
  const auto = await resumedAuto;
  log("reconnected_automatically", { since: seqBeforeAuto, mode: auto.ack.mode, replayed: auto.ack.replayed, seq: feed.seq });

  const target = feed.seq + (ownRestHold ? 2 : 1); // a delta may come before the ack
  const released = await call(socket, "hold:release", { hold_id: hold.hold_id });
  if (ownRestHold) await rest("DELETE", `/api/v1/holds/${ownRestHold.hold_id}`, { token });
  await until(() => feed.seq >= target, "the release deltas");
  log("released", { hold_id: released.hold_id, status: released.status, seq: feed.seq });

  socket.close();
  const seqs = feed.applied;
  const gapFree = feed.gaps.length === 0 && seqs.every((seq, i) => i === 0 || seq === seqs[i - 1] + 1);
  log("done", { ok: gapFree, gap_free: gapFree, first_seq: startSeq, seqs, gaps: feed.gaps, connects: connects.length });
  return gapFree ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    log("failed", { error: error.hub || String(error.stack || error) });
    process.exit(1);
  },
);

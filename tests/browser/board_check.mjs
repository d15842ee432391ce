// Drives the web board (hub/web/) in headless Debian chromium for tests/e2e/test_web_board.py.
//
//   node tests/browser/board_check.mjs <config.json>
//
// config: {url, chromium, screenshot, resource_id, date, slot_id, capacity, booking_id,
//          devotee_a: {email, password}, devotee_b: {...}, staff: {...}}
// Two devotee pages and a staff page log in through the form. A holds a slot and B must see
// its availability drop (time measured here, from the click to B's DOM change), A releases and
// B sees it restored, B is dropped while A holds again and resumes with `since`, the staff
// page pushes live status and B shows it, a backwards push shows the hub's error. Prints one JSON line per step and a final {"step": "done", ...}; exits 1
// with {"step": "failed", "error": ...} on the first failure.

import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const STEP_TIMEOUT_MS = 15000;
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function report(step, fields = {}) {
  console.log(JSON.stringify({ step, ...fields }));
}

const pageErrors = [];

async function openPage(context, name) {
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on("pageerror", (error) => pageErrors.push(`${name}: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") pageErrors.push(`${name} console: ${message.text()}`);
  });
  await page.goto(config.url, { waitUntil: "load" });
  await page.waitForSelector("body[data-ready=true]");
  return page;
}

async function logIn(page, who) {
  await page.fill("#email", who.email);
  await page.fill("#password", who.password);
  await page.click("#login-button");
  await page.waitForSelector("#conn[data-state=online]");
  await page.waitForSelector("#app:not([hidden])");
}

async function showSlots(page) {
  await page.selectOption("#resource", config.resource_id);
  await page.fill("#date", config.date);
  await page.click("#show-slots");
  await page.waitForSelector(`#stream-info[data-mode=snapshot]`);
}

function availableCell(slotId, available) {
  return `tr[data-slot-id="${slotId}"] td.available[data-available="${available}"]`;
}

// Milliseconds from just before `act` until `selector` is in `page`; with the wall-clock
// time (ms since the epoch) of that start, for comparison with other clients on this machine.
async function timed(page, selector, act) {
  const seen = page.waitForSelector(selector, { state: "attached" });
  const startedAt = Date.now();
  const started = performance.now();
  await act();
  await seen;
  return { ms: Math.round(performance.now() - started), startedAt };
}

async function timeUntil(page, selector, act) {
  return (await timed(page, selector, act)).ms;
}

async function main() {
  // launch() gives chromium a fresh temporary --user-data-dir; each page below gets its own
  // context (own storage), like three people on three machines.
  const browser = await chromium.launch({
    executablePath: config.chromium,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  try {
    const [contextA, contextB, contextStaff, contextBare] = await Promise.all(
      [0, 1, 2, 3].map(() => browser.newContext({ viewport: { width: 1280, height: 900 } })),
    );
    const pageA = await openPage(contextA, "devotee A");
    const pageB = await openPage(contextB, "devotee B");
    const pageStaff = await openPage(contextStaff, "staff");
    await logIn(pageA, config.devotee_a);
    await logIn(pageB, config.devotee_b);
    await logIn(pageStaff, config.staff);
    report("logged_in", {
      roles: [
        await pageA.getAttribute("#who", "data-role"),
        await pageB.getAttribute("#who", "data-role"),
        await pageStaff.getAttribute("#who", "data-role"),
      ],
      staff_panel: await pageStaff.isVisible("#staff-panel"),
      devotee_staff_panel: await pageA.isVisible("#staff-panel"),
    });

    await showSlots(pageA);
    await showSlots(pageB);
    const full = config.capacity;
    await pageA.waitForSelector(availableCell(config.slot_id, full));
    await pageB.waitForSelector(availableCell(config.slot_id, full));
    report("slots_shown", { slots: await pageB.locator("#slots tbody tr").count() });

    const { ms: holdSeenMs, startedAt: holdClickedAt } = await timed(
      pageB,
      availableCell(config.slot_id, full - 1),
      () => pageA.click(`tr[data-slot-id="${config.slot_id}"] button.hold`),
    );
    const heldItem = `#holds li[data-slot-id="${config.slot_id}"][data-status=held]`;
    await pageA.waitForSelector(heldItem);
    const holdId = await pageA.getAttribute(heldItem, "data-hold-id");
    report("hold_seen_by_other_page", { hold_id: holdId, ms: holdSeenMs, clicked_at_ms: holdClickedAt });

    const releaseSeenMs = await timeUntil(pageB, availableCell(config.slot_id, full), () =>
      pageA.click(`${heldItem} button.release`),
    );
    await pageA.waitForSelector(`#holds li[data-hold-id="${holdId}"][data-status=released]`);
    report("release_seen_by_other_page", { hold_id: holdId, ms: releaseSeenMs });

    // Page B loses its connection while A holds again; on reconnect it resumes with `since`
    // and gets the missed delta replayed (automatic reconnection paused for the drop).
    await pageB.evaluate(() => {
      const socket = window.sevaBoard.state.socket;
      socket.io.reconnection(false);
      socket.io.engine.close();
    });
    await pageB.waitForSelector("#conn[data-state=offline]");
    const seqBefore = Number(await pageB.getAttribute("#stream-info", "data-seq"));
    await pageA.click(`tr[data-slot-id="${config.slot_id}"] button.hold`);
    await pageA.waitForSelector(heldItem);
    await pageB.evaluate(() => {
      const socket = window.sevaBoard.state.socket;
      socket.io.reconnection(true);
      socket.connect();
    });
    await pageB.waitForSelector("#stream-info[data-mode=replay]");
    await pageB.waitForSelector(availableCell(config.slot_id, full - 1));
    report("recovered_after_disconnect", {
      seq_before: seqBefore,
      seq_after: Number(await pageB.getAttribute("#stream-info", "data-seq")),
      replayed: Number(await pageB.getAttribute("#stream-info", "data-replayed")),
    });
    await pageA.click(`${heldItem} button.release`);
    await pageB.waitForSelector(availableCell(config.slot_id, full));

    const bookingRow = `#staff-bookings tr[data-booking-id="${config.booking_id}"]`;
    await pageStaff.waitForSelector(bookingRow);
    const liveSeenMs = await timeUntil(
      pageB,
      `#live li[data-booking-id="${config.booking_id}"][data-status=started]`,
      () => pageStaff.click(`${bookingRow} button[data-push=started]`),
    );
    await pageStaff.waitForSelector(`${bookingRow}[data-status=started]`);
    report("live_status_seen_by_devotee", { booking_id: config.booking_id, ms: liveSeenMs });

    // Forward only: pushing "assigned" now is refused, and the page shows the hub's error.
    await pageStaff.fill("#push-booking", config.booking_id);
    await pageStaff.selectOption("#push-status", "assigned");
    await pageStaff.click("#push-button");
    await pageStaff.waitForSelector("#error:not([hidden])");
    const refused = {
      code: await pageStaff.getAttribute("#error", "data-code"),
      text: await pageStaff.textContent("#error"),
    };
    report("backwards_push_refused", refused);

    await pageB.waitForSelector(`#notifications li[data-type=puja_started]`);
    report("notification_shown", {
      unread: Number((await pageB.textContent("#unread")) || "0"),
      types: await pageB.$$eval("#notifications li", (items) => items.map((li) => li.dataset.type)),
    });

    await pageB.screenshot({ path: config.screenshot, fullPage: true });
    report("screenshot", { path: config.screenshot });

    // Without the vendored library the page explains how to get it instead of breaking.
    await contextBare.route("**/board/vendor/**", (route) =>
      route.fulfill({ status: 404, contentType: "application/json", body: "{}" }),
    );
    const pageBare = await contextBare.newPage();
    pageBare.setDefaultTimeout(STEP_TIMEOUT_MS);
    await pageBare.goto(config.url, { waitUntil: "load" });
    await pageBare.fill("#email", config.devotee_a.email);
    await pageBare.fill("#password", config.devotee_a.password);
    await pageBare.click("#login-button"); // logs in over REST, but cannot open a socket
    await pageBare.waitForSelector("#banner:not([hidden])");
    report("missing_vendor_explained", { banner: await pageBare.textContent("#banner") });

    const unexpected = pageErrors.filter((e) => !e.includes("Failed to load resource"));
    report("done", {
      ok: unexpected.length === 0,
      page_errors: unexpected,
      hold_seen_ms: holdSeenMs,
      release_seen_ms: releaseSeenMs,
      live_status_seen_ms: liveSeenMs,
    });
    return unexpected.length === 0 ? 0 : 1;
  } finally {
    await browser.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    report("failed", { error: String(error && error.stack ? error.stack : error), page_errors: pageErrors });
    process.exit(1);
  },
);

"use strict";
// Ticks on the server's clock: the offset between the visitor's clock and
// the server's is measured as NTP does, and each tick is scheduled for the
// next second boundary, so the page never drifts.
(() => {
  const $ = (id) => document.getElementById(id);
  const clock = $("time"), day = $("date"), note = $("offset");
  // The instant the server rendered: 2026-11-26T19:04:09.123+03:00.
  const rendered = clock.dateTime, zone = rendered.slice(-6);
  const zoneMs = (zone[0] == "-" ? -6e4 : 6e4) * (zone.slice(1, 3) * 60 + +zone.slice(4));
  const DAYS = "Sunday Monday Tuesday Wednesday Thursday Friday Saturday".split(" ");
  const MONTHS = "January February March April May June July August September October November December".split(" ");
  const pad = (n) => String(n).padStart(2, "0");
  // Server clock minus visitor clock (ms): from the rendered instant until a
  // sync measures it, so the page is right even if the server never answers.
  let offset = Date.parse(rendered) - Date.now(), timer, resync, syncing;
  // Wall clock minus monotonic clock: moves when the visitor's clock is set
  // or the machine wakes from sleep, and then the offset is stale.
  const base = () => Date.now() - performance.now();
  let lastBase = base();

  function tick() {
    const now = Date.now() + offset;
    const t = new Date(now + zoneMs); // Moscow's wall clock, read with the UTC getters
    const ymd = t.getUTCFullYear() + "-" + pad(t.getUTCMonth() + 1) + "-" + pad(t.getUTCDate());
    const hms = pad(t.getUTCHours()) + ":" + pad(t.getUTCMinutes()) + ":" + pad(t.getUTCSeconds());
    if (clock.textContent != hms) {
      clock.textContent = hms;
      clock.dateTime = ymd + "T" + hms + zone;
      document.title = hms + " Moscow time";
    }
    if (day.dateTime != ymd) {
      day.dateTime = ymd;
      day.textContent = DAYS[t.getUTCDay()] + ", " + t.getUTCDate() + " " + MONTHS[t.getUTCMonth()] + " " + t.getUTCFullYear();
    }
    clearTimeout(timer);
    timer = setTimeout(tick, 1000 - (now % 1000));
    if (Math.abs(base() - lastBase) > 1000) sync();
  }

  // One round trip; the server read its clock about halfway through it.
  async function sample() {
    const sent = Date.now(), start = performance.now();
    const reply = await fetch("/api/time", { cache: "no-store", signal: AbortSignal.timeout(5000) });
    if (!reply.ok) throw Error(reply.status);
    const server = (await reply.json()).unix_ms, rtt = performance.now() - start;
    if (!Number.isFinite(server)) throw Error("no unix_ms");
    return { rtt, offset: server - sent - rtt / 2 };
  }

  // The sample with the shortest round trip has the smallest error.
  async function sync() {
    if (syncing) return;
    syncing = true;
    lastBase = base();
    let best;
    for (let i = 0; i < 4; i++) {
      try {
        const s = await sample();
        if (!best || s.rtt < best.rtt) best = s;
      } catch {} // unreachable: keep ticking on the offset we have
    }
    syncing = false;
    if (best) {
      offset = best.offset;
      tick();
      tell();
    }
    clearTimeout(resync);
    resync = setTimeout(sync, 6e5);
  }

  function tell() {
    const s = Math.round(Math.abs(offset) / 1000);
    const parts = [[s / 3600, "h"], [s / 60 % 60, "min"], [s % 60, "s"]]
      .map(([n, unit]) => Math.floor(n) && Math.floor(n) + " " + unit).filter(Boolean);
    const text = Math.abs(offset) > 1000
      ? "Your clock is " + parts.join(" ") + (offset < 0 ? " ahead" : " behind") : "";
    if (note.textContent != text) note.textContent = text;
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) tick(), sync();
  });
  document.documentElement.classList.add("live");
  tick();
  sync();
})();

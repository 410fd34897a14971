// etcd-monitor dashboard script. The pages work without it; it adds:
// - local times: every <time data-ts> shows the viewer's local time (UTC stays in its title);
// - live updates: the page listens to the server-sent events named in <body data-events>
//   and, on each new snapshot, fetches the page again and swaps in its <main>;
// - chart hover: the value nearest the pointer, from the chart's data attributes.
"use strict";

(function () {
  const pad = (n) => String(n).padStart(2, "0");
  function localText(ms, withDate) {
    const d = new Date(ms);
    const time = pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    if (!withDate) return time;
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + time;
  }

  function localTimes(root) {
    root.querySelectorAll("time[data-ts]").forEach((el) => {
      const ms = Number(el.dataset.ts);
      if (Number.isFinite(ms)) {
        const today = new Date().toDateString() === new Date(ms).toDateString();
        el.textContent = localText(ms, !today);
      }
    });
    // Chart axis labels carry data-ts and the form the server chose (data-fmt).
    // (and the times in "no data before 04:20").
    root.querySelectorAll("svg text[data-ts], svg tspan[data-ts]").forEach((el) => {
      const ms = Number(el.dataset.ts);
      if (!Number.isFinite(ms)) return;
      const d = new Date(ms);
      const hm = pad(d.getHours()) + ":" + pad(d.getMinutes());
      const md = pad(d.getMonth() + 1) + "-" + pad(d.getDate());
      const forms = {
        hms: hm + ":" + pad(d.getSeconds()),
        hm: hm,
        md: md,
        ymd: d.getFullYear() + "-" + md,
        ym: d.getFullYear() + "-" + pad(d.getMonth() + 1),
      };
      const text = forms[el.dataset.fmt];
      if (text) el.textContent = text;
    });
  }

  // --- chart hover --------------------------------------------------------------
  function hover(root) {
    root.querySelectorAll("figure.chart").forEach((fig) => {
      const svg = fig.querySelector("svg");
      if (!svg || fig.dataset.hover) return;
      fig.dataset.hover = "1";
      const pts = Array.from(svg.querySelectorAll(".pts circle"));
      if (pts.length === 0) return;
      const tip = document.createElement("div");
      tip.className = "tip";
      tip.hidden = true;
      fig.appendChild(tip);
      let lit = null;
      svg.addEventListener("mousemove", (ev) => {
        const box = svg.getBoundingClientRect();
        const vb = svg.viewBox.baseVal;
        const x = ((ev.clientX - box.left) / box.width) * vb.width + vb.x;
        let best = null, bestDx = Infinity;
        for (const c of pts) {
          const dx = Math.abs(Number(c.getAttribute("cx")) - x);
          if (dx < bestDx) { bestDx = dx; best = c; }
        }
        if (!best) return;
        if (lit) lit.classList.remove("hover");
        best.classList.add("hover");
        lit = best;
        const ms = Number(best.dataset.ts);
        // The series' name is its legend entry's text.
        const entry = svg.querySelector('.legend .li[data-s="' + best.dataset.s + '"] text');
        const name = entry ? entry.textContent : "";
        tip.textContent = (name ? name + ": " : "") + (best.dataset.v || "") +
          " at " + localText(ms, true);
        tip.hidden = false;
        const fx = ev.clientX - fig.getBoundingClientRect().left;
        tip.style.left = Math.min(fx + 12, fig.clientWidth - tip.offsetWidth - 4) + "px";
        tip.style.top = "8px";
      });
      svg.addEventListener("mouseleave", () => {
        tip.hidden = true;
        if (lit) lit.classList.remove("hover");
      });
    });
  }

  // --- live updates ---------------------------------------------------------------
  const live = document.getElementById("live");
  function setLive(on, why) {
    if (!live) return;
    live.classList.toggle("on", on);
    live.classList.toggle("off", !on);
    live.textContent = on ? "live" : "paused";
    live.title = why;
  }

  let refreshing = false, again = false;
  async function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    try {
      const res = await fetch(location.href, { headers: { "Accept": "text/html" }, cache: "no-store" });
      if (!res.ok) return; // keep what is shown; the next event tries again
      const doc = new DOMParser().parseFromString(await res.text(), "text/html");
      const fresh = doc.getElementById("main");
      const main = document.getElementById("main");
      // Not while the user types into a form on the page.
      const active = document.activeElement;
      const typing = main && main.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName);
      if (fresh && main && !typing) {
        main.replaceWith(fresh);
        document.title = doc.title;
        localTimes(fresh);
        hover(fresh);
        document.body.dataset.refreshed = String(Date.now());
      }
    } catch (e) {
      setLive(false, "live updates: the server did not answer (" + e + ")");
    } finally {
      refreshing = false;
      if (again) { again = false; setTimeout(refresh, 250); }
    }
  }

  function listen() {
    const url = document.body.dataset.events;
    if (!url || !window.EventSource) {
      if (live) live.hidden = true;
      return;
    }
    const es = new EventSource(url);
    es.onopen = () => setLive(true, "live updates: connected");
    es.onerror = () => setLive(false, "live updates: reconnecting");
    es.addEventListener("snapshot", () => refresh());
  }

  document.addEventListener("DOMContentLoaded", () => {
    localTimes(document);
    hover(document);
    listen();
  });
})();

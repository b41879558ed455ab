// The web console's only script (ours): refresh a live section in place, show times locally.
"use strict";

function localTimes(root) {
  for (const el of root.querySelectorAll("time.local[data-epoch-seconds]")) {
    const seconds = Number(el.dataset.epochSeconds);
    if (Number.isFinite(seconds)) {
      el.textContent = new Date(seconds * 1000).toLocaleString();
    }
  }
}

async function refresh(live) {
  try {
    const response = await fetch(window.location.href, { credentials: "same-origin" });
    if (response.ok) {
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById(live.id);
      if (fresh) {
        live.replaceChildren(...fresh.childNodes);
        localTimes(live);
      }
    }
  } catch (_) {
    // The controller may be restarting: the next refresh tries again.
  }
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  const live = document.querySelector("[data-refresh-seconds]");
  if (live) {
    const seconds = Number(live.dataset.refreshSeconds) || 5;
    setInterval(() => refresh(live), seconds * 1000);
  }
});

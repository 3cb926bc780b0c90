// The labelling page: fetch suggestions, send yes/no answers, train. Plain DOM, no framework.
(function () {
  "use strict";
  const root = document.getElementById("labeller");
  const name = root.dataset.name;
  const list = document.getElementById("suggestions");
  const message = document.getElementById("message");
  const counts = document.getElementById("counts");
  const tokenBox = document.getElementById("token-box");
  const BATCH = 12;

  // A token in the address (?token=...) is kept for this browser tab and removed from the address bar.
  const params = new URLSearchParams(location.search);
  if (params.get("token")) {
    sessionStorage.setItem("artlens-token", params.get("token"));
    params.delete("token");
    history.replaceState(null, "", location.pathname + "?" + params.toString());
  }
  const token = () => sessionStorage.getItem("artlens-token") || "";
  document.getElementById("token-save").addEventListener("click", () => {
    sessionStorage.setItem("artlens-token", document.getElementById("token").value.trim());
    tokenBox.hidden = true;
    message.textContent = "Token saved for this tab.";
  });

  function showCounts(c) {
    const yes = c.yes || 0, no = c.no || 0;
    counts.innerHTML = `<strong>${yes}</strong> yes · <strong>${no}</strong> no`;
  }

  async function send(method, url, body) {
    const r = await fetch(url, {
      method, headers: { "Content-Type": "application/json", "Authorization": "Bearer " + token() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await r.json().catch(() => ({}));
    if (r.status === 401 || r.status === 403) {
      if (root.dataset.writes === "1") tokenBox.hidden = false;
      throw new Error(data.error || "not allowed");
    }
    if (!r.ok) throw new Error(data.error || r.statusText);
    return data;
  }

  function card(s) {
    const li = document.createElement("li");
    li.className = "card label-card";
    li.dataset.id = s.id;
    const title = (s.metadata && (s.metadata.title || s.metadata.artist)) || s.path.split("/").pop();
    li.innerHTML = `<a class="thumb" href="/artworks/${s.id}" target="_blank" rel="noopener"><img src="/api/artworks/${s.id}/thumbnail" alt=""></a>
      <div class="card-body"><span class="card-title"></span><p class="small muted reason"></p>
      <div class="answer"><button type="button" class="button yes">Yes</button><button type="button" class="button secondary no">No</button></div></div>`;
    li.querySelector(".card-title").textContent = title;
    li.querySelector("img").alt = title;
    li.querySelector(".reason").textContent = s.reason + (s.reason === "model unsure" ? ` (${Math.round(100 * s.score)}%)` : "");
    for (const [cls, value] of [["yes", "yes"], ["no", "no"]]) {
      li.querySelector("." + cls).addEventListener("click", async () => {
        li.querySelectorAll("button").forEach((b) => (b.disabled = true));
        try {
          const res = await send("PUT", `/api/artworks/${s.id}/labels/${encodeURIComponent(name)}`, { value });
          showCounts(res.counts);
          li.classList.add("answered", value);
          li.querySelector(".reason").textContent = "answered: " + value;
          if (!list.querySelector("li:not(.answered)")) load();
        } catch (e) {
          message.textContent = e.message;
          li.querySelectorAll("button").forEach((b) => (b.disabled = false));
        }
      });
    }
    return li;
  }

  async function load() {
    message.textContent = "Choosing works to ask about…";
    const r = await fetch(`/api/labels/${encodeURIComponent(name)}/suggestions?n=${BATCH}`);
    const data = await r.json();
    if (!r.ok) { message.textContent = data.error || r.statusText; return; }
    showCounts(data.counts);
    list.replaceChildren(...data.suggestions.map(card));
    message.textContent = data.suggestions.length ? "" : "Every artwork has an answer.";
  }

  document.getElementById("train").addEventListener("click", async (ev) => {
    const out = document.getElementById("trained");
    ev.target.disabled = true;
    out.textContent = "Training and describing every artwork…";
    try {
      const t = await send("POST", `/api/labels/${encodeURIComponent(name)}/train`);
      const h = t.held_out, d = t.decisions;
      const pct = (x) => (x === null || x === undefined ? "n/a" : Math.round(100 * x) + "%");
      out.innerHTML = `<p>Trained on ${t.data.labelled} answers (${t.data.held_out} held out). Held-out precision of its
        confident decisions ${pct(h.confident_precision)} at coverage ${pct(h.confident_coverage)}.
        The collection now says: <strong>${d.yes || 0}</strong> yes, ${d.no || 0} no, ${d.unsure || 0} unsure.
        <a href="/browse?where=pred.${encodeURIComponent(name)}%3Dyes">See the works it says yes to</a>.</p>`;
    } catch (e) {
      out.textContent = "Could not train: " + e.message;
    } finally {
      ev.target.disabled = false;
    }
  });

  load();
})();

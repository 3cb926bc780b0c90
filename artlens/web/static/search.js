// ArtLens search page: a moodboard of uploaded images and collection artworks, facet weights,
// metadata filters; calls POST /api/search and renders result cards. No dependencies.
(function () {
  "use strict";
  var K = 24;
  // The collection's facets and default mix come from the sliders the page rendered.
  var SLIDERS = Array.prototype.slice.call(document.querySelectorAll("input[data-facet]"));
  var FACETS = SLIDERS.map(function (s) { return s.dataset.facet; });
  var DEFAULTS = {}, LABELS = {};
  SLIDERS.forEach(function (s) { DEFAULTS[s.dataset.facet] = Number(s.dataset.default); LABELS[s.dataset.facet] = s.dataset.label; });
  var board = [];        // {kind: "file"|"id", file, url, id, label, avoid}
  var filters = [];      // "COLUMN=VALUE"
  var offset = 0;
  var seq = 0;           // only the latest search may render
  var nextKey = 1;

  var $ = function (id) { return document.getElementById(id); };
  var el = function (tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      if (k === "text") e.textContent = attrs[k];
      else if (k === "class") e.className = attrs[k];
      else e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  };

  function showError(msg) {
    var box = $("error");
    if (!msg) { box.hidden = true; box.textContent = ""; return; }
    box.hidden = false;
    box.textContent = msg;
  }
  function setStatus(msg) { $("status").textContent = msg; }

  // ---- moodboard ----
  function addFiles(files) {
    Array.prototype.forEach.call(files, function (f) {
      board.push({ key: nextKey++, kind: "file", file: f, url: URL.createObjectURL(f), label: f.name, avoid: false });
    });
    renderBoard(); search(false);
  }
  function addId(id, label) {
    id = parseInt(id, 10);
    if (isNaN(id) || board.some(function (b) { return b.kind === "id" && b.id === id; })) return;
    board.push({ key: nextKey++, kind: "id", id: id, url: "/api/artworks/" + id + "/thumbnail", label: label || ("artwork " + id), avoid: false });
    renderBoard(); search(false);
  }
  function renderBoard() {
    var ul = $("board");
    ul.textContent = "";
    board.forEach(function (b) {
      var avoid = el("input", { type: "checkbox", "aria-label": "Avoid " + b.label });
      avoid.checked = b.avoid;
      avoid.addEventListener("change", function () { b.avoid = avoid.checked; renderBoard(); search(false); });
      var remove = el("button", { type: "button", class: "remove", title: "Remove", "aria-label": "Remove " + b.label, text: "×" });
      remove.addEventListener("click", function () {
        board = board.filter(function (x) { return x !== b; });
        if (b.kind === "file") URL.revokeObjectURL(b.url);
        renderBoard(); search(false);
      });
      var li = el("li", { class: "board-item" + (b.avoid ? " avoid" : ""), title: b.label }, [
        el("img", { src: b.url, alt: b.label }),
        remove,
        el("label", { class: "avoid-toggle small" }, [avoid, el("span", { text: "avoid" })])
      ]);
      ul.appendChild(li);
    });
    var pos = board.filter(function (b) { return !b.avoid; }).length;
    $("board-empty").hidden = board.length > 0;
    $("board-count").textContent = board.length ? "(" + pos + " match" + (board.length > pos ? ", " + (board.length - pos) + " avoid" : "") + ")" : "";
  }

  // ---- weights ----
  function weights() {
    return FACETS.map(function (f) { return f + "=" + $("w-" + f).value; }).join(",");
  }
  document.querySelectorAll("input[data-facet]").forEach(function (input) {
    var out = $(input.id + "-out");
    input.addEventListener("input", function () { out.textContent = Number(input.value).toFixed(2); });
    input.addEventListener("change", function () { search(false); });
  });
  $("reset-weights").addEventListener("click", function () {
    Object.keys(DEFAULTS).forEach(function (f) { $("w-" + f).value = DEFAULTS[f]; $("w-" + f + "-out").textContent = DEFAULTS[f].toFixed(2); });
    search(false);
  });

  // ---- filters ----
  function renderChips() {
    var ul = $("chips");
    ul.textContent = "";
    filters.forEach(function (w) {
      var x = el("button", { type: "button", class: "chip-x", "aria-label": "Remove filter " + w, title: "Remove", text: "×" });
      x.addEventListener("click", function () { filters = filters.filter(function (f) { return f !== w; }); renderChips(); search(false); });
      ul.appendChild(el("li", { class: "chip" }, [el("span", { text: w }), x]));
    });
  }
  $("filter-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var input = $("filter-input");
    var w = input.value.trim();
    if (!w) return;
    if (w.indexOf("=") < 1) { showError("A filter is COLUMN=VALUE (or COLUMN!=VALUE), e.g. style=Baroque."); return; }
    if (filters.indexOf(w) < 0) filters.push(w);
    input.value = "";
    renderChips(); search(false);
  });

  // ---- search ----
  function search(more) {
    var positives = board.filter(function (b) { return !b.avoid; });
    if (!positives.length) {
      seq++;
      $("results").textContent = ""; $("more").hidden = true;
      showError(board.length ? "Every image on the board is marked “avoid”: add at least one image to match." : "");
      setStatus(board.length ? "" : "Add an image or pick an artwork to start.");
      return;
    }
    if (!more) offset = 0;
    var fd = new FormData();
    board.forEach(function (b) {
      if (b.kind === "file") fd.append(b.avoid ? "not_image" : "image", b.file, b.file.name);
      else fd.append(b.avoid ? "not_id" : "id", String(b.id));
    });
    fd.append("weights", weights());
    filters.forEach(function (w) { fd.append("where", w); });
    fd.append("k", String(K));
    fd.append("offset", String(offset));
    var mine = ++seq;
    setStatus("Searching…");
    document.body.classList.add("busy");
    var t0 = performance.now();
    fetch("/api/search", { method: "POST", body: fd }).then(function (r) {
      return r.json().catch(function () { return { error: "the server answered " + r.status + " " + r.statusText }; })
        .then(function (body) { return { ok: r.ok, status: r.status, body: body }; });
    }).then(function (res) {
      if (mine !== seq) return;
      document.body.classList.remove("busy");
      if (!res.ok) {
        showError(res.body.error || ("Search failed (" + res.status + ")"));
        setStatus("");
        if (!more) $("results").textContent = "";
        $("more").hidden = true;
        return;
      }
      showError("");
      renderResults(res.body.results, more);
      var n = $("results").children.length;
      setStatus(n ? n + " result" + (n === 1 ? "" : "s") + " · " + Math.round(performance.now() - t0) + " ms" : "No artworks match.");
      $("more").hidden = !res.body.has_more;
    }).catch(function (err) {
      if (mine !== seq) return;
      document.body.classList.remove("busy");
      showError("Could not reach the server: " + err.message);
      setStatus("");
    });
  }

  function bar(facet, score) {
    var pct = Math.max(0, Math.min(1, score)) * 100;
    var fill = el("span", { class: "f-" + facet });
    fill.style.width = pct.toFixed(0) + "%";  // CSSOM, not a style attribute: the page's CSP allows no inline styles
    return el("div", { class: "fbar", title: LABELS[facet] + " similarity " + score.toFixed(3) }, [
      el("span", { class: "fname", text: LABELS[facet] }),
      el("span", { class: "bar", "aria-hidden": "true" }, [fill]),
      el("span", { class: "fval", text: score.toFixed(2) })
    ]);
  }

  function renderResults(results, append) {
    var ol = $("results");
    if (!append) ol.textContent = "";
    results.forEach(function (h) {
      var md = h.metadata || {};
      var name = md.title || md.artist || h.path.split("/").pop();
      var href = "/artworks/" + h.id;
      var kv = el("dl", { class: "kv small" });
      Object.keys(md).filter(function (k) { return k !== "title" && k !== "artist"; }).slice(0, 4).forEach(function (k) {
        kv.appendChild(el("div", null, [el("dt", { text: k }), el("dd", { text: md[k] })]));
      });
      var use = el("button", { type: "button", class: "button secondary small use", text: "Use as query" });
      use.addEventListener("click", function () { addId(h.id, name); });
      var bars = el("div", { class: "fbars" });
      FACETS.forEach(function (f) { if (h.scores && f in h.scores) bars.appendChild(bar(f, h.scores[f])); });
      var card = el("li", { class: "card result", "data-id": String(h.id) }, [
        el("a", { class: "thumb", href: href }, [el("img", { src: "/api/artworks/" + h.id + "/thumbnail", alt: name, loading: "lazy" })]),
        el("div", { class: "card-body" }, [
          el("div", { class: "card-top" }, [
            el("a", { class: "card-title", href: href, text: name }),
            el("span", { class: "score", title: "combined score", text: h.score.toFixed(3) })
          ]),
          bars,
          el("p", { class: "why small", text: h.why || "" }),
          kv,
          el("div", { class: "card-actions" }, [use, el("a", { class: "small", href: href, text: "Details →" })])
        ])
      ]);
      ol.appendChild(card);
    });
  }

  $("more").addEventListener("click", function () { offset += K; search(true); });

  // ---- files: chooser and drag-and-drop ----
  $("files").addEventListener("change", function (ev) { addFiles(ev.target.files); ev.target.value = ""; });
  var drop = $("drop");
  ["dragenter", "dragover"].forEach(function (t) {
    drop.addEventListener(t, function (ev) { ev.preventDefault(); drop.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (t) {
    drop.addEventListener(t, function (ev) { ev.preventDefault(); drop.classList.remove("over"); });
  });
  drop.addEventListener("drop", function (ev) {
    if (ev.dataTransfer && ev.dataTransfer.files && ev.dataTransfer.files.length) addFiles(ev.dataTransfer.files);
  });
  drop.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); $("files").click(); }
  });

  // ---- ?id=N&id=M: start from collection artworks (e.g. "Search with this artwork") ----
  new URLSearchParams(location.search).getAll("id").forEach(function (id) {
    id = parseInt(id, 10);
    if (!isNaN(id)) board.push({ key: nextKey++, kind: "id", id: id, url: "/api/artworks/" + id + "/thumbnail", label: "artwork " + id, avoid: false });
  });
  renderBoard();
  if (board.length) search(false);
})();

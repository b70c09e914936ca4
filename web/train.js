// train.js — the training dashboard of `gptc train --ui`: the records of --log (JSON lines) come
// over server-sent events from /events; a canvas draws loss and validation loss by step.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const loss = [], val = [];
  let cfg = null, last = null, finished = false;
  const fmt = (x, d) => (x == null || !isFinite(x) ? '–' : Math.abs(x) < 1e-3 && x !== 0 ? x.toExponential(2) : x.toFixed(d));
  function eta(s) {
    if (s == null || !isFinite(s) || s < 0) return '–';
    if (s >= 3600) return Math.floor(s / 3600) + 'h' + String(Math.floor(s / 60) % 60).padStart(2, '0') + 'm';
    if (s >= 60) return Math.floor(s / 60) + 'm' + String(Math.floor(s) % 60).padStart(2, '0') + 's';
    return Math.round(s) + 's';
  }
  function color(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888'; }
  let drawPending = false;
  function scheduleDraw() { if (!drawPending) { drawPending = true; requestAnimationFrame(draw); } }
  function draw() {
    drawPending = false;
    const c = $('chart');
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth, h = c.clientHeight;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) { c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    c.dataset.points = String(loss.length + val.length);
    const all = loss.concat(val).filter((p) => isFinite(p[1]) && p[1] > 0);
    const fg = color('--fg'), muted = color('--muted'), border = color('--border');
    g.font = '12px system-ui, sans-serif';
    if (!all.length) { g.fillStyle = muted; g.fillText('waiting for the first step…', 60, h / 2); return; }
    const logy = $('log-scale').checked;
    const ty = (v) => (logy ? Math.log10(v) : v);
    let x0 = 0, x1 = Math.max(1, cfg && cfg.steps ? cfg.steps : 1);
    for (const p of all) x1 = Math.max(x1, p[0]);
    let y0 = Infinity, y1 = -Infinity;
    for (const p of all) { y0 = Math.min(y0, ty(p[1])); y1 = Math.max(y1, ty(p[1])); }
    if (!logy) y0 = Math.min(y0, 0);
    if (y1 - y0 < 1e-9) { y1 += 0.5; y0 -= 0.5; }
    const L = 56, R = 24, T = 10, B = 28;
    const X = (x) => L + ((x - x0) / (x1 - x0)) * (w - L - R);
    const Y = (v) => T + (1 - (ty(v) - y0) / (y1 - y0)) * (h - T - B);
    g.strokeStyle = border; g.fillStyle = muted; g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const yv = y0 + ((y1 - y0) * i) / 4;
      const py = T + (1 - i / 4) * (h - T - B);
      g.beginPath(); g.moveTo(L, py); g.lineTo(w - R, py); g.stroke();
      const label = logy ? Math.pow(10, yv) : yv;
      g.fillText(label >= 100 ? label.toFixed(0) : label.toPrecision(3), 4, py + 4);
    }
    for (let i = 0; i <= 4; i++) {
      const xv = Math.round(x0 + ((x1 - x0) * i) / 4);
      g.textAlign = 'center'; g.fillText(String(xv), X(xv), h - 8); g.textAlign = 'start';
    }
    const line = (pts, col, width) => {
      g.strokeStyle = col; g.lineWidth = width; g.beginPath();
      let first = true;
      for (const p of pts) {
        if (!(p[1] > 0) && logy) continue;
        if (first) { g.moveTo(X(p[0]), Y(p[1])); first = false; } else g.lineTo(X(p[0]), Y(p[1]));
      }
      g.stroke();
      if (pts.length < 40) { g.fillStyle = col; for (const p of pts) { g.beginPath(); g.arc(X(p[0]), Y(p[1]), 2.5, 0, 7); g.fill(); } }
    };
    line(loss, color('--loss'), 1.5);
    line(val, color('--val'), 2);
    g.fillStyle = fg;
  }
  function showConfig(c) {
    const tb = $('config-rows');
    tb.replaceChildren();
    const add = (k, v) => {
      const tr = document.createElement('tr');
      const th = document.createElement('th'); th.textContent = k;
      const td = document.createElement('td'); td.textContent = typeof v === 'object' ? JSON.stringify(v) : String(v);
      tr.append(th, td); tb.appendChild(tr);
    };
    for (const [k, v] of Object.entries(c)) add(k, v);
  }
  function addSample(r) {
    $('no-samples').hidden = true;
    const sec = $('samples');
    const fig = document.createElement('figure');
    const cap = document.createElement('figcaption'); cap.className = 'muted'; cap.textContent = 'step ' + r.step;
    const pre = document.createElement('pre'); pre.textContent = r.sample;
    fig.append(cap, pre);
    sec.insertBefore(fig, sec.children[1]);
    while (sec.querySelectorAll('figure').length > 5) sec.lastElementChild.remove();
  }
  function onRecord(r) {
    if (r.config) { cfg = r.config; showConfig(r.config); scheduleDraw(); return; }
    if (typeof r.sample === 'string') { addSample(r); return; }
    if (r.done) { finished = true; $('state').textContent = r.stopped ? 'stopped' : 'finished'; return; }
    if (typeof r.val_loss === 'number') {
      val.push([r.step, r.val_loss]);
      $('v-val').textContent = fmt(r.val_loss, 4);
      scheduleDraw();
      return;
    }
    if (typeof r.loss === 'number') {
      // a resumed run repeats steps: keep the last value of each
      while (loss.length && loss[loss.length - 1][0] >= r.step) loss.pop();
      loss.push([r.step, r.loss]);
      last = r;
      $('v-step').textContent = r.step + (cfg && cfg.steps ? ' / ' + cfg.steps : '');
      $('v-loss').textContent = fmt(r.loss, 4);
      $('v-lr').textContent = r.lr != null ? r.lr.toExponential(2) : '–';
      $('v-toks').textContent = r.tok_s != null ? Math.round(r.tok_s).toString() : '–';
      $('v-norm').textContent = fmt(r.grad_norm, 3);
      $('v-eta').textContent = eta(r.eta_s);
      scheduleDraw();
    }
  }
  function connect() {
    const es = new EventSource('events');
    es.onopen = () => { if (!finished) $('state').textContent = 'live'; };
    es.onmessage = (e) => { try { onRecord(JSON.parse(e.data)); } catch (err) { /* skip a bad record */ } };
    es.onerror = () => {
      if (finished) { es.close(); return; }
      $('state').textContent = 'disconnected (retrying)';
    };
  }
  $('log-scale').addEventListener('change', draw);
  window.addEventListener('resize', scheduleDraw);
  draw();
  connect();
})();

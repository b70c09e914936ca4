// chat.js — the chat page of `gptc serve`: conversations kept in localStorage, replies streamed
// from /v1/chat/completions (server-sent events), rendered through md.js (HTML stays text).
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const K_CONVS = 'gptc.conversations', K_CUR = 'gptc.current', K_SET = 'gptc.settings', K_KEY = 'gptc.apiKey';
  const DEFAULTS = { system: '', temperature: 0.8, top_p: 0.95, max_tokens: 512, seed: '' };
  const md = window.gptcMarkdown;

  let convs = [];
  let curId = null;
  let settings = Object.assign({}, DEFAULTS);
  let info = { model: null, n_ctx: null, train_ui: null };
  let busy = null; // { controller, conv, msg }
  let authNeeded = false;

  // ----- storage -----
  function load() {
    try { convs = JSON.parse(localStorage.getItem(K_CONVS) || '[]'); } catch (e) { convs = []; }
    if (!Array.isArray(convs)) convs = [];
    convs = convs.filter((c) => c && typeof c.id === 'string' && Array.isArray(c.messages));
    curId = localStorage.getItem(K_CUR);
    try { Object.assign(settings, JSON.parse(localStorage.getItem(K_SET) || '{}')); } catch (e) { /* defaults */ }
  }
  function save() {
    try {
      localStorage.setItem(K_CONVS, JSON.stringify(convs));
      if (curId) localStorage.setItem(K_CUR, curId);
      localStorage.setItem(K_SET, JSON.stringify(settings));
    } catch (e) { status('could not save to this browser\'s storage: ' + e.message); }
  }
  function newId() { return Date.now().toString(36) + Math.random().toString(36).slice(2, 8); }
  function current() {
    let c = convs.find((x) => x.id === curId);
    if (!c) {
      c = convs[0];
      if (!c) { c = { id: newId(), title: 'New chat', created: Date.now(), messages: [] }; convs.unshift(c); }
      curId = c.id;
    }
    return c;
  }
  function apiKey() { return sessionStorage.getItem(K_KEY) || ''; }
  function headers() {
    const h = { 'Content-Type': 'application/json' };
    const k = apiKey();
    if (k) h.Authorization = 'Bearer ' + k;
    return h;
  }
  function status(text) { const s = $('side-status'); if (s) s.textContent = text; }

  // ----- conversation list -----
  function renderList() {
    const ul = $('conv-list');
    ul.replaceChildren();
    for (const c of convs) {
      const li = document.createElement('li');
      if (c.id === curId) li.className = 'current';
      const open = document.createElement('button');
      open.type = 'button';
      open.className = 'conv-open';
      open.textContent = c.title || 'Untitled';
      if (c.id === curId) open.setAttribute('aria-current', 'true');
      open.addEventListener('click', () => { if (busy) return; curId = c.id; save(); renderAll(); closeSide(); });
      const ren = document.createElement('button');
      ren.type = 'button'; ren.className = 'conv-act'; ren.textContent = '✎';
      ren.setAttribute('aria-label', 'Rename ' + (c.title || 'Untitled'));
      ren.addEventListener('click', () => renameConv(li, c));
      const del = document.createElement('button');
      del.type = 'button'; del.className = 'conv-act'; del.textContent = '×';
      del.setAttribute('aria-label', 'Delete ' + (c.title || 'Untitled'));
      del.addEventListener('click', () => {
        if (busy && busy.conv === c) return;
        convs = convs.filter((x) => x !== c);
        if (curId === c.id) curId = null;
        current(); save(); renderAll();
      });
      li.append(open, ren, del);
      ul.appendChild(li);
    }
  }
  function renameConv(li, c) {
    const input = document.createElement('input');
    input.value = c.title || '';
    input.setAttribute('aria-label', 'New name');
    li.replaceChildren(input);
    input.focus();
    input.select();
    let done = false;
    const finish = (keep) => {
      if (done) return;
      done = true;
      if (keep && input.value.trim()) c.title = input.value.trim().slice(0, 200);
      save(); renderAll();
    };
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') { e.preventDefault(); finish(true); } else if (e.key === 'Escape') finish(false);
    });
    input.addEventListener('blur', () => finish(true));
  }
  function exportConvs() {
    const data = JSON.stringify({ format: 'gptc-chat', version: 1, conversations: convs }, null, 2);
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([data], { type: 'application/json' }));
    a.download = 'gptc-conversations.json';
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }
  function cleanMessage(m) {
    if (!m || typeof m !== 'object' || typeof m.content !== 'string') return null;
    if (!['user', 'assistant', 'system'].includes(m.role)) return null;
    const out = { role: m.role, content: m.content };
    if (typeof m.reasoning === 'string') out.reasoning = m.reasoning;
    if (Array.isArray(m.tool_calls)) out.tool_calls = m.tool_calls;
    if (typeof m.error === 'string') out.error = m.error;
    return out;
  }
  function importConvs(text) {
    let d;
    try { d = JSON.parse(text); } catch (e) { status('import: not JSON: ' + e.message); return; }
    let list = Array.isArray(d) ? d : d && Array.isArray(d.conversations) ? d.conversations : d && Array.isArray(d.messages) ? [d] : null;
    if (!list) { status('import: expected {"conversations": [...]}'); return; }
    let n = 0;
    for (const c of list) {
      if (!c || !Array.isArray(c.messages)) continue;
      const msgs = c.messages.map(cleanMessage).filter(Boolean);
      convs.unshift({ id: newId(), title: typeof c.title === 'string' ? c.title.slice(0, 200) : 'Imported', created: Date.now(), messages: msgs });
      n++;
    }
    if (n) curId = convs[0].id;
    save(); renderAll();
    status('imported ' + n + ' conversation' + (n === 1 ? '' : 's'));
  }

  // ----- messages -----
  function fmtStats(m) {
    const s = m.stats;
    if (!s) return '';
    const parts = [s.tokens + ' tokens'];
    if (s.tok_s) parts.push(s.tok_s.toFixed(1) + ' tok/s');
    if (s.prompt_tokens != null) parts.push('prompt ' + s.prompt_tokens);
    if (m.stopped) parts.push('stopped');
    else if (s.finish && s.finish !== 'stop') parts.push('finish: ' + s.finish);
    return parts.join(' · ');
  }
  function renderBody(view, m) {
    if (m.role === 'assistant') {
      if (m.reasoning) {
        view.reasoning.hidden = false;
        view.reasoningText.textContent = m.reasoning;
      } else view.reasoning.hidden = true;
      md.render(m.content, view.body);
      if (m.tool_calls && m.tool_calls.length) {
        view.tools.hidden = false;
        view.toolsText.textContent = JSON.stringify(m.tool_calls, null, 2);
      } else view.tools.hidden = true;
    } else {
      view.body.textContent = m.content;
    }
    view.err.hidden = !m.error;
    view.err.textContent = m.error ? 'Error: ' + m.error : '';
    view.stats.textContent = fmtStats(m);
  }
  function messageView(conv, idx) {
    const m = conv.messages[idx];
    const root = document.createElement('div');
    root.className = 'msg ' + m.role;
    const who = document.createElement('div');
    who.className = 'who';
    who.textContent = m.role === 'user' ? 'You' : m.role === 'system' ? 'System' : (info.model || 'Assistant');
    const reasoning = document.createElement('details');
    reasoning.className = 'reasoning';
    reasoning.hidden = true;
    const sum = document.createElement('summary');
    sum.textContent = 'Reasoning';
    const reasoningText = document.createElement('pre');
    reasoning.append(sum, reasoningText);
    const body = document.createElement('div');
    body.className = 'body' + (m.role === 'assistant' ? '' : ' plain');
    const tools = document.createElement('details');
    tools.className = 'tools';
    tools.hidden = true;
    tools.open = true;
    const tsum = document.createElement('summary');
    tsum.textContent = 'Tool calls';
    const toolsText = document.createElement('pre');
    tools.append(tsum, toolsText);
    const err = document.createElement('div');
    err.className = 'err';
    err.setAttribute('role', 'alert');
    const stats = document.createElement('div');
    stats.className = 'stats';
    const acts = document.createElement('div');
    acts.className = 'acts';
    const view = { root, body, reasoning, reasoningText, tools, toolsText, err, stats, acts };
    const btn = (label, aria, fn, cls) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = label;
      if (cls) b.className = cls;
      b.setAttribute('aria-label', aria);
      b.addEventListener('click', fn);
      acts.appendChild(b);
      return b;
    };
    btn('Copy', 'Copy this message', () => copy(m.content));
    if (m.role === 'user') btn('Edit', 'Edit and resend this message', () => editMessage(conv, idx, view), 'edit-btn');
    if (m.role === 'assistant' && idx === conv.messages.length - 1)
      btn('Regenerate', 'Regenerate this reply', () => regenerate(conv), 'regen-btn');
    root.append(who, reasoning, body, tools, err, stats, acts);
    renderBody(view, m);
    return view;
  }
  function renderMessages() {
    const conv = current();
    const box = $('messages');
    box.replaceChildren();
    conv.messages.forEach((m, i) => box.appendChild(messageView(conv, i).root));
    if (!conv.messages.length) {
      const p = document.createElement('p');
      p.className = 'muted msg';
      p.textContent = 'Send a message to start.' + (info.model ? ' Model: ' + info.model + '.' : '');
      box.appendChild(p);
    }
    box.scrollTop = box.scrollHeight;
  }
  function renderAll() {
    const conv = current();
    $('conv-title').textContent = conv.title || 'gptc';
    document.title = (conv.title ? conv.title + ' — ' : '') + 'gptc chat';
    renderList();
    renderMessages();
  }
  function copy(text) {
    const done = () => status('copied');
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, () => status('the browser refused the clipboard'));
    } else status('no clipboard in this browser');
  }
  function editMessage(conv, idx, view) {
    if (busy) return;
    const ta = document.createElement('textarea');
    ta.className = 'edit';
    ta.value = conv.messages[idx].content;
    ta.setAttribute('aria-label', 'Edit the message');
    const ok = document.createElement('button');
    ok.type = 'button'; ok.textContent = 'Send';
    const cancel = document.createElement('button');
    cancel.type = 'button'; cancel.textContent = 'Cancel';
    const bar = document.createElement('div');
    bar.className = 'acts';
    bar.append(ok, cancel);
    view.body.replaceChildren(ta, bar);
    view.acts.hidden = true;
    ta.focus();
    const submit = () => {
      const text = ta.value;
      if (!text.trim()) return;
      conv.messages = conv.messages.slice(0, idx);
      conv.messages.push({ role: 'user', content: text });
      save(); renderAll();
      generate(conv);
    };
    ok.addEventListener('click', submit);
    cancel.addEventListener('click', () => renderAll());
    ta.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
      if (e.key === 'Escape') renderAll();
    });
  }
  function regenerate(conv) {
    if (busy) return;
    while (conv.messages.length && conv.messages[conv.messages.length - 1].role === 'assistant') conv.messages.pop();
    if (!conv.messages.length) return;
    save(); renderAll();
    generate(conv);
  }

  // ----- sending and streaming -----
  function buildRequest(conv) {
    const messages = [];
    if (settings.system && settings.system.trim()) messages.push({ role: 'system', content: settings.system });
    for (const m of conv.messages) {
      if (m.role === 'assistant' && (m.error && !m.content)) continue;
      messages.push({ role: m.role, content: m.content });
    }
    const body = { model: info.model || 'gptc', messages, stream: true, stream_options: { include_usage: true } };
    const num = (v) => (v === '' || v == null || isNaN(Number(v)) ? null : Number(v));
    if (num(settings.temperature) != null) body.temperature = num(settings.temperature);
    if (num(settings.top_p) != null) body.top_p = num(settings.top_p);
    if (num(settings.max_tokens) != null) body.max_tokens = Math.max(1, Math.round(num(settings.max_tokens)));
    if (num(settings.seed) != null) body.seed = Math.round(num(settings.seed));
    return body;
  }
  async function errorText(res) {
    let t = '';
    try { t = await res.text(); } catch (e) { /* none */ }
    try {
      const j = JSON.parse(t);
      if (j && j.error && j.error.message) return j.error.message + ' (HTTP ' + res.status + ')';
    } catch (e) { /* not JSON */ }
    return 'HTTP ' + res.status + (t ? ': ' + t.slice(0, 300) : '');
  }
  function setBusy(b) {
    $('send').hidden = !!b;
    $('stop').hidden = !b;
    document.body.classList.toggle('busy', !!b);
  }
  async function generate(conv) {
    if (busy) return;
    const req = buildRequest(conv);
    const msg = { role: 'assistant', content: '' };
    conv.messages.push(msg);
    renderMessages();
    const box = $('messages');
    const view = messageView(conv, conv.messages.length - 1);
    box.lastChild.replaceWith(view.root);
    const controller = new AbortController();
    busy = { controller, conv, msg };
    setBusy(true);
    let pending = false;
    const t0 = performance.now();
    let tFirst = 0, chunks = 0;
    const paint = () => {
      pending = false;
      const el = performance.now();
      msg.stats = Object.assign(msg.stats || {}, {
        tokens: (msg.stats && msg.stats.usage) || chunks,
        tok_s: tFirst && el > tFirst && chunks > 1 ? (chunks - 1) / ((el - tFirst) / 1000) : 0,
      });
      const stick = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
      renderBody(view, msg);
      if (stick) box.scrollTop = box.scrollHeight;
    };
    const schedule = () => { if (!pending) { pending = true; requestAnimationFrame(paint); } };
    const onEvent = (data) => {
      if (data === '[DONE]') return;
      let j;
      try { j = JSON.parse(data); } catch (e) { return; }
      if (j.error) { msg.error = j.error.message || JSON.stringify(j.error); schedule(); return; }
      const ch = j.choices && j.choices[0];
      if (ch && ch.delta) {
        const d = ch.delta;
        let got = false;
        if (typeof d.content === 'string' && d.content) { msg.content += d.content; got = true; }
        if (typeof d.reasoning_content === 'string' && d.reasoning_content) { msg.reasoning = (msg.reasoning || '') + d.reasoning_content; got = true; }
        if (Array.isArray(d.tool_calls)) {
          msg.tool_calls = msg.tool_calls || [];
          for (const tc of d.tool_calls) {
            const k = typeof tc.index === 'number' ? tc.index : msg.tool_calls.length;
            const t = msg.tool_calls[k] || (msg.tool_calls[k] = { id: '', type: 'function', function: { name: '', arguments: '' } });
            if (tc.id) t.id = tc.id;
            if (tc.function) {
              if (tc.function.name) t.function.name += tc.function.name;
              if (tc.function.arguments) t.function.arguments += tc.function.arguments;
            }
          }
          got = true;
        }
        if (got) { chunks++; if (!tFirst) tFirst = performance.now(); }
      }
      if (ch && ch.finish_reason) msg.stats = Object.assign(msg.stats || {}, { finish: ch.finish_reason });
      if (j.usage) msg.stats = Object.assign(msg.stats || {}, { usage: j.usage.completion_tokens, prompt_tokens: j.usage.prompt_tokens });
      schedule();
    };
    try {
      const res = await fetch('v1/chat/completions', { method: 'POST', headers: headers(), body: JSON.stringify(req), signal: controller.signal });
      if (!res.ok) {
        msg.error = await errorText(res);
        if (res.status === 401) askKey(msg.error);
      } else {
        const reader = res.body.getReader();
        const dec = new TextDecoder();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true }).replace(/\r/g, '');
          let k;
          while ((k = buf.indexOf('\n\n')) >= 0) {
            const ev = buf.slice(0, k);
            buf = buf.slice(k + 2);
            const data = ev.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
            if (data) onEvent(data);
          }
        }
      }
    } catch (e) {
      if (e.name === 'AbortError') msg.stopped = true;
      else msg.error = 'the request failed: ' + e.message;
    }
    const tEnd = performance.now();
    msg.stats = Object.assign(msg.stats || {}, {
      tokens: (msg.stats && msg.stats.usage) || chunks,
      tok_s: tFirst && chunks > 1 ? (chunks - 1) / ((tEnd - tFirst) / 1000) : 0,
      ms: Math.round(tEnd - t0),
    });
    busy = null;
    setBusy(false);
    if (conv.title === 'New chat' || !conv.title) {
      const first = conv.messages.find((m) => m.role === 'user');
      if (first) conv.title = first.content.replace(/\s+/g, ' ').trim().slice(0, 48) || 'New chat';
    }
    save();
    renderAll();
  }
  function sendFromBox() {
    const ta = $('input');
    const text = ta.value;
    if (!text.trim() || busy) return;
    ta.value = '';
    const conv = current();
    conv.messages.push({ role: 'user', content: text });
    save();
    renderAll();
    generate(conv);
  }

  // ----- server info and the API key -----
  async function loadInfo() {
    let res;
    try { res = await fetch('ui/config.json', { headers: headers() }); } catch (e) {
      $('model-info').textContent = 'server unreachable: ' + e.message;
      return;
    }
    if (res.status === 401) {
      authNeeded = true;
      askKey(apiKey() ? 'wrong API key: ' + (await errorText(res)) : '');
      return;
    }
    if (!res.ok) { $('model-info').textContent = 'server info: ' + (await errorText(res)); return; }
    info = await res.json();
    authNeeded = !!info.auth;
    $('forget-key').hidden = !apiKey();
    $('model-info').textContent = (info.model || '?') + (info.n_ctx ? ' · context ' + info.n_ctx + ' tokens' : '');
    const tl = $('train-link');
    if (typeof info.train_ui === 'string' && /^https?:\/\//i.test(info.train_ui)) {
      tl.href = info.train_ui;
      tl.hidden = false;
    }
    renderMessages();
  }
  function askKey(error) {
    const d = $('key-dialog');
    $('key-error').textContent = error || '';
    $('key-input').value = '';
    if (!d.open) d.showModal();
    $('key-input').focus();
  }

  // ----- settings -----
  const FIELDS = { system: 'set-system', temperature: 'set-temperature', top_p: 'set-top-p', max_tokens: 'set-max-tokens', seed: 'set-seed' };
  function bindSettings() {
    for (const [k, id] of Object.entries(FIELDS)) {
      const e = $(id);
      e.value = settings[k] == null ? '' : settings[k];
      e.addEventListener('input', () => { settings[k] = e.value; save(); });
    }
    $('toggle-settings').addEventListener('click', () => {
      const s = $('settings');
      s.hidden = !s.hidden;
      $('toggle-settings').setAttribute('aria-expanded', String(!s.hidden));
    });
    $('forget-key').addEventListener('click', () => { sessionStorage.removeItem(K_KEY); $('forget-key').hidden = true; loadInfo(); });
  }

  function closeSide() { $('side').classList.remove('open'); }

  function init() {
    load();
    current();
    bindSettings();
    $('composer').addEventListener('submit', (e) => { e.preventDefault(); sendFromBox(); });
    $('input').addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); sendFromBox(); }
    });
    document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && busy) busy.controller.abort(); });
    $('stop').addEventListener('click', () => { if (busy) busy.controller.abort(); });
    $('new-conv').addEventListener('click', () => {
      if (busy) return;
      const c = { id: newId(), title: 'New chat', created: Date.now(), messages: [] };
      convs.unshift(c);
      curId = c.id;
      save(); renderAll(); closeSide();
      $('input').focus();
    });
    $('export').addEventListener('click', exportConvs);
    $('import-file').addEventListener('change', (e) => {
      const f = e.target.files && e.target.files[0];
      if (!f) return;
      const r = new FileReader();
      r.onload = () => importConvs(String(r.result));
      r.readAsText(f);
      e.target.value = '';
    });
    $('open-side').addEventListener('click', () => { $('side').classList.add('open'); $('new-conv').focus(); });
    $('close-side').addEventListener('click', closeSide);
    $('messages').addEventListener('click', (e) => {
      const b = e.target.closest('button.copy');
      if (b && b.dataset.copy != null) copy(b.dataset.copy);
    });
    $('key-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const k = $('key-input').value.trim();
      if (!k) return;
      sessionStorage.setItem(K_KEY, k);
      $('key-dialog').close();
      loadInfo();
    });
    const st = document.createElement('p');
    st.id = 'side-status';
    st.className = 'muted';
    st.setAttribute('role', 'status');
    $('side').appendChild(st);
    save();
    renderAll();
    loadInfo();
    $('input').focus();
  }
  init();
})();

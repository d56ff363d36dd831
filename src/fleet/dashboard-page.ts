// The dashboard's one page: plain HTML, CSS and a small script (no build step), served with a strict CSP.
// The script only ever sets textContent, so nothing a host wrote into etcd can become markup.

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>abupdate fleet</title>
<link rel="stylesheet" href="/dashboard.css">
<script src="/dashboard.js" defer></script>
</head>
<body>
<a class="skip" href="#hosts-heading">Skip to hosts</a>
<header>
  <h1>abupdate fleet</h1>
  <p id="connection" role="status" aria-live="polite">connecting…</p>
</header>
<main>
  <section aria-labelledby="summary-heading">
    <h2 id="summary-heading">Summary</h2>
    <p id="total"></p>
    <h3>Hosts per state</h3>
    <ul id="states" class="chips"></ul>
  </section>
  <section aria-labelledby="versions-heading">
    <h2 id="versions-heading">Versions per group</h2>
    <div id="chart"></div>
    <ul id="legend" class="legend" aria-label="Versions"></ul>
  </section>
  <section aria-labelledby="groups-heading">
    <h2 id="groups-heading">Rollout control</h2>
    <form id="token-form">
      <label for="token">Operator token</label>
      <input id="token" type="password" autocomplete="off">
      <button type="submit">Use token</button>
      <span id="mode"></span>
    </form>
    <table>
      <caption class="visually-hidden">Groups with their rollout switches</caption>
      <thead><tr><th scope="col">Group</th><th scope="col">Hosts</th><th scope="col">Rollout</th><th scope="col">Gate</th><th scope="col">Stopped versions</th><th scope="col">Actions</th></tr></thead>
      <tbody id="groups"></tbody>
    </table>
    <p id="action-result" role="status" aria-live="polite"></p>
  </section>
  <section aria-labelledby="rollbacks-heading">
    <h2 id="rollbacks-heading">Rollbacks</h2>
    <table>
      <thead><tr><th scope="col">Group</th><th scope="col">Version</th><th scope="col">Hosts</th><th scope="col">Stopped</th></tr></thead>
      <tbody id="rollbacks"></tbody>
    </table>
  </section>
  <section aria-labelledby="locks-heading">
    <h2 id="locks-heading">Reboot lock</h2>
    <table>
      <thead><tr><th scope="col">Group</th><th scope="col">Max</th><th scope="col">Free</th><th scope="col">Held by</th></tr></thead>
      <tbody id="locks"></tbody>
    </table>
  </section>
  <section aria-labelledby="hosts-heading">
    <h2 id="hosts-heading" tabindex="-1">Hosts</h2>
    <label for="filter">Filter hosts</label>
    <input id="filter" type="search" placeholder="host, group, version or state">
    <p id="shown" aria-live="polite"></p>
    <table class="hosts">
      <thead><tr><th scope="col">Host</th><th scope="col">Group</th><th scope="col">Version</th><th scope="col">State</th><th scope="col">Last check</th><th scope="col">Health</th><th scope="col">Lock</th><th scope="col">Last error</th></tr></thead>
      <tbody id="hosts"></tbody>
    </table>
  </section>
</main>
</body>
</html>
`;

export const DASHBOARD_CSS = `:root { color-scheme: light; --fg: #1a1a1a; --muted: #4a4a4a; --line: #c8c8c8; --accent: #0b4f8a; --bad: #a4161a; --ok: #1b5e20; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: #fff; }
header { display: flex; align-items: baseline; gap: 1.5rem; padding: .6rem 1.2rem; background: #102a43; color: #fff; }
header h1 { margin: 0; font-size: 1.3rem; }
header p { margin: 0; }
main { padding: .5rem 1.2rem 2rem; display: grid; grid-template-columns: repeat(auto-fit, minmax(28rem, 1fr)); gap: 0 2rem; }
section { min-width: 0; }
section:last-child { grid-column: 1 / -1; }
h2 { font-size: 1.1rem; margin: 1.2rem 0 .4rem; border-bottom: 2px solid var(--line); }
h3 { font-size: .95rem; margin: .6rem 0 .3rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .2rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef2f6; }
.hosts td { font-variant-numeric: tabular-nums; white-space: nowrap; }
.chips, .legend { list-style: none; padding: 0; margin: 0; display: flex; flex-wrap: wrap; gap: .4rem; }
.chips li { border: 1px solid var(--line); border-radius: 1rem; padding: .05rem .6rem; }
.legend li { display: flex; align-items: center; gap: .3rem; }
.swatch { display: inline-block; width: .9rem; height: .9rem; border: 1px solid #000; }
.bar-row { display: grid; grid-template-columns: 8rem 1fr; gap: .5rem; align-items: center; margin: .25rem 0; }
.bar { display: flex; height: 1.6rem; border: 1px solid #000; background: #f4f4f4; }
.bar span { display: block; height: 100%; min-width: 2px; }
.bar-text { grid-column: 2; font-size: .85rem; color: var(--muted); margin: 0; }
.actions { display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; }
.actions form { display: flex; gap: .3rem; }
.paused { color: var(--bad); font-weight: 600; }
.rolling { color: var(--ok); }
.failed { color: var(--bad); font-weight: 600; }
button, input { font: inherit; }
button { background: var(--accent); color: #fff; border: 1px solid var(--accent); border-radius: 4px; padding: .15rem .6rem; cursor: pointer; }
button:disabled { background: #e0e0e0; color: #4a4a4a; border-color: #9e9e9e; cursor: not-allowed; }
input { border: 1px solid #6b6b6b; border-radius: 4px; padding: .15rem .4rem; }
input[type=number] { width: 4.5rem; }
:focus-visible { outline: 3px solid #f0a500; outline-offset: 2px; }
#token-form { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin-bottom: .5rem; }
#filter { width: min(30rem, 100%); margin: 0 0 .3rem .5rem; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: .5rem; background: #fff; color: var(--accent); padding: .3rem; z-index: 1; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
`;

export const DASHBOARD_JS = `'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  // Colours for versions: each has at least 3:1 contrast against the white page (WCAG non-text contrast).
  const PALETTE = ['#0b4f8a', '#b45309', '#1b5e20', '#6a1b9a', '#a4161a', '#00695c', '#4e342e', '#37474f'];
  const state = { hosts: new Map(), summary: null, actions: false, token: sessionStorage.getItem('abupdate-token') || '', live: false };
  const colour = new Map();
  const colourOf = (version) => {
    if (!colour.has(version)) colour.set(version, PALETTE[colour.size % PALETTE.length]);
    return colour.get(version);
  };
  const el = (tag, text, attrs) => {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  };
  const row = (cells) => {
    const tr = document.createElement('tr');
    for (const c of cells) tr.append(c instanceof Node ? wrap(c) : el('td', c));
    return tr;
  };
  const wrap = (node) => { const td = document.createElement('td'); td.append(node); return td; };
  const time = (iso) => (iso ? iso.replace('T', ' ').replace(/\\.\\d+Z$|Z$/, '') : '-');

  let scheduled = false;
  const render = () => {
    if (scheduled) return;
    scheduled = true;
    setTimeout(() => { scheduled = false; draw(); }, 100);
  };

  function draw() {
    const s = state.summary;
    if (!s) return;
    $('total').textContent = s.counts.hosts + ' host(s) reporting; revision ' + s.revision;
    $('states').replaceChildren(...Object.entries(s.counts.byState).sort((a, b) => b[1] - a[1]).map(([k, n]) => el('li', k + ': ' + n)));
    drawChart(s);
    drawGroups(s);
    $('rollbacks').replaceChildren(...(s.groups.flatMap((g) => g.rollbacks.map((r) => row([g.group, r.version, r.hosts.length + ' (' + r.hosts.slice(0, 5).join(', ') + (r.hosts.length > 5 ? ', …' : '') + ')', r.stopped ? 'yes, stopped' : 'no'])))));
    if ($('rollbacks').children.length === 0) $('rollbacks').append(row(['-', 'none', '', '']));
    $('locks').replaceChildren(...s.rebootLocks.map((l) => row([l.group === '' ? '(ungrouped)' : l.group, l.max ?? '?', l.free ?? '?', l.holders.length ? l.holders.join(', ') : 'nobody'])));
    if (s.rebootLocks.length === 0) $('locks').append(row(['-', '', '', 'no reboot lock in etcd']));
    drawHosts();
  }

  function drawChart(s) {
    const rows = [];
    const versions = new Set();
    for (const g of s.groups) {
      if (g.hosts === 0) continue;
      const entries = Object.entries(g.versions).sort((a, b) => a[0].localeCompare(b[0], undefined, { numeric: true }));
      const label = g.group + ': ' + entries.map(([v, n]) => v + ' ' + n).join(', ');
      const bar = el('div', null, { class: 'bar', role: 'img', 'aria-label': label });
      for (const [v, n] of entries) {
        versions.add(v);
        const part = el('span', null, { title: v + ': ' + n + ' host(s)' });
        part.style.width = (100 * n / g.hosts) + '%';
        part.style.background = colourOf(v);
        bar.append(part);
      }
      const line = el('div', null, { class: 'bar-row' });
      line.append(el('strong', g.group), bar, el('p', entries.map(([v, n]) => v + ': ' + n).join(' · '), { class: 'bar-text', 'aria-hidden': 'true' }));
      rows.push(line);
    }
    $('chart').replaceChildren(...rows);
    $('legend').replaceChildren(...[...versions].sort().map((v) => {
      const li = el('li');
      const sw = el('span', null, { class: 'swatch', 'aria-hidden': 'true' });
      sw.style.background = colourOf(v);
      li.append(sw, document.createTextNode(v));
      return li;
    }));
  }

  function drawGroups(s) {
    const mode = state.actions ? (state.token ? 'actions enabled with your token' : 'enter the operator token to change the rollout') : 'read-only dashboard (started without a token file)';
    $('mode').textContent = mode;
    const canAct = state.actions && state.token !== '';
    const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.key : undefined;
    $('groups').replaceChildren(...s.groups.map((g) => {
      const paused = g.control.paused;
      const status = el('span', paused ? 'paused' : 'rolling', { class: paused ? 'paused' : 'rolling' });
      const toggle = el('button', paused ? 'Resume ' + g.group : 'Pause ' + g.group, { type: 'button', 'data-key': 'toggle:' + g.group });
      toggle.disabled = !canAct;
      toggle.addEventListener('click', () => act(g.group, paused ? 'resume' : 'pause'));
      const gateForm = el('form', null, { 'aria-label': 'Gate of ' + g.group });
      const input = el('input', null, { type: 'number', min: '1', step: '1', 'aria-label': 'Max rollbacks for ' + g.group, 'data-key': 'gate:' + g.group, value: g.control.maxFailures ?? '' });
      const setBtn = el('button', 'Set gate', { type: 'submit', 'data-key': 'set:' + g.group });
      input.disabled = setBtn.disabled = !canAct;
      gateForm.append(input, setBtn);
      gateForm.addEventListener('submit', (e) => { e.preventDefault(); act(g.group, 'gate', { maxFailures: input.value === '' ? null : Number(input.value) }); });
      const actions = el('div', null, { class: 'actions' });
      actions.append(toggle, gateForm);
      return row([g.group, g.hosts, status, g.control.maxFailures === null ? 'none' : 'stop after ' + g.control.maxFailures + ' rollback(s)', g.stopped.map((x) => x.version).join(', ') || '-', actions]);
    }));
    if (focused) { const again = document.querySelector('[data-key="' + CSS.escape(focused) + '"]'); if (again) again.focus(); }
  }

  function drawHosts() {
    const filter = $('filter').value.trim().toLowerCase();
    const all = [...state.hosts.values()].sort((a, b) => a.group.localeCompare(b.group) || a.machineId.localeCompare(b.machineId));
    const shown = filter === '' ? all : all.filter((h) => [h.machineId, h.hostname, h.group, h.version, h.state].join(' ').toLowerCase().includes(filter));
    const body = document.createDocumentFragment();
    for (const h of shown) {
      const health = el('td', h.health, h.health === 'failed' ? { class: 'failed' } : {});
      const tr = row([h.machineId, h.group, h.version ?? '-', h.state + (h.progress ? ' ' + h.progress.percent + '%' : ''), time(h.lastCheck)]);
      tr.dataset.host = h.machineId;
      tr.append(health, el('td', h.rebootLock ? 'holds' : ''), el('td', h.lastErrorCode ?? ''));
      body.append(tr);
    }
    $('hosts').replaceChildren(body);
    $('shown').textContent = 'Showing ' + shown.length + ' of ' + all.length + ' host(s)';
  }

  async function act(group, verb, body) {
    $('action-result').textContent = verb + ' ' + group + '…';
    try {
      const res = await fetch('/api/groups/' + encodeURIComponent(group) + '/' + verb, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + state.token }, body: JSON.stringify(body || {}),
      });
      const answer = await res.json();
      $('action-result').textContent = res.ok ? 'Done: ' + verb + ' ' + group : 'Refused: ' + answer.error.message + ' [' + answer.error.code + ']';
    } catch (e) {
      $('action-result').textContent = 'Failed: ' + e.message;
    }
  }

  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    state.token = $('token').value;
    sessionStorage.setItem('abupdate-token', state.token);
    $('token').value = '';
    draw();
  });
  $('filter').addEventListener('input', render);

  const events = new EventSource('/api/events');
  events.addEventListener('connection', (e) => {
    state.live = JSON.parse(e.data).live;
    $('connection').textContent = state.live ? 'live: following etcd' : 'etcd unreachable, retrying…';
  });
  events.addEventListener('snapshot', (e) => {
    const s = JSON.parse(e.data);
    state.hosts = new Map(s.hosts.map((h) => [h.machineId, h]));
    state.summary = s;
    render();
  });
  events.addEventListener('hosts', (e) => {
    const d = JSON.parse(e.data);
    for (const [id, h] of Object.entries(d.hosts)) { if (h === null) state.hosts.delete(id); else state.hosts.set(id, h); }
    render();
  });
  events.addEventListener('summary', (e) => { state.summary = JSON.parse(e.data); render(); });
  events.onerror = () => { $('connection').textContent = 'dashboard connection lost, reconnecting…'; };
  fetch('/api/summary').then((r) => r.json()).then((s) => { state.actions = s.actions; render(); });
})();
`;

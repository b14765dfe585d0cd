// Orchard dashboard: a single-page app over the coordinator's JSON API (no build step, no framework).
// Every datum goes through api(path); in report mode (window.ORCHARD_REPORT) it answers from the
// embedded responses and nothing is fetched or streamed.
'use strict';

(() => {
  const REPORT = window.ORCHARD_REPORT || null;
  const APP_T0 = performance.now();
  // plotly.js loads asynchronously (index.html) so that the page's first requests go out while it is
  // parsed; drawing waits for it. It answers false where plotly.js could not be loaded.
  const plotlyLoaded = new Promise((resolve) => {
    if (window.Plotly || document.readyState === 'complete') resolve();
    else window.addEventListener('load', () => resolve(), { once: true });
  }).then(() => typeof window.Plotly !== 'undefined');
  function hasPlotly() { return typeof window.Plotly !== 'undefined'; }
  // Enough points for a thousand overlaid curves to look as they would with every point.
  const CURVE_POINTS = 30000;
  const view = document.getElementById('view');
  const banner = document.getElementById('banner');
  const liveIndicator = document.getElementById('live-indicator');

  const STATE_COLORS = {
    running: '#1f6feb', completed: '#1a7f37', failed: '#cf222e', stopped: '#b7791f',
    canceled: '#6e7781', pending: '#a0a8b2', paused: '#8250df', unknown: '#a0a8b2',
    skipped: '#a0a8b2',
  };
  const TRIAL_STATES = ['running', 'pending', 'paused', 'completed', 'stopped', 'failed', 'canceled'];
  const PALETTE = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#ff9da6',
                   '#9d755d', '#bab0ac', '#eeca3b'];
  const BEST_COLOR = '#111827';
  const PLOT_CONFIG = { displaylogo: false, responsive: true,
                        modeBarButtonsToRemove: ['lasso2d', 'select2d', 'toImage'] };
  const BASE_FONT = { family: '-apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif', size: 11,
                      color: '#1f2328' };

  // ---------------------------------------------------------------------------------------------
  // Small helpers

  const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
  function esc(value) {
    if (value === null || value === undefined) return '';
    return String(value).replace(/[&<>"']/g, (c) => ESC[c]);
  }
  function num(value) {
    if (value === null || value === undefined || value === '') return 0;
    const n = Number(value);
    return Number.isFinite(n) ? n : 0;
  }
  function stateName(value) {
    if (!value) return 'unknown';
    const s = String(value).replace(/^(SWEEP|TRIAL)_/, '').toLowerCase();
    return s === 'state_unspecified' ? 'unknown' : s;
  }
  function badge(state, extra) {
    const s = String(state || 'unknown');
    const cls = /^[a-z_-]+$/.test(s) ? s : 'unknown';
    return `<span class="badge st-${cls}"${extra ? ' title="' + esc(extra) + '"' : ''}>${esc(s)}</span>`;
  }
  function fmtNum(v) {
    if (v === null || v === undefined || v === '') return '—';
    const n = Number(v);
    if (!Number.isFinite(n)) return '—';
    if (n === 0) return '0';
    const a = Math.abs(n);
    if (a >= 1e6 || a < 1e-3) return n.toExponential(3).replace(/\.?0+e/, 'e');
    if (Number.isInteger(n)) return String(n);
    return String(Number(n.toPrecision(4)));
  }
  function fmtInt(v) { return num(v).toLocaleString('en-US'); }
  function pad2(n) { return n < 10 ? '0' + n : String(n); }
  function fmtTime(sec) {
    const s = num(sec);
    if (s <= 0) return '—';
    const d = new Date(s * 1000);
    return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
           `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  }
  function fmtClock(sec) {
    const s = num(sec);
    if (s <= 0) return '—';
    const d = new Date(s * 1000);
    return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  }
  function fmtDur(sec) {
    if (sec === null || sec === undefined || !Number.isFinite(sec)) return '—';
    let s = Math.max(0, Math.round(sec));
    if (s < 60) return `${s} s`;
    let m = Math.floor(s / 60); s %= 60;
    if (m < 60) return `${m} m ${s} s`;
    let h = Math.floor(m / 60); m %= 60;
    if (h < 24) return `${h} h ${m} m`;
    const d = Math.floor(h / 24); h %= 24;
    return `${d} d ${h} h`;
  }
  function nowSec() { return Date.now() / 1000; }
  function ago(sec) {
    const s = num(sec);
    if (s <= 0) return 'never';
    const d = nowSec() - s;
    if (d < 0) return 'just now';
    return `${fmtDur(d)} ago`;
  }
  function until(sec) {
    const s = num(sec);
    if (s <= 0) return '';
    const d = s - nowSec();
    return d >= 0 ? `in ${fmtDur(d)}` : `${fmtDur(-d)} ago`;
  }
  const NUMERIC_RE = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
  function numericValue(text) {
    if (text === null || text === undefined) return null;
    const t = String(text).trim();
    return NUMERIC_RE.test(t) ? Number(t) : null;
  }
  function trialLabel(t) { return num(t.number) < 0 ? 'champion' : `#${num(t.number)}`; }
  function truncate(s, n) { s = String(s); return s.length > n ? s.slice(0, n - 1) + '…' : s; }
  function median(arr) {
    if (!arr.length) return null;
    const a = arr.slice().sort((x, y) => x - y);
    return a[Math.floor((a.length - 1) / 2)];
  }

  // WebGL: whether there is any, and whether it is a software rasterizer (SwiftShader, llvmpipe), where
  // WebGL charts cost seconds (shader compilation, every pixel on the CPU) and SVG is the faster choice.
  let webglCache = null;
  function probeWebGL() {
    if (webglCache !== null) return webglCache;
    webglCache = { ok: false, software: false };
    try {
      const c = document.createElement('canvas');
      const gl = window.WebGLRenderingContext && (c.getContext('webgl') || c.getContext('experimental-webgl'));
      if (gl) {
        webglCache.ok = true;
        const info = gl.getExtension('WEBGL_debug_renderer_info');
        const renderer = String(info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
        webglCache.software = /swiftshader|llvmpipe|software|softpipe|microsoft basic render/i.test(renderer);
        const lose = gl.getExtension('WEBGL_lose_context');
        if (lose) lose.loseContext();
      }
    } catch (e) { webglCache = { ok: false, software: false }; }
    return webglCache;
  }
  function hasWebGL() { return probeWebGL().ok; }
  function fastWebGL() { return probeWebGL().ok && !probeWebGL().software; }

  // ---------------------------------------------------------------------------------------------
  // Data access

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  function reportLookup(path) {
    const responses = (REPORT && REPORT.responses) || {};
    if (Object.prototype.hasOwnProperty.call(responses, path)) return responses[path];
    let decoded = path;
    try { decoded = decodeURIComponent(path); } catch (e) { /* keep */ }
    if (decoded !== path && Object.prototype.hasOwnProperty.call(responses, decoded)) return responses[decoded];
    // The same path with its query's values encoded as the server may have written them.
    const q = path.indexOf('?');
    if (q >= 0) {
      const base = path.slice(0, q);
      const params = new URLSearchParams(path.slice(q + 1));
      for (const key of Object.keys(responses)) {
        const kq = key.indexOf('?');
        if (kq < 0 || key.slice(0, kq) !== base) continue;
        const kp = new URLSearchParams(key.slice(kq + 1));
        let same = true;
        for (const [k, v] of params) if (kp.get(k) !== v) { same = false; break; }
        if (same && [...kp.keys()].length === [...params.keys()].length) return responses[key];
      }
    }
    return undefined;
  }
  function reportHas(path) { return reportLookup(path) !== undefined; }

  async function api(path, options) {
    if (REPORT) {
      const answer = reportLookup(path);
      if (answer === undefined) throw new ApiError(404, `not included in this report: ${path}`);
      if (answer && typeof answer === 'object' && answer.error && Object.keys(answer).length === 1)
        throw new ApiError(404, answer.error);
      return answer;
    }
    const init = Object.assign({ credentials: 'same-origin', headers: { Accept: 'application/json' } }, options || {});
    let response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, `cannot reach the coordinator (${e.message || e})`);
    }
    if (response.status === 204) return null;
    const text = await response.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
    if (!response.ok) {
      const message = (body && body.error) || text.trim() || response.statusText || `HTTP ${response.status}`;
      throw new ApiError(response.status, message);
    }
    if (body === null && text) throw new ApiError(response.status, `not JSON from ${path}`);
    return body;
  }
  // Like api() but answers null for a 404 (optional data such as cost).
  async function apiOptional(path) {
    try { return await api(path); } catch (e) {
      if (e.status === 404 || e.status === 501) return null;
      throw e;
    }
  }

  // A paged list (docs/dashboard.md): `{[field]: rows of its pages in order, truncated}`, stopping once
  // `most` rows are in (truncated: the list holds more). Answers null where apiOptional would.
  const MOST_TRIALS = 20000;
  const MOST_POINTS = 1000000;
  async function apiPages(path, field, most) {
    let answer = await apiOptional(path);
    if (answer === null) return null;
    const rows = [];
    for (;;) {
      rows.push(...(answer[field] || []));
      const token = answer.next_page_token;
      if (!token || rows.length >= most) return { [field]: rows, truncated: Boolean(token) };
      answer = await api(`${path}${path.includes('?') ? '&' : '?'}page_token=${encodeURIComponent(token)}`);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Page lifecycle, banner, live indicator

  let generation = 0;          // bumped on every navigation; async work of older pages is dropped
  let page = null;             // {gen, cleanup: [], onChange}
  let globalStream = null;
  let globalStreamOpen = false;
  let pageStreamOpen = false;

  function showBanner(message, kind) {
    banner.hidden = false;
    banner.className = kind || 'error';
    banner.innerHTML = `<span>${esc(message)}</span><button type="button" class="close" aria-label="dismiss">×</button>`;
  }
  function clearBanner() { banner.hidden = true; banner.innerHTML = ''; }
  banner.addEventListener('click', (e) => { if (e.target.closest('.close')) clearBanner(); });

  // Where a page's time went, for tests and curious people: window.ORCHARD_TIMINGS = [[label, ms], ...],
  // in milliseconds from the navigation's start.
  const TIMINGS = window.ORCHARD_TIMINGS = [['app.js', Math.round(APP_T0)]];
  function mark(label) { TIMINGS.push([label, Math.round(performance.now())]); }

  // Work that can wait until the page is ready (then it runs in a task of its own).
  let afterReadyQueue = [];
  function afterReady(fn) {
    if (document.body.dataset.ready === '1') setTimeout(fn, 0);
    else afterReadyQueue.push(fn);
  }

  function setReady() {
    mark('ready');
    const queue = afterReadyQueue;
    afterReadyQueue = [];
    if (queue.length) setTimeout(() => queue.forEach((fn) => { try { fn(); } catch (e) { console.error(e); } }), 0);
    document.body.dataset.ready = '1';
    // From the navigation's start: the page's own clock, so no poller's delay.
    document.body.dataset.renderMs = String(Math.round(performance.now()));
  }
  function bumpUpdates() {
    document.body.dataset.updates = String(num(document.body.dataset.updates) + 1);
  }
  function updateLiveIndicator() {
    if (REPORT) {
      liveIndicator.textContent = 'report';
      liveIndicator.className = 'live-report';
      return;
    }
    const open = globalStreamOpen || pageStreamOpen;
    liveIndicator.textContent = open ? 'live' : 'offline';
    liveIndicator.className = open ? 'live-on' : 'live-off';
  }

  function alive(gen) { return gen === generation; }

  function openStream(url, eventName, onMessage, onState) {
    if (REPORT || typeof EventSource === 'undefined') return null;
    const source = new EventSource(url, { withCredentials: true });
    source.onopen = () => onState(true);
    source.onerror = () => onState(source.readyState === EventSource.OPEN);
    source.addEventListener(eventName, (ev) => {
      let data = null;
      try { data = JSON.parse(ev.data); } catch (e) { return; }
      onMessage(data);
    });
    return source;
  }

  function startGlobalStream() {
    if (REPORT || globalStream) return;
    globalStream = openStream('/api/stream', 'change', () => {
      if (page && page.onChange) page.onChange();
    }, (open) => { globalStreamOpen = open; updateLiveIndicator(); });
  }

  // A refresher that runs fn at most once at a time and at least minGapMs apart; calls while it is
  // running are coalesced into one more run.
  function makeRefresher(gen, fn, minGapMs) {
    let running = false, pending = false, last = 0, timer = null;
    const run = async () => {
      if (!alive(gen)) return;
      if (running) { pending = true; return; }
      const wait = last + minGapMs - Date.now();
      if (wait > 0) {
        if (!timer) timer = setTimeout(() => { timer = null; run(); }, wait);
        return;
      }
      running = true; pending = false; last = Date.now();
      try { await fn(); } catch (e) { if (alive(gen)) handleError(e, true); }
      running = false;
      if (pending && alive(gen)) run();
    };
    return run;
  }

  // List pages refetch on the coordinator's change stream; while it is down, every 10 s.
  function refetchOnChange(gen, refresh) {
    page.onChange = refresh;
    const poll = setInterval(() => { if (alive(gen) && !globalStreamOpen) refresh(); }, 10000);
    page.cleanup.push(() => clearInterval(poll));
  }

  function handleError(err, soft) {
    if (err && err.status === 401 && !REPORT) { showLogin(); return; }
    const message = (err && err.message) || String(err);
    showBanner(message);
    if (!soft) {
      if (!view.querySelector('.page')) view.innerHTML = `<p class="empty">Nothing to show: ${esc(message)}</p>`;
      setReady();
    }
    if (!(err instanceof ApiError)) console.error(err);
  }

  function showLogin(message) {
    leavePage();
    showBanner(message || 'This coordinator needs a token.', 'warn');
    view.innerHTML = `
      <div class="page login-page">
        <form id="login-form" class="card login">
          <h2>Sign in</h2>
          <p class="note">Paste your Orchard token (<code>orchard-coordinator user token NAME</code>).</p>
          <input id="login-token" type="password" autocomplete="current-password" placeholder="token" required>
          <button type="submit">Sign in</button>
          <p id="login-error" class="error-text"></p>
        </form>
      </div>`;
    const form = document.getElementById('login-form');
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const token = document.getElementById('login-token').value.trim();
      if (!token) return;
      try {
        await api('/api/login', { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
                                  body: JSON.stringify({ token }) });
        clearBanner();
        if (globalStream) { globalStream.close(); globalStream = null; globalStreamOpen = false; }
        loadWhoami();
        startGlobalStream();
        route();
      } catch (err) {
        document.getElementById('login-error').textContent = err.status === 401 || err.status === 403
          ? 'That token was not accepted.' : (err.message || String(err));
      }
    });
    document.getElementById('login-token').focus();
    setReady();
  }

  async function loadWhoami() {
    const el = document.getElementById('user');
    if (REPORT) { el.textContent = ''; return; }
    try {
      const who = await api('/api/whoami');
      const user = (who && who.user) || '?';
      el.innerHTML = `<span class="user-name">${esc(user)}</span>${who && who.admin ? ' <span class="tag">admin</span>' : ''}` +
        (who && who.auth === false ? ' <span class="tag dim" title="authentication is off">no auth</span>' : '');
    } catch (e) {
      el.textContent = e.status === 401 ? 'not signed in' : '';
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Routing

  const ROUTES = [
    [/^#?\/?$/, 'sweeps', () => pageSweeps()],
    [/^#\/sweeps\/?$/, 'sweeps', () => pageSweeps()],
    [/^#\/sweeps\/(\d+)\/?$/, 'sweeps', (m) => pageSweep(Number(m[1]))],
    [/^#\/trials\/(\d+)\/?$/, 'sweeps', (m) => pageTrial(Number(m[1]))],
    [/^#\/workers\/?$/, 'workers', () => pageWorkers()],
    [/^#\/models\/?$/, 'models', () => pageModels()],
    [/^#\/models\/(.+)$/, 'models', (m) => pageModel(decodeURIComponent(m[1]))],
    [/^#\/schedules\/?$/, 'schedules', () => pageSchedules()],
    [/^#\/schedules\/(.+)$/, 'schedules', (m) => pageSchedule(decodeURIComponent(m[1]))],
  ];

  // Ends the shown page's work (its async loads are dropped, its timers and streams closed) and
  // starts the next one's.
  function leavePage() {
    generation++;
    if (page) page.cleanup.forEach((f) => { try { f(); } catch (e) { /* ignore */ } });
    page = { gen: generation, cleanup: [], onChange: null };
  }

  function route() {
    leavePage();
    pageStreamOpen = false;
    updateLiveIndicator();
    document.body.dataset.ready = '0';
    afterReadyQueue = [];
    clearBanner();
    // The previous page goes at once: a failure to load this one must not leave it on screen.
    setView('<p class="empty">Loading…</p>');
    const hash = location.hash || '#/';
    for (const [re, nav, fn] of ROUTES) {
      const m = hash.match(re);
      if (!m) continue;
      for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.nav === nav);
      Promise.resolve().then(() => fn(m)).catch((e) => handleError(e));
      return;
    }
    view.innerHTML = `<div class="page"><p class="empty">No page at ${esc(hash)}. <a href="#/">All sweeps</a></p></div>`;
    setReady();
  }

  function purgePlots(root) {
    if (!hasPlotly()) return;
    for (const el of root.querySelectorAll('.js-plotly-plot')) { try { Plotly.purge(el); } catch (e) { /* ignore */ } }
  }
  function setView(html) {
    purgePlots(view);
    view.innerHTML = html;
  }

  // ---------------------------------------------------------------------------------------------
  // Plot helpers

  function plotUnavailable(el, why) {
    el.innerHTML = `<p class="empty">${esc(why || 'Charts are unavailable: plotly.js did not load.')}</p>`;
  }
  function baseLayout(extra) {
    return Object.assign({
      font: BASE_FONT, paper_bgcolor: '#ffffff', plot_bgcolor: '#ffffff',
      margin: { l: 55, r: 15, t: 10, b: 40 }, hovermode: 'closest', showlegend: false,
      hoverlabel: { font: { size: 11 } },
    }, extra || {});
  }
  function axis(title, extra) {
    // No automargin: it costs a second full draw; margins are set per chart instead.
    // Plotly reads a few HTML tags and entities in its texts: names from users are escaped.
    return Object.assign({ title: { text: esc(title || ''), standoff: 6 }, gridcolor: '#eef0f3', zeroline: false,
                           linecolor: '#c9ced6' }, extra || {});
  }
  async function drawPlot(el, data, layout) {
    if (!(await plotlyLoaded)) { plotUnavailable(el); return; }
    try {
      await Plotly.react(el, data, layout, PLOT_CONFIG);
    } catch (e) {
      plotUnavailable(el, `This chart could not be drawn: ${e.message || e}`);
    }
  }
  function onPlotClick(el, handler) {
    if (!hasPlotly() || el._orchardClick || typeof el.on !== 'function') return;
    el._orchardClick = true;
    el.on('plotly_click', (ev) => {
      const p = ev && ev.points && ev.points[0];
      if (!p) return;
      let cd = p.customdata;
      if (cd === undefined && p.data && Array.isArray(p.data.customdata)) cd = p.data.customdata[p.pointNumber];
      if (Array.isArray(cd)) cd = cd[0];
      if (cd !== undefined && cd !== null) handler(cd);
    });
  }
  function openTrial(id) {
    if (canOpenTrial(id)) location.hash = `#/trials/${id}`;
  }
  function canOpenTrial(id) { return !REPORT || reportHas(`/api/trials/${id}`); }
  function trialLink(t, text) {
    const id = num(t.id);
    const label = esc(text || trialLabel(t));
    return canOpenTrial(id) ? `<a href="#/trials/${id}">${label}</a>` : label;
  }
  function sweepLink(id, text) {
    const n = num(id);
    if (n <= 0) return '—';
    const label = esc(text || `sweep ${n}`);
    return !REPORT || reportHas(`/api/sweeps/${n}`) ? `<a href="#/sweeps/${n}">${label}</a>` : label;
  }

  // Ticks for a log10-transformed axis: integer powers, with 2 and 5 in between over short ranges.
  function logTicks(lo, hi) {
    const vals = [], text = [];
    const a = Math.floor(lo), b = Math.ceil(hi);
    const mult = (b - a) <= 2 ? [1, 2, 5] : (b - a) <= 4 ? [1, 3] : [1];
    for (let e = a; e <= b; e++) {
      for (const m of mult) {
        const v = Math.log10(m) + e;
        if (v >= lo - 1e-9 && v <= hi + 1e-9) { vals.push(v); text.push(fmtNum(m * Math.pow(10, e))); }
      }
    }
    if (vals.length < 2) {
      vals.length = 0; text.length = 0;
      for (const v of [lo, (lo + hi) / 2, hi]) { vals.push(v); text.push(fmtNum(Math.pow(10, v))); }
    }
    return { vals, text };
  }

  // ---------------------------------------------------------------------------------------------
  // Sweeps list

  function sweepProgress(s) {
    const by = s.trials_by_state || {};
    const done = num(by.completed) + num(by.stopped) + num(by.failed);
    const total = num(s.trials_total);
    return { done, total, running: num(by.running), by };
  }
  function sweepTimes(s) {
    const state = stateName(s.state);
    const created = num(s.created_at), finished = num(s.finished_at);
    const end = finished > 0 ? finished : (state === 'running' ? nowSec() : created);
    const elapsed = created > 0 ? Math.max(0, end - created) : null;
    const { done, total } = sweepProgress(s);
    let eta = null;
    if (state === 'running' && done > 0 && elapsed !== null) eta = elapsed / done * Math.max(0, total - done);
    return { elapsed, eta, state };
  }
  function bestText(s) {
    const b = s.best_trial;
    if (!b || !b.has_objective) return '—';
    return `${fmtNum(b.objective)} <span class="dim">${esc(trialLabel(b))}</span>`;
  }
  function progressBar(done, total, running) {
    const pct = total > 0 ? Math.min(100, done / total * 100) : 0;
    const rpct = total > 0 ? Math.min(100 - pct, (running || 0) / total * 100) : 0;
    return `<div class="progress" title="${done} of ${total} ended${running ? `, ${running} running` : ''}">` +
      `<div class="bar"><span class="done" style="width:${pct.toFixed(1)}%"></span>` +
      `<span class="run" style="width:${rpct.toFixed(1)}%"></span></div>` +
      `<span class="ptext">${done}/${total}</span></div>`;
  }

  async function pageSweeps() {
    const gen = generation;
    let limit = 100;
    setView(`<div class="page"><div class="page-head"><h1>Sweeps</h1></div>
      <section class="card"><div class="table-wrap" id="sweeps-wrap"></div>
      <div id="sweeps-more"></div></section></div>`);
    const wrap = document.getElementById('sweeps-wrap');
    let sweeps = [];
    const render = () => {
      if (!sweeps.length) {
        wrap.innerHTML = `<table id="sweep-table" class="grid"><tbody></tbody></table>
          <p class="empty">No sweeps yet. Submit one with <code>orchard submit RECIPE</code>.</p>`;
        return;
      }
      const rows = sweeps.map((s) => {
        const id = num(s.id);
        const { done, total, running } = sweepProgress(s);
        const { elapsed, eta, state } = sweepTimes(s);
        return `<tr class="sweep-row" data-sweep-id="${id}" data-href="#/sweeps/${id}">
          <td class="num"><a href="#/sweeps/${id}">${id}</a></td>
          <td>${badge(state)}</td>
          <td class="name"><a href="#/sweeps/${id}">${esc(s.name || '(unnamed)')}</a></td>
          <td>${progressBar(done, total, running)}</td>
          <td class="num">${bestText(s)}${s.metric ? `<div class="sub">${esc(s.metric)} (${esc(s.mode || 'min')})</div>` : ''}</td>
          <td>${esc(s.owner || '')}</td>
          <td>${esc(s.strategy || '')}</td>
          <td>${s.schedule ? `<a href="#/schedules/${encodeURIComponent(s.schedule)}">${esc(s.schedule)}</a>` : '<span class="dim">—</span>'}</td>
          <td>${s.model ? `<a href="#/models/${encodeURIComponent(s.model)}">${esc(s.model)}</a>` : '<span class="dim">—</span>'}</td>
          <td class="nowrap" title="${esc(fmtTime(s.created_at))}">${esc(ago(s.created_at))}</td>
          <td class="num">${esc(fmtDur(elapsed))}</td>
          <td class="num">${eta === null ? '<span class="dim">—</span>' : esc(fmtDur(eta))}</td>
        </tr>`;
      });
      wrap.innerHTML = `<table id="sweep-table" class="grid clickable"><thead><tr>
        <th class="num">ID</th><th>State</th><th>Name</th><th>Progress</th><th class="num">Best</th><th>Owner</th><th>Strategy</th>
        <th>Schedule</th><th>Model</th><th>Created</th><th class="num">Elapsed</th><th class="num">ETA</th></tr></thead>
        <tbody>${rows.join('')}</tbody></table>`;
      const more = document.getElementById('sweeps-more');
      more.innerHTML = sweeps.length >= limit && !REPORT ? '<button type="button" class="link-button">Show more</button>' : '';
    };
    const load = async () => {
      const answer = await api(`/api/sweeps?page_size=${limit}`);
      if (!alive(gen)) return;
      sweeps = (answer && answer.sweeps) || [];
      render();
    };
    const refresh = makeRefresher(gen, async () => { await load(); bumpUpdates(); }, 500);
    document.getElementById('sweeps-more').addEventListener('click', (e) => {
      if (!e.target.closest('button')) return;
      limit += 100;
      refresh();
    });
    wireRowLinks(wrap);
    await load();
    if (!alive(gen)) return;
    if (!REPORT) refetchOnChange(gen, refresh);
    const ticker = setInterval(() => { if (alive(gen) && sweeps.some((s) => stateName(s.state) === 'running')) render(); }, 5000);
    page.cleanup.push(() => clearInterval(ticker));
    setReady();
  }

  // Rows with data-href navigate on a click outside their links.
  function wireRowLinks(root) {
    root.addEventListener('click', (e) => {
      if (e.target.closest('a, button, input, select, summary')) return;
      const row = e.target.closest('tr[data-href]');
      if (row && window.getSelection && String(window.getSelection()).length === 0) location.hash = row.dataset.href;
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Sweep page

  function hpMapOf(cache, t) {
    let m = cache.get(t);
    if (!m) {
      m = new Map();
      for (const h of t.hyperparameters || []) m.set(h.path, h.value);
      cache.set(t, m);
    }
    return m;
  }

  // The hyperparameter columns: varying ones first (declared order), constant ones last.
  function analyseHyperparameters(trials, parameters, hpCache) {
    const declared = new Map();
    (parameters || []).forEach((p, i) => declared.set(p.path, Object.assign({ order: i }, p)));
    const values = new Map();
    const search = trials.filter((t) => num(t.number) >= 0);
    for (const t of search) {
      for (const [path, value] of hpMapOf(hpCache, t)) {
        if (!values.has(path)) values.set(path, new Set());
        values.get(path).add(value);
      }
    }
    for (const p of declared.keys()) if (!values.has(p)) values.set(p, new Set());
    const infos = [];
    for (const [path, set] of values) {
      const decl = declared.get(path);
      const scale = decl ? decl.scale : '';
      const distinct = [...set];
      const allNumeric = distinct.length > 0 && distinct.every((v) => numericValue(v) !== null);
      let kind;
      if (scale === 'categorical') kind = 'categorical';
      else if (scale === 'constant') kind = 'constant';
      else if ((scale === 'log' || scale === 'linear') && allNumeric) kind = scale;
      else kind = allNumeric ? 'linear' : 'categorical';
      if (kind === 'log' && distinct.some((v) => numericValue(v) <= 0)) kind = 'linear';
      let varying = distinct.length > 1;
      if (search.length <= 1 && decl) varying = scale !== 'constant';
      if (kind === 'constant' && distinct.length > 1) kind = allNumeric ? 'linear' : 'categorical';
      let categories = null;
      if (kind === 'categorical') {
        // In the recipe's order; trials carry YAML flow text ("[64, 64]") of the declared JSON values
        // ([64, 64]), so they are matched without spaces and quotes.
        const norm = (v) => (typeof v === 'string' ? v : JSON.stringify(v)).replace(/[\s'"]/g, '');
        const rank = new Map();
        ((decl && decl.values) || []).forEach((v, k) => { const key = norm(v); if (!rank.has(key)) rank.set(key, k); });
        categories = distinct.slice().sort((a, b) => {
          const ra = rank.has(norm(a)) ? rank.get(norm(a)) : 1e9, rb = rank.has(norm(b)) ? rank.get(norm(b)) : 1e9;
          if (ra !== rb) return ra - rb;
          const na = numericValue(a), nb = numericValue(b);
          if (na !== null && nb !== null) return na - nb;
          return a < b ? -1 : a > b ? 1 : 0;
        });
      }
      infos.push({ path, kind, scale, varying, decl, distinct, categories,
                   order: decl ? decl.order : 1e6 });
    }
    infos.sort((a, b) => (b.varying - a.varying) || (a.order - b.order) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return infos;
  }

  function trialDuration(t) {
    const s = num(t.started_at), f = num(t.finished_at);
    if (s <= 0) return null;
    return (f > 0 ? f : (stateName(t.state) === 'running' ? nowSec() : s)) - s;
  }

  // PBT: the chain of members whose checkpoints this one's weights came from, newest first:
  // "#4@300 ← #1@200" took over #4 at step 300, whose weights at that step came from #1 at step 200.
  function lineageChain(t, byNumber) {
    const chain = [];
    let current = t, limit = Infinity;
    const seen = new Set();
    while (current && chain.length < 20) {
      const hops = (current.lineage || []).filter((h) => num(h.step) <= limit);
      if (!hops.length) break;
      const hop = hops.reduce((a, b) => (num(b.step) >= num(a.step) ? b : a));
      const parent = num(hop.parent);
      chain.push(`#${parent}@${num(hop.step)}`);
      const key = `${parent}@${num(hop.step)}`;
      if (seen.has(key)) break;
      seen.add(key);
      current = byNumber.get(parent);
      limit = num(hop.step) - 1;
    }
    return chain.join(' ← ');
  }
  function lineageHops(t) {
    return (t.lineage || []).map((h) => `step ${num(h.step)}: took over #${num(h.parent)}`).join('; ');
  }

  async function pageSweep(id) {
    const gen = generation;
    const S = {
      id, sweep: null, trials: [], trialById: new Map(), parameters: [], hp: [], hpCache: new WeakMap(),
      metric: '', metricNames: [], logy: false, series: new Map(), sweepSeries: new Map(),
      events: [], eventIds: new Set(), lastEventId: 0, sort: { key: 'number', dir: 1 }, filter: 'all',
      brush: {}, brushed: null, brushFilter: false, prevTrialKeys: new Map(), importance: undefined,
      cost: undefined,
    };

    // First the facts every section needs; then the sections, each drawing as soon as it can. The
    // curves' points, the largest answer, are asked for at once too.
    const sweepSeries = REPORT ? null : api(seriesPath(id, ''));
    if (sweepSeries) sweepSeries.catch(() => {});  // handled where it is awaited
    const [sweep, trialsAnswer, paramsAnswer] = await Promise.all([
      api(`/api/sweeps/${id}`),
      apiPages(`/api/sweeps/${id}/trials`, 'trials', MOST_TRIALS),
      apiOptional(`/api/sweeps/${id}/parameters`),
    ]);
    if (!alive(gen)) return;
    S.sweep = sweep;
    S.metric = sweep.metric || '';
    setTrials(S, (trialsAnswer && trialsAnswer.trials) || []);
    if (trialsAnswer && trialsAnswer.truncated)
      showBanner(`This sweep has more trials than the page shows: the first ${MOST_TRIALS.toLocaleString()} by number. ` +
                 'orchard trials or orchard export lists them all.', 'warn');
    S.parameters = (paramsAnswer && paramsAnswer.parameters) || [];
    S.hp = analyseHyperparameters(S.trials, S.parameters, S.hpCache);

    const strategy = String(sweep.strategy || '').toLowerCase();
    const showRungs = strategy === 'asha' || strategy === 'hyperband' || S.trials.some((t) => num(t.rung) >= 0);
    const showPbt = strategy === 'pbt' || S.trials.some((t) => (t.lineage || []).length > 0);

    setView(`<div class="page sweep-page">
      <div class="page-head" id="sweep-head"></div>
      <div class="row-2">
        <section class="card grow">
          <div class="card-head"><h2>Learning curves</h2>
            <div class="controls">
              <label>metric <select id="metric-select"></select></label>
              <label class="check"><input type="checkbox" id="logy"> log y</label>
            </div></div>
          <div id="curves" class="plot plot-tall"></div>
          <p class="note" id="curves-note"></p>
        </section>
        <section class="card events-card">
          <div class="card-head"><h2>Events</h2></div>
          <div id="events" class="events"></div>
        </section>
      </div>
      <section class="card">
        <div class="card-head"><h2>Trials</h2><div id="trial-filters" class="filters"></div></div>
        <div class="table-wrap tall" id="trial-table-wrap"></div>
      </section>
      <section class="card">
        <div class="card-head"><h2>Parallel coordinates</h2><span class="note" id="parcoords-note"></span></div>
        <div id="parcoords" class="plot"></div>
      </section>
      <section class="card">
        <div class="card-head"><h2>Objective against each hyperparameter</h2></div>
        <div id="scatter" class="scatter-grid"></div>
      </section>
      <div class="row-2">
        <section class="card grow">
          <div class="card-head"><h2>Hyperparameter importance</h2></div>
          <div id="importance" class="plot plot-short"></div>
          <p class="note" id="importance-method"></p>
        </section>
        ${showRungs ? `<section class="card grow">
          <div class="card-head"><h2>Rungs</h2><span class="note">${esc(S.metric)} of each trial at each rung it reached; ✕ stopped there</span></div>
          <div id="rungs" class="plot plot-short"></div></section>` : ''}
      </div>
      ${showPbt ? `<section class="card">
        <div class="card-head"><h2>PBT exploit tree</h2><span class="note">each member over steps; arrows: it took over another member's checkpoint</span></div>
        <div id="pbt-tree" class="plot"></div></section>` : ''}
    </div>`);

    mark('fetched');
    renderSweepHead(S);
    renderFilters(S);
    renderTrialTable(S);
    mark('table');
    wireTrialTable(S);
    wireRowLinks(document.getElementById('trial-table-wrap'));

    const metricSelect = document.getElementById('metric-select');
    const logy = document.getElementById('logy');
    logy.addEventListener('change', () => { S.logy = logy.checked; drawCurves(S); });
    metricSelect.addEventListener('change', async () => {
      S.metric = metricSelect.value;
      try {
        await loadSeries(S, gen);
        if (alive(gen)) drawCurves(S);
      } catch (e) { handleError(e, true); }
    });

    // Independent loads.
    const loads = [
      loadSeries(S, gen, sweepSeries).then(() => {
        if (!alive(gen)) return;
        if (S.metric === S.sweep.metric) S.sweepSeries = S.series;
        renderMetricSelect(S);
      }).catch((e) => { document.getElementById('curves').innerHTML = `<p class="empty">${esc(e.message)}</p>`; }),
      api(`/api/sweeps/${id}/events`).then((a) => { if (alive(gen)) addEvents(S, (a && a.events) || []); })
        .catch((e) => { if (alive(gen)) document.getElementById('events').innerHTML = `<p class="empty">${esc(e.message)}</p>`; }),
      apiOptional(`/api/sweeps/${id}/importance`).then((a) => { S.importance = a; })
        .catch((e) => { S.importance = { error: e.message }; }),
      apiOptional(`/api/sweeps/${id}/cost`).then((a) => { S.cost = a; if (alive(gen)) renderSweepHead(S); })
        .catch(() => { S.cost = null; }),
    ];
    await Promise.all(loads);
    if (!alive(gen)) return;
    renderEvents(S);
    // Parallel coordinates are WebGL only; on a software rasterizer (headless browsers) one costs
    // seconds whatever its size, and even finding out which kind of WebGL there is costs a tenth of
    // one. So they are drawn right after the rest of the page is ready: #parcoords gets
    // data-drawn="1" when they are.
    mark('data');
    await drawCurves(S); mark('curves');
    await drawScatter(S); mark('scatter');
    await drawImportance(S); mark('importance');
    if (showRungs) { await drawRungs(S); mark('rungs'); }
    if (showPbt) { await drawPbt(S); mark('pbt'); }
    if (!alive(gen)) return;
    const pc = document.getElementById('parcoords');
    if (pc) pc.innerHTML = '<p class="empty">Drawing…</p>';
    setReady();
    await new Promise((r) => setTimeout(r, 30));
    if (!alive(gen)) return;
    await drawParcoords(S);
    mark('parcoords');

    // Live updates.
    if (!REPORT) startSweepLive(S, gen);
  }

  function setTrials(S, trials) {
    // The champion's evaluation after the search's trials.
    S.trials = trials.slice().sort((a, b) => {
      const an = num(a.number), bn = num(b.number);
      return (an < 0) - (bn < 0) || an - bn;
    });
    S.trialById = new Map(S.trials.map((t) => [num(t.id), t]));
  }

  function renderSweepHead(S) {
    const el = document.getElementById('sweep-head');
    if (!el) return;
    const s = S.sweep;
    const { done, total, running, by } = sweepProgress(s);
    const { elapsed, eta, state } = sweepTimes(s);
    const b = s.best_trial;
    const counts = TRIAL_STATES.filter((k) => num(by[k]) > 0)
      .map((k) => `<span class="count st-text-${k}">${num(by[k])} ${k}</span>`).join(' · ');
    const fact = (k, v) => `<div class="fact"><span class="k">${esc(k)}</span><span class="v">${v}</span></div>`;
    let cost = '';
    if (S.cost && typeof S.cost === 'object') {
      const c = S.cost;
      const steps = num(c.trial_steps), full = num(c.full_steps);
      const frac = full > 0 ? steps / full : null;
      cost = `<div class="cost-box" id="cost-box"><div class="k">search cost</div>
        <div class="big">${frac === null ? esc(fmtInt(steps)) + ' steps' : Math.round(frac * 100) + '%'}</div>
        <div class="sub">${esc(fmtInt(steps))} of ${esc(fmtInt(full))} steps of running every trial to the end` +
        `${frac !== null && frac < 1 ? ` (saved ${Math.round((1 - frac) * 100)}%)` : ''}</div>
        <div class="sub">${esc(fmtDur(num(c.slot_seconds)))} of slot time` +
        `${S.sweep && num(S.sweep.cpu_seconds) > 0 ? `, ${esc(fmtDur(num(S.sweep.cpu_seconds)))} CPU` : ''}</div></div>`;
    }
    el.innerHTML = `
      <div class="head-main">
        <h1>${REPORT ? '' : '<a href="#/" class="crumb">Sweeps</a> / '}Sweep ${num(s.id)} · ${esc(s.name || '(unnamed)')} ${badge(state)}</h1>
        <div class="facts">
          ${fact('progress', progressBar(done, total, running))}
          ${fact('trials', counts || '<span class="dim">none yet</span>')}
          ${s.waiting ? fact('waits', `<span class="st-text-failed">${esc(s.waiting)}</span>`) : ''}
          ${fact('best ' + (s.metric || ''), b && b.has_objective
            ? `${esc(fmtNum(b.objective))} (${trialLink(b)}, step ${num(b.objective_step)})` : '<span class="dim">none yet</span>')}
          ${fact('objective', `${esc(s.metric || '—')} (${esc(s.mode || 'min')})`)}
          ${fact('strategy', esc(s.strategy || '—'))}
          ${fact('budget', `${num(s.trials_total || s.max_trials)} trials, ${num(s.max_concurrent)} at once, ${num(s.ranks)} slot${num(s.ranks) === 1 ? '' : 's'} each`)}
          ${fact('owner', esc(s.owner || '—'))}
          ${s.schedule ? fact('schedule', `<a href="#/schedules/${encodeURIComponent(s.schedule)}">${esc(s.schedule)}</a>`) : ''}
          ${s.model ? fact('model', `<a href="#/models/${encodeURIComponent(s.model)}">${esc(s.model)}</a>`) : ''}
          ${fact('created', esc(fmtTime(s.created_at)))}
          ${fact(num(s.finished_at) > 0 ? 'took' : 'elapsed', esc(fmtDur(elapsed)))}
          ${eta !== null ? fact('ETA', esc(fmtDur(eta))) : ''}
          ${fact('recipe', `<code>${esc(s.recipe_file || '—')}</code>`)}
          ${fact('storage', `<code>${esc(s.storage_root || '—')}</code>`)}
        </div>
      </div>${cost}`;
  }

  // --- trial table

  const SORT_KEYS = {
    number: (t) => num(t.number) < 0 ? 1e15 : num(t.number),
    state: (t) => stateName(t.state),
    objective: (t) => (t.has_objective ? num(t.objective) : null),
    last_step: (t) => num(t.last_step),
    rung: (t) => (num(t.rung) >= 0 ? num(t.rung) : null),
    decision: (t) => t.decision || null,
    attempts: (t) => num(t.attempts),
    duration: (t) => trialDuration(t),
    worker: (t) => t.worker_id || null,
    lineage: (t) => (t.lineage || []).length || null,
  };

  function filteredSortedTrials(S) {
    let list = S.trials;
    if (S.filter !== 'all') list = list.filter((t) => stateName(t.state) === S.filter);
    if (S.brushFilter && S.brushed) list = list.filter((t) => S.brushed.has(num(t.id)));
    const { key, dir } = S.sort;
    let getter;
    if (key.startsWith('hp:')) {
      const path = key.slice(3);
      getter = (t) => {
        const v = hpMapOf(S.hpCache, t).get(path);
        if (v === undefined) return null;
        const n = numericValue(v);
        return n === null ? v : n;
      };
    } else getter = SORT_KEYS[key] || SORT_KEYS.number;
    const keyed = list.map((t) => [getter(t), t]);
    keyed.sort((a, b) => {
      const x = a[0], y = b[0];
      if (x === null && y === null) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      if (typeof x === 'number' && typeof y === 'number') return (x - y) * dir || num(a[1].number) - num(b[1].number);
      const c = String(x).localeCompare(String(y), undefined, { numeric: true });
      return c * dir || num(a[1].number) - num(b[1].number);
    });
    return keyed.map((k) => k[1]);
  }

  function renderFilters(S) {
    const el = document.getElementById('trial-filters');
    if (!el) return;
    const counts = new Map();
    for (const t of S.trials) { const s = stateName(t.state); counts.set(s, (counts.get(s) || 0) + 1); }
    const states = TRIAL_STATES.filter((s) => counts.get(s)).concat([...counts.keys()].filter((s) => !TRIAL_STATES.includes(s)));
    if (S.filter !== 'all' && !counts.get(S.filter)) S.filter = 'all';
    let html = `<button type="button" class="filter${S.filter === 'all' ? ' active' : ''}" data-state="all">all <span class="n">${S.trials.length}</span></button>`;
    for (const s of states) {
      html += `<button type="button" class="filter f-${esc(s)}${S.filter === s ? ' active' : ''}" data-state="${esc(s)}">` +
              `${esc(s)} <span class="n">${counts.get(s)}</span></button>`;
    }
    if (S.brushed) {
      html += `<button type="button" class="filter brush${S.brushFilter ? ' active' : ''}" data-brush="1" ` +
              `title="trials inside the parallel-coordinates brush">brushed <span class="n">${S.brushed.size}</span></button>`;
    }
    el.innerHTML = html;
  }

  function renderTrialTable(S) {
    const wrap = document.getElementById('trial-table-wrap');
    if (!wrap) return;
    if (!S.trials.length) {
      wrap.innerHTML = '<table id="trial-table" class="grid"><tbody></tbody></table><p class="empty">No trials yet.</p>';
      return;
    }
    const hasRung = S.trials.some((t) => num(t.rung) >= 0);
    const hasDecision = S.trials.some((t) => t.decision);
    const hasLineage = S.trials.some((t) => (t.lineage || []).length);
    const hasRestarts = S.trials.some((t) => num(t.restarts) > 0);
    const bestId = S.sweep.best_trial && S.sweep.best_trial.has_objective ? num(S.sweep.best_trial.id) : -1;
    const { key, dir } = S.sort;
    const th = (k, label, cls, title) => `<th data-sort="${esc(k)}" class="sortable${cls ? ' ' + cls : ''}` +
      `${key === k ? (dir > 0 ? ' asc' : ' desc') : ''}"${title ? ` title="${esc(title)}"` : ''}>${label}</th>`;
    let head = th('number', '#') + th('state', 'State') + th('objective', esc(S.sweep.metric || 'objective'), 'num') +
      th('last_step', 'Step', 'num');
    if (hasRung) head += th('rung', 'Rung', 'num');
    if (hasDecision) head += th('decision', 'Decision');
    if (hasLineage) head += th('lineage', 'Lineage', '', 'PBT: whose checkpoint it took over at which step, and where that one came from');
    head += th('attempts', 'Att.', 'num', 'attempts' + (hasRestarts ? ' (restarts)' : '')) + th('duration', 'Time', 'num') +
            th('worker', 'Worker');
    for (const h of S.hp) {
      head += th(`hp:${h.path}`, esc(h.path), `hp${h.varying ? '' : ' const'}${h.kind === 'log' ? ' log' : ''}`,
                 `${h.path} (${h.varying ? h.kind : 'constant'})`);
    }
    head += '<th>Message</th>';
    const FIRST_ROWS = 120;
    const byNumber = hasLineage ? new Map(S.trials.map((t) => [num(t.number), t])) : null;
    const rows = filteredSortedTrials(S).map((t, index) => {
      const tid = num(t.id);
      const st = stateName(t.state);
      const hp = hpMapOf(S.hpCache, t);
      let cells = `<td class="num">${trialLink(t)}</td><td>${badge(st)}</td>` +
        `<td class="num">${t.has_objective ? esc(fmtNum(t.objective)) : '<span class="dim">—</span>'}</td>` +
        `<td class="num">${num(t.last_step)}</td>`;
      if (hasRung) cells += `<td class="num">${num(t.rung) >= 0 ? num(t.rung) : '<span class="dim">—</span>'}</td>`;
      if (hasDecision) cells += `<td>${esc(t.decision || '')}</td>`;
      if (hasLineage) cells += `<td class="lineage" title="${esc(lineageHops(t))}">${esc(lineageChain(t, byNumber))}</td>`;
      cells += `<td class="num">${num(t.attempts)}${num(t.restarts) > 0 ? ` <span class="dim">(${num(t.restarts)})</span>` : ''}</td>` +
        `<td class="num nowrap">${esc(fmtDur(trialDuration(t)))}</td><td class="nowrap">${esc(t.worker_id || '')}</td>`;
      for (const h of S.hp) {
        const v = hp.get(h.path);
        cells += `<td class="hp${h.varying ? '' : ' const'}">${v === undefined ? '' : esc(truncate(v, 40))}</td>`;
      }
      const message = t.waiting_reason ? `waiting: ${t.waiting_reason}` : (t.message || '');
      cells += `<td class="msg" title="${esc(message)}">${esc(truncate(message, 120))}</td>`;
      const cls = `trial-row${tid === bestId ? ' best' : ''}${num(t.number) < 0 ? ' champion' : ''}${index >= FIRST_ROWS ? ' later' : ''}`;
      return `<tr class="${cls}" data-trial-id="${tid}"${canOpenTrial(tid) ? ` data-href="#/trials/${tid}"` : ''}>${cells}</tr>`;
    });
    const empty = rows.length ? '' : '<p class="empty">No trials match this filter.</p>';
    // Progressive rendering: every row is in the DOM at once, but rows past the first screenfuls are laid
    // out (shown) a moment later, or as soon as the table is scrolled; laying out a thousand rows
    // takes longer than everything else on the page.
    const progressive = rows.length > FIRST_ROWS;
    wrap.innerHTML = `<table id="trial-table" class="grid clickable${progressive ? '' : ' all-rows'}"><thead><tr>${head}</tr></thead>` +
      `<tbody>${rows.join('')}</tbody></table>${empty}`;
    if (progressive) {
      const table = wrap.firstElementChild;
      const reveal = () => { table.classList.add('all-rows'); wrap.removeEventListener('scroll', reveal); };
      wrap.addEventListener('scroll', reveal, { passive: true });
      afterReady(reveal);
    }
  }

  function wireTrialTable(S) {
    document.getElementById('trial-table-wrap').addEventListener('click', (e) => {
      const th = e.target.closest('th[data-sort]');
      if (!th) return;
      const k = th.dataset.sort;
      S.sort = S.sort.key === k ? { key: k, dir: -S.sort.dir } : { key: k, dir: k === 'objective' && S.sweep.mode === 'max' ? -1 : 1 };
      renderTrialTable(S);
    });
    document.getElementById('trial-filters').addEventListener('click', (e) => {
      const b = e.target.closest('button');
      if (!b) return;
      if (b.dataset.brush) S.brushFilter = !S.brushFilter;
      else S.filter = b.dataset.state;
      renderFilters(S);
      renderTrialTable(S);
    });
  }

  // --- events

  function addEvents(S, events) {
    let added = 0;
    for (const ev of events) {
      const eid = num(ev.id);
      if (S.eventIds.has(eid)) continue;
      S.eventIds.add(eid);
      S.events.push(ev);
      S.lastEventId = Math.max(S.lastEventId, eid);
      added++;
    }
    if (added) S.events.sort((a, b) => num(a.id) - num(b.id));
    return added;
  }
  function renderEvents(S) {
    const el = document.getElementById('events');
    if (!el) return;
    if (!S.events.length) { el.innerHTML = '<p class="empty">No events yet.</p>'; return; }
    const shown = S.events.slice(-500).reverse();
    el.innerHTML = shown.map((ev) => `<div class="event"><span class="t" title="${esc(fmtTime(ev.time))}">` +
      `${esc(fmtClock(ev.time))}</span> <span class="m">${esc(ev.message)}</span></div>`).join('');
  }

  // --- metric series

  // The path of a sweep's series of one metric (the sweep's without a name); the live dashboard asks
  // for CURVE_POINTS in all, a report holds every point.
  function seriesPath(id, name) {
    const query = [];
    if (name) query.push(`name=${encodeURIComponent(name)}`);
    if (!REPORT) query.push(`max_points=${CURVE_POINTS}`);
    return `/api/sweeps/${id}/metrics${query.length ? '?' + query.join('&') : ''}`;
  }

  // `prefetched`: the answer for the sweep's metric, asked for together with the sweep itself.
  async function loadSeries(S, gen, prefetched) {
    let answer = null;
    const name = S.metric;
    if (prefetched) answer = await prefetched;
    else if (name) answer = await apiOptional(seriesPath(S.id, name));
    if (!answer) {
      const plain = REPORT ? reportLookup(seriesPath(S.id, '')) : undefined;
      if (plain && (!name || plain.metric === name)) answer = plain;
      else if (!REPORT && !name) answer = await api(seriesPath(S.id, ''));
    }
    if (!alive(gen)) return;
    const series = new Map();
    if (answer) {
      if (!S.metric && answer.metric) S.metric = answer.metric;
      for (const s of answer.series || []) {
        const pts = (s.points || []).map((p) => Array.isArray(p) ? [Number(p[0]), Number(p[1])]
                                                           : [Number(p.step), Number(p.value)]);
        series.set(num(s.trial_id), pts);
      }
      if (Array.isArray(answer.names)) S.serverNames = answer.names;
    }
    S.series = series;
    if (S.metric === S.sweep.metric) S.sweepSeries = series;
  }

  function metricNames(S) {
    const names = new Set();
    if (REPORT) {
      const prefix = `/api/sweeps/${S.id}/metrics?name=`;
      for (const key of Object.keys(REPORT.responses || {})) {
        if (!key.startsWith(prefix)) continue;
        let n = key.slice(prefix.length);
        try { n = decodeURIComponent(n); } catch (e) { /* keep */ }
        names.add(n);
      }
      const plain = reportLookup(`/api/sweeps/${S.id}/metrics`);
      if (plain && plain.metric) names.add(plain.metric);
    } else {
      for (const n of S.serverNames || []) names.add(n);
      if (S.sweep.metric) names.add(S.sweep.metric);
    }
    if (S.metric) names.add(S.metric);
    const list = [...names];
    list.sort((a, b) => (b === S.sweep.metric) - (a === S.sweep.metric) || a.localeCompare(b));
    return list;
  }

  function renderMetricSelect(S) {
    const sel = document.getElementById('metric-select');
    if (!sel) return;
    const names = metricNames(S);
    S.metricNames = names;
    sel.innerHTML = names.map((n) => `<option value="${esc(n)}"${n === S.metric ? ' selected' : ''}>${esc(n)}</option>`).join('');
    sel.disabled = names.length <= 1;
  }

  function hpHover(S, t) {
    const hp = hpMapOf(S.hpCache, t);
    const parts = [];
    for (const h of S.hp) {
      if (!h.varying) continue;
      const v = hp.get(h.path);
      if (v !== undefined) parts.push(`${esc(h.path)}=${esc(truncate(v, 30))}`);
      if (parts.length >= 8) break;
    }
    return parts.join('<br>');
  }

  function curveLabel(S, t) {
    const hp = hpHover(S, t);
    return `<b>trial ${esc(trialLabel(t))}</b> · ${esc(stateName(t.state))}${hp ? '<br>' + hp : ''}`;
  }

  async function drawCurves(S) {
    const el = document.getElementById('curves');
    const note = document.getElementById('curves-note');
    if (!el) return;
    if (!(await plotlyLoaded)) { plotUnavailable(el); return; }
    const bestId = S.sweep.best_trial && S.sweep.best_trial.has_objective ? num(S.sweep.best_trial.id) : -1;
    const withData = S.trials.filter((t) => (S.series.get(num(t.id)) || []).length > 0);
    if (!withData.length) {
      Plotly.purge(el);
      el.innerHTML = `<p class="empty">No ${esc(S.metric || 'metric')} reported yet.</p>`;
      note.textContent = '';
      return;
    }
    if (!el.classList.contains('js-plotly-plot')) el.innerHTML = '';
    // SVG throughout: with many trials the curves are merged into a few traces (below), which SVG
    // draws faster than WebGL where WebGL is a software rasterizer, and fast enough elsewhere.
    const many = withData.length > 200;
    const type = 'scatter';
    const hovertemplate = `%{text}<br>step %{x}: %{y:.4g}<extra></extra>`;
    const traces = [];
    const bestTrial = S.trialById.get(bestId);
    const others = withData.filter((t) => num(t.id) !== bestId);

    if (!many) {
      others.forEach((t, i) => {
        const pts = S.series.get(num(t.id));
        const n = pts.length, x = new Array(n), y = new Array(n);
        for (let k = 0; k < n; k++) { x[k] = pts[k][0]; y[k] = pts[k][1]; }
        const champion = num(t.number) < 0;
        const label = curveLabel(S, t);
        traces.push({ type, mode: n === 1 ? 'markers' : 'lines', x, y, name: trialLabel(t),
          line: { width: 1.3, color: champion ? '#6e7781' : PALETTE[num(t.number) % PALETTE.length], dash: champion ? 'dash' : 'solid' },
          marker: { size: 5, color: PALETTE[Math.abs(num(t.number)) % PALETTE.length] },
          opacity: stateName(t.state) === 'running' ? 0.95 : 0.6,
          text: new Array(n).fill(label), customdata: new Array(n).fill(num(t.id)), hovertemplate });
      });
    } else {
      // Many trials: a few merged traces (null-separated), coloured by the trial's objective decile.
      const objs = others.filter((t) => t.has_objective).map((t) => num(t.objective)).sort((a, b) => a - b);
      const buckets = 8;
      const groups = Array.from({ length: buckets + 1 }, () => ({ x: [], y: [], text: [], cd: [] }));
      const maximize = S.sweep.mode === 'max';
      const rank = (v) => {
        let lo = 0, hi = objs.length;
        while (lo < hi) { const mid = (lo + hi) >> 1; if (objs[mid] < v) lo = mid + 1; else hi = mid; }
        let q = objs.length > 1 ? lo / (objs.length - 1) : 0;
        if (maximize) q = 1 - q;
        return Math.min(buckets - 1, Math.floor(q * buckets));
      };
      const perCurve = Math.max(20, Math.floor(CURVE_POINTS / others.length));
      for (const t of others) {
        const g = groups[t.has_objective ? rank(num(t.objective)) : buckets];
        const pts = S.series.get(num(t.id));
        const label = curveLabel(S, t), tid = num(t.id);
        // About CURVE_POINTS in all (always each curve's last), as the coordinator sends them; live
        // points make curves longer again.
        const stride = Math.max(1, Math.ceil(pts.length / perCurve));
        for (let k = 0; k < pts.length; k += stride) { g.x.push(pts[k][0]); g.y.push(pts[k][1]); g.text.push(label); g.cd.push(tid); }
        if ((pts.length - 1) % stride) {
          const p = pts[pts.length - 1];
          g.x.push(p[0]); g.y.push(p[1]); g.text.push(label); g.cd.push(tid);
        }
        g.x.push(null); g.y.push(null); g.text.push(''); g.cd.push(null);
      }
      const colors = ['#1d3f8f', '#2b5cb8', '#3f7fd0', '#5e9ed9', '#86b9de', '#aecfe0', '#cdddea', '#dfe6ee'];
      groups.forEach((g, i) => {
        if (!g.x.length) return;
        traces.push({ type, mode: 'lines', x: g.x, y: g.y, text: g.text, customdata: g.cd, hovertemplate,
          connectgaps: false, name: i < buckets ? `decile ${i + 1}` : 'no objective',
          line: { width: 1, color: i < buckets ? colors[i] : '#c0c6cf' }, opacity: i < buckets ? 0.55 : 0.4 });
      });
      // Draw the best buckets last so they lie on top.
      traces.reverse();
    }
    if (bestTrial && S.series.get(bestId) && S.series.get(bestId).length) {
      const pts = S.series.get(bestId);
      traces.push({ type, mode: pts.length === 1 ? 'markers' : 'lines', x: pts.map((p) => p[0]), y: pts.map((p) => p[1]),
        name: `best ${trialLabel(bestTrial)}`, line: { width: 3.2, color: BEST_COLOR }, marker: { size: 8, color: BEST_COLOR },
        text: new Array(pts.length).fill(`<b>best</b> ${curveLabel(S, bestTrial)}`),
        customdata: new Array(pts.length).fill(bestId), hovertemplate });
    }
    const layout = baseLayout({
      uirevision: `curves:${S.metric}:${S.logy}`,
      xaxis: axis('step'),
      yaxis: axis(S.metric, { type: S.logy ? 'log' : 'linear' }),
      margin: { l: 60, r: 15, t: 10, b: 40 },
    });
    await drawPlot(el, traces, layout);
    onPlotClick(el, (tid) => openTrial(tid));
    note.textContent = `${withData.length} trial${withData.length === 1 ? '' : 's'}` +
      (bestTrial ? `; thick black: the best, ${trialLabel(bestTrial)}` : '') +
      (many ? '; colored by objective (darker is better)' : '') + '. Click a curve to open its trial.';
  }

  // --- parallel coordinates

  function dimensionFor(h, trials, S) {
    const hpc = S.hpCache;
    const vals = trials.map((t) => hpMapOf(hpc, t).get(h.path));
    if (h.kind === 'categorical') {
      const idx = new Map(h.categories.map((c, i) => [c, i]));
      return { label: esc(h.path), values: vals.map((v) => (idx.has(v) ? idx.get(v) : 0)),
               tickvals: h.categories.map((c, i) => i), ticktext: h.categories.map((c) => esc(truncate(c, 16))),
               range: [0, Math.max(1, h.categories.length - 1)] };
    }
    const nums = vals.map((v) => numericValue(v));
    if (h.kind === 'log') {
      const logs = nums.map((v) => (v > 0 ? Math.log10(v) : NaN));
      let lo = Math.min(...logs.filter(Number.isFinite)), hi = Math.max(...logs.filter(Number.isFinite));
      const d = h.decl || {};
      if (num(d.min) > 0) lo = Math.min(lo, Math.log10(num(d.min)));
      if (num(d.max) > 0) hi = Math.max(hi, Math.log10(num(d.max)));
      if (!(hi > lo)) { lo -= 0.5; hi += 0.5; }
      const ticks = logTicks(lo, hi);
      return { label: `${esc(h.path)} (log)`, values: logs, range: [lo, hi], tickvals: ticks.vals, ticktext: ticks.text };
    }
    let lo = Math.min(...nums), hi = Math.max(...nums);
    const d = h.decl || {};
    if (h.kind === 'linear' && d && Number.isFinite(Number(d.min)) && Number.isFinite(Number(d.max)) && Number(d.max) > Number(d.min)) {
      lo = Math.min(lo, Number(d.min)); hi = Math.max(hi, Number(d.max));
    }
    if (!(hi > lo)) { lo -= 1; hi += 1; }
    return { label: esc(h.path), values: nums, range: [lo, hi] };
  }

  async function drawParcoords(S) {
    const el = document.getElementById('parcoords');
    const note = document.getElementById('parcoords-note');
    if (!el) return;
    if (!(await plotlyLoaded)) { plotUnavailable(el); el.dataset.drawn = '1'; return; }
    if (!hasWebGL()) {
      plotUnavailable(el, 'Parallel coordinates need WebGL, which this browser does not offer.');
      el.dataset.drawn = '1';
      return;
    }
    const trials = S.trials.filter((t) => num(t.number) >= 0 && t.has_objective);
    const varying = S.hp.filter((h) => h.varying && h.kind !== 'constant');
    if (!trials.length || !varying.length) {
      Plotly.purge(el);
      el.innerHTML = `<p class="empty">${!trials.length ? 'No trial has reported the objective yet.' : 'No hyperparameter varies across trials.'}</p>`;
      note.textContent = '';
      el.dataset.drawn = '1';
      return;
    }
    if (!el.classList.contains('js-plotly-plot')) el.innerHTML = '';
    const objs = trials.map((t) => num(t.objective));
    const dims = varying.map((h) => dimensionFor(h, trials, S));
    let lo = Math.min(...objs), hi = Math.max(...objs);
    if (!(hi > lo)) { lo -= 1e-9; hi += 1e-9; }
    dims.push({ label: esc(S.sweep.metric || 'objective'), values: objs, range: [lo, hi] });
    for (const d of dims) if (S.brush[d.label]) d.constraintrange = S.brush[d.label];
    const maximize = S.sweep.mode === 'max';
    const data = [{
      type: 'parcoords', dimensions: dims,
      line: { color: objs, colorscale: 'Viridis', reversescale: maximize, showscale: true,
              colorbar: { thickness: 12 } },
      labelfont: { size: 11 }, tickfont: { size: 10 }, rangefont: { size: 9 },
    }];
    const layout = baseLayout({ margin: { l: 60, r: 60, t: 40, b: 20 }, uirevision: 'parcoords' });
    S.parcoordsTrials = trials;
    S.parcoordsDims = dims;
    await drawPlot(el, data, layout);
    el.dataset.drawn = '1';
    if (!el._orchardBrush && typeof el.on === 'function') {
      el._orchardBrush = true;
      el.on('plotly_restyle', (ev) => {
        const change = ev && ev[0];
        if (!change) return;
        let touched = false;
        for (const k of Object.keys(change)) {
          const m = k.match(/^dimensions\[(\d+)\]\.constraintrange$/);
          if (!m) continue;
          const d = S.parcoordsDims[Number(m[1])];
          if (!d) continue;
          const v = Array.isArray(change[k]) ? change[k][0] : change[k];
          if (v && v.length) S.brush[d.label] = v; else delete S.brush[d.label];
          touched = true;
        }
        if (touched) updateBrushed(S);
      });
    }
    updateBrushed(S);
  }

  function inRange(v, range) {
    if (!range || !range.length) return true;
    const ranges = Array.isArray(range[0]) ? range : [range];
    return ranges.some((r) => v >= Math.min(r[0], r[1]) && v <= Math.max(r[0], r[1]));
  }
  function updateBrushed(S) {
    const note = document.getElementById('parcoords-note');
    const dims = S.parcoordsDims || [];
    const active = dims.filter((d) => S.brush[d.label]);
    const trials = S.parcoordsTrials || [];
    const wasFiltering = !!(S.brushFilter && S.brushed);
    if (!active.length) {
      S.brushed = null;
      S.brushFilter = false;
    } else {
      S.brushed = new Set();
      trials.forEach((t, i) => {
        if (active.every((d) => inRange(d.values[i], S.brush[d.label]))) S.brushed.add(num(t.id));
      });
    }
    if (note) note.textContent = `${trials.length} trials with an objective; drag along an axis to brush` +
      (S.brushed ? ` — ${S.brushed.size} inside the brush` : '');
    renderFilters(S);
    if (wasFiltering || (S.brushFilter && S.brushed)) renderTrialTable(S);
  }

  // --- objective against each hyperparameter

  async function drawScatter(S) {
    const el = document.getElementById('scatter');
    if (!el) return;
    if (!(await plotlyLoaded)) { plotUnavailable(el); return; }
    const trials = S.trials.filter((t) => num(t.number) >= 0 && t.has_objective);
    const varying = S.hp.filter((h) => h.varying && h.kind !== 'constant');
    if (!trials.length || !varying.length) {
      purgePlots(el);
      el.style.height = '';
      el.innerHTML = `<p class="empty">${!trials.length ? 'No trial has reported the objective yet.' : 'No hyperparameter varies across trials.'}</p>`;
      return;
    }
    if (!el.classList.contains('js-plotly-plot')) el.innerHTML = '';
    // One figure with a small subplot per varying parameter (one Plotly draw instead of many).
    const n = varying.length;
    const width = el.clientWidth || 1200;
    const cols = Math.max(1, Math.min(n, Math.floor(width / 330)));
    const rows = Math.ceil(n / cols);
    const cellH = 240;
    const height = rows * cellH;
    el.style.height = `${height}px`;
    const bestId = S.sweep.best_trial && S.sweep.best_trial.has_objective ? num(S.sweep.best_trial.id) : -1;
    const best = S.trialById.get(bestId);
    const traces = [];
    const layout = baseLayout({ uirevision: 'scatter', height, margin: { l: 55, r: 10, t: 10, b: 10 } });
    const gapX = 0.045, gapTop = 12 / height, gapBottom = 48 / height;
    const states = [...new Set(trials.map((t) => stateName(t.state)))];
    varying.forEach((h, i) => {
      const c = i % cols, r = Math.floor(i / cols);
      const suffix = i === 0 ? '' : String(i + 1);
      const xa = axis(h.path, { domain: [c / cols + (c ? gapX : 0), (c + 1) / cols - gapX / 2], anchor: `y${suffix}` });
      xa.title.standoff = 2;
      if (h.kind === 'log') {
        xa.type = 'log'; xa.exponentformat = 'e';
        const vals = h.distinct.map(numericValue).filter((v) => v > 0);
        const d = h.decl || {};
        const lo = Math.min(...vals, num(d.min) > 0 ? num(d.min) : Infinity), hi = Math.max(...vals, num(d.max) > 0 ? num(d.max) : 0);
        const decades = Math.log10(hi / lo);
        if (decades >= 2) xa.dtick = 1; else if (decades >= 0.7) xa.dtick = 'D2';
      }
      if (h.kind === 'categorical') {
        xa.type = 'category'; xa.categoryorder = 'array'; xa.categoryarray = h.categories;
        xa.tickvals = h.categories; xa.ticktext = h.categories.map((v) => esc(truncate(v, 14)));
      }
      const y0 = 1 - (r + 1) / rows + gapBottom, y1 = 1 - r / rows - gapTop;
      const ya = axis(c === 0 ? S.sweep.metric : '', { domain: [Math.max(0, y0), Math.min(1, y1)], anchor: `x${suffix}` });
      layout[`xaxis${suffix}`] = xa;
      layout[`yaxis${suffix}`] = ya;
      for (const st of states) {
        const x = [], y = [], text = [], cd = [];
        for (const t of trials) {
          if (stateName(t.state) !== st) continue;
          const v = hpMapOf(S.hpCache, t).get(h.path);
          if (v === undefined) continue;
          x.push(h.kind === 'categorical' ? v : numericValue(v));
          y.push(num(t.objective));
          text.push(`trial ${esc(trialLabel(t))} · ${st}<br>${esc(h.path)}=${esc(truncate(v, 30))}`);
          cd.push(num(t.id));
        }
        if (!x.length) continue;
        traces.push({ type: 'scatter', mode: 'markers', x, y, text, customdata: cd, name: st, xaxis: `x${suffix}`, yaxis: `y${suffix}`,
          hovertemplate: `%{text}<br>${esc(S.sweep.metric)}=%{y:.4g}<extra></extra>`,
          marker: { size: 6, color: STATE_COLORS[st] || '#888', opacity: 0.75, symbol: st === 'stopped' ? 'x' : 'circle', line: { width: 0 } } });
      }
      if (best && hpMapOf(S.hpCache, best).has(h.path)) {
        const v = hpMapOf(S.hpCache, best).get(h.path);
        traces.push({ type: 'scatter', mode: 'markers', x: [h.kind === 'categorical' ? v : numericValue(v)], y: [num(best.objective)],
          customdata: [bestId], name: 'best', xaxis: `x${suffix}`, yaxis: `y${suffix}`,
          hovertemplate: `best ${esc(trialLabel(best))}<extra></extra>`,
          marker: { size: 12, color: 'rgba(0,0,0,0)', line: { width: 2, color: BEST_COLOR } } });
      }
    });
    await drawPlot(el, traces, layout);
    onPlotClick(el, (tid) => openTrial(tid));
  }

  // --- importance

  async function drawImportance(S) {
    const el = document.getElementById('importance');
    const method = document.getElementById('importance-method');
    if (!el) return;
    const imp = S.importance;
    if (!imp || imp.error || !(imp.parameters || []).length) {
      el.innerHTML = `<p class="empty">${imp && imp.error ? esc(imp.error)
        : 'Importance is not available yet (it needs several trials with an objective).'}</p>`;
      method.textContent = imp && imp.method ? imp.method : '';
      return;
    }
    if (!(await plotlyLoaded)) { plotUnavailable(el); return; }
    if (!el.classList.contains('js-plotly-plot')) el.innerHTML = '';
    const params = imp.parameters.slice().sort((a, b) => num(a.importance) - num(b.importance));
    const data = [{ type: 'bar', orientation: 'h', x: params.map((p) => num(p.importance)), y: params.map((p) => esc(p.path)),
      marker: { color: '#4c78a8' }, text: params.map((p) => fmtNum(num(p.importance))), textposition: 'auto',
      hovertemplate: '%{y}: %{x:.3f}<extra></extra>' }];
    const layout = baseLayout({ margin: { l: 10, r: 15, t: 8, b: 36 }, uirevision: 'importance',
      xaxis: axis('importance', { rangemode: 'tozero' }), yaxis: axis('', { automargin: true }),
      height: Math.max(160, 40 + params.length * 26) });
    el.style.height = `${layout.height}px`;
    await drawPlot(el, data, layout);
    method.textContent = `${imp.method || ''}${imp.samples !== undefined ? ` (${num(imp.samples)} trials)` : ''}`;
  }

  // --- rungs (ASHA / Hyperband)

  function valueAtStep(points, step) {
    // the last point at or before step (points are sorted by step)
    let lo = 0, hi = points.length - 1, best = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (points[mid][0] <= step) { best = points[mid]; lo = mid + 1; } else hi = mid - 1;
    }
    return best;
  }

  async function drawRungs(S) {
    const el = document.getElementById('rungs');
    if (!el) return;
    if (!(await plotlyLoaded)) { plotUnavailable(el); return; }
    const trials = S.trials.filter((t) => num(t.number) >= 0 && num(t.rung) >= 0);
    if (!trials.length) {
      purgePlots(el);
      el.innerHTML = '<p class="empty">No trial has been judged at a rung yet.</p>';
      return;
    }
    if (!el.classList.contains('js-plotly-plot')) el.innerHTML = '';
    // Each rung's milestone step: where trials judged there (and not promoted) ended.
    const maxRung = Math.max(...trials.map((t) => num(t.rung)));
    const milestones = [];
    for (let r = 0; r <= maxRung; r++) {
      const ended = trials.filter((t) => num(t.rung) === r && ['stopped', 'paused'].includes(stateName(t.state)));
      const atRung = ended.length ? ended : trials.filter((t) => num(t.rung) === r && stateName(t.state) !== 'running');
      milestones.push(median(atRung.map((t) => num(t.last_step))));
    }
    const series = S.sweepSeries;
    const lines = { x: [], y: [] };
    const groups = new Map();
    for (const t of trials) {
      const top = num(t.rung);
      const pts = series.get(num(t.id)) || [];
      const jitter = (((num(t.number) * 0.6180339887) % 1) - 0.5) * 0.3;
      const st = stateName(t.state);
      let any = false;
      for (let r = 0; r <= top; r++) {
        let v = null;
        if (milestones[r] !== null && pts.length) {
          const p = valueAtStep(pts, milestones[r]);
          if (p) v = p[1];
        }
        if (v === null && r === top && t.has_objective) v = num(t.objective);
        if (v === null) continue;
        any = true;
        lines.x.push(r + jitter); lines.y.push(v);
        const stoppedHere = r === top && st === 'stopped';
        const key = stoppedHere ? 'stopped here' : (r === top ? st : 'promoted');
        if (!groups.has(key)) groups.set(key, { x: [], y: [], text: [], cd: [] });
        const g = groups.get(key);
        g.x.push(r + jitter); g.y.push(v); g.cd.push(num(t.id));
        g.text.push(`trial ${trialLabel(t)} · ${st}<br>rung ${r}${milestones[r] !== null ? ` (step ${milestones[r]})` : ''}`);
      }
      if (any) { lines.x.push(null); lines.y.push(null); }
    }
    const traces = [{ type: 'scatter', mode: 'lines', x: lines.x, y: lines.y, hoverinfo: 'skip', connectgaps: false,
                      line: { width: 0.8, color: '#c9ced6' }, name: 'trial' }];
    const colorFor = (k) => (k === 'stopped here' ? STATE_COLORS.stopped : k === 'promoted' ? '#9aa4b1' : STATE_COLORS[k] || '#888');
    for (const [k, g] of groups) {
      traces.push({ type: 'scatter', mode: 'markers', x: g.x, y: g.y, text: g.text, customdata: g.cd, name: k,
        hovertemplate: `%{text}<br>${esc(S.sweep.metric)}=%{y:.4g}<extra></extra>`,
        marker: { size: k === 'stopped here' ? 8 : 6, color: colorFor(k), symbol: k === 'stopped here' ? 'x' : 'circle',
                  opacity: 0.8 } });
    }
    const tickvals = [], ticktext = [];
    for (let r = 0; r <= maxRung; r++) { tickvals.push(r); ticktext.push(milestones[r] !== null ? `rung ${r}<br>step ${milestones[r]}` : `rung ${r}`); }
    const layout = baseLayout({ uirevision: 'rungs', showlegend: true,
      legend: { orientation: 'h', yanchor: 'top', y: -0.2, x: 0, font: { size: 10 } }, margin: { l: 55, r: 10, t: 10, b: 70 },
      xaxis: axis('', { tickvals, ticktext, range: [-0.5, maxRung + 0.5] }), yaxis: axis(S.sweep.metric) });
    await drawPlot(el, traces, layout);
    onPlotClick(el, (tid) => openTrial(tid));
  }

  // --- PBT exploit tree

  async function drawPbt(S) {
    const el = document.getElementById('pbt-tree');
    if (!el) return;
    if (!(await plotlyLoaded)) { plotUnavailable(el); return; }
    const trials = S.trials.filter((t) => num(t.number) >= 0);
    if (!trials.length) { el.innerHTML = '<p class="empty">No members yet.</p>'; return; }
    if (!el.classList.contains('js-plotly-plot')) el.innerHTML = '';
    const byNumber = new Map(trials.map((t) => [num(t.number), t]));
    const life = { x: [], y: [] }, edges = { x: [], y: [] };
    const hops = { x: [], y: [], text: [], cd: [] };
    const ends = { x: [], y: [], text: [], cd: [], color: [] };
    for (const t of trials) {
      const n = num(t.number);
      life.x.push(0, num(t.last_step), null); life.y.push(n, n, null);
      for (const h of t.lineage || []) {
        const p = num(h.parent), step = num(h.step);
        edges.x.push(step, step, null); edges.y.push(p, n, null);
        hops.x.push(step); hops.y.push(n); hops.cd.push(num(t.id));
        const hp = (h.hyperparameters || []).map((x) => `${esc(x.path)}=${esc(truncate(x.value, 24))}`).join('<br>');
        const parent = byNumber.get(p);
        hops.text.push(`trial ${esc(trialLabel(t))} took over #${p}'s checkpoint at step ${step}` +
          `${parent && parent.has_objective ? ` (#${p} now ${esc(fmtNum(parent.objective))})` : ''}${hp ? '<br>' + hp : ''}`);
      }
      ends.x.push(num(t.last_step)); ends.y.push(n); ends.cd.push(num(t.id));
      ends.color.push(t.has_objective ? num(t.objective) : null);
      ends.text.push(`trial ${esc(trialLabel(t))} · ${esc(stateName(t.state))}<br>${esc(S.sweep.metric)}=` +
        `${t.has_objective ? esc(fmtNum(t.objective)) : '—'}<br>${hpHover(S, t)}`);
    }
    const haveObj = ends.color.some((c) => c !== null);
    const traces = [
      { type: 'scatter', mode: 'lines', x: life.x, y: life.y, hoverinfo: 'skip', line: { color: '#d0d5dc', width: 2 }, name: 'member' },
      { type: 'scatter', mode: 'lines', x: edges.x, y: edges.y, hoverinfo: 'skip', line: { color: '#b279a2', width: 1.2 }, name: 'exploit' },
      { type: 'scatter', mode: 'markers', x: hops.x, y: hops.y, text: hops.text, customdata: hops.cd, name: 'exploit',
        hovertemplate: '%{text}<extra></extra>', marker: { symbol: 'triangle-right', size: 9, color: '#b279a2' } },
      { type: 'scatter', mode: 'markers', x: ends.x, y: ends.y, text: ends.text, customdata: ends.cd, name: 'member',
        hovertemplate: '%{text}<extra></extra>',
        marker: haveObj ? { size: 10, color: ends.color.map((c) => (c === null ? NaN : c)), colorscale: 'Viridis',
                            reversescale: S.sweep.mode === 'max', showscale: true,
                            colorbar: { title: { text: esc(S.sweep.metric), side: 'right' }, thickness: 10 }, line: { width: 1, color: '#fff' } }
                        : { size: 10, color: '#4c78a8' } },
    ];
    const nums = trials.map((t) => num(t.number));
    const height = Math.max(220, Math.min(700, 60 + trials.length * 18));
    el.style.height = `${height}px`;
    const layout = baseLayout({ uirevision: 'pbt', height, margin: { l: 55, r: 20, t: 10, b: 40 },
      xaxis: axis('step', { rangemode: 'tozero' }),
      yaxis: axis('member (trial)', { tickmode: trials.length <= 40 ? 'array' : 'auto', tickvals: trials.length <= 40 ? nums : undefined,
                                      range: [Math.min(...nums) - 0.7, Math.max(...nums) + 0.7] }) });
    await drawPlot(el, traces, layout);
    onPlotClick(el, (tid) => openTrial(tid));
  }

  // --- live updates of a sweep page

  function trialKey(t) { return `${t.state}|${num(t.last_step)}|${t.has_objective ? num(t.objective) : ''}`; }

  function startSweepLive(S, gen) {
    for (const t of S.trials) S.prevTrialKeys.set(num(t.id), trialKey(t));
    let pendingEvents = [];
    let source = null;
    const update = makeRefresher(gen, async () => {
      const events = pendingEvents; pendingEvents = [];
      const trialsAnswer = await apiPages(`/api/sweeps/${S.id}/trials`, 'trials', MOST_TRIALS);
      if (!alive(gen)) return;
      const trials = (trialsAnswer && trialsAnswer.trials) || [];
      const changed = [];
      const seen = new Set();
      for (const t of trials) {
        const tid = num(t.id);
        seen.add(tid);
        const k = trialKey(t);
        if (S.prevTrialKeys.get(tid) !== k || stateName(t.state) === 'running') changed.push(t);
        S.prevTrialKeys.set(tid, k);
      }
      const hpBefore = S.hp.map((h) => `${h.path}:${h.varying}:${h.distinct.length}`).join('|');
      setTrials(S, trials);
      S.hp = analyseHyperparameters(S.trials, S.parameters, S.hpCache);
      const hpChanged = hpBefore !== S.hp.map((h) => `${h.path}:${h.varying}:${h.distinct.length}`).join('|');
      addEvents(S, events);

      // Metrics: only for running and changed trials (the whole sweep's series when many changed).
      const wantSweep = S.sweep.metric;
      if (changed.length > 40) {
        await loadSeries(S, gen);
        if (S.metric !== wantSweep) {
          const a = await apiOptional(seriesPath(S.id, wantSweep));
          if (a) S.sweepSeries = new Map((a.series || []).map((s) => [num(s.trial_id), (s.points || []).map((p) => [Number(p[0]), Number(p[1])])]));
        }
      } else if (changed.length) {
        const answers = await Promise.all(changed.map((t) => apiPages(`/api/trials/${num(t.id)}/metrics`, 'points', MOST_POINTS).catch(() => null)));
        if (!alive(gen)) return;
        // No per-trial metrics from this coordinator: the sweep's series for the shown metric instead.
        if (answers.every((a) => a === null)) await loadSeries(S, gen);
        const newNames = new Set();
        changed.forEach((t, i) => {
          const a = answers[i];
          if (!a) return;
          const byName = new Map();
          for (const p of a.points || []) {
            newNames.add(p.name);
            if (p.name !== S.metric && p.name !== wantSweep) continue;
            if (!byName.has(p.name)) byName.set(p.name, []);
            byName.get(p.name).push([num(p.step), Number(p.value)]);
          }
          for (const arr of byName.values()) arr.sort((x, y) => x[0] - y[0]);
          if (byName.has(S.metric)) S.series.set(num(t.id), byName.get(S.metric));
          if (byName.has(wantSweep)) S.sweepSeries.set(num(t.id), byName.get(wantSweep));
        });
        let grew = false;
        S.serverNames = S.serverNames || [];
        for (const n of newNames) if (!S.serverNames.includes(n)) { S.serverNames.push(n); grew = true; }
        if (grew) renderMetricSelect(S);
      }
      if (!alive(gen)) return;
      // Objectives changed: the importance may have too.
      if (changed.some((t) => t.has_objective && stateName(t.state) !== 'running')) {
        S.importance = await apiOptional(`/api/sweeps/${S.id}/importance`).catch((e) => ({ error: e.message }));
        S.cost = await apiOptional(`/api/sweeps/${S.id}/cost`).catch(() => S.cost);
      }
      if (!alive(gen)) return;
      renderSweepHead(S);
      renderEvents(S);
      renderFilters(S);
      renderTrialTable(S);
      const objectivesChanged = changed.some((t) => t.has_objective);
      if (objectivesChanged || hpChanged) parcoordsLater();
      await Promise.all([
        drawCurves(S),
        objectivesChanged || hpChanged ? drawScatter(S) : null,
        drawImportance(S),
        document.getElementById('rungs') ? drawRungs(S) : null,
        document.getElementById('pbt-tree') ? drawPbt(S) : null,
      ]);
      if (!alive(gen)) return;
      bumpUpdates();
      const terminal = stateName(S.sweep.state) !== 'running';
      if (terminal && source) { source.close(); source = null; pageStreamOpen = false; updateLiveIndicator(); }
    }, 700);

    // Parallel coordinates redraw at most every few seconds (every 15 s on a software rasterizer,
    // where one draw costs seconds).
    let pcTimer = null, pcLast = Date.now();
    const parcoordsLater = () => {
      if (pcTimer) return;
      const gap = fastWebGL() ? 2000 : 15000;
      pcTimer = setTimeout(async () => {
        pcTimer = null;
        if (!alive(gen)) return;
        pcLast = Date.now();
        try { await drawParcoords(S); } catch (e) { handleError(e, true); }
      }, Math.max(0, pcLast + gap - Date.now()));
    };
    page.cleanup.push(() => { if (pcTimer) clearTimeout(pcTimer); });

    let first = true;
    const onSweep = (data) => {
      if (!alive(gen) || !data) return;
      if (data.sweep) S.sweep = data.sweep;
      if (Array.isArray(data.events)) pendingEvents = pendingEvents.concat(data.events);
      if (first) {
        // The snapshot at connect: only what happened since the page loaded matters.
        first = false;
        const fresh = pendingEvents.filter((e) => !S.eventIds.has(num(e.id)));
        const sameTrials = data.sweep && num(data.sweep.trials_total) === S.trials.length;
        if (!fresh.length && sameTrials && stateName(S.sweep.state) !== 'running') {
          pendingEvents = [];
          renderSweepHead(S);
          source.close(); source = null; pageStreamOpen = false; updateLiveIndicator();
          return;
        }
      }
      update();
    };
    source = openStream(`/api/sweeps/${S.id}/stream`, 'sweep', onSweep, (open) => {
      if (!alive(gen)) return;
      pageStreamOpen = open; updateLiveIndicator();
    });
    page.cleanup.push(() => { if (source) source.close(); source = null; pageStreamOpen = false; });
    // Without the sweep's own stream (refused, or gone), the coordinator-wide one still says when to look.
    page.onChange = () => {
      if ((!source || source.readyState === EventSource.CLOSED) && stateName(S.sweep.state) === 'running') {
        api(`/api/sweeps/${S.id}`).then((sw) => { if (alive(gen) && sw) { S.sweep = sw; update(); } }).catch(() => {});
      }
    };
    // Elapsed / ETA tick while running.
    const ticker = setInterval(() => { if (alive(gen) && stateName(S.sweep.state) === 'running') renderSweepHead(S); }, 5000);
    page.cleanup.push(() => clearInterval(ticker));
  }

  // ---------------------------------------------------------------------------------------------
  // Trial page

  async function pageTrial(id) {
    const gen = generation;
    const T = { id, trial: null, sweep: null, points: new Map(), log: null, attempts: null, checkpoints: null };
    T.trial = await api(`/api/trials/${id}`);
    if (!alive(gen)) return;
    const sweepId = num(T.trial.sweep_id);
    T.sweep = await apiOptional(`/api/sweeps/${sweepId}`).catch(() => null);
    if (!alive(gen)) return;
    setView(`<div class="page trial-page">
      <div class="page-head" id="trial-head"></div>
      <div class="row-2">
        <section class="card grow"><div class="card-head"><h2>Hyperparameters</h2></div><div id="trial-hp"></div></section>
        <section class="card grow"><div class="card-head"><h2>Attempts</h2></div><div class="table-wrap" id="attempts-wrap"></div></section>
      </div>
      <section class="card"><div class="card-head"><h2>Metrics</h2></div><div id="trial-curves" class="curve-grid"></div></section>
      <section class="card"><div class="card-head"><h2>Log</h2><span class="note" id="log-note"></span></div>
        <pre id="trial-log" class="log"></pre></section>
      <section class="card"><div class="card-head"><h2>Checkpoints</h2></div><div class="table-wrap" id="checkpoints"></div></section>
    </div>`);
    const load = async () => {
      const [trial, metrics, log, attempts, checkpoints] = await Promise.all([
        api(`/api/trials/${id}`),
        apiPages(`/api/trials/${id}/metrics`, 'points', MOST_POINTS).catch((e) => ({ error: e.message })),
        apiOptional(`/api/trials/${id}/log?tail_bytes=65536`).catch((e) => ({ error: e.message })),
        apiOptional(`/api/trials/${id}/attempts`).catch((e) => ({ error: e.message })),
        apiOptional(`/api/trials/${id}/checkpoints`).catch((e) => ({ error: e.message })),
      ]);
      if (!alive(gen)) return;
      T.trial = trial; T.log = log; T.attempts = attempts; T.checkpoints = checkpoints;
      T.metricsError = metrics && metrics.error;
      if (metrics && metrics.truncated)
        showBanner(`This trial reported more points than the page shows: the first ${MOST_POINTS.toLocaleString()} by step, then name. ` +
                   `orchard metrics ${id} lists them all.`, 'warn');
      const points = new Map();
      for (const p of (metrics && metrics.points) || []) {
        if (!points.has(p.name)) points.set(p.name, []);
        points.get(p.name).push([num(p.step), Number(p.value)]);
      }
      for (const arr of points.values()) arr.sort((a, b) => a[0] - b[0]);
      T.points = points;
      renderTrialHead(T);
      renderTrialHp(T);
      renderAttempts(T);
      renderLog(T);
      renderCheckpoints(T);
      await drawTrialCurves(T);
    };
    await load();
    if (!alive(gen)) return;
    setReady();
    if (REPORT) return;
    const refresh = makeRefresher(gen, async () => {
      await load();
      if (alive(gen)) bumpUpdates();
    }, 2000);
    const live = () => ['running', 'pending', 'paused'].includes(stateName(T.trial.state));
    // Changes elsewhere in the coordinator: refetch soon while the trial is live, now and then after.
    let lastSlow = Date.now();
    page.onChange = () => {
      if (live()) refresh();
      else if (Date.now() - lastSlow > 15000) { lastSlow = Date.now(); refresh(); }
    };
    // Logs grow without the coordinator noticing: poll while the trial is live.
    const poll = setInterval(() => { if (alive(gen) && live()) refresh(); }, 3000);
    page.cleanup.push(() => clearInterval(poll));
  }

  function renderTrialHead(T) {
    const el = document.getElementById('trial-head');
    const t = T.trial, s = T.sweep;
    const st = stateName(t.state);
    const fact = (k, v) => `<div class="fact"><span class="k">${esc(k)}</span><span class="v">${v}</span></div>`;
    const best = s && s.best_trial && num(s.best_trial.id) === num(t.id);
    const metric = (s && s.metric) || 'objective';
    el.innerHTML = `<div class="head-main">
      <h1>${sweepLink(t.sweep_id, s ? `Sweep ${num(t.sweep_id)} · ${s.name}` : `Sweep ${num(t.sweep_id)}`)} /
        Trial ${esc(trialLabel(t))} <span class="dim">(id ${num(t.id)})</span> ${badge(st)}${best ? ' <span class="tag best-tag">best</span>' : ''}</h1>
      <div class="facts">
        ${fact(metric, t.has_objective ? `${esc(fmtNum(t.objective))} <span class="dim">at step ${num(t.objective_step)}</span>` : '<span class="dim">—</span>')}
        ${fact('last step', String(num(t.last_step)))}
        ${fact('attempts', `${num(t.attempts)}${num(t.restarts) ? ` (${num(t.restarts)} restarts)` : ''}`)}
        ${fact('worker', esc(t.worker_id || '—'))}
        ${fact('exit code', num(t.exit_code) < 0 ? '<span class="dim">—</span>' : String(num(t.exit_code)))}
        ${num(t.rung) >= 0 ? fact('rung', String(num(t.rung))) : ''}
        ${t.decision ? fact('decision', esc(t.decision)) : ''}
        ${fact('started', esc(fmtTime(t.started_at)))}
        ${fact('finished', esc(fmtTime(t.finished_at)))}
        ${fact('duration', esc(fmtDur(trialDuration(t))))}
        ${num(t.cpu_seconds) > 0 ? fact('cpu time', esc(fmtDur(num(t.cpu_seconds)))) : ''}
        ${num(t.peak_memory_bytes) > 0 ? fact('peak memory', `${Math.round(num(t.peak_memory_bytes) / 1048576)} MiB`) : ''}
        ${num(t.gpu_peak_memory_bytes) > 0 ? fact('gpu memory', `${Math.round(num(t.gpu_peak_memory_bytes) / 1048576)} MiB`) : ''}
        ${num(t.gpu_peak_memory_bytes) > 0 ? fact('gpu utilisation', `${Math.round(num(t.gpu_utilization_percent))}%`) : ''}
        ${fact('output', `<code>${esc(t.output_dir || '—')}</code>`)}
        ${fact('checkpoint', `<code>${esc(t.checkpoint || '—')}</code>`)}
      </div>
      ${t.message ? `<div class="message st-border-${esc(st)}">${esc(t.message)}</div>` : ''}
      ${t.waiting_reason ? `<div class="message st-border-${esc(st)}">waiting since ${esc(fmtTime(t.waiting_since))}: ${esc(t.waiting_reason)}</div>` : ''}
    </div>`;
  }

  function renderTrialHp(T) {
    const el = document.getElementById('trial-hp');
    const t = T.trial;
    const hps = t.hyperparameters || [];
    let html = hps.length ? `<table class="grid kv"><tbody>${hps.map((h) =>
      `<tr><th>${esc(h.path)}</th><td><code>${esc(h.value)}</code></td></tr>`).join('')}</tbody></table>`
      : '<p class="empty">No hyperparameters.</p>';
    const hops = t.lineage || [];
    if (hops.length) {
      html += `<h3>PBT lineage</h3><table class="grid" id="lineage"><thead><tr><th class="num">Step</th><th>Parent</th><th>Time</th><th>Hyperparameters from here on</th></tr></thead><tbody>` +
        hops.map((h) => `<tr><td class="num">${num(h.step)}</td><td>#${num(h.parent)}</td><td class="nowrap">${esc(fmtTime(h.time))}</td>` +
          `<td>${(h.hyperparameters || []).map((x) => `${esc(x.path)}=<code>${esc(x.value)}</code>`).join(', ')}</td></tr>`).join('') +
        '</tbody></table>';
    }
    el.innerHTML = html;
  }

  function renderAttempts(T) {
    const el = document.getElementById('attempts-wrap');
    const a = T.attempts;
    if (!a || a.error) {
      el.innerHTML = `<table id="attempts" class="grid"><tbody></tbody></table><p class="empty">${esc((a && a.error) || 'Attempts are not available.')}</p>`;
      return;
    }
    const list = a.attempts || [];
    if (!list.length) { el.innerHTML = '<table id="attempts" class="grid"><tbody></tbody></table><p class="empty">Not started yet.</p>'; return; }
    el.innerHTML = `<table id="attempts" class="grid"><thead><tr><th class="num">#</th><th>Worker</th><th>State</th><th>Started</th>
      <th>Ended</th><th class="num">Time</th><th class="num">Exit</th><th>Reason</th></tr></thead><tbody>${list.map((x) => {
        const started = num(x.started_at), ended = num(x.ended_at);
        const dur = started > 0 ? (ended > 0 ? ended - started : nowSec() - started) : null;
        return `<tr class="attempt-row"><td class="num">${num(x.number)}</td><td>${esc(x.worker_id || '')}</td>
          <td>${badge(stateName(x.state))}</td><td class="nowrap">${esc(fmtTime(x.started_at))}</td>
          <td class="nowrap">${esc(fmtTime(x.ended_at))}</td><td class="num nowrap">${esc(fmtDur(dur))}</td>
          <td class="num">${x.exit_code === undefined || x.exit_code === null || ended <= 0 ? '' : num(x.exit_code)}</td>
          <td class="reason">${esc(x.reason || '')}</td></tr>`;
      }).join('')}</tbody></table>${provenanceBlock(list)}`;
  }

  // What the latest attempt that reported one trained from (docs/lineage.md).
  function provenanceBlock(attempts) {
    const x = [...attempts].reverse().find((a) => a.provenance);
    if (!x) return '';
    const p = x.provenance, code = p.code || {}, env = p.environment || {};
    const short = (h) => esc(String(h || '').slice(0, 16));
    const libs = [`LibTorch ${env.libtorch || '?'}`, env.cuda && `CUDA ${env.cuda}`, env.cudnn && `cuDNN ${env.cudnn}`,
      env.nccl && `NCCL ${env.nccl}`].filter(Boolean).join(', ');
    const data = (Array.isArray(p.data) ? p.data : []).map((f) => `<div><code>${short(f.sha256)}</code> ${esc(f.path)}</div>`).join('') ||
      '<span class="dim">no files (synthetic)</span>';
    const row = (k, v) => `<tr><th>${esc(k)}</th><td>${v}</td></tr>`;
    return `<table id="provenance" class="grid facts-table"><caption>Provenance of attempt ${num(x.number)}</caption><tbody>
      ${row('recipe', `<code>${short(p.recipe && p.recipe.sha256)}</code> ${esc((p.recipe && p.recipe.file) || '')}`)}
      ${row('data', data)}
      ${row('code', `orchard ${esc(code.orchard_version || '?')}, commit <code>${short(code.commit)}</code>${code.dirty ? ' (uncommitted changes)' : ''}`)}
      ${row('environment', `${esc(libs)}; ${esc(env.device || '?')}, ${num(p.world_size)} rank(s)`)}
      ${x.parameter_digest ? row('parameters', `<code>${short(x.parameter_digest)}</code>`) : ''}
    </tbody></table>`;
  }

  function renderLog(T) {
    const el = document.getElementById('trial-log');
    const note = document.getElementById('log-note');
    const l = T.log;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 30 || !el.dataset.seen;
    if (!l || l.error) {
      el.textContent = (l && l.error) || 'No log yet.';
      note.textContent = '';
    } else {
      const text = l.text || '';
      if (el.textContent !== text) el.textContent = text || '(empty)';
      note.textContent = `${l.path || ''}${l.truncated ? ' — the last 64 KiB' : ''}` +
        (stateName(T.trial.state) === 'running' && !REPORT ? ' — following' : '');
    }
    el.dataset.seen = '1';
    if (atBottom) el.scrollTop = el.scrollHeight;
  }

  function renderCheckpoints(T) {
    const el = document.getElementById('checkpoints');
    const c = T.checkpoints;
    if (!c || c.error) { el.innerHTML = `<p class="empty">${esc((c && c.error) || 'Checkpoints are not available.')}</p>`; return; }
    const list = c.checkpoints || [];
    if (!list.length) { el.innerHTML = '<p class="empty">No checkpoints yet.</p>'; return; }
    el.innerHTML = `<table class="grid" id="checkpoint-table"><thead><tr><th class="num">Step</th><th>Path (under the storage root)</th></tr></thead>
      <tbody>${list.map((x) => `<tr><td class="num">${num(x.step)}</td><td><code>${esc(x.path)}</code></td></tr>`).join('')}</tbody></table>`;
  }

  async function drawTrialCurves(T) {
    const el = document.getElementById('trial-curves');
    if (!el) return;
    if (T.metricsError) { purgePlots(el); el.innerHTML = `<p class="empty">${esc(T.metricsError)}</p>`; return; }
    const names = [...T.points.keys()];
    const main = T.sweep && T.sweep.metric;
    names.sort((a, b) => (b === main) - (a === main) || a.localeCompare(b));
    if (!names.length) { purgePlots(el); el.innerHTML = '<p class="empty">No metrics reported yet.</p>'; return; }
    if (!(await plotlyLoaded)) { plotUnavailable(el); return; }
    const existing = [...el.querySelectorAll('.curve-cell')];
    if (existing.length !== names.length || existing.some((c, i) => c.dataset.name !== names[i])) {
      purgePlots(el);
      el.innerHTML = names.map((n) => `<div class="curve-cell" data-name="${esc(n)}"><div class="cell-title">${esc(n)}</div>` +
        `<div class="plot plot-small"></div></div>`).join('');
    }
    const cells = [...el.querySelectorAll('.curve-cell .plot')];
    await Promise.all(names.map((n, i) => {
      const pts = T.points.get(n);
      const trace = { type: 'scatter', mode: pts.length === 1 ? 'markers' : 'lines',
        x: pts.map((p) => p[0]), y: pts.map((p) => p[1]), line: { width: 1.6, color: n === main ? BEST_COLOR : PALETTE[i % PALETTE.length] },
        hovertemplate: `step %{x}: %{y:.4g}<extra>${esc(n)}</extra>` };
      return drawPlot(cells[i], [trace], baseLayout({ uirevision: `trial:${n}`, margin: { l: 50, r: 10, t: 6, b: 32 },
        xaxis: axis('step'), yaxis: axis('') }));
    }));
  }

  // ---------------------------------------------------------------------------------------------
  // Workers

  async function pageWorkers() {
    const gen = generation;
    setView(`<div class="page"><div class="page-head"><h1>Workers</h1><span class="note" id="worker-summary"></span></div>
      <section class="card"><div class="table-wrap" id="workers-wrap"></div></section></div>`);
    let workers = [];
    const render = () => {
      const wrap = document.getElementById('workers-wrap');
      if (!wrap) return;
      const slots = workers.filter((w) => w.alive).reduce((a, w) => a + num(w.slots), 0);
      const busy = workers.filter((w) => w.alive).reduce((a, w) => a + num(w.running_attempts), 0);
      document.getElementById('worker-summary').textContent = workers.length
        ? `${workers.filter((w) => w.alive).length} alive of ${workers.length}; ${slots} slots, ${busy} running attempts` : '';
      if (!workers.length) {
        wrap.innerHTML = '<table id="worker-table" class="grid"><tbody></tbody></table><p class="empty">No workers have registered. Start one with <code>orchard-worker --coordinator HOST:PORT</code>.</p>';
        return;
      }
      const sorted = workers.slice().sort((a, b) => (b.alive - a.alive) || String(a.id).localeCompare(String(b.id), undefined, { numeric: true }));
      wrap.innerHTML = `<table id="worker-table" class="grid"><thead><tr><th>ID</th><th>Host</th><th class="num">Slots</th><th>Kind</th>
        <th>Alive</th><th class="num">Running</th><th>Last heartbeat</th><th>Registered</th></tr></thead><tbody>${sorted.map((w) =>
        `<tr class="worker-row${w.alive ? '' : ' dead'}" data-worker-id="${esc(w.id)}"><td><code>${esc(w.id)}</code></td><td>${esc(w.hostname)}</td>
          <td class="num">${num(w.slots)}</td><td>${esc(w.slot_kind)}</td>
          <td>${w.alive ? '<span class="badge st-completed">alive</span>' : '<span class="badge st-failed">lost</span>'}</td>
          <td class="num">${num(w.running_attempts)}</td>
          <td class="nowrap" title="${esc(fmtTime(w.last_heartbeat))}">${esc(ago(w.last_heartbeat))}</td>
          <td class="nowrap">${esc(fmtTime(w.registered_at))}</td></tr>`).join('')}</tbody></table>`;
    };
    const load = async () => {
      const a = await api('/api/workers');
      if (!alive(gen)) return;
      workers = (a && a.workers) || [];
      render();
    };
    await load();
    if (!alive(gen)) return;
    setReady();
    if (REPORT) return;
    const refresh = makeRefresher(gen, async () => { await load(); bumpUpdates(); }, 500);
    refetchOnChange(gen, refresh);
    const tick = setInterval(() => { if (alive(gen)) render(); }, 1000);
    const poll = setInterval(() => { if (alive(gen)) refresh(); }, 10000);
    page.cleanup.push(() => { clearInterval(tick); clearInterval(poll); });
  }

  // ---------------------------------------------------------------------------------------------
  // Models

  function fmtValue(has, value) { return has ? esc(fmtNum(value)) : '<span class="dim">—</span>'; }

  async function pageModels() {
    const gen = generation;
    setView(`<div class="page"><div class="page-head"><h1>Models</h1></div>
      <section class="card"><div class="table-wrap" id="models-wrap"></div></section></div>`);
    const wrap = document.getElementById('models-wrap');
    wireRowLinks(wrap);
    const load = async () => {
      const a = await api('/api/models');
      if (!alive(gen)) return;
      const models = (a && a.models) || [];
      if (!models.length) {
        wrap.innerHTML = '<table id="model-table" class="grid"><tbody></tbody></table><p class="empty">No models yet. Submit a sweep with <code>--model NAME</code>.</p>';
        return;
      }
      wrap.innerHTML = `<table id="model-table" class="grid clickable"><thead><tr><th>Name</th><th>Owner</th><th class="num">Versions</th>
        <th>Champion</th><th class="num">Value</th><th>Last decision</th><th>Created</th></tr></thead><tbody>${models.map((m) => {
          const c = m.champion, d = m.last_decision;
          const href = `#/models/${encodeURIComponent(m.name)}`;
          return `<tr class="model-row" data-model="${esc(m.name)}" data-href="${esc(href)}"><td><a href="${esc(href)}">${esc(m.name)}</a></td>
            <td>${esc(m.owner)}</td><td class="num">${num(m.versions_total)}</td>
            <td>${c ? `v${num(c.version)} <span class="dim">from ${sweepLink(c.sweep_id)}, trial #${num(c.trial_number)}</span>` : '<span class="dim">none</span>'}</td>
            <td class="num">${c ? `${fmtValue(c.has_value, c.value)} <span class="dim">${esc(c.metric)}</span>` : ''}</td>
            <td>${d ? `${esc(d.kind)}: ${d.promoted ? '<span class="badge st-completed">promoted</span>' : '<span class="badge st-canceled">kept</span>'} ` +
              `<span class="dim">${esc(ago(d.time))}</span>` : '<span class="dim">—</span>'}</td>
            <td class="nowrap">${esc(fmtTime(m.created_at))}</td></tr>`;
        }).join('')}</tbody></table>`;
    };
    await load();
    if (!alive(gen)) return;
    setReady();
    if (!REPORT) refetchOnChange(gen, makeRefresher(gen, async () => { await load(); bumpUpdates(); }, 1000));
  }

  async function pageModel(name) {
    const gen = generation;
    const load = async () => {
      const m = await api(`/api/models/${encodeURIComponent(name)}`);
      if (!alive(gen)) return;
      const versions = m.versions || [], decisions = m.decisions || [];
      const champion = num(m.champion);
      const first = !document.getElementById('model-page');
      if (first) {
        setView(`<div class="page" id="model-page"><div class="page-head" id="model-head"></div>
          <section class="card"><div class="card-head"><h2>Metric over versions</h2></div><div id="model-chart" class="plot plot-short"></div></section>
          <section class="card"><div class="card-head"><h2>Versions</h2></div><div class="table-wrap" id="versions-wrap"></div></section>
          <section class="card"><div class="card-head"><h2>Promotion decisions</h2></div><div class="table-wrap" id="decisions-wrap"></div></section></div>`);
      }
      const metric = (versions[0] && versions[0].metric) || (decisions[0] && decisions[0].metric) || 'metric';
      const mode = (versions[0] && versions[0].mode) || (decisions[0] && decisions[0].mode) || '';
      document.getElementById('model-head').innerHTML = `<div class="head-main">
        <h1><a href="#/models" class="crumb">Models</a> / ${esc(m.name)}</h1>
        <div class="facts">
          <div class="fact"><span class="k">champion</span><span class="v">${champion > 0 ? `v${champion}` : 'none yet'}</span></div>
          <div class="fact"><span class="k">versions</span><span class="v">${versions.length}</span></div>
          <div class="fact"><span class="k">metric</span><span class="v">${esc(metric)}${mode ? ` (${esc(mode)})` : ''}</span></div>
          <div class="fact"><span class="k">owner</span><span class="v">${esc(m.owner)}</span></div>
          <div class="fact"><span class="k">created</span><span class="v">${esc(fmtTime(m.created_at))}</span></div>
          <div class="fact"><span class="k">storage</span><span class="v"><code>${esc(m.storage_root || '—')}</code></span></div>
        </div></div>`;
      const vw = document.getElementById('versions-wrap');
      vw.innerHTML = versions.length ? `<table id="version-table" class="grid"><thead><tr><th class="num">Version</th><th></th><th class="num">${esc(metric)}</th>
        <th>From</th><th class="num">Step</th><th>Data</th><th>Hyperparameters</th><th>Directory</th><th>Created</th></tr></thead><tbody>${versions.slice().reverse().map((v) => {
          const isChamp = num(v.version) === champion;
          return `<tr class="version-row${isChamp ? ' champion' : ''}"><td class="num">v${num(v.version)}</td>
            <td>${isChamp ? '<span class="badge st-completed" title="the current champion">★ champion</span>' : ''}</td>
            <td class="num">${fmtValue(v.has_value, v.value)}</td>
            <td class="nowrap">${sweepLink(v.sweep_id)}, ${canOpenTrial(num(v.trial_id)) ? `<a href="#/trials/${num(v.trial_id)}">trial #${num(v.trial_number)}</a>` : `trial #${num(v.trial_number)}`}</td>
            <td class="num">${num(v.step)}</td><td>${esc(v.data || '')}</td>
            <td class="hps">${(v.hyperparameters || []).map((h) => `${esc(h.path)}=<code>${esc(truncate(h.value, 30))}</code>`).join(' ')}</td>
            <td><code>${esc(v.directory)}</code></td><td class="nowrap">${esc(fmtTime(v.created_at))}</td></tr>`;
        }).join('')}</tbody></table>` : '<p class="empty">No versions yet.</p>';
      const dw = document.getElementById('decisions-wrap');
      dw.innerHTML = decisions.length ? `<table id="decision-table" class="grid"><thead><tr><th>Time</th><th>Kind</th><th>By</th>
        <th>Challenger</th><th class="num">Challenger ${esc(metric)}</th><th class="num">Champion ${esc(metric)}</th><th class="num">Margin</th>
        <th>Outcome</th><th>Reason</th></tr></thead><tbody>${decisions.slice().reverse().map((d) => {
          const hasTrial = num(d.trial_id) > 0;
          return `<tr class="decision-row"><td class="nowrap">${esc(fmtTime(d.time))}</td><td>${esc(d.kind)}</td><td>${esc(d.decided_by)}</td>
            <td class="nowrap">${hasTrial ? `${sweepLink(d.sweep_id)}, ${canOpenTrial(num(d.trial_id)) ? `<a href="#/trials/${num(d.trial_id)}">trial #${num(d.trial_number)}</a>` : `trial #${num(d.trial_number)}`}` : '<span class="dim">—</span>'}</td>
            <td class="num">${fmtValue(d.has_challenger_value, d.challenger_value)}</td>
            <td class="num">${fmtValue(d.has_champion_value, d.champion_value)}${num(d.champion_version) > 0 ? ` <span class="dim">(v${num(d.champion_version)})</span>` : ''}</td>
            <td class="num">${d.kind === 'challenge' ? esc(fmtNum(num(d.margin))) : ''}</td>
            <td>${d.promoted ? `<span class="badge st-completed">promoted</span> → v${num(d.new_champion)}` : `<span class="badge st-canceled">kept</span>${num(d.new_champion) ? ` v${num(d.new_champion)}` : ''}`}</td>
            <td class="msg">${esc(d.reason)}</td></tr>`;
        }).join('')}</tbody></table>` : '<p class="empty">No decisions yet.</p>';
      await drawModelChart(versions, decisions, champion, metric);
    };
    await load();
    if (!alive(gen)) return;
    setReady();
    if (!REPORT) refetchOnChange(gen, makeRefresher(gen, async () => { await load(); bumpUpdates(); }, 1000));
  }

  async function drawModelChart(versions, decisions, champion, metric) {
    const el = document.getElementById('model-chart');
    if (!el) return;
    const withValue = versions.filter((v) => v.has_value);
    if (!withValue.length) { purgePlots(el); el.innerHTML = '<p class="empty">No version has a value.</p>'; return; }
    if (!(await plotlyLoaded)) { plotUnavailable(el); return; }
    if (!el.classList.contains('js-plotly-plot')) el.innerHTML = '';
    const traces = [{ type: 'scatter', mode: 'lines+markers', name: 'version', x: withValue.map((v) => num(v.version)),
      y: withValue.map((v) => num(v.value)), line: { color: '#4c78a8', width: 1.5 }, marker: { size: 7, color: '#4c78a8' },
      text: withValue.map((v) => `v${num(v.version)} · sweep ${num(v.sweep_id)} trial #${num(v.trial_number)}`),
      hovertemplate: `%{text}<br>${esc(metric)}=%{y:.4g}<extra></extra>` }];
    const ch = withValue.find((v) => num(v.version) === champion);
    if (ch) traces.push({ type: 'scatter', mode: 'markers', name: 'champion', x: [num(ch.version)], y: [num(ch.value)],
      marker: { symbol: 'star', size: 16, color: '#e3b341', line: { width: 1, color: '#7d5e00' } }, hovertemplate: 'champion v%{x}<extra></extra>' });
    // Challenges the champion won were measured on the same data: show both figures.
    const challenges = decisions.filter((d) => d.kind === 'challenge' && d.has_challenger_value);
    if (challenges.length) {
      traces.push({ type: 'scatter', mode: 'markers', name: 'challenger (at decision)',
        x: challenges.map((d) => (d.promoted ? num(d.new_champion) : num(d.champion_version) + 0.3)),
        y: challenges.map((d) => num(d.challenger_value)),
        marker: { symbol: 'circle-open', size: 9, color: '#f58518' },
        text: challenges.map((d) => `challenger sweep ${num(d.sweep_id)} trial #${num(d.trial_number)}: ${fmtNum(d.challenger_value)}` +
          `<br>champion v${num(d.champion_version)}: ${d.has_champion_value ? fmtNum(d.champion_value) : '—'}<br>${d.promoted ? 'promoted' : 'kept'}`),
        hovertemplate: '%{text}<extra></extra>' });
    }
    const measured = decisions.filter((d) => d.kind === 'challenge' && d.has_champion_value && num(d.champion_version) > 0);
    if (measured.length) {
      traces.push({ type: 'scatter', mode: 'markers', name: 'champion (re-evaluated at decision)',
        x: measured.map((d) => num(d.champion_version) + 0.15), y: measured.map((d) => num(d.champion_value)),
        marker: { symbol: 'diamond-open', size: 9, color: '#6e7781' },
        text: measured.map((d) => `champion v${num(d.champion_version)} on sweep ${num(d.sweep_id)}'s data: ${fmtNum(d.champion_value)}` +
          `<br>challenger: ${d.has_challenger_value ? fmtNum(d.challenger_value) : '—'} → ${d.promoted ? 'promoted' : 'kept'}`),
        hovertemplate: '%{text}<extra></extra>' });
    }
    await drawPlot(el, traces, baseLayout({ uirevision: 'model', showlegend: true, legend: { orientation: 'h', y: 1.15, x: 0 },
      margin: { l: 55, r: 15, t: 30, b: 40 }, xaxis: axis('version', { dtick: 1 }), yaxis: axis(metric) }));
  }

  // ---------------------------------------------------------------------------------------------
  // Schedules

  function runCell(r) {
    if (!r) return '<span class="dim">—</span>';
    return `#${num(r.number)} ${badge(r.state)} <span class="dim">${esc(r.slot_local || fmtTime(r.slot))}</span>` +
      (num(r.sweep_id) > 0 ? ` ${sweepLink(r.sweep_id)}` : '');
  }

  async function pageSchedules() {
    const gen = generation;
    setView(`<div class="page"><div class="page-head"><h1>Schedules</h1></div>
      <section class="card"><div class="table-wrap" id="schedules-wrap"></div></section></div>`);
    const wrap = document.getElementById('schedules-wrap');
    wireRowLinks(wrap);
    const load = async () => {
      const a = await api('/api/schedules');
      if (!alive(gen)) return;
      const list = (a && a.schedules) || [];
      if (!list.length) {
        wrap.innerHTML = '<table id="schedule-table" class="grid"><tbody></tbody></table><p class="empty">No schedules. Add one with <code>orchard schedule add</code>.</p>';
        return;
      }
      wrap.innerHTML = `<table id="schedule-table" class="grid clickable"><thead><tr><th>Name</th><th>Owner</th><th>Cron</th><th>Zone</th>
        <th>Next firing</th><th>State</th><th class="num">Runs</th><th>Last run</th><th>Model</th><th class="num">Version</th></tr></thead><tbody>${list.map((s) => {
          const href = `#/schedules/${encodeURIComponent(s.name)}`;
          return `<tr class="schedule-row" data-schedule="${esc(s.name)}" data-href="${esc(href)}"><td><a href="${esc(href)}">${esc(s.name)}</a></td>
            <td>${esc(s.owner)}</td><td><code>${esc(s.cron)}</code></td><td>${esc(s.time_zone)}</td>
            <td class="nowrap">${num(s.next_slot) > 0 ? `${esc(s.next_slot_local || fmtTime(s.next_slot))} <span class="dim">${esc(until(s.next_slot))}</span>` : '<span class="dim">—</span>'}</td>
            <td>${s.paused ? '<span class="badge st-paused">paused</span>' : '<span class="badge st-running">active</span>'}</td>
            <td class="num">${num(s.runs)}</td><td class="nowrap">${runCell(s.last_run)}</td>
            <td>${s.model ? `<a href="#/models/${encodeURIComponent(s.model)}">${esc(s.model)}</a>` : '<span class="dim">—</span>'}</td>
            <td class="num">v${num(s.version)}</td></tr>`;
        }).join('')}</tbody></table>`;
    };
    await load();
    if (!alive(gen)) return;
    setReady();
    if (!REPORT) refetchOnChange(gen, makeRefresher(gen, async () => { await load(); bumpUpdates(); }, 1000));
  }

  async function pageSchedule(name) {
    const gen = generation;
    const load = async () => {
      const d = await api(`/api/schedules/${encodeURIComponent(name)}`);
      if (!alive(gen)) return;
      const s = d.schedule || {}, versions = d.versions || [], runs = d.runs || [];
      const fact = (k, v) => `<div class="fact"><span class="k">${esc(k)}</span><span class="v">${v}</span></div>`;
      const html = `<div class="page" id="schedule-page"><div class="page-head"><div class="head-main">
        <h1><a href="#/schedules" class="crumb">Schedules</a> / ${esc(s.name || name)} ${s.paused ? '<span class="badge st-paused">paused</span>' : '<span class="badge st-running">active</span>'}</h1>
        <div class="facts">
          ${fact('cron', `<code>${esc(s.cron)}</code>`)}
          ${fact('zone', esc(s.time_zone))}
          ${fact('next firing', num(s.next_slot) > 0 ? `${esc(s.next_slot_local || fmtTime(s.next_slot))} <span class="dim">${esc(until(s.next_slot))}</span>` : '<span class="dim">none</span>')}
          ${fact('overlap', esc(s.overlap))}
          ${fact('runs', String(num(s.runs)))}
          ${fact('version', `v${num(s.version)}`)}
          ${fact('owner', esc(s.owner))}
          ${s.model ? fact('model', `<a href="#/models/${encodeURIComponent(s.model)}">${esc(s.model)}</a> <span class="dim">margin ${esc(fmtNum(num(s.promotion_margin)))}</span>`) : ''}
          ${fact('recipe', `<code>${esc(s.recipe_file)}</code>`)}
          ${(s.overrides || []).length ? fact('overrides', s.overrides.map((o) => `<code>${esc(o)}</code>`).join(' ')) : ''}
          ${fact('created', esc(fmtTime(s.created_at)))}
        </div></div></div>
        <section class="card"><div class="card-head"><h2>Recent runs</h2></div><div class="table-wrap">${runs.length ? `<table id="schedule-runs" class="grid">
          <thead><tr><th class="num">Run</th><th class="num">Version</th><th>Fired by</th><th>Slot</th><th>Fired at</th><th class="num">Missed</th><th>Sweep</th><th>State</th><th>Reason</th></tr></thead>
          <tbody>${runs.map((r) => `<tr class="run-row"><td class="num">#${num(r.number)}</td><td class="num">v${num(r.version)}</td><td>${esc(r.fired_by)}</td>
            <td class="nowrap">${esc(r.slot_local || fmtTime(r.slot))}</td><td class="nowrap">${esc(fmtTime(r.fired_at))}</td>
            <td class="num">${num(r.missed) || ''}</td><td>${num(r.sweep_id) > 0 ? sweepLink(r.sweep_id) : '<span class="dim">—</span>'}</td>
            <td>${badge(r.state)}</td><td class="msg">${esc(r.reason)}</td></tr>`).join('')}</tbody></table>` : '<p class="empty">No runs yet.</p>'}</div></section>
        <section class="card"><div class="card-head"><h2>Versions</h2></div><div class="table-wrap">${versions.length ? `<table id="schedule-versions" class="grid">
          <thead><tr><th class="num">Version</th><th>Created</th><th>Cron</th><th>Zone</th><th>Overlap</th><th>Model</th><th>Recipe</th><th>Overrides</th></tr></thead>
          <tbody>${versions.map((v) => `<tr class="version-row"><td class="num">v${num(v.version)}</td><td class="nowrap">${esc(fmtTime(v.created_at))}</td>
            <td><code>${esc(v.cron)}</code></td><td>${esc(v.time_zone)}</td><td>${esc(v.overlap)}</td>
            <td>${v.model ? `${esc(v.model)} <span class="dim">margin ${esc(fmtNum(num(v.promotion_margin)))}</span>` : '<span class="dim">—</span>'}</td>
            <td><code>${esc(v.recipe_file)}</code>${v.recipe_yaml ? `<details><summary>recipe</summary><pre class="yaml">${esc(v.recipe_yaml)}</pre></details>` : ''}</td>
            <td>${(v.overrides || []).map((o) => `<code>${esc(o)}</code>`).join(' ')}</td></tr>`).join('')}</tbody></table>` : '<p class="empty">No versions.</p>'}</div></section>
      </div>`;
      // Keep open <details> open across refreshes.
      const open = [...view.querySelectorAll('details')].map((x) => x.open);
      setView(html);
      view.querySelectorAll('details').forEach((x, i) => { if (open[i]) x.open = true; });
    };
    await load();
    if (!alive(gen)) return;
    setReady();
    if (!REPORT) refetchOnChange(gen, makeRefresher(gen, async () => { await load(); bumpUpdates(); }, 1000));
  }

  // ---------------------------------------------------------------------------------------------
  // Start

  function start() {
    if (REPORT) {
      document.body.classList.add('report');
      const note = document.getElementById('report-note');
      const at = REPORT.generated_at;
      let when;
      if (typeof at === 'number' || (typeof at === 'string' && /^\d+(\.\d+)?$/.test(at))) when = fmtTime(Number(at));
      else if (typeof at === 'string' && at) when = at;
      else when = document.lastModified || '';
      note.hidden = false;
      note.textContent = `report generated at ${when}`;
      if (!location.hash || location.hash === '#' || location.hash === '#/') {
        if (REPORT.route) {
          try { history.replaceState(null, '', REPORT.route); } catch (e) { location.replace(REPORT.route); }
        }
      }
      const home = document.querySelector('#topbar .brand');
      if (REPORT.route) home.setAttribute('href', REPORT.route);
    }
    updateLiveIndicator();
    window.addEventListener('hashchange', route);
    // A page the browser keeps for its back button would hold its event streams open, and a
    // browser opens only six connections to one host: every stream ends when the page is hidden,
    // and the page is loaded afresh if it is shown again.
    window.addEventListener('pagehide', () => {
      leavePage();
      if (globalStream) { globalStream.close(); globalStream = null; globalStreamOpen = false; }
    });
    window.addEventListener('pageshow', (event) => {
      if (!event.persisted) return;
      startGlobalStream();
      route();
    });
    loadWhoami();
    startGlobalStream();
    route();
  }

  window.orchard = { api, version: 1 };
  start();
})();

'use strict';
// One session's live page. It receives server-sent "update" events from
// api/sessions/NAME/stream (see package dashboard) and keeps a bounded copy:
// the whole-session bins (at most the server's max points), the recent bins,
// the markers and the latest aggregate summary.
(function () {
  const name = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop() || '');
  const $ = (id) => document.getElementById(id);
  const state = {
    v: 0, info: null, markers: [], summary: null,
    ov: { w: 100, m: -1, n: 0, bins: [] },   // bins[i] = [i, n, nf, mean, min, max]
    rc: { w: 100, len: 600, first: 0, bins: new Map() }, // k -> [k, n, nf, mean, min, max]
    updates: 0, bytes: 0, lastBytes: 0,
  };
  window.affect = state; // for inspection and tests
  document.title = 'affect · ' + name;
  $('name').textContent = name;

  // ---- data ----
  function apply(u) {
    if (u.full) {
      state.ov = { w: 100, m: -1, n: 0, bins: [] };
      state.rc = { w: 100, len: 600, first: 0, bins: new Map() };
      state.markers = [];
      state.summary = null;
    }
    state.v = u.v;
    if (u.info) state.info = u.info;
    if (u.ov) {
      const ov = state.ov;
      if (u.ov.m !== ov.m) { ov.bins = []; ov.m = u.ov.m; }
      ov.w = u.ov.w; ov.n = u.ov.n;
      if (ov.bins.length > ov.n) ov.bins.length = ov.n;
      for (const b of u.ov.b) ov.bins[b[0]] = b;
    }
    if (u.rc) {
      const rc = state.rc;
      rc.w = u.rc.w; rc.len = u.rc.len; rc.first = u.rc.first;
      for (const b of u.rc.b) rc.bins.set(b[0], b);
      for (const k of rc.bins.keys()) if (k < rc.first) rc.bins.delete(k);
    }
    if (u.markers) state.markers = u.markers;
    if (u.summary) state.summary = u.summary;
    schedule();
  }

  function ovPoints() { let n = 0; for (const b of state.ov.bins) if (b) n++; return n; }

  // ---- formatting ----
  const f3 = (v) => (v === null || v === undefined) ? '–' : Number(v).toFixed(3);
  const pct = (v) => (v === null || v === undefined) ? '–' : (100 * v).toFixed(1) + ' %';
  const sign = (v) => {
    if (v === null || v === undefined) return '–';
    const r = Number(Number(v).toFixed(3));
    return r === 0 ? '0.000' : (r > 0 ? '+' : '') + r.toFixed(3);
  };
  // clock formats media time as [h:]m:ss, with tenths when frac (default: under a minute).
  function clock(ms, frac) {
    if (ms === null || ms === undefined) return '–';
    const neg = ms < 0; ms = Math.abs(ms);
    if (frac === undefined) frac = ms < 60000;
    let s = Math.floor(ms / 1000);
    const h = Math.floor(s / 3600); s -= 3600 * h;
    const m = Math.floor(s / 60); s -= 60 * m;
    frac = frac ? '.' + Math.floor((ms % 1000) / 100) : '';
    const t = (h ? h + ':' + String(m).padStart(2, '0') : m) + ':' + String(s).padStart(2, '0') + frac;
    return (neg ? '-' : '') + t;
  }
  const msec = (v) => (v === null || v === undefined) ? '–' : Math.round(v) + ' ms';

  function setDL(dl, rows) {
    dl.textContent = '';
    for (const [k, v] of rows) {
      const dt = document.createElement('dt'); dt.textContent = k;
      const dd = document.createElement('dd'); dd.textContent = v;
      dl.append(dt, dd);
    }
  }

  function statsRows(st) {
    return [
      ['Frames', String(st.frames)],
      ['With a face', pct(st.face_share)],
      ['Mean', f3(st.mean)],
      ['Median', f3(st.median)],
      ['Peak', f3(st.peak)],
      ['≥ threshold', pct(st.above_share)],
      ['Longest run ≥ threshold', st.longest_run_ms === undefined ? '–' : (st.longest_run_ms / 1000).toFixed(1) + ' s'],
    ];
  }

  // Dashboard estimate from bins when no aggregate summary has arrived.
  function estimate(bins, fromMS) {
    let n = 0, nf = 0, sum = 0, peak = null;
    for (const b of bins) {
      if (!b) continue;
      if (fromMS !== undefined && b[0] * state.rc.w < fromMS) continue;
      n += b[1]; nf += b[2];
      if (b[2] > 0) { sum += b[3] * b[2]; peak = peak === null ? b[5] : Math.max(peak, b[5]); }
    }
    return [
      ['Frames', String(n)],
      ['With a face', n ? pct(nf / n) : '–'],
      ['Mean', nf ? f3(sum / nf) : '–'],
      ['Peak', f3(peak)],
      ['', 'estimate: no aggregate running'],
    ];
  }

  // ---- drawing ----
  // timeStep picks a tick step (ms) of a clock-friendly length >= raw.
  function timeStep(raw) {
    const steps = [100, 200, 500, 1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5, 9e5, 18e5, 36e5, 72e5, 108e5, 216e5];
    for (const s of steps) if (s >= raw) return s;
    return Math.ceil(raw / 216e5) * 216e5;
  }

  // bins: arrays [t0ms, t1ms, n, nf, mean, min, max]
  function draw(canvas, bins, t0, t1, threshold, markers) {
    const dpr = window.devicePixelRatio || 1;
    const W = Math.max(200, canvas.clientWidth), H = Math.max(100, canvas.clientHeight);
    if (canvas.width !== Math.round(W * dpr) || canvas.height !== Math.round(H * dpr)) {
      canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr);
    }
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, W, H);
    const css = getComputedStyle(document.documentElement);
    const col = (v) => css.getPropertyValue(v).trim();
    const L = 40, R = 10, T = 10, B = 34, strip = 6;
    const pw = W - L - R, ph = H - T - B - strip - 2;
    if (t1 <= t0) t1 = t0 + 1000;
    const x = (t) => L + (t - t0) / (t1 - t0) * pw;
    const y = (v) => T + (1 - v) * ph;
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = '#6b7280';
    g.strokeStyle = '#e3e6eb';
    g.lineWidth = 1;
    for (const v of [0, 0.25, 0.5, 0.75, 1]) {
      g.beginPath(); g.moveTo(L, y(v) + 0.5); g.lineTo(L + pw, y(v) + 0.5); g.stroke();
      g.textAlign = 'right'; g.textBaseline = 'middle'; g.fillText(v.toFixed(2), L - 4, y(v));
    }
    const step = timeStep((t1 - t0) / Math.max(2, Math.floor(pw / 90)));
    g.textAlign = 'center'; g.textBaseline = 'top';
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      g.beginPath(); g.moveTo(x(t) + 0.5, T); g.lineTo(x(t) + 0.5, T + ph); g.stroke();
      const lbl = clock(t, step < 1000);
      const tw = g.measureText(lbl).width;
      g.fillText(lbl, Math.min(Math.max(x(t), tw / 2), W - 2 - tw / 2), T + ph + strip + 6);
    }
    // No-face strip and min-max band.
    const noface = col('--noface'), band = col('--band');
    for (const b of bins) {
      const xa = Math.max(L, x(b[0])), xb = Math.min(L + pw, x(b[1]));
      if (xb < L || xa > L + pw) continue;
      const w = Math.max(1, xb - xa);
      if (b[3] < b[2]) {
        g.globalAlpha = 0.25 + 0.75 * (b[2] - b[3]) / b[2];
        g.fillStyle = noface; g.fillRect(xa, T + ph + 2, w, strip);
        g.globalAlpha = 1;
      }
      if (b[3] > 0) { g.fillStyle = band; g.fillRect(xa, y(b[6]), w, Math.max(1, y(b[5]) - y(b[6]))); }
    }
    // Threshold.
    if (threshold !== null && threshold !== undefined) {
      g.strokeStyle = col('--thr'); g.setLineDash([5, 4]);
      g.beginPath(); g.moveTo(L, y(threshold) + 0.5); g.lineTo(L + pw, y(threshold) + 0.5); g.stroke();
      g.setLineDash([]);
    }
    // Mean line, broken where there is no face.
    g.strokeStyle = col('--mean'); g.lineWidth = 1.5; g.beginPath();
    let prevEnd = null;
    for (const b of bins) {
      if (b[3] === 0) { prevEnd = null; continue; }
      const xm = x((b[0] + b[1]) / 2);
      if (xm < L || xm > L + pw) { prevEnd = null; continue; }
      if (prevEnd !== null && b[0] - prevEnd < 1e-6) g.lineTo(xm, y(b[4])); else g.moveTo(xm, y(b[4]));
      if (prevEnd === null) g.lineTo(xm + 0.5, y(b[4]));
      prevEnd = b[1];
    }
    g.stroke();
    // Markers.
    g.strokeStyle = col('--mark'); g.fillStyle = col('--mark'); g.lineWidth = 1;
    g.textAlign = 'left'; g.textBaseline = 'top';
    for (const m of markers) {
      if (m.onset_ms < t0 || m.onset_ms > t1) continue;
      const xm = Math.round(x(m.onset_ms)) + 0.5;
      g.beginPath(); g.moveTo(xm, T); g.lineTo(xm, T + ph); g.stroke();
      g.fillText(m.label, xm + 3, T + 1);
    }
    g.strokeStyle = '#9aa0a8';
    g.strokeRect(L + 0.5, T + 0.5, pw, ph);
  }

  function ovBins() {
    const out = [], w = state.ov.w;
    for (const b of state.ov.bins) if (b) out.push([b[0] * w, (b[0] + 1) * w, b[1], b[2], b[3], b[4], b[5]]);
    return out;
  }
  function rcBins() {
    const out = [], w = state.rc.w;
    const keys = Array.from(state.rc.bins.keys()).sort((a, b) => a - b);
    for (const k of keys) { const b = state.rc.bins.get(k); out.push([k * w, (k + 1) * w, b[1], b[2], b[3], b[4], b[5]]); }
    return out;
  }

  // ---- page ----
  function renderTables() {
    const sum = state.summary;
    const epochs = (sum && sum.epochs) || [];
    const key = (e) => e.onset_ms + '|' + e.label + '|' + (e.condition || '');
    const have = new Set(epochs.map(key));
    const rows = epochs.map((e) => ({ e, pending: false }));
    for (const m of state.markers) if (!have.has(key(m))) rows.push({ e: m, pending: true });
    rows.sort((a, b) => a.e.onset_ms - b.e.onset_ms);
    const tb = document.querySelector('#epochs tbody');
    tb.textContent = '';
    for (const { e, pending } of rows) {
      const tr = document.createElement('tr');
      if (pending) tr.className = 'pending';
      const vals = pending
        ? [clock(e.onset_ms), e.label, e.condition || '', 'waiting for the aggregate…', '', '', '', '', '']
        : [clock(e.onset_ms), e.label, e.condition || '', f3(e.baseline_mean), f3(e.response_mean), sign(e.corrected), f3(e.peak), msec(e.latency_ms), e.baseline_frames + ' / ' + e.response_frames];
      vals.forEach((v, i) => { const td = document.createElement('td'); td.textContent = v; if (i >= 3) td.className = 'num'; tr.appendChild(td); });
      tb.appendChild(tr);
    }
    $('no-epochs').hidden = rows.length > 0;
    const cb = document.querySelector('#conditions tbody');
    cb.textContent = '';
    for (const c of (sum && sum.conditions) || []) {
      const tr = document.createElement('tr');
      [c.condition, String(c.epochs), f3(c.baseline_mean), f3(c.response_mean), sign(c.corrected), f3(c.peak), msec(c.latency_ms)]
        .forEach((v, i) => { const td = document.createElement('td'); td.textContent = v; if (i >= 1) td.className = 'num'; tr.appendChild(td); });
      cb.appendChild(tr);
    }
    if (sum) {
      $('epoch-def').textContent = 'baseline ' + sum.baseline_ms / 1000 + ' s before onset; response ' + sum.response_from_ms / 1000 + '–' + sum.response_to_ms / 1000 + ' s after; threshold ' + sum.threshold;
    }
  }

  function render() {
    const info = state.info;
    if (!info) return;
    const st = $('status');
    let status = info.status;
    if (info.pending) status = 'loading';
    st.textContent = info.pending ? 'loading ' + info.pending + ' messages' : status;
    st.className = 'badge ' + status;
    $('meta').textContent = [info.participant && ('participant ' + info.participant), info.source && ('source ' + info.source), info.fps && (info.fps + ' frames/s')].filter(Boolean).join(' · ');
    const last = info.last;
    if (last) {
      $('current').textContent = last.face ? last.happiness.toFixed(3) : '–';
      const face = $('face');
      face.textContent = last.face ? (last.n_faces > 1 ? 'face seen (' + last.n_faces + ' in view)' : 'face seen') : (last.error ? 'frame not scored: ' + last.error : 'no face');
      face.className = 'face ' + (last.face ? 'yes' : 'no');
      $('frameinfo').textContent = 'frame ' + last.frame + ' at ' + clock(last.media_ms);
    }
    const sum = state.summary;
    const threshold = sum ? sum.threshold : 0.5;
    if (sum) {
      $('rolling-title').textContent = 'Last ' + (sum.window_ms / 1000) + ' s';
      setDL($('rolling'), statsRows(sum.rolling));
      setDL($('overall'), statsRows(sum.overall));
    } else {
      const rc = rcBins();
      const end = rc.length ? rc[rc.length - 1][1] : 0;
      $('rolling-title').textContent = 'Last 10 s';
      setDL($('rolling'), estimate(Array.from(state.rc.bins.values()), end - 10000));
      setDL($('overall'), estimate(state.ov.bins));
    }
    const ov = ovBins();
    const tEnd = Math.max(ov.length ? ov[ov.length - 1][1] : 0, last ? last.media_ms : 0, 10000);
    const tl = $('timeline');
    draw(tl, ov, 0, tEnd, threshold, state.markers);
    tl.dataset.points = String(ov.length);
    $('ov-res').textContent = '(' + ov.length + ' bins of ' + (state.ov.w >= 1000 ? (state.ov.w / 1000) + ' s' : state.ov.w + ' ms') + ')';
    const rc = rcBins();
    const span = state.rc.len * state.rc.w;
    $('rc-span').textContent = Math.round(span / 1000) + ' s';
    const rcEnd = (rc.length ? rc[rc.length - 1][1] : 0);
    const rcl = $('recent');
    draw(rcl, rc, Math.max(0, rcEnd - span), Math.max(rcEnd, span), threshold, state.markers);
    rcl.dataset.points = String(rc.length);
    document.body.dataset.points = String(ov.length + rc.length);
    renderTables();
    const sk = info.skipped || {};
    const counts = Object.entries(sk).filter(([k, n]) => k !== 'rejected' && n > 0);
    Object.entries(sk.rejected || {}).forEach(([k, n]) => counts.push(['rejected ' + k, n]));
    const skipped = counts.map(([k, n]) => n + ' ' + k.replaceAll('_', ' ')).join(', ');
    const dl = sum && sum.delivery;
    const rej = dl && dl.rejected_total ? ('aggregator rejected ' + dl.rejected_total + ' messages (' +
      Object.entries(dl.rejected || {}).map(([k, n]) => n + ' ' + k.replaceAll('_', ' ')).join(', ') + ')') : '';
    $('footer').textContent = [
      info.frames + ' frames received (' + info.face_frames + ' with a face' + (info.error_frames ? ', ' + info.error_frames + ' not scored' : '') + ')',
      'page holds ' + (ov.length + rc.length) + ' points',
      state.updates + ' updates, ' + (state.bytes / 1024).toFixed(1) + ' KiB received',
      skipped && ('skipped: ' + skipped),
      rej,
      sum && sum.model && ('model ' + sum.model + ' ' + (sum.model_version || '') + ' (' + (sum.backend || '') + ')'),
      dl && dl.ended && ('publisher: ' + dl.published_frames + ' published, ' + dl.undelivered_frames + ' undelivered, ' + dl.missing_frames + ' missing'),
      info.end && ('ended: ' + (info.end.reason || '')),
    ].filter(Boolean).join(' · ');
  }

  let queued = false;
  function schedule() {
    if (queued) return;
    queued = true;
    const run = () => { queued = false; try { render(); } catch (e) { console.error(e); } };
    if (document.hidden) setTimeout(run, 250); else requestAnimationFrame(run);
  }
  window.addEventListener('resize', schedule);

  // ---- live feed ----
  async function connect() {
    try {
      const r = await fetch('../api/sessions/' + encodeURIComponent(name), { cache: 'no-store' });
      if (!r.ok) {
        let msg = r.status + ' ' + r.statusText;
        try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
        $('status').textContent = 'not available';
        $('status').className = 'badge idle';
        $('meta').textContent = msg + ' (checking again every 2 s)';
        if (r.status === 404) { setTimeout(connect, 2000); return; }
      }
    } catch (e) { /* the event stream below retries */ }
    const es = new EventSource('../api/sessions/' + encodeURIComponent(name) + '/stream');
    es.addEventListener('update', (ev) => {
      state.updates++;
      state.bytes += ev.data.length;
      apply(JSON.parse(ev.data));
    });
    es.onerror = () => {
      const st = $('status');
      st.textContent = 'reconnecting…';
      st.className = 'badge idle';
    };
  }
  connect();
})();

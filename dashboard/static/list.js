'use strict';
// The session list: polls api/sessions every 2 s.
(function () {
  const tbody = document.querySelector('#sessions tbody');
  const conn = document.getElementById('conn');

  function fmt(v, d) { return v === null || v === undefined ? '–' : Number(v).toFixed(d); }

  function cell(tr, text, cls) {
    const td = document.createElement('td');
    if (cls) td.className = cls;
    if (text instanceof Node) td.appendChild(text); else td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  function render(data) {
    const list = data.sessions || [];
    tbody.textContent = '';
    for (const s of list) {
      const tr = document.createElement('tr');
      const a = document.createElement('a');
      a.href = 'session/' + encodeURIComponent(s.session);
      a.textContent = s.session;
      cell(tr, a);
      cell(tr, s.participant || '');
      const b = document.createElement('span');
      b.className = 'badge ' + s.status;
      b.textContent = s.status === 'stored' ? 'stored (' + s.stored_messages + ' messages)' : s.status;
      cell(tr, b);
      cell(tr, s.status === 'stored' ? '' : String(s.frames), 'num');
      cell(tr, s.frames ? (100 * s.face_frames / s.frames).toFixed(1) + ' %' : '', 'num');
      cell(tr, s.overall ? fmt(s.overall.mean, 3) : (s.status === 'stored' ? '' : '–'), 'num');
      cell(tr, s.status === 'stored' ? '' : String(s.markers), 'num');
      cell(tr, s.source || '');
      tbody.appendChild(tr);
    }
    document.getElementById('empty').hidden = list.length > 0;
    document.getElementById('nojs').hidden = data.jetstream !== false;
  }

  async function poll() {
    try {
      const r = await fetch('api/sessions', { cache: 'no-store' });
      if (!r.ok) throw new Error(r.status + ' ' + (await r.text()));
      render(await r.json());
      conn.textContent = 'updated ' + new Date().toLocaleTimeString();
      conn.className = 'badge live';
    } catch (e) {
      conn.textContent = 'cannot reach the dashboard: ' + e.message;
      conn.className = 'badge idle';
    }
    setTimeout(poll, 2000);
  }
  poll();
})();

/* RA2 review site: the patient list and the patient page (radiographs beside the reader's score sheet).
 *
 * A classic script (no ES module: Chrome refuses module scripts from file://), no library, no network.
 * Data come from data/index.js (window.RA2_INDEX) and, one patient at a time, from
 * data/patients/NNNNN.js, which calls RA2_LOADED(...).  A reader's edits and review marks live in memory
 * and in localStorage, keyed by the SHA-256 of the predictions file (a rebuild of the same predictions
 * keeps them); when the page is served by `ra2 review --serve` they are also saved to disk through
 * POST api/corrections, and drafts the server has not seen (this origin's, or handed over from the page
 * opened from disk in the URL's #drafts=...) are offered to it with a visible "send" button, never sent
 * silently.  Totals are the method's own (calibrated, not sums): an edited patient's totals move by the
 * edited joints' differences (new - predicted); every other value is exported as read.  Downloads are
 * built here: the predictions CSV in the template's column order, the landmarks CSV (image,landmark,x,y)
 * and review_state.csv (Patient_ID,state); "load corrections" reads an exported predictions CSV back.
 * With --uncertainty (RA2_INDEX.uncertainty) the list opens most uncertain first, cells and landmarks in the
 * site's top 10 % / next 20 % are coloured, and the sheet lists the patient's joints most uncertain first.
 * Left and right differ: per joint row |left - right| of the predicted scores, a list column and order and a
 * per-patient list (d).  The joint strip shows the selected joint's left and right crops at the source's own
 * resolution (images/crops/*.jpg, data/crops/*.js) with score buttons; the viewer windows
 * each source on its own depth (data/deep/*.js for sources deeper than 8 bits), inverts, turns, flips,
 * enlarges a panel and links the zoom of left and right.
 */
(function () {
  'use strict';

  var IDX = window.RA2_INDEX;
  var app = document.getElementById('app');
  if (!IDX) {
    app.innerHTML = '<div class="error-box">data/index.js is missing or broken: rebuild the site with ra2 review.</div>';
    return;
  }
  var SERVED = location.protocol === 'http:' || location.protocol === 'https:';
  var SHA = IDX.predictions_sha256 || IDX.site_id;
  var DRAFT = 'ra2-review:draft:' + SHA;               // drafts outlive a rebuild of the same predictions
  var SVG = 'http://www.w3.org/2000/svg';
  var ID = IDX.id_column;
  var COL = {};
  IDX.score_columns.forEach(function (c, i) { COL[c] = i; });
  var JOINTS = Object.keys(IDX.joints);
  var byKey = {}, byId = {};
  IDX.patients.forEach(function (p, i) { p.order = i; byKey[p.key] = p; byId[p.id] = p; });
  var NOT_REVIEWED = 'not reviewed', REVIEWED = 'reviewed', CORRECTED = 'corrected';

  var state = {
    edits: { scores: {}, landmarks: {} },
    review: {},                                       // patient ID: 'reviewed' (marked by the reader)
    pending: null,                                    // served: drafts the server has not seen, offered
    sort: IDX.uncertainty ? { col: 'spread', dir: -1 } : { col: 'order', dir: 1 },   // most uncertain first
    failedOnly: false, editedOnly: false, query: '',
    // window: null (the source's whole range), 'auto' (each image's 1st-99th percentile) or {l, w} (shares)
    view: { window: null, invert: false, link: true, masks: true, landmarks: true, labels: true },
    panels: {}, big: null,                            // per limb: {rot, flip}; the enlarged panel
    selected: null, selectedFor: null, unsureAt: -1, lrAt: -1,   // the joint in the strip
    listOrder: IDX.patients.map(function (p) { return p.key; }),
    current: null
  };

  // ------------------------------------------------------------------ the method's uncertainty (--uncertainty)
  var UNC = IDX.uncertainty || null;    // {cell_cuts, landmark_cuts, top, next}: the classes' lower bounds
  function spreadOf(p, col) {           // the spread of the scorers' answers (score units), or null
    return p.spread && Object.prototype.hasOwnProperty.call(p.spread, col) ? p.spread[col] : null;
  }
  function uclass(v, cuts) {            // 'u1': among the top share of the site, 'u2': the next share
    if (v === null || v === undefined || !cuts) return '';
    return v > cuts[0] ? 'u1' : v > cuts[1] ? 'u2' : '';
  }
  function unsureJoints(p) {            // the patient's joints, most uncertain first (then the sheet's order)
    return Object.keys(p.spread || {}).sort(function (a, b) {
      return p.spread[b] - p.spread[a] || COL[a] - COL[b];
    });
  }
  var patientCuts = (function () {      // the same classes for the patients' sums
    var v = IDX.patients.map(function (p) { return p.spread_sum; }).filter(function (x) { return typeof x === 'number'; })
      .sort(function (a, b) { return b - a; });
    if (!UNC || !v.length) return null;
    return [Math.ceil(UNC.top * v.length - 1e-9), Math.ceil((UNC.top + UNC.next) * v.length - 1e-9)].map(function (n) {
      return n < v.length ? v[n] : 0;   // as review/uncertainty.py's cuts: the largest value left out of the share
    });
  })();

  // ------------------------------------------------------------------ left and right differ (from the predictions)
  // Per joint row, |left - right| of the method's predicted scores (score units), keyed by the left column
  // (LH_*, LF_*); per patient their sum.  Needs no uncertainty file.
  var LR_LEFT = JOINTS.filter(function (c) { return (c[0] === 'L') && IDX.joints['R' + c.slice(1)]; });
  function lrOf(p, col) {               // how much the predicted left and right of col's row differ, or null
    var left = 'L' + col.slice(1);
    return p.lr && Object.prototype.hasOwnProperty.call(p.lr, left) ? p.lr[left] : null;
  }
  function lrJoints(p) {                // the rows whose sides differ, most first (then the sheet's order)
    return LR_LEFT.filter(function (c) { return p.lr[c] > 0; }).sort(function (a, b) {
      return p.lr[b] - p.lr[a] || COL[a] - COL[b];
    });
  }
  IDX.patients.forEach(function (p) {
    var t = 0;
    p.lr = {};
    LR_LEFT.forEach(function (c) {
      var d = Math.abs(p.scores[COL[c]] - p.scores[COL['R' + c.slice(1)]]);
      p.lr[c] = Math.round(d * 1e6) / 1e6;   // 6 decimals: no float noise in the order
      t += p.lr[c];
    });
    p.lr_sum = Math.round(t * 1e6) / 1e6;
  });
  function rowName(c) { return (kindOf(limbOf(c)) === 'hand' ? 'hand ' : 'foot ') + c.slice(3); }

  // ------------------------------------------------------------------ small helpers
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    setAttrs(e, attrs);
    (children || []).forEach(function (c) { e.append(c); });
    return e;
  }
  function sv(tag, attrs) { var e = document.createElementNS(SVG, tag); setAttrs(e, attrs); return e; }
  function setAttrs(e, attrs) {
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === 'text') e.textContent = v;
      else if (k.slice(0, 2) === 'on') e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    });
  }
  function round(v, d) { var f = Math.pow(10, d); var r = Math.round(v * f) / f; return r === 0 ? 0 : r; }
  function show(v) {                       // a score as the sheet shows it
    if (Number.isInteger(v)) return String(v);
    return String(round(v, 2));
  }
  function csvText(s) { return /[",\n\r]/.test(s) ? '"' + String(s).replace(/"/g, '""') + '"' : String(s); }
  function sum(cols, get) { var t = 0; cols.forEach(function (c) { t += get(c); }); return t; }
  function limbOf(col) { return col.slice(0, 2); }
  function kindOf(limb) { return limb === 'LH' || limb === 'RH' ? 'hand' : 'foot'; }

  // ------------------------------------------------------------------ scores and edits
  function predicted(p, col) { return p.scores[COL[col]]; }
  function value(p, col) {
    var e = state.edits.scores[p.id];
    return e && Object.prototype.hasOwnProperty.call(e, col) ? e[col] : predicted(p, col);
  }
  function predictedTotals(p) {          // the method's own totals (calibrated: not the sums of its joints)
    return { total: predicted(p, 'Overall_Tol'), erosion: predicted(p, 'Overall_erosion'),
             narrowing: predicted(p, 'Overall_narrowing') };
  }
  function totals(p) {                   // as predicted, moved by the edited joints' differences (new - predicted)
    var t = predictedTotals(p), e = state.edits.scores[p.id];
    if (!e || !Object.keys(e).length) return t;
    var d = { erosion: 0, narrowing: 0 };
    Object.keys(e).forEach(function (c) { d[IDX.joints[c].damage] += e[c] - predicted(p, c); });
    function moved(v, delta) { return delta ? Math.max(0, round(v + delta, 6)) : v; }   // a total is never below 0
    return { total: moved(t.total, d.erosion + d.narrowing), erosion: moved(t.erosion, d.erosion),
             narrowing: moved(t.narrowing, d.narrowing) };
  }
  function totalsChanged(p) {
    var t = totals(p), pt = predictedTotals(p);
    return t.total !== pt.total || t.erosion !== pt.erosion || t.narrowing !== pt.narrowing;
  }
  function reviewState(p) { return isEdited(p) ? CORRECTED : state.review[p.id] ? REVIEWED : NOT_REVIEWED; }
  function reviewedCount() {
    return IDX.patients.filter(function (p) { return reviewState(p) !== NOT_REVIEWED; }).length;
  }
  function nextUnreviewed(key) {          // the next patient of the list (after key, wrapping) nobody reviewed
    var order = state.listOrder, at = order.indexOf(key);
    for (var i = 1; i <= order.length; i++) {
      var k = order[(at + i) % order.length];
      if (k !== key && reviewState(byKey[k]) === NOT_REVIEWED) return k;
    }
    return null;
  }
  function setReviewed(p, on) {
    if (on) state.review[p.id] = REVIEWED; else delete state.review[p.id];
    changed();
  }
  function isEdited(p) {
    var e = state.edits.scores[p.id], lm = false;
    IDX.limbs.forEach(function (limb) { if (state.edits.landmarks[p.id + '-' + limb]) lm = true; });
    return !!(e && Object.keys(e).length) || lm;
  }
  function editCount() {
    var n = 0, m = 0;
    Object.keys(state.edits.scores).forEach(function (id) { n += Object.keys(state.edits.scores[id]).length; });
    Object.keys(state.edits.landmarks).forEach(function (s) { m += Object.keys(state.edits.landmarks[s]).length; });
    return { scores: n, landmarks: m };
  }
  function setScore(p, col, v) {
    var e = state.edits.scores[p.id] || (state.edits.scores[p.id] = {});
    if (v === predicted(p, col)) delete e[col]; else e[col] = v;
    if (!Object.keys(e).length) delete state.edits.scores[p.id];
    changed();
  }
  function setLandmark(stem, name, xy) {
    var e = state.edits.landmarks[stem] || (state.edits.landmarks[stem] = {});
    e[name] = [round(xy[0], 2), round(xy[1], 2)];
    changed();
  }
  function resetPatient(p) {
    delete state.edits.scores[p.id];
    IDX.limbs.forEach(function (limb) { delete state.edits.landmarks[p.id + '-' + limb]; });
    changed();
  }

  // ------------------------------------------------------------------ keeping the edits
  function clean(doc) {                  // drafts (stored, handed over) kept to what this site can show
    var out = { edits: { scores: {}, landmarks: {} }, review: {} };
    var ed = doc && doc.edits || {};
    Object.keys(ed.scores || {}).forEach(function (id) {
      var p = byId[id], cells = ed.scores[id] || {};
      if (!p) return;
      Object.keys(cells).forEach(function (c) {
        var v = cells[c];
        if (!IDX.joints[c] || typeof v !== 'number' || !isFinite(v) || v < 0 || v > IDX.joints[c].max ||
            v === predicted(p, c)) return;
        (out.edits.scores[id] = out.edits.scores[id] || {})[c] = v;
      });
    });
    Object.keys(ed.landmarks || {}).forEach(function (stem) {
      if (!byId[stem.replace(/-[^-]*$/, '')]) return;
      var points = ed.landmarks[stem] || {};
      Object.keys(points).forEach(function (name) {
        var xy = points[name];
        if (!Array.isArray(xy) || xy.length !== 2 || !isFinite(xy[0]) || !isFinite(xy[1])) return;
        (out.edits.landmarks[stem] = out.edits.landmarks[stem] || {})[name] = [Number(xy[0]), Number(xy[1])];
      });
    });
    Object.keys(doc && doc.review || {}).forEach(function (id) {
      if (byId[id] && doc.review[id] === REVIEWED) out.review[id] = REVIEWED;
    });
    return out;
  }
  function merged(a, b) {                // b's edits and marks over a's
    var out = clean(a);
    Object.keys(b.edits.scores).forEach(function (id) {
      var e = out.edits.scores[id] = out.edits.scores[id] || {};
      Object.keys(b.edits.scores[id]).forEach(function (c) { e[c] = b.edits.scores[id][c]; });
    });
    Object.keys(b.edits.landmarks).forEach(function (stem) {
      var e = out.edits.landmarks[stem] = out.edits.landmarks[stem] || {};
      Object.keys(b.edits.landmarks[stem]).forEach(function (n) { e[n] = b.edits.landmarks[stem][n]; });
    });
    Object.keys(b.review).forEach(function (id) { out.review[id] = REVIEWED; });
    return out;
  }
  function unseen(draft) {               // what of a draft differs from the edits in use, and how many items
    var out = { edits: { scores: {}, landmarks: {} }, review: {} }, n = 0;
    Object.keys(draft.edits.scores).forEach(function (id) {
      Object.keys(draft.edits.scores[id]).forEach(function (c) {
        var v = draft.edits.scores[id][c];
        if (v === value(byId[id], c)) return;
        (out.edits.scores[id] = out.edits.scores[id] || {})[c] = v; n++;
      });
    });
    Object.keys(draft.edits.landmarks).forEach(function (stem) {
      Object.keys(draft.edits.landmarks[stem]).forEach(function (name) {
        var xy = draft.edits.landmarks[stem][name], now = state.edits.landmarks[stem] && state.edits.landmarks[stem][name];
        if (now && now[0] === xy[0] && now[1] === xy[1]) return;
        (out.edits.landmarks[stem] = out.edits.landmarks[stem] || {})[name] = xy; n++;
      });
    });
    Object.keys(draft.review).forEach(function (id) {
      if (!state.review[id]) { out.review[id] = REVIEWED; n++; }
    });
    return n ? { draft: out, count: n } : null;
  }
  function current() { return { edits: state.edits, review: state.review }; }
  function loadLocal() {
    try {
      var saved = clean(JSON.parse(localStorage.getItem(DRAFT) || 'null'));
      state.edits = saved.edits; state.review = saved.review;
    } catch (err) { /* no storage on this browser: edits live until the page closes */ }
  }
  function saveLocal() {                 // served: drafts still offered stay stored until sent or discarded
    var doc = state.pending ? merged(current(), state.pending.draft) : current();
    try {
      localStorage.setItem(DRAFT, JSON.stringify({ sha: SHA, edits: doc.edits, review: doc.review }));
    } catch (err) { /* see loadLocal */ }
  }
  var saveTimer = null, saving = false, dirty = false;
  function status(text, cls) {
    var s = document.getElementById('status');
    s.textContent = text; s.className = cls || '';
  }
  function changed() {
    saveLocal();
    updateBar();
    if (SERVED) {
      dirty = true;
      status('unsaved changes', 'pending');
      clearTimeout(saveTimer);
      saveTimer = setTimeout(saveServer, 800);
    }
  }
  function saveServer() {
    if (!SERVED) return Promise.resolve();
    if (saving) { clearTimeout(saveTimer); saveTimer = setTimeout(saveServer, 300); return Promise.resolve(); }
    saving = true; dirty = false;
    status('saving…', 'pending');
    return fetch('api/corrections', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ site_id: IDX.site_id, edits: { scores: state.edits.scores,
                                                            landmarks: state.edits.landmarks, review: state.review } })
    }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.error || ('HTTP ' + r.status));
        return body;
      });
    }).then(function (body) {
      saving = false;
      if (!dirty) status('saved ' + body.saved + ' to ' + body.folder, 'saved');
    }).catch(function (err) {
      saving = false; dirty = true;
      status('not saved: ' + err.message, 'error');
    });
  }
  function loadServer(drafts) {        // the server's corrections in use; drafts it has not seen, offered
    return fetch('api/corrections').then(function (r) { return r.json(); }).then(function (body) {
      if (body.edits && body.edits.scores && body.edits.landmarks) {
        state.edits = { scores: body.edits.scores, landmarks: body.edits.landmarks };
        state.review = body.edits.review || {};
      }
      state.pending = unseen(drafts);
      saveLocal();
      updateBar();
      status(body.saved ? 'last saved ' + body.saved : 'nothing saved yet', 'saved');
    }).catch(function (err) { status('could not read saved corrections: ' + err.message, 'error'); });
  }
  function sendDrafts() {                // the reader's choice: the offered drafts become edits, saved
    var d = state.pending && state.pending.draft;
    if (!d) return;
    state.edits = merged(current(), d).edits;
    Object.keys(d.review).forEach(function (id) { state.review[id] = REVIEWED; });
    state.pending = null;
    changed();
    route();
  }
  function handedOver() {                // drafts the page from disk handed over in #drafts=... (then dropped)
    var m = /^#drafts=(.*)$/.exec(location.hash);
    if (!m) return null;
    history.replaceState(null, '', location.pathname + location.search);
    try {
      var doc = JSON.parse(decodeURIComponent(m[1]));
      if (doc.sha !== SHA) { status('the drafts handed over are of other predictions: not offered', 'error'); return null; }
      return clean(doc);
    } catch (err) { status('the drafts handed over could not be read', 'error'); return null; }
  }
  function handOver() {                  // from disk: open the served site with this browser's drafts
    var addr = prompt('The address ra2 review --serve printed (this site served):', 'http://127.0.0.1:8000/');
    if (!addr) return;
    if (!/^https?:\/\//.test(addr)) addr = 'http://' + addr;
    addr = addr.replace(/#.*$/, '');
    location.href = addr + '#drafts=' + encodeURIComponent(JSON.stringify({ sha: SHA, edits: state.edits,
                                                                            review: state.review }));
  }

  // ------------------------------------------------------------------ downloads
  function predictionsCsv() {            // every value as read (String: the shortest exact form) but the edits
    var lines = [IDX.csv_columns.map(csvText).join(',')];
    IDX.patients.forEach(function (p) {
      var t = totals(p);
      var cells = IDX.csv_columns.map(function (c) {
        if (c === ID) return csvText(p.id);
        if (c === 'Overall_Tol') return String(t.total);
        if (c === 'Overall_erosion') return String(t.erosion);
        if (c === 'Overall_narrowing') return String(t.narrowing);
        return String(value(p, c));
      });
      lines.push(cells.join(','));
    });
    return lines.join('\n') + '\n';
  }
  function reviewCsv() {
    return [csvText(ID) + ',state'].concat(IDX.patients.map(function (p) {
      return csvText(p.id) + ',' + reviewState(p);
    })).join('\n') + '\n';
  }
  function parseCsv(text) {              // RFC 4180: quoted fields, "" inside quotes, CRLF or LF
    var rows = [], row = [], f = '', q = false;
    text = text.replace(/^\ufeff/, '');
    for (var i = 0; i < text.length; i++) {
      var ch = text[i];
      if (q) {
        if (ch !== '"') f += ch;
        else if (text[i + 1] === '"') { f += '"'; i++; } else q = false;
      } else if (ch === '"') q = true;
      else if (ch === ',') { row.push(f); f = ''; }
      else if (ch === '\n' || ch === '\r') {
        if (ch === '\r' && text[i + 1] === '\n') i++;
        row.push(f); rows.push(row); row = []; f = '';
      } else f += ch;
    }
    if (f !== '' || row.length) { row.push(f); rows.push(row); }
    return rows.filter(function (r) { return r.length > 1 || r[0] !== ''; });
  }
  function loadCorrections(text, name) {  // an exported predictions CSV: its joints' differences become edits
    var rows = parseCsv(text), head = rows.shift() || [], at = head.indexOf(ID);
    if (at < 0) { status(name + ': no ' + ID + ' column: not a predictions CSV', 'error'); return null; }
    var changedCells = 0, unknown = 0, bad = 0;
    rows.forEach(function (cells) {
      var p = byId[(cells[at] || '').trim()];
      if (!p) { unknown++; return; }
      JOINTS.forEach(function (c) {
        var j = head.indexOf(c), t = j < 0 ? '' : (cells[j] || '').trim();
        if (t === '') return;
        var v = Number(t), pv = predicted(p, c);
        if (!isFinite(v) || v < 0 || v > IDX.joints[c].max) { bad++; return; }
        if (round(v, 4) === round(pv, 4)) v = pv;       // a 4-decimal export of the prediction is the prediction
        if (v === value(p, c)) return;
        var e = state.edits.scores[p.id] || (state.edits.scores[p.id] = {});
        if (v === pv) delete e[c]; else e[c] = v;
        if (!Object.keys(e).length) delete state.edits.scores[p.id];
        changedCells++;
      });
    });
    var msg = name + ': ' + changedCells + ' cell(s) changed' + (unknown ? ', ' + unknown + ' unknown patient(s)' : '') +
      (bad ? ', ' + bad + ' value(s) out of range skipped' : '');
    document.getElementById('loaded').textContent = msg;
    if (changedCells) { changed(); route(); }
    if (!SERVED || !changedCells) status(msg, bad || unknown ? 'error' : 'saved');
    return changedCells;
  }
  function withScript(src, ready) {
    var s = document.createElement('script');
    s.src = src;
    s.onload = ready;
    s.onerror = function () { status(src + ' could not be loaded', 'error'); };
    document.head.appendChild(s);
  }
  function landmarksCsv(done) {
    function build() {
      var L = window.RA2_LANDMARKS, lines = ['image,landmark,x,y'];
      L.order.forEach(function (pair) {
        var stem = pair[0], name = pair[1];
        var moved = state.edits.landmarks[stem] && state.edits.landmarks[stem][name];
        var xy = moved || L.points[stem][name];
        lines.push([csvText(stem), csvText(name), String(round(xy[0], 2)), String(round(xy[1], 2))].join(','));
      });
      done(lines.join('\n') + '\n');
    }
    if (window.RA2_LANDMARKS) build(); else withScript('data/landmarks.js', build);
  }
  function download(name, text) {
    var url = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
    var a = el('a', { href: url, download: name });
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(url); a.remove(); }, 1000);
  }

  // ------------------------------------------------------------------ the bar
  function updateBar() {
    var n = editCount();
    document.getElementById('edits').textContent =
      (n.scores || n.landmarks ? n.scores + ' score(s) and ' + n.landmarks + ' landmark(s) corrected'
                               : 'no corrections yet') + ' · ' + reviewedCount() + ' of ' + IDX.patients.length + ' reviewed';
    var send = document.getElementById('send-drafts'), drop = document.getElementById('discard-drafts');
    send.hidden = drop.hidden = !state.pending;
    if (state.pending) send.textContent = 'send ' + state.pending.count + ' draft edit(s) to the server';
    var to = document.getElementById('to-server');
    to.hidden = SERVED || !(n.scores || n.landmarks || Object.keys(state.review).length);
  }
  function setupBar() {
    var src = IDX.source.predictions.split(/[\\/]/).pop();
    document.getElementById('source').textContent = src + ' · ' + IDX.patients.length + ' patients';
    document.getElementById('mode').textContent = SERVED ? '· served (corrections are saved to disk)' : '· from disk';
    var save = document.getElementById('save');
    if (SERVED) { save.hidden = false; save.onclick = function () { clearTimeout(saveTimer); saveServer(); }; }
    document.getElementById('dl-predictions').onclick = function () {
      download('predictions_corrected.csv', predictionsCsv());
    };
    var dl = document.getElementById('dl-landmarks');
    dl.disabled = !IDX.has_landmarks;
    if (!IDX.has_landmarks) dl.title = 'the site was built without --landmarks';
    dl.onclick = function () { landmarksCsv(function (t) { download('landmarks_corrected.csv', t); }); };
    document.getElementById('dl-review').onclick = function () { download('review_state.csv', reviewCsv()); };
    var input = document.getElementById('load-csv');
    input.onchange = function () {
      var file = input.files && input.files[0];
      if (!file) return;
      var reader = new FileReader();
      reader.onload = function () { loadCorrections(String(reader.result), file.name); input.value = ''; };
      reader.onerror = function () { status(file.name + ' could not be read', 'error'); };
      reader.readAsText(file);
    };
    document.getElementById('send-drafts').onclick = sendDrafts;
    document.getElementById('discard-drafts').onclick = function () {
      if (!confirm('Forget the ' + state.pending.count + ' draft edit(s) the server has not seen?')) return;
      state.pending = null; saveLocal(); updateBar();
    };
    document.getElementById('to-server').onclick = handOver;
    updateBar();
  }

  // ------------------------------------------------------------------ the patient list
  var LIST_COLUMNS = [
    ['order', '#'], ['id', 'Patient'], ['Overall_Tol', 'Total'], ['Overall_erosion', 'Erosion'],
    ['Overall_narrowing', 'Narrowing'], ['failed', 'Failed images'], ['state', 'Review'], ['lr', 'L/R differ']
  ].concat(IDX.uncertainty ? [['spread', 'Spread']] : []);
  var ORDERS = [['order', 1, 'as in the predictions file']]
    .concat(IDX.uncertainty ? [['spread', -1, 'most uncertain first']] : [])
    .concat([['lr', -1, 'left/right differ most first']]);
  var STATE_RANK = { 'not reviewed': 0, reviewed: 1, corrected: 2 };
  function sortValue(p, col) {
    if (col === 'order') return p.order;
    if (col === 'id') return p.id;
    if (col === 'failed') return p.failed.length;
    if (col === 'state') return STATE_RANK[reviewState(p)];
    if (col === 'spread') return typeof p.spread_sum === 'number' ? p.spread_sum : -1;
    if (col === 'lr') return p.lr_sum;
    var t = totals(p);
    return col === 'Overall_Tol' ? t.total : col === 'Overall_erosion' ? t.erosion : t.narrowing;
  }
  function listed() {
    var q = state.query.trim().toLowerCase();
    var rows = IDX.patients.filter(function (p) {
      return (!state.failedOnly || p.failed.length) && (!state.editedOnly || isEdited(p)) &&
        (!q || p.id.toLowerCase().indexOf(q) >= 0);
    });
    var col = state.sort.col, dir = state.sort.dir;
    rows.sort(function (a, b) {
      var x = sortValue(a, col), y = sortValue(b, col);
      return (x < y ? -1 : x > y ? 1 : a.order - b.order) * dir;
    });
    return rows;
  }
  function renderList() {
    state.current = null;
    shownViewers = {};
    page = null;
    document.title = 'RA2 review: ' + IDX.patients.length + ' patients';
    var nFailed = IDX.patients.filter(function (p) { return p.failed.length; }).length;
    var search = el('input', { type: 'search', placeholder: 'patient ID', value: state.query, id: 'search' });
    var failedBox = el('input', { type: 'checkbox', id: 'failed-only' });
    failedBox.checked = state.failedOnly;
    var editedBox = el('input', { type: 'checkbox', id: 'edited-only' });
    editedBox.checked = state.editedOnly;
    var count = el('span', { class: 'count' });
    var progress = el('span', { class: 'progress', id: 'progress' });
    var changedNote = el('p', { class: 'note totals-changed', id: 'totals-changed' });
    var tbody = el('tbody');
    var orderMenu = el('select', { id: 'list-order', title: 'the order of the list (and of n, p and r)' },
                       ORDERS.map(function (o) { return el('option', { value: o[0], text: o[2] }); })
                         .concat([el('option', { value: '', text: 'by a column', disabled: true })]));
    orderMenu.onchange = function () {
      var o = ORDERS.filter(function (x) { return x[0] === orderMenu.value; })[0];
      if (o) { state.sort = { col: o[0], dir: o[1] }; fill(); }
    };
    var headRow = el('tr');
    LIST_COLUMNS.forEach(function (c) {
      var th = el('th', { 'data-sort': c[0], text: c[1], title: 'sort by ' + c[1].toLowerCase() });
      th.onclick = function () {
        if (state.sort.col === c[0]) state.sort.dir = -state.sort.dir;
        else state.sort = { col: c[0], dir: c[0] === 'id' || c[0] === 'order' ? 1 : -1 };
        fill();
      };
      headRow.append(th);
    });
    function fill() {
      var rows = listed();
      state.listOrder = rows.map(function (p) { return p.key; });
      var o = ORDERS.filter(function (x) { return x[0] === state.sort.col && x[1] === state.sort.dir; })[0];
      orderMenu.value = o ? o[0] : '';
      headRow.querySelectorAll('th').forEach(function (th) {
        var on = th.getAttribute('data-sort') === state.sort.col;
        th.className = on ? 'sorted' + (state.sort.dir > 0 ? ' asc' : '') : '';
      });
      tbody.textContent = '';
      var frag = document.createDocumentFragment();
      rows.forEach(function (p) {
        var t = totals(p), pt = predictedTotals(p), st = reviewState(p);
        function num(v, pv) {
          return el('td', { text: show(round(v, 1)), class: v !== pv ? 'edited' : null,
                            title: v !== pv ? 'predicted ' + show(round(pv, 2)) + ", moved by the corrected joints' " +
                                              'differences (' + (v > pv ? '+' : '') + show(round(v - pv, 2)) + ')' : null });
        }
        var failedText = p.failed.map(function (f) { return f.limb; }).join(' ');
        frag.append(el('tr', { 'data-key': p.key, 'data-state': st }, [
          el('td', { text: String(p.order + 1) }),
          el('td', {}, [el('a', { href: '#p=' + p.key, text: p.id })]),
          num(t.total, pt.total), num(t.erosion, pt.erosion), num(t.narrowing, pt.narrowing),
          el('td', { class: p.failed.length ? 'failed' : null, text: failedText || '—',
                     title: p.failed.map(function (f) { return f.limb + ': ' + f.reason; }).join('\n') || null }),
          el('td', { class: 'state ' + st.replace(' ', '-'), text: st }),
          el('td', { class: 'lr', text: show(round(p.lr_sum, 2)),
                     title: "the sum over the patient's joints of |left − right| of the predicted scores " +
                       '(score units); most: ' + lrJoints(p).slice(0, 3).map(function (c) {
                         return rowName(c) + ' ' + show(round(p.lr[c], 2)); }).join(', ') })
        ].concat(UNC ? [el('td', { class: 'spread ' + uclass(p.spread_sum, patientCuts),
                                   text: typeof p.spread_sum === 'number' ? show(round(p.spread_sum, 2)) : '—',
                                   title: "the sum of the patient's joints' spreads (score units); the most uncertain: " +
                                     unsureJoints(p).slice(0, 3).map(function (c) {
                                       return c + ' ±' + show(round(p.spread[c], 2)); }).join(', ') })] : [])));
      });
      tbody.append(frag);
      count.textContent = rows.length + ' of ' + IDX.patients.length + ' patients shown · ' + nFailed +
        ' with failed images';
      progress.textContent = reviewedCount() + ' of ' + IDX.patients.length + ' reviewed';
      var moved = IDX.patients.filter(totalsChanged).map(function (p) { return p.id; });
      changedNote.textContent = moved.length
        ? "Totals changed by corrected joints for " + moved.length + ' patient(s): ' + moved.join(', ') +
          ' (yellow; the predicted total on hover).'
        : "No patient's totals changed: every total is the method's own.";
    }
    search.oninput = function () { state.query = search.value; fill(); };
    failedBox.onchange = function () { state.failedOnly = failedBox.checked; fill(); };
    editedBox.onchange = function () { state.editedOnly = editedBox.checked; fill(); };
    var resetAll = el('button', { type: 'button', id: 'reset-all', text: 'Reset all to predictions',
                                  title: 'undo every correction of every patient' });
    resetAll.onclick = function () {
      if (!confirm('Undo every correction of every patient?')) return;
      state.edits = { scores: {}, landmarks: {} };
      changed(); fill();
    };
    var firstOpen = el('button', { type: 'button', id: 'next-unreviewed', text: 'Next unreviewed',
                                   title: 'open the first patient of the list nobody reviewed' });
    firstOpen.onclick = function () {
      var k = state.listOrder.filter(function (k) { return reviewState(byKey[k]) === NOT_REVIEWED; })[0];
      if (k) location.hash = '#p=' + k; else status('every patient of the list is reviewed', 'saved');
    };
    app.textContent = '';
    app.append(el('section', { class: 'list' }, [
      el('div', { class: 'tools' }, [
        search,
        el('label', {}, ['order ', orderMenu]),
        el('label', {}, [failedBox, ' only patients with failed images']),
        el('label', {}, [editedBox, ' only corrected patients']),
        count, progress, el('span', { class: 'grow' }), firstOpen, resetAll
      ]),
      changedNote,
      el('table', { class: 'patients', id: 'patients' }, [el('thead', {}, [headRow]), tbody]),
      el('p', { class: 'note', text: "Totals are the method's own (calibrated, not sums of the joints); a " +
        "corrected joint moves its patient's totals by its difference from the prediction (the predicted total on " +
        'hover). Review: not reviewed, reviewed (marked with r or the button on the patient page), corrected (has ' +
        'edits). ' + (UNC ? "Spread: the sum of the patient's joints' spreads over the method's out-of-fold scorers " +
        '(score units); the list starts with the most uncertain patients, the darkest pink being the top ' +
        Math.round(UNC.top * 100) + ' %. ' : '') + "L/R differ: the sum over the patient's joints of how much the " +
        "method's left and right scores differ (score units). Click a column to sort, or pick an order; open a " +
        'patient to read the radiographs.' })
    ]));
    fill();
  }

  // ------------------------------------------------------------------ one radiograph
  // The picture, its mask and its landmarks sit in one group that a panel may turn by 90° steps and flip;
  // zoom and pan move the SVG's viewBox (view units = image pixels).  Window/level: an 8-bit source is
  // windowed by an SVG colour matrix on its JPEG copy (exact on 8 bits); a deeper source's 16-bit values
  // (data/deep/*.js) are windowed here through a lookup table into a picture that replaces the JPEG.
  var IDENTITY = '1 0 0 0 0  0 1 0 0 0  0 0 1 0 0  0 0 0 1 0';
  var deepData = {}, deepWaiting = {};
  window.RA2_DEEP = function (key, d) {
    var cbs = deepWaiting[key] || [];
    delete deepWaiting[key];
    var bin = atob(d.data), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate'))).arrayBuffer()
      .then(function (buf) {
        deepData[key] = { width: d.width, height: d.height, values: new Uint16Array(buf) };
        cbs.forEach(function (cb) { cb(deepData[key]); });
      }).catch(function (err) { status('the 16-bit picture ' + key + ' could not be read: ' + err.message, 'error'); });
  };
  function loadDeep(src, key, cb) {
    if (deepData[key]) return cb(deepData[key]);
    if (deepWaiting[key]) { deepWaiting[key].push(cb); return; }
    deepWaiting[key] = [cb];
    withScript(src, function () {});
  }
  function windowOf(image, v) {          // [lo, hi] in [0, 1] of the source's range
    if (v.window === 'auto') return image.auto || [0, 1];
    if (v.window && typeof v.window === 'object') {
      return [v.window.l - v.window.w / 2, v.window.l + v.window.w / 2];
    }
    return [0, 1];
  }
  function windowed(d, image, v, done) {  // 16-bit values windowed (and inverted) exactly: done(blob URL)
    var wl = windowOf(image, v), lo = wl[0] * 65535, span = Math.max(1e-9, (wl[1] - wl[0]) * 65535);
    var lut = new Uint8Array(65536), inv = v.invert;
    for (var k = 0; k < 65536; k++) {
      var t = Math.min(1, Math.max(0, (k - lo) / span));
      lut[k] = Math.round((inv ? 1 - t : t) * 255);
    }
    var canvas = document.createElement('canvas');
    canvas.width = d.width; canvas.height = d.height;
    var ctx = canvas.getContext('2d'), out = ctx.createImageData(d.width, d.height), px = out.data;
    var vals = d.values;
    for (var i = 0, j = 0; i < vals.length; i++, j += 4) {
      var g = lut[vals[i]];
      px[j] = g; px[j + 1] = g; px[j + 2] = g; px[j + 3] = 255;
    }
    ctx.putImageData(out, 0, 0);
    canvas.toBlob(function (blob) { done(URL.createObjectURL(blob)); }, 'image/png');
  }
  function levels(image) { return Math.pow(2, Math.min(image.bits || 8, 16)) - 1; }
  function wlText(image, v) {
    var wl = windowOf(image, v), top = levels(image);
    return 'W ' + Math.round((wl[1] - wl[0]) * top) + ' · L ' + Math.round((wl[0] + wl[1]) / 2 * top) +
      ' of 0–' + top + (v.invert ? ' · inverted' : '');
  }
  var PARTNER = { LH: 'RH', RH: 'LH', LF: 'RF', RF: 'LF' };

  function confidenceText(name, w, pk, cls) {   // a landmark's heatmap: its width and its peak's height
    var parts = [];
    if (w !== undefined) parts.push('heatmap width ' + round(w, 4) + ' of the long side' +
      (cls === 'u1' ? ' (among the 10 % widest)' : cls === 'u2' ? ' (among the next 20 %)' : ''));
    if (pk !== undefined) parts.push('heatmap peak ' + round(pk, 3) + ' (0–1; low: a flat map, unsure)');
    return parts.length ? name + ': ' + parts.join(', ') : '';
  }
  function Viewer(panel, p, limb, image, points, widths, peaks, onMoved, onView) {
    var W = image.width, H = image.height, stem = image.stem, self = this;
    var look = state.panels[limb] || (state.panels[limb] = { rot: 0, flip: false });
    var svg = sv('svg', { preserveAspectRatio: 'xMidYMid meet', 'data-limb': limb, class: 'view' });
    var filt = sv('filter', { id: 'wl-' + limb, 'color-interpolation-filters': 'sRGB', x: 0, y: 0,
                              width: 1, height: 1, filterUnits: 'objectBoundingBox' });
    var matrix = sv('feColorMatrix', { type: 'matrix', values: IDENTITY });
    filt.append(matrix);
    var defs = sv('defs');
    defs.append(filt);
    svg.append(defs);
    var frame = sv('g', { class: 'frame' });
    var pic = sv('image', { href: image.file, x: 0, y: 0, width: W, height: H, preserveAspectRatio: 'none',
                            class: 'pic', filter: 'url(#wl-' + limb + ')' });
    frame.append(pic);
    if (image.mask) frame.append(sv('image', { href: image.mask, x: 0, y: 0, width: W, height: H,
                                               preserveAspectRatio: 'none', class: 'mask', opacity: 0.55 }));
    var marks = sv('g', { class: 'landmarks' });
    frame.append(marks);
    svg.append(frame);
    panel.append(svg);
    var vb, items = {}, M, href = image.file, blobUrl = null, deep = null, rendering = false, again = false;

    Object.keys(points || {}).forEach(function (name) {
      var moved = state.edits.landmarks[stem] && state.edits.landmarks[stem][name];
      var xy = moved || points[name];
      var w = widths && widths[name], pk = peaks && peaks[name];
      var cls = uclass(w, UNC && UNC.landmark_cuts);
      var g = sv('g', { class: 'lm' + (moved ? ' moved' : '') + (cls ? ' ' + cls : ''), 'data-name': name,
                        'data-stem': stem, 'data-width': w === undefined ? null : String(w),
                        'data-peak': pk === undefined ? null : String(pk) });
      var c = sv('circle', { cx: xy[0], cy: xy[1], r: 6 });
      var t = sv('text', { x: xy[0], y: xy[1], text: name });
      if (w !== undefined || pk !== undefined) {
        var tip = sv('title');
        tip.textContent = confidenceText(name, w, pk, cls);
        g.append(tip);
      }
      g.append(c, t);
      marks.append(g);
      items[name] = { g: g, c: c, t: t, xy: xy.slice() };
    });

    function viewSize() { return look.rot % 180 ? [H, W] : [W, H]; }
    function transform() {               // image -> view: flip, then turn clockwise by look.rot
      var f = look.flip ? [-1, 0, 0, 1, W, 0] : [1, 0, 0, 1, 0, 0];
      var r = { 0: [1, 0, 0, 1, 0, 0], 90: [0, 1, -1, 0, H, 0], 180: [-1, 0, 0, -1, W, H], 270: [0, -1, 1, 0, 0, W] }[look.rot];
      return [r[0] * f[0] + r[2] * f[1], r[1] * f[0] + r[3] * f[1], r[0] * f[2] + r[2] * f[3], r[1] * f[2] + r[3] * f[3],
              r[0] * f[4] + r[2] * f[5] + r[4], r[1] * f[4] + r[3] * f[5] + r[5]];
    }
    function toVw(x, y) { return [M[0] * x + M[2] * y + M[4], M[1] * x + M[3] * y + M[5]]; }
    function toImg(x, y) {
      var det = M[0] * M[3] - M[1] * M[2], dx = x - M[4], dy = y - M[5];
      return [(M[3] * dx - M[2] * dy) / det, (-M[1] * dx + M[0] * dy) / det];
    }
    function setFrame() {
      M = transform();
      frame.setAttribute('transform', 'matrix(' + M.join(' ') + ')');
      var s = viewSize();
      vb = { x: 0, y: 0, w: s[0], h: s[1] };
      panel.setAttribute('data-rot', look.rot);
      panel.setAttribute('data-flip', look.flip ? '1' : '0');
    }
    function pxPerUnit() {               // screen pixels per image pixel at the current zoom
      var r = svg.getBoundingClientRect();
      return Math.min(r.width / vb.w, r.height / vb.h) || 1;
    }
    function restyle() {
      var u = 1 / pxPerUnit();
      var det = M[0] * M[3] - M[1] * M[2], ia = M[3] / det, ib = -M[1] / det, ic = -M[2] / det, id = M[0] / det;
      Object.keys(items).forEach(function (n) {
        var it = items[n], big = it.g.classList.contains('u1') ? 1.35 : 1;
        it.c.setAttribute('r', 6 * u * big); it.c.setAttribute('stroke-width', 1.6 * u * big);
        var tx = it.xy[0] + 8 * u, ty = it.xy[1] + 4 * u;
        it.t.setAttribute('font-size', 11 * u); it.t.setAttribute('stroke-width', 2.5 * u);
        it.t.setAttribute('x', tx); it.t.setAttribute('y', ty);
        // labels stay upright whatever the panel's turn and flip
        it.t.setAttribute('transform', 'matrix(' + [ia, ib, ic, id, it.xy[0] - (ia * it.xy[0] + ic * it.xy[1]),
                                                     it.xy[1] - (ib * it.xy[0] + id * it.xy[1])].join(' ') + ')');
      });
    }
    function apply(user) {
      svg.setAttribute('viewBox', [vb.x, vb.y, vb.w, vb.h].join(' '));
      restyle();
      if (user && onView) onView(limb);
    }
    function toView(evt) {
      var pt = svg.createSVGPoint();
      pt.x = evt.clientX; pt.y = evt.clientY;
      return pt.matrixTransform(svg.getScreenCTM().inverse());
    }
    function toImage(evt) {
      var pt = svg.createSVGPoint();
      pt.x = evt.clientX; pt.y = evt.clientY;
      return pt.matrixTransform(frame.getScreenCTM().inverse());
    }
    function setHref(url) {
      href = url;
      pic.setAttribute('href', url);
      document.querySelectorAll('image.strip-pic[data-limb="' + limb + '"]').forEach(function (im) {
        im.setAttribute('href', url);
      });
    }
    function render() {                  // a deep source windowed here, exactly, from its 16-bit values
      if (!deep) return;
      if (rendering) { again = true; return; }
      rendering = true;
      windowed(deep, image, state.view, function (url) {
        var old = blobUrl;
        blobUrl = url;
        matrix.setAttribute('values', IDENTITY);
        setHref(blobUrl);
        panel.setAttribute('data-deep', 'rendered');
        if (old) setTimeout(function () { URL.revokeObjectURL(old); }, 2000);
        rendering = false;
        if (again) { again = false; render(); }
      });
    }

    this.reset = function () { var s = viewSize(); vb = { x: 0, y: 0, w: s[0], h: s[1] }; apply(true); };
    this.restyle = restyle;
    this.href = function () { return href; };
    this.filter = function (v) {         // window/level and invert
      var title = panel.querySelector('.wl');
      if (title) title.textContent = wlText(image, v);
      if (deep) { render(); return; }
      var wl = windowOf(image, v), a = 1 / Math.max(1e-6, wl[1] - wl[0]), b = -wl[0] * a;
      if (v.invert) { a = -a; b = 1 - b; }
      var row = function (k) { var r = [0, 0, 0, 0, 0]; r[0] = a; r[4] = b; return r.join(' '); };
      matrix.setAttribute('values', [row(0), row(1), row(2), '0 0 0 1 0'].join('  '));
    };
    this.highlight = function (names) {
      Object.keys(items).forEach(function (n) { items[n].g.classList.toggle('hl', names.indexOf(n) >= 0); });
    };
    this.point = function (name) { return items[name] ? items[name].xy.slice() : null; };
    this.names = function () { return Object.keys(items); };
    this.turn = function () { look.rot = (look.rot + 90) % 360; setFrame(); apply(true); };
    this.flip = function () { look.flip = !look.flip; setFrame(); apply(true); };
    this.centre = function () {          // the image point at the centre of the view, and the zoom
      var s = viewSize();
      return { xy: toImg(vb.x + vb.w / 2, vb.y + vb.h / 2), share: vb.w / s[0] };
    };
    this.lookAt = function (xy, share) { // centre the view on an image point at a zoom (no echo to the partner)
      var s = viewSize(), w = Math.min(s[0] * 1.5, Math.max(s[0] / 40, share * s[0])), h = w * s[1] / s[0];
      var c = toVw(xy[0], xy[1]);
      vb = { x: c[0] - w / 2, y: c[1] - h / 2, w: w, h: h };
      apply(false);
    };
    this.size = function () { return [W, H]; };

    svg.addEventListener('wheel', function (evt) {
      evt.preventDefault();
      var s = viewSize(), f = Math.exp(evt.deltaY * 0.0015);
      var nw = Math.min(s[0] * 1.5, Math.max(s[0] / 40, vb.w * f));
      f = nw / vb.w;
      var p0 = toView(evt);
      vb = { x: p0.x - (p0.x - vb.x) * f, y: p0.y - (p0.y - vb.y) * f, w: vb.w * f, h: vb.h * f };
      apply(true);
    }, { passive: false });

    var drag = null;
    svg.addEventListener('pointerdown', function (evt) {
      if (evt.button !== 0) return;
      var g = evt.target.closest && evt.target.closest('.lm');
      drag = g ? { kind: 'landmark', name: g.getAttribute('data-name') } : { kind: 'pan', start: toView(evt) };
      if (!g) svg.classList.add('panning');
      svg.setPointerCapture(evt.pointerId);
      evt.preventDefault();
    });
    svg.addEventListener('pointermove', function (evt) {
      if (!drag) return;
      if (drag.kind === 'pan') {
        var q = toView(evt);
        vb.x += drag.start.x - q.x; vb.y += drag.start.y - q.y;
        apply(true);
      } else {
        var it = items[drag.name], qi = toImage(evt);
        it.xy = [Math.min(W - 1, Math.max(0, qi.x)), Math.min(H - 1, Math.max(0, qi.y))];
        it.c.setAttribute('cx', it.xy[0]); it.c.setAttribute('cy', it.xy[1]);
        drag.moved = true;
        restyle();
      }
    });
    function end(evt) {
      if (!drag) return;
      if (drag.kind === 'landmark' && drag.moved) {
        var it = items[drag.name];
        it.g.classList.add('moved');
        onMoved(stem, drag.name, it.xy);
      }
      drag = null;
      svg.classList.remove('panning');
      if (svg.hasPointerCapture(evt.pointerId)) svg.releasePointerCapture(evt.pointerId);
    }
    svg.addEventListener('pointerup', end);
    svg.addEventListener('pointercancel', end);
    svg.addEventListener('dblclick', this.reset);
    setFrame();
    apply(false);
    if (image.deep) {
      panel.setAttribute('data-deep', 'loading');
      loadDeep(image.deep, p.key + '-' + limb, function (d) {
        if (!svg.isConnected) return;
        deep = d;
        self.filter(state.view);
      });
    }
  }

  // ------------------------------------------------------------------ the patient page
  var cache = {}, waiting = {}, shownViewers = {};
  window.RA2_LOADED = function (data) {
    cache[data.key] = data;
    (waiting[data.key] || []).forEach(function (cb) { cb(data); });
    delete waiting[data.key];
  };
  function loadPatient(key, cb) {
    if (cache[key]) return cb(cache[key]);
    if (waiting[key]) { waiting[key].push(cb); return; }
    waiting[key] = [cb];
    var s = document.createElement('script');
    s.src = 'data/patients/' + key + '.js';
    s.onerror = function () {
      delete waiting[key];
      app.innerHTML = '';
      app.append(el('div', { class: 'error-box', text: 'data/patients/' + key + '.js could not be loaded.' }));
    };
    document.head.appendChild(s);
  }

  function limbTitle(limb) {
    return { LH: 'Left hand', RH: 'Right hand', LF: 'Left foot', RF: 'Right foot' }[limb];
  }

  function renderPatient(key) {
    var p = byKey[key];
    if (!p) { app.innerHTML = ''; app.append(el('div', { class: 'error-box', text: 'No patient ' + key + '.' })); return; }
    app.textContent = '';
    app.append(el('p', { class: 'note', text: 'Loading ' + p.id + '…' }));
    loadPatient(key, function (data) { if (location.hash === '#p=' + key) drawPatient(p, data); });
  }

  function drawPatient(p, data) {
    state.current = p.key;
    document.title = 'RA2 review: ' + p.id;
    var order = state.listOrder, at = order.indexOf(p.key);
    var prev = at > 0 ? order[at - 1] : null, next = at >= 0 && at < order.length - 1 ? order[at + 1] : null;
    var viewers = {}, wrap = el('div', { class: 'viewers' });
    var v = state.view;
    if (state.selectedFor !== p.key) {
      state.selected = null; state.unsureAt = state.lrAt = -1; state.selectedFor = p.key;
    }

    function linked(limb) {              // the partner panel shows the same joint (or the mirrored spot) at the same zoom
      var other = viewers[PARTNER[limb]], me = viewers[limb];
      if (!v.link || !other) return;
      var c = me.centre(), best = null, bestD = Infinity;
      me.names().forEach(function (n) {
        var xy = me.point(n), q = other.point(n);
        if (!q) return;
        var d = Math.pow(xy[0] - c.xy[0], 2) + Math.pow(xy[1] - c.xy[1], 2);
        if (d < bestD) { bestD = d; best = n; }
      });
      var s = me.size(), so = other.size(), k = Math.max(so[0], so[1]) / Math.max(s[0], s[1]);
      var target;
      if (best) {                        // the same landmark, the offset from it mirrored (left and right)
        var a = me.point(best), b = other.point(best);
        target = [b[0] - (c.xy[0] - a[0]) * k, b[1] + (c.xy[1] - a[1]) * k];
      } else {
        target = [(1 - c.xy[0] / s[0]) * so[0], c.xy[1] / s[1] * so[1]];
      }
      other.lookAt(target, c.share);
    }
    function enlarge(limb) {
      state.big = state.big === limb ? null : limb;
      wrap.classList.toggle('one', !!state.big);
      wrap.querySelectorAll('.panel').forEach(function (pn) {
        pn.classList.toggle('big', pn.getAttribute('data-limb') === state.big);
      });
      Object.keys(viewers).forEach(function (l) { viewers[l].restyle(); });
    }

    IDX.limbs.forEach(function (limb) {
      var image = data.images[limb];
      var panel = el('div', { class: 'panel', 'data-limb': limb });
      var title = el('div', { class: 'ptitle' }, [el('b', { text: limb }), limbTitle(limb)]);
      panel.append(title);
      if (image.failed) {
        panel.append(el('div', { class: 'failed-msg', text: 'Image not used: ' + image.failed }));
      } else {
        var extra = image.width + '×' + image.height + ' px';
        if (image.format === 'DICOM') extra += ' · DICOM ' + image.bits + '-bit';
        if (image.mm_per_pixel) extra += ' · ' + round(image.mm_per_pixel, 3) + ' mm/px';
        title.append(el('span', { text: extra }), el('span', { class: 'wl' }));
        var fit = el('button', { type: 'button', text: 'fit', title: 'whole image (or double-click)' });
        var turnB = el('button', { type: 'button', text: '⟳', class: 'turn', title: 'turn this panel by 90°' });
        var flipB = el('button', { type: 'button', text: '⇋', class: 'flip', title: 'flip this panel left to right' });
        var bigB = el('button', { type: 'button', text: '⤢', class: 'enlarge', title: 'this panel alone, enlarged (again: all four)' });
        title.append(fit, turnB, flipB, bigB);
        viewers[limb] = new Viewer(panel, p, limb, image, data.landmarks[limb], (data.widths || {})[limb],
                                   (data.peaks || {})[limb],
                                   function (stem, name, xy) { setLandmark(stem, name, xy); strip.refresh(); },
                                   linked);
        fit.onclick = viewers[limb].reset;
        turnB.onclick = viewers[limb].turn;
        flipB.onclick = viewers[limb].flip;
        bigB.onclick = function () { enlarge(limb); };
        viewers[limb].filter(v);
      }
      if (state.big === limb) panel.classList.add('big');
      wrap.append(panel);
    });
    wrap.classList.toggle('one', !!state.big && !!viewers[state.big]);
    wrap.classList.toggle('hide-masks', !v.masks);
    wrap.classList.toggle('hide-landmarks', !v.landmarks);
    wrap.classList.toggle('hide-labels', !v.labels);

    function refilter() {
      Object.keys(viewers).forEach(function (l) { viewers[l].filter(v); });
      if (page && page.strip) page.strip.refilter();
      syncSliders();
    }
    var wSlider = el('input', { type: 'range', min: 0.01, max: 1, step: 0.005, id: 'view-window',
                                title: 'window width, as a share of the source range (its levels in each panel title)' });
    var lSlider = el('input', { type: 'range', min: 0, max: 1, step: 0.005, id: 'view-level',
                                title: 'window level (centre), as a share of the source range' });
    function syncSliders() {
      var w = v.window && typeof v.window === 'object' ? v.window : { l: 0.5, w: 1 };
      wSlider.value = w.w; lSlider.value = w.l;
    }
    wSlider.oninput = lSlider.oninput = function () {
      v.window = { l: Number(lSlider.value), w: Number(wSlider.value) };
      refilter();
    };
    function button(text, id, title, fn) { return el('button', { type: 'button', text: text, id: id, title: title, onclick: fn }); }
    function toggle(label, keyName, fn) {
      var c = el('input', { type: 'checkbox', id: 'view-' + keyName });
      c.checked = v[keyName];
      c.onchange = function () {
        v[keyName] = c.checked;
        if (fn) fn(); else wrap.classList.toggle('hide-' + keyName, !c.checked);
      };
      return el('label', {}, [c, ' ' + label]);
    }
    var failedNote = p.failed.length ? el('span', { class: 'warn', text: p.failed.length + ' failed image(s)' }) : '';
    var st = reviewState(p);
    var mark = el('button', { type: 'button', id: 'mark-reviewed', text: 'Reviewed, next unreviewed (r)',
                              title: 'mark this patient reviewed and open the next patient nobody reviewed',
                              onclick: function () { reviewedNext(p); } });
    var unmark = el('button', { type: 'button', id: 'unmark-reviewed', text: 'unmark', hidden: st !== REVIEWED,
                                title: 'back to not reviewed', onclick: function () {
                                  setReviewed(p, false); drawPatient(p, cache[p.key]); } });
    var nav = el('div', { class: 'pnav' }, [
      el('a', { href: '#', text: '← list' }),
      el('button', { type: 'button', text: '‹ prev', id: 'prev', disabled: !prev,
                     onclick: function () { location.hash = '#p=' + prev; } }),
      el('button', { type: 'button', text: 'next ›', id: 'next', disabled: !next,
                     onclick: function () { location.hash = '#p=' + next; } }),
      el('h1', { text: p.id }),
      el('span', { class: 'count', text: (at + 1) + ' of ' + order.length }), failedNote,
      el('span', { class: 'state ' + st.replace(' ', '-'), id: 'patient-state', text: st }), mark, unmark,
      el('span', { class: 'progress', text: reviewedCount() + ' of ' + IDX.patients.length + ' reviewed' }),
      el('span', { class: 'grow' }),
      el('div', { class: 'controls' }, [
        el('label', {}, ['window ', wSlider]), el('label', {}, ['level ', lSlider]),
        button('auto', 'view-auto', "each image's own 1st to 99th percentile", function () { v.window = 'auto'; refilter(); }),
        button('full', 'view-full', 'the whole range of the source', function () { v.window = null; refilter(); }),
        toggle('invert', 'invert', refilter),
        toggle('link L/R', 'link', function () {}),
        toggle('landmarks', 'landmarks'), toggle('labels', 'labels'), toggle('masks', 'masks')])
    ]);
    syncSliders();
    var strip = makeStrip(p, data, viewers);
    var sheet = drawSheet(p, viewers, strip);
    app.textContent = '';
    app.append(el('section', { class: 'patient', 'data-patient': p.id }, [
      el('div', { class: 'left' }, [nav, wrap]), sheet
    ]));
    shownViewers = viewers;
    Object.keys(viewers).forEach(function (l) { viewers[l].restyle(); });
    if (state.selected) selectJoint(state.selected);
  }

  // ------------------------------------------------------------------ the joint strip
  // The selected joint's left and right crops side by side at the source's own resolution: where the site's
  // copy of a radiograph is smaller than its source, the build cut each joint's crop from the source itself
  // (images/crops/*.jpg; for a source deeper than 8 bits data/crops/*.js, its 16-bit values, windowed here as
  // the panels are), loaded when the strip shows it; where the copy is the source's own size (or the reader
  // moved the landmark off its crop) the crop is cut here from the copy.  Window/level and invert act as on
  // the panels; the wheel zooms, a drag pans and a double-click fits (both sides together with "link L/R").
  // Above the crops: how much the method's left and right differ; under each, the method's value beside the
  // integer a reader would record, a button per score and "accept, rounded".
  var STRIP = IDX.strip || { share: 0.12, min: 40 };
  var page = null;                       // the patient page shown: its sheet's cells and painters
  function stripSide(image) {            // a crop's side in source pixels (review/build.py's crop_side)
    return Math.max(STRIP.min, Math.round(STRIP.share * Math.max(image.width, image.height)));
  }
  function sideColumns(col) {            // [left column, right column] of a joint column's row
    var name = col.slice(3), kind = IDX.joints[col].limb === 'LH' || IDX.joints[col].limb === 'RH' ? 'H' : 'F';
    return ['L' + kind + '_' + name, 'R' + kind + '_' + name].filter(function (c) { return IDX.joints[c]; });
  }
  function landmarkOf(col) {
    var kind = kindOf(limbOf(col)), carries = IDX.scheme.carries[kind] || {};
    return carries[col.slice(3)] || null;
  }
  function makeStrip(p, data, viewers) {
    var box = el('div', { class: 'strip', id: 'strip', hidden: true });
    var shown = null, views = {}, looks = {}, deeps = {};
    function look(limb) { return looks[limb] || (looks[limb] = { share: 1, dx: 0, dy: 0 }); }
    function setLook(limb, lk, user) {   // zoom (share of the side) and pan (shares of the side), inside the crop
      var half = (1 - lk.share) / 2;
      looks[limb] = { share: lk.share, dx: Math.max(-half, Math.min(half, lk.dx)),
                      dy: Math.max(-half, Math.min(half, lk.dy)) };
      if (views[limb]) views[limb].apply();
      var other = PARTNER[limb];         // linked: the other side at the same zoom, the offset mirrored
      if (user && state.view.link && views[other]) {
        setLook(other, { share: looks[limb].share, dx: -looks[limb].dx, dy: looks[limb].dy }, false);
      }
    }
    function paint(limb) {               // a 16-bit crop windowed (and inverted) as its panel
      var dd = deeps[limb];
      if (!dd || !views[limb] || views[limb].svg !== dd.svg) return;
      var seq = dd.seq = (dd.seq || 0) + 1;
      windowed(dd.d, data.images[limb], state.view, function (url) {
        if (deeps[limb] !== dd || dd.seq !== seq) { URL.revokeObjectURL(url); return; }
        var old = dd.url;
        dd.url = url;
        dd.pic.setAttribute('href', url);
        dd.svg.setAttribute('data-deep', 'rendered');
        if (old) setTimeout(function () { URL.revokeObjectURL(old); }, 1000);
      });
    }
    function crop(col) {
      var limb = limbOf(col), image = data.images[limb], lm = landmarkOf(col), vw = viewers[limb];
      var holder = el('div', { class: 'crop', 'data-limb': limb });
      if (!vw || image.failed) { holder.append(el('p', { class: 'none-msg', text: 'no image' })); return holder; }
      var xy = lm && vw.point(lm);
      if (!xy) { holder.append(el('p', { class: 'none-msg', text: 'no landmark for this joint' })); return holder; }
      var side = stripSide(image), at = (data.landmarks[limb] || {})[lm], c = image.crops && image.crops[lm];
      var fromCrop = !!(c && at && Math.abs(xy[0] - at[0]) <= side / 8 && Math.abs(xy[1] - at[1]) <= side / 8);
      var svg = sv('svg', { preserveAspectRatio: 'xMidYMid meet', class: 'crop-view', 'data-limb': limb,
                            'data-side': side, 'data-source': fromCrop ? (c.deep ? 'deep-crop' : 'crop') : 'copy' });
      var pic;
      if (fromCrop) {
        pic = sv('image', { href: c.file || null, x: c.x, y: c.y, width: c.w, height: c.h, preserveAspectRatio: 'none',
                            class: 'strip-crop', 'data-limb': limb, filter: c.file ? 'url(#wl-' + limb + ')' : null });
        holder.title = 'cut from the source at its own resolution (' + c.w + '×' + c.h + ' of its ' + image.width +
          '×' + image.height + ' px' + (c.deep ? ', ' + image.bits + '-bit' : '') + ')';
      } else {
        pic = sv('image', { href: vw.href(), x: 0, y: 0, width: image.width, height: image.height,
                            preserveAspectRatio: 'none', class: 'strip-pic', 'data-limb': limb,
                            filter: 'url(#wl-' + limb + ')' });
        holder.title = "cut from the site's copy (" + image.shown[0] + '×' + image.shown[1] +
          " px of the source's " + image.width + '×' + image.height + ')' + (c ? ': the landmark was moved off its crop' : '');
      }
      var mark = sv('circle', { cx: xy[0], cy: xy[1], class: 'strip-mark' });
      svg.append(pic, mark);
      holder.append(svg);
      var view = views[limb] = { svg: svg, apply: function () {
        var lk = look(limb), w = side * lk.share;
        svg.setAttribute('viewBox', [xy[0] + lk.dx * side - w / 2, xy[1] + lk.dy * side - w / 2, w, w].join(' '));
        svg.setAttribute('data-zoom', String(round(1 / lk.share, 4)));
        mark.setAttribute('r', 0.03 * w); mark.setAttribute('stroke-width', 0.006 * w);
      } };
      view.apply();
      if (fromCrop && c.deep) {
        svg.setAttribute('data-deep', 'loading');
        loadDeep(c.deep, c.key, function (d) {
          if (views[limb] !== view) return;
          deeps[limb] = { d: d, pic: pic, svg: svg };
          paint(limb);
        });
      }
      function toView(evt) {
        var pt = svg.createSVGPoint();
        pt.x = evt.clientX; pt.y = evt.clientY;
        return pt.matrixTransform(svg.getScreenCTM().inverse());
      }
      svg.addEventListener('wheel', function (evt) {     // zoom about the pointer, as the panels do
        evt.preventDefault();
        var lk = look(limb), share = Math.min(1, Math.max(1 / 16, lk.share * Math.exp(evt.deltaY * 0.0015)));
        var f = share / lk.share, q = toView(evt), cx = xy[0] + lk.dx * side, cy = xy[1] + lk.dy * side;
        setLook(limb, { share: share, dx: (q.x - (q.x - cx) * f - xy[0]) / side,
                        dy: (q.y - (q.y - cy) * f - xy[1]) / side }, true);
      }, { passive: false });
      var drag = null;
      svg.addEventListener('pointerdown', function (evt) {
        if (evt.button !== 0) return;
        drag = toView(evt);
        svg.classList.add('panning');
        svg.setPointerCapture(evt.pointerId);
        evt.preventDefault();
      });
      svg.addEventListener('pointermove', function (evt) {
        if (!drag) return;
        var q = toView(evt), lk = look(limb);
        setLook(limb, { share: lk.share, dx: lk.dx + (drag.x - q.x) / side, dy: lk.dy + (drag.y - q.y) / side }, true);
      });
      function end(evt) {
        drag = null;
        svg.classList.remove('panning');
        if (svg.hasPointerCapture(evt.pointerId)) svg.releasePointerCapture(evt.pointerId);
      }
      svg.addEventListener('pointerup', end);
      svg.addEventListener('pointercancel', end);
      svg.addEventListener('dblclick', function () { setLook(limb, { share: 1, dx: 0, dy: 0 }, true); });
      return holder;
    }
    function side(col) {
      var top = IDX.joints[col].max, pv = predicted(p, col), cur = value(p, col), rec = Math.round(pv);
      var limb = limbOf(col), lm = landmarkOf(col);
      var buttons = el('div', { class: 'scores' });
      for (var s = 0; s <= top; s++) {
        (function (s) {
          buttons.append(el('button', { type: 'button', text: String(s), 'data-score': s,
                                        class: cur === s ? 'on' : null, title: col + ' = ' + s,
                                        onclick: function () { setJoint(col, s); } }));
        })(s);
      }
      var sp = spreadOf(p, col);
      var w = ((data.widths || {})[limb] || {})[lm], pk = ((data.peaks || {})[limb] || {})[lm];
      var conf = lm && (w !== undefined || pk !== undefined) ? el('span', {
        class: 'lm-conf ' + uclass(w, UNC && UNC.landmark_cuts), 'data-peak': pk === undefined ? null : String(pk),
        text: ' · ' + lm + (pk !== undefined ? ' peak ' + show(round(pk, 2)) : '') +
              (w !== undefined ? ' width ' + show(round(w, 3)) : ''),
        title: confidenceText(lm, w, pk, uclass(w, UNC && UNC.landmark_cuts)) }) : '';
      return el('div', { class: 'side', 'data-col': col }, [
        el('div', { class: 'side-head' }, [el('b', { text: limbTitle(limb) }), ' ' + col, conf]),
        crop(col),
        el('div', { class: 'method' }, [
          el('span', { class: 'value', text: 'method ' + show(round(pv, 2)) }),
          el('span', { class: 'record', text: ' → records ' + rec }),
          sp === null ? '' : el('span', { class: 'spread ' + uclass(sp, UNC && UNC.cell_cuts), text: ' ±' + show(round(sp, 2)),
                                          title: "the spread (sd) of the out-of-fold scorers' answers" }),
          cur !== pv ? el('span', { class: 'now', text: ' · now ' + show(cur) }) : ''
        ]),
        buttons,
        el('button', { type: 'button', class: 'accept', text: 'accept, rounded (' + rec + ')',
                       title: "record the method's value rounded to the nearest integer", disabled: cur === rec,
                       onclick: function () { setJoint(col, rec); } })
      ]);
    }
    function setJoint(col, v) {
      setScore(p, col, v);
      if (page && page.paint[col]) page.paint[col]();
      if (page) page.refreshTotals();
      draw();
    }
    function draw() {
      Object.keys(deeps).forEach(function (l) {
        var old = deeps[l].url;
        if (old) setTimeout(function () { URL.revokeObjectURL(old); }, 1000);
      });
      views = {}; deeps = {};
      box.textContent = '';
      if (!shown) { box.hidden = true; return; }
      box.hidden = false;
      var cols = sideColumns(shown), row = shown.slice(3), d = lrOf(p, shown);
      box.setAttribute('data-joint', shown);
      box.append(el('div', { class: 'strip-head' }, [
        el('b', { text: row + ' · ' + IDX.joints[shown].damage }),
        d === null ? '' : el('span', { class: 'lr' + (d >= 1 ? ' big' : ''), id: 'strip-lr', 'data-lr': String(d),
                                       text: 'left and right differ by ' + show(round(d, 2)),
                                       title: "|left − right| of the method's predicted scores, in score units" }),
        el('span', { class: 'grow' }),
        el('button', { type: 'button', text: '×', title: 'close the strip', onclick: function () { selectJoint(null); } })
      ]), el('div', { class: 'sides' }, cols.map(side)));
    }
    function showJoint(col) {
      if (col !== shown) looks = {};     // a new joint opens whole
      shown = col; state.selected = col; draw();
    }
    function refilter() { Object.keys(deeps).forEach(paint); }
    return { el: box, show: showJoint, refresh: draw, refilter: refilter };
  }
  function selectJoint(col) {            // the strip shows the joint, its cells and landmarks are marked
    if (!page) return;
    page.strip.show(col);
    Object.keys(page.tds).forEach(function (c) { page.tds[c].classList.toggle('sel', !!col && sideColumns(col).indexOf(c) >= 0); });
    var lm = col && landmarkOf(col);
    Object.keys(page.viewers).forEach(function (l) {
      page.viewers[l].highlight(lm && kindOf(l) === kindOf(limbOf(col)) ? [lm] : []);
    });
    if (col && page.tds[col]) page.tds[col].scrollIntoView({ block: 'nearest' });
  }
  function nextUnsure() {                // 'u': the next joint of the patient, most uncertain first
    if (!page) return;
    var order = unsureJoints(page.p);
    if (!order.length) { status('no uncertainty for this patient', 'error'); return; }
    state.unsureAt = (state.unsureAt + 1) % order.length;
    selectJoint(order[state.unsureAt]);
  }
  function nextDiffer() {                // 'd': the next joint of the patient whose left and right differ most
    if (!page) return;
    var order = lrJoints(page.p);
    if (!order.length) { status('left and right are predicted alike for this patient', 'error'); return; }
    state.lrAt = (state.lrAt + 1) % order.length;
    selectJoint(order[state.lrAt]);
  }

  function drawSheet(p, viewers, strip) {
    var col = el('div', { class: 'sheet-col' });
    page = { p: p, strip: strip, viewers: viewers, tds: {}, paint: {}, refreshTotals: function () { refreshTotals(); } };
    var totalBoxes = {};
    ['total', 'erosion', 'narrowing'].forEach(function (k) {
      totalBoxes[k] = { b: el('b'), small: el('small') };
    });
    var limbTotals = {};
    function refreshTotals() {
      var t = totals(p), pt = predictedTotals(p);
      Object.keys(totalBoxes).forEach(function (k) {
        totalBoxes[k].b.textContent = show(round(t[k], 1));
        totalBoxes[k].b.id = 'total-' + k;
        totalBoxes[k].small.textContent = t[k] !== pt[k] ? '(predicted ' + show(round(pt[k], 1)) + ', ' +
          (t[k] > pt[k] ? '+' : '') + show(round(t[k] - pt[k], 2)) + ' by corrected joints)' : '';
      });
      Object.keys(limbTotals).forEach(function (id) {
        var spec = limbTotals[id];
        spec.cell.textContent = show(round(sum(spec.cols, function (c) { return value(p, c); }), 1));
      });
    }
    var reset = el('button', { type: 'button', id: 'reset-patient', text: 'Reset to predictions',
                               title: "undo this patient's corrected scores and moved landmarks" });
    reset.onclick = function () { resetPatient(p); drawPatient(p, cache[p.key]); };
    col.append(
      el('div', { class: 'totals' }, [
        el('div', {}, [el('span', { text: 'Overall_Tol' }), totalBoxes.total.b, totalBoxes.total.small]),
        el('div', {}, [el('span', { text: 'Overall_erosion' }), totalBoxes.erosion.b, totalBoxes.erosion.small]),
        el('div', {}, [el('span', { text: 'Overall_narrowing' }), totalBoxes.narrowing.b, totalBoxes.narrowing.small])
      ]),
      el('div', { class: 'sheet-actions' }, [reset])
    );
    col.prepend(strip.el);
    if (UNC) {
      var order = unsureJoints(p), list = el('div', { class: 'unsure', id: 'unsure' });
      list.append(el('span', { class: 'unsure-head', text: order.length ? 'Most uncertain first (u):' :
        'No uncertainty for this patient (no image analysed).' }));
      order.slice(0, 8).forEach(function (c) {
        list.append(el('button', { type: 'button', 'data-col': c, class: uclass(p.spread[c], UNC.cell_cuts) || null,
                                   text: c + ' ±' + show(round(p.spread[c], 2)),
                                   title: "spread (sd) of the out-of-fold scorers' answers, in score units",
                                   onclick: function () { state.unsureAt = order.indexOf(c); selectJoint(c); } }));
      });
      col.append(list);
    }
    var lrOrder = lrJoints(p), lrList = el('div', { class: 'unsure lr-list', id: 'lr-differ' });
    lrList.append(el('span', { class: 'unsure-head', text: lrOrder.length ? 'Left and right differ most first (d):' :
      'Left and right are predicted alike.' }));
    lrOrder.slice(0, 8).forEach(function (c) {
      lrList.append(el('button', { type: 'button', 'data-col': c, 'data-lr': String(p.lr[c]),
                                   text: rowName(c) + ' Δ' + show(round(p.lr[c], 2)),
                                   title: "|left − right| of the method's predicted scores, in score units",
                                   onclick: function () { state.lrAt = lrOrder.indexOf(c); selectJoint(c); } }));
    });
    col.append(lrList);

    ['hand', 'foot'].forEach(function (kind) {
      var spec = IDX.layout[kind], limbs = spec.limbs;
      var head1 = el('tr', {}, [el('th', { rowspan: 2, text: kind === 'hand' ? 'Hands' : 'Feet' })]);
      var head2 = el('tr');
      limbs.forEach(function (limb) {
        head1.append(el('th', { colspan: 2, text: limbTitle(limb) + ' (' + limb + ')' }));
        head2.append(el('th', { text: 'Erosion', title: 'erosion, 0–' + (kind === 'hand' ? 5 : 10) }),
                     el('th', { text: 'JSN', title: 'joint space narrowing, 0–4' }));
      });
      var body = el('tbody');
      spec.sections.forEach(function (section) {
        body.append(el('tr', { class: 'section' }, [el('th', { colspan: 1 + 2 * limbs.length, text: section.title })]));
        section.rows.forEach(function (row) {
          var tr = el('tr', {}, [el('th', { text: row.label })]);
          var marks = {};
          limbs.forEach(function (limb) {
            ['erosion', 'narrowing'].forEach(function (damage) {
              var name = row[damage];
              if (!name) { tr.append(el('td', { class: 'none', title: 'not scored in SvH' })); return; }
              var column = limb + '_' + name;
              var lm = IDX.scheme.carries[kind] && IDX.scheme.carries[kind][name];
              if (lm) (marks[limb] = marks[limb] || []).push(lm);
              var sp = spreadOf(p, column), cls = uclass(sp, UNC && UNC.cell_cuts);
              var td = el('td', { class: cls || null, 'data-col': column, 'data-spread': sp === null ? null : String(sp) },
                          [cell(p, column, refreshTotals)]);
              page.tds[column] = td;
              tr.append(td);
            });
          });
          tr.addEventListener('mouseenter', function () {
            limbs.forEach(function (limb) { if (viewers[limb]) viewers[limb].highlight(marks[limb] || []); });
          });
          tr.addEventListener('mouseleave', function () {
            limbs.forEach(function (limb) { if (viewers[limb]) viewers[limb].highlight([]); });
          });
          body.append(tr);
        });
      });
      var foot1 = el('tr', {}, [el('th', { text: 'Sum' })]);
      var foot2 = el('tr', {}, [el('th', { text: 'Limb total' })]);
      limbs.forEach(function (limb) {
        ['erosion', 'narrowing'].forEach(function (damage) {
          var cols = JOINTS.filter(function (c) { return limbOf(c) === limb && IDX.joints[c].damage === damage; });
          var td = el('td', { id: 'sum-' + limb + '-' + damage });
          limbTotals[td.id] = { cell: td, cols: cols };
          foot1.append(td);
        });
        var all = JOINTS.filter(function (c) { return limbOf(c) === limb; });
        var td2 = el('td', { colspan: 2, id: 'sum-' + limb });
        limbTotals[td2.id] = { cell: td2, cols: all };
        foot2.append(td2);
      });
      col.append(el('h2', { text: kind === 'hand' ? 'Hands (SvH)' : 'Feet (SvH)' }),
                 el('table', { class: 'sheet', 'data-kind': kind }, [el('thead', {}, [head1, head2]), body,
                                                                      el('tfoot', {}, [foot1, foot2])]));
    });
    col.append(el('p', { class: 'legend', text: 'Type a score (erosion 0–5 per hand joint, 0–10 per foot joint; ' +
      'narrowing 0–4); ↑/↓ step by one, Enter goes down. Corrected cells are yellow; the totals are the ' +
      "method's own, moved by the corrected joints' differences. Hover a row to see its " +
      'landmark; drag a landmark to move it; wheel zooms, drag pans, double-click fits; ⟳ turns, ⇋ flips, ⤢ enlarges ' +
      'a panel; "link L/R" moves the other side to the same joint. A cell, the u or the d key opens the joint strip ' +
      "(left and right crops at the source's resolution, windowed like the panels, wheel zooms; how much the " +
      "method's left and right differ; score buttons). " + (UNC ? "Pink cells and landmarks: the method is unsure " +
      "(the scorers' answers spread, a wide heatmap; a landmark's tooltip gives its heatmap width and peak, a low " +
      'peak being a flat map): the darkest are the top ' + Math.round(UNC.top * 100) + ' % of the site, ' +
      'the lighter the next ' + Math.round(UNC.next * 100) + ' %. ' : '') + 'Keys outside a cell: ' +
      'r marks this patient reviewed and opens the next unreviewed one; u selects the next most uncertain joint; ' +
      'd the next joint whose left and right differ most; ' +
      'n or → next, p or ← previous patient.' }));
    refreshTotals();
    return col;
  }

  function cell(p, column, refresh) {
    var top = IDX.joints[column].max;
    var input = el('input', { class: 'cell', type: 'text', inputmode: 'decimal', 'data-col': column,
                              'aria-label': column, autocomplete: 'off' });
    function paint() {
      var v = value(p, column), pv = predicted(p, column), sp = spreadOf(p, column);
      input.value = show(v);
      input.classList.toggle('edited', v !== pv);
      input.classList.remove('bad');
      input.title = column + ' (0–' + top + ')' + (v !== pv ? ', predicted ' + show(pv) : '') +
        (sp !== null ? ", scorers' spread ±" + show(round(sp, 2)) : '');
    }
    if (page) page.paint[column] = paint;
    function parse(text) {
      if (!/^\s*\d+(\.\d*)?\s*$|^\s*\.\d+\s*$/.test(text)) return null;
      var v = Number(text);
      return isFinite(v) && v >= 0 && v <= top ? v : null;
    }
    input.addEventListener('input', function () {
      var v = parse(input.value);
      if (v === null) {
        input.classList.add('bad');
        input.title = 'a number from 0 to ' + top;
        return;
      }
      input.classList.remove('bad');
      setScore(p, column, v);
      input.classList.toggle('edited', v !== predicted(p, column));
      refresh();
      if (page && page.strip) page.strip.refresh();
    });
    input.addEventListener('change', paint);             // leaving a bad cell restores its value
    input.addEventListener('blur', paint);
    input.addEventListener('keydown', function (evt) {
      if (evt.key === 'ArrowUp' || evt.key === 'ArrowDown') {
        evt.preventDefault();
        var v = Math.round(value(p, column)) + (evt.key === 'ArrowUp' ? 1 : -1);
        setScore(p, column, Math.min(top, Math.max(0, v)));
        paint(); refresh();
        if (page && page.strip) page.strip.refresh();
      } else if (evt.key === 'Enter') {
        evt.preventDefault();
        var all = Array.prototype.slice.call(document.querySelectorAll('input.cell'));
        var nextInput = all[all.indexOf(input) + 1];
        if (nextInput) nextInput.focus(); else input.blur();
      } else if (evt.key === 'Escape') {
        paint(); input.blur();
      }
    });
    input.addEventListener('focus', function () {
      input.select();
      if (state.selected !== column) selectJoint(column);
    });
    paint();
    return input;
  }

  // ------------------------------------------------------------------ routing
  function route() {
    var m = /^#p=(\w+)$/.exec(location.hash);
    if (m) renderPatient(m[1]); else renderList();
  }
  document.addEventListener('keydown', function (evt) {
    if (!state.current || /INPUT|TEXTAREA/.test(evt.target.tagName)) return;
    var order = state.listOrder, at = order.indexOf(state.current);
    if ((evt.key === 'n' || evt.key === 'ArrowRight') && at < order.length - 1) location.hash = '#p=' + order[at + 1];
    if ((evt.key === 'p' || evt.key === 'ArrowLeft') && at > 0) location.hash = '#p=' + order[at - 1];
    if (evt.key === 'r' && !evt.ctrlKey && !evt.metaKey && !evt.altKey) reviewedNext(byKey[state.current]);
    if (evt.key === 'u' && !evt.ctrlKey && !evt.metaKey && !evt.altKey) nextUnsure();
    if (evt.key === 'd' && !evt.ctrlKey && !evt.metaKey && !evt.altKey) nextDiffer();
  });
  function reviewedNext(p) {             // mark p reviewed, open the next patient nobody reviewed (or the list)
    setReviewed(p, true);
    var k = nextUnreviewed(p.key);
    if (k) location.hash = '#p=' + k;
    else { location.hash = '#'; status('all ' + IDX.patients.length + ' patients reviewed', 'saved'); }
  }
  window.addEventListener('hashchange', route);
  window.addEventListener('resize', function () {      // landmarks keep their size on screen
    Object.keys(shownViewers).forEach(function (l) { shownViewers[l].restyle(); });
  });
  window.addEventListener('beforeunload', function (evt) {
    if (SERVED && dirty) { evt.preventDefault(); evt.returnValue = ''; }
  });

  // exposed for tests and for readers who script the page
  window.RA2_REVIEW = {
    predictionsCsv: predictionsCsv, landmarksCsv: landmarksCsv, edits: function () { return state.edits; },
    save: saveServer, review: function () { return state.review; }, reviewCsv: reviewCsv,
    loadCorrections: loadCorrections, states: function () {
      var out = {};
      IDX.patients.forEach(function (p) { out[p.id] = reviewState(p); });
      return out;
    }
  };

  loadLocal();
  state.listOrder = listed().map(function (p) { return p.key; });   // the list's order (uncertain first) before it is shown
  var drafts = SERVED ? merged(current(), handedOver() || clean(null)) : null;
  setupBar();
  (SERVED ? loadServer(drafts) : Promise.resolve()).then(route);
})();

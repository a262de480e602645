// The dashboard page: a WebSocket to the simulator; the run's heart-rate and temperature trends
// with alert episodes (kept by the server from the run's start and replayed on connect), the
// scenario timeline, a uPlot chart of the PPG samples the firmware's estimator received with the
// beats it detected, and the verified readings.
"use strict";
(function () {
  var WINDOW = 500; // samples on screen: 10 s at 50 sps
  var xs = [], ys = [];
  var firstIndex = 0; // sample index of xs[0]
  var rate = 50;
  var beats = [];
  var counts = { telemetry: 0, readings: 0, rejected: 0 };
  var controls = {};
  var hrPts = [], tempPts = [], episodes = [], timeline = [];
  var simS = 0, ended = null;
  var HR_ALERTS = { tachycardia: 1, bradycardia: 1, "no-contact": 1, "sensor-fault": 1 };
  var TEMP_ALERTS = { fever: 1, "low-temperature": 1, "sensor-fault": 1 };
  var $ = function (id) { return document.getElementById(id); };

  // Simulated time as m:ss (h:mm:ss past an hour).
  function mmss(s) {
    if (s === null || s === undefined || !isFinite(s)) return "--";
    var neg = s < 0; s = Math.abs(Math.floor(s));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var out = (h ? h + ":" + (m < 10 ? "0" : "") : "") + m + ":" + (r < 10 ? "0" : "") + r;
    return neg ? "-" + out : out;
  }
  function timeAxis(label) {
    // Ticks on whole seconds and minutes, so that m:ss labels never repeat.
    return { label: label, incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400], values: function (u, splits) { return splits.map(mmss); } };
  }
  function fmt(digits, unit) {
    return function (u, v) { return v === null || v === undefined ? "--" : v.toFixed(digits) + (unit ? " " + unit : ""); };
  }
  function width(id) { return Math.max(400, ($(id).clientWidth || 900) - 10); }

  var plot = new uPlot({
    width: width("ppg"),
    height: 240,
    scales: { x: { time: false } },
    axes: [timeAxis("sample clock (m:ss)"), { label: "counts", size: 70 }],
    series: [
      { label: "time", value: function (u, v) { return v === null || v === undefined ? "--" : mmss(v) + "." + String(Math.floor((v % 1) * 10)); } },
      { label: "PPG", stroke: "#c0392b", width: 1, value: fmt(0, "counts") },
      { label: "beat", stroke: "#1d5fa8", width: 0, paths: function () { return null; }, points: { show: true, size: 9, fill: "#1d5fa8" }, value: function (u, v) { return v === null || v === undefined ? "--" : "beat"; } },
    ],
  }, [[], [], []], $("ppg"));

  // Shaded bands under a trend: alert episodes (red) and, for heart rate, withheld or poor-quality readings (grey).
  function drawBands(which) {
    return function (u) {
      var ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
      var xmin = u.scales.x.min, xmax = u.scales.x.max;
      function band(a, b, colour) {
        if (b < xmin || a > xmax) return;
        var x0 = u.valToPos(Math.max(a, xmin), "x", true), x1 = u.valToPos(Math.min(b, xmax), "x", true);
        ctx.fillStyle = colour;
        ctx.fillRect(x0, top, Math.max(1, x1 - x0), h);
      }
      ctx.save();
      var drawn = 0;
      for (var i = 0; i < episodes.length; i++) {
        var e = episodes[i];
        if (which === "hr" ? !HR_ALERTS[e.name] && TEMP_ALERTS[e.name] : !TEMP_ALERTS[e.name] && HR_ALERTS[e.name]) continue;
        band(e.fromS, e.toS === null ? simLast() : e.toS, "rgba(192,57,43,0.18)");
        drawn++;
      }
      if (which === "hr") {
        for (var j = 0; j < hrPts.length; j++) {
          var p = hrPts[j];
          if (p[1] === null || p[2] < 50) band(p[0] - 0.5, p[0] + 0.5, "rgba(90,90,90,0.16)");
        }
      }
      // Scenario phases: a dashed line where each begins.
      ctx.strokeStyle = "rgba(29,35,48,0.35)"; ctx.setLineDash([4, 4]);
      timeline.forEach(function (sc) {
        sc.phases.forEach(function (ph) {
          if (ph.fromS <= xmin || ph.fromS >= xmax) return;
          var x = u.valToPos(ph.fromS, "x", true);
          ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + h); ctx.stroke();
        });
      });
      ctx.restore();
      bandsDrawn[which] = drawn;
    };
  }
  var bandsDrawn = { hr: 0, temp: 0 };
  function simLast() { var last = hrPts.length ? hrPts[hrPts.length - 1][0] : 0; return Math.max(last, ended ? ended.atS : 0); }

  // Zoom (drag), pan (shift-drag) and reset (double-click); while zoomed, new points do not move the view.
  var zoomed = { hr: false, temp: false };
  function trendPlot(id, which, series, axes) {
    var pan = null;
    var u = new uPlot({
      width: width(id),
      height: 200,
      scales: { x: { time: false }, q: { range: [0, 100] } },
      axes: axes,
      cursor: {
        drag: { x: true, y: false },
        bind: {
          mousedown: function (self, targ, handler) {
            return function (e) {
              if (e.shiftKey && e.button === 0) { pan = { x: e.clientX, min: self.scales.x.min, max: self.scales.x.max }; return null; }
              return handler(e);
            };
          },
          dblclick: function (self, targ, handler) {
            return function (e) { zoomed[which] = false; self.setData(self.data, true); return null; };
          },
        },
      },
      hooks: {
        draw: [drawBands(which)],
        setSelect: [function (self) { if (self.select.width > 2) zoomed[which] = true; }],
      },
      series: series,
    }, [[]].concat(series.slice(1).map(function () { return []; })), $(id));
    u.over.addEventListener("mousemove", function (e) {
      if (!pan || !(e.buttons & 1)) { pan = null; return; }
      var perPx = (pan.max - pan.min) / u.bbox.width * (window.devicePixelRatio || 1);
      var d = (e.clientX - pan.x) * perPx;
      zoomed[which] = true;
      u.setScale("x", { min: pan.min - d, max: pan.max - d });
    });
    window.addEventListener("mouseup", function () { pan = null; });
    return u;
  }
  var hrPlot = trendPlot("hr-trend", "hr", [
    { label: "time", value: function (u, v) { return mmss(v); } },
    { label: "heart rate", stroke: "#c0392b", width: 1.5, value: fmt(1, "bpm"), spanGaps: false },
    { label: "quality", stroke: "#1d5fa8", width: 1, scale: "q", dash: [3, 3], value: fmt(0, "") },
  ], [timeAxis("simulated time (m:ss)"), { label: "bpm", size: 55 }, { label: "quality", scale: "q", side: 1, size: 55, grid: { show: false } }]);
  var tempPlot = trendPlot("temp-trend", "temp", [
    { label: "time", value: function (u, v) { return mmss(v); } },
    { label: "skin temperature", stroke: "#8e44ad", width: 1.5, value: fmt(2, "°C"), spanGaps: false },
  ], [timeAxis("simulated time (m:ss)"), { label: "°C", size: 55 }]);

  function column(pts, k) { return pts.map(function (p) { return p[k]; }); }
  function redrawTrends() {
    hrPlot.setData([column(hrPts, 0), column(hrPts, 1), column(hrPts, 2)], !zoomed.hr);
    tempPlot.setData([column(tempPts, 0), column(tempPts, 1)], !zoomed.temp);
  }

  function redraw() {
    var marks = new Array(xs.length).fill(null);
    for (var i = 0; i < beats.length; i++) {
      var k = Math.round((beats[i] * rate) / 1000) - firstIndex;
      if (k >= 0 && k < xs.length) marks[k] = ys[k];
    }
    plot.setData([xs.slice(), ys.slice(), marks]);
  }

  function addSamples(ppg) {
    rate = ppg.rate;
    var end = firstIndex + xs.length;
    var start = ppg.firstIndex;
    if (xs.length === 0 || start > end || start < firstIndex) { xs = []; ys = []; firstIndex = start; end = start; }
    for (var i = end - start; i < ppg.values.length; i++) {
      if (i < 0) continue;
      var idx = start + i;
      xs.push(idx / rate);
      ys.push(ppg.values[i]);
    }
    if (xs.length > WINDOW) {
      var cut = xs.length - WINDOW;
      xs.splice(0, cut); ys.splice(0, cut); firstIndex += cut;
    }
  }

  function text(id, v) { $(id).textContent = v; }

  function fmtTime(ms) {
    var s = Math.floor(ms / 1000), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return (h ? h + " h " : "") + m + " min " + (s % 60) + " s";
  }

  function showControls(c) {
    controls = c;
    var names = Object.keys(c);
    for (var i = 0; i < names.length; i++) {
      var name = names[i], st = c[name];
      var els = document.querySelectorAll('[data-control="' + name + '"]');
      for (var j = 0; j < els.length; j++) {
        var el = els[j];
        el.title = st.reason;
        if (el.tagName === "BUTTON") el.disabled = !st.available;
        else el.classList.toggle("disabled", !st.available);
      }
      if (name === "scenario") {
        var sel = $("scenario-choice");
        sel.disabled = !st.available;
        sel.title = st.reason;
        sel.innerHTML = "";
        (st.choices || []).forEach(function (n) { var o = document.createElement("option"); o.value = o.textContent = n; sel.appendChild(o); });
        if (st.value) sel.value = st.value;
      }
      if (name === "update") {
        var dir = $("update-dir");
        dir.disabled = !st.available;
        if (!dir.value && st.value) dir.value = st.value;
      }
    }
  }

  function list(id, items, render) {
    var ul = $(id);
    ul.innerHTML = "";
    if (!items || items.length === 0) { ul.innerHTML = '<li class="small">none</li>'; return; }
    items.slice().reverse().forEach(function (x) { var li = document.createElement("li"); li.textContent = render(x); ul.appendChild(li); });
  }

  function event(line) {
    var ul = $("events"), li = document.createElement("li");
    li.textContent = line;
    ul.insertBefore(li, ul.firstChild);
    while (ul.children.length > 40) ul.removeChild(ul.lastChild);
  }

  function onTelemetry(t, status) {
    counts.telemetry++;
    addSamples(t.ppg);
    beats = t.beats;
    redraw();
    text("vtime", fmtTime(t.virtualMs));
    text("battery", t.battery.percent.toFixed(1));
    text("volts", t.battery.volts.toFixed(2));
    text("link", t.link.connected ? "connected (MTU " + t.link.mtu + ")" : "disconnected");
    if (status) {
      text("state", status.state + (status.detail ? " (" + status.detail + ")" : ""));
      text("queue", status.queueDepth);
      text("dropped", status.dropped);
    }
    if (t.securityLog) list("seclog", t.securityLog, function (e) { return "#" + e.seq + " " + new Date(e.timeMs).toISOString().slice(11, 19) + " " + e.kind + ": " + e.detail; });
  }

  function setCounts(c) {
    if (!c) return;
    counts.readings = c.verified; counts.rejected = c.rejected;
    text("verified", c.verified); text("rejected", c.rejected);
  }

  function onReading(m) {
    var r = m.reading;
    setCounts(m.counts);
    text("hr", r.hr === null ? "–" : r.hr.toFixed(1));
    text("quality", r.hrQuality);
    text("temp", r.tempC === null ? "–" : r.tempC.toFixed(2));
    text("reading-seq", r.seq);
    text("reading-time", r.time);
    $("hr").setAttribute("data-seq", String(r.seq));
    if (m.firmwareVersion) text("fw", m.firmwareVersion);
    // A fleet device's view has no telemetry: its simulated time is its newest reading's.
    if (device && typeof m.t === "number") { simS = m.t; text("vtime", fmtTime(m.t * 1000)); }
    if (typeof m.t === "number") {
      var last = hrPts.length ? hrPts[hrPts.length - 1][0] : -Infinity;
      if (m.t > last) { hrPts.push([m.t, r.hr, r.hrQuality]); tempPts.push([m.t, r.tempC, r.hrQuality]); }
    }
    if (m.episodes) showEpisodes(m.episodes);
    redrawTrends();
  }

  // Alert episodes: the list, the banner for those active, and the tiles they concern coloured.
  function showEpisodes(list0) {
    episodes = list0;
    list("alerts", episodes.slice(-30), function (e) { return mmss(e.fromS) + " " + e.name + (e.toS === null ? " (active)" : " until " + mmss(e.toS)); });
    var active = episodes.filter(function (e) { return e.toS === null; });
    var banner = $("banner");
    banner.hidden = active.length === 0;
    banner.textContent = active.length ? "Active alert: " + active.map(function (e) { return e.name + " since " + mmss(e.fromS); }).join(", ") : "";
    $("hr-tile").classList.toggle("alert", active.some(function (e) { return HR_ALERTS[e.name]; }));
    $("temp-tile").classList.toggle("alert", active.some(function (e) { return TEMP_ALERTS[e.name]; }));
  }

  // The scenario timeline: each scenario of the run with its phases and their simulated times.
  function showTimeline(tl) {
    timeline = tl || [];
    var ol = $("timeline");
    ol.innerHTML = "";
    timeline.forEach(function (sc) {
      var li = document.createElement("li");
      li.textContent = mmss(sc.atS) + " scenario " + sc.scenario + (sc.summary ? ": " + sc.summary : "");
      ol.appendChild(li);
      sc.phases.forEach(function (ph) {
        var p = document.createElement("li");
        p.className = "phase";
        p.setAttribute("data-from", String(ph.fromS));
        p.setAttribute("data-to", ph.toS === null ? "" : String(ph.toS));
        p.textContent = mmss(ph.fromS) + "–" + (ph.toS === null ? "" : mmss(ph.toS)) + " " + ph.label;
        ol.appendChild(p);
      });
    });
    markPhase();
  }
  function markPhase() {
    var items = document.querySelectorAll("#timeline li.phase");
    for (var i = 0; i < items.length; i++) {
      var from = Number(items[i].getAttribute("data-from")), to = items[i].getAttribute("data-to");
      items[i].classList.toggle("current", simS >= from && (to === "" || simS < Number(to)));
    }
  }

  function showScenario(name) { text("scenario", name || "default trace"); }

  // The update as the gateway sees it: its offer, the device's verified reports, the resets.
  function updateLine(e) {
    if (e.kind === "offer") return "offered " + e.dir + " over " + e.via.toUpperCase() + " (" + e.bytes + " bytes)";
    if (e.kind === "status") return e.outcome + (e.reason ? " (" + e.reason + ")" : "") + ": " + (e.version || "-") + " seq " + e.sequence + "; " + e.detail + "; running " + e.running;
    return "device reset (" + e.reason + "), running " + e.version;
  }

  // One line of the gateway's event list (live or replayed), prefixed with its simulated time.
  function eventLine(m) {
    var line = null;
    if (m.type === "scenario") line = "scenario " + m.name;
    else if (m.type === "update") line = "update " + updateLine(m.event);
    else if (m.type === "rejected") line = "rejected: " + m.reason + " (" + m.detail + ")";
    else if (m.type === "epoch") line = "device " + m.device + " opened epoch " + m.epoch;
    else if (m.type === "event") line = m.event.kind + ": " + JSON.stringify(m.event).slice(0, 160);
    if (line !== null) event(mmss(m.atS) + " " + line);
    if (m.type === "update") { text("update-status", updateLine(m.event)); $("update-status").setAttribute("data-kind", m.event.kind); }
  }

  function onEnded(m) {
    ended = m;
    var s = m.summary;
    $("conn").textContent = "run ended"; $("conn").className = "pill ended";
    var el = $("ended");
    el.hidden = false;
    el.textContent = "Run ended at " + mmss(m.atS) + " simulated" + (s ? ": " + s.verifiedReadings + " readings verified, " + s.messages + " messages, " + Object.keys(s.rejected || {}).reduce(function (a, k) { return a + s.rejected[k]; }, 0) + " rejected" + (s.firmware ? "; device " + s.firmware.state : "") : "") + ". This is its final state; the controls are off.";
    var buttons = document.querySelectorAll("#controls button, #controls select, #controls input");
    for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = true; buttons[i].title = "the run has ended"; }
    redrawTrends();
  }

  // The run's token, from the address the simulator printed (http://127.0.0.1:PORT/?token=...):
  // the server refuses the WebSocket without it.
  var token = new URLSearchParams(location.search).get("token") || "";
  // In a fleet: the device this page views (none: the device list).
  var device = new URLSearchParams(location.search).get("device") || "";
  if (!/^[0-9a-f]{16}$/.test(device)) device = "";

  function deviceHref(id) { return "?token=" + encodeURIComponent(token) + (id ? "&device=" + id : ""); }

  function onHello(m) {
    text("engine", m.engine); text("fw", m.firmwareVersion); showScenario(m.scenario); showControls(m.controls); setCounts(m.counts);
    if (!m.fleet) return;
    document.body.classList.add(m.device ? "fleet-device" : "fleet-list");
    $("back").setAttribute("href", deviceHref(""));
    text("scenario", "fleet of " + m.fleet.devices + " (" + m.fleet.engine + " over " + m.fleet.transport + ")");
    text("state", m.device || "list");
    document.title = m.device ? "Fleet device " + m.device : "Fleet";
  }

  // The fleet's device list: each row opens that device's view.
  var fleetRows = [];
  function showFleet(m) {
    fleetRows = m.rows;
    simS = m.atS;
    text("vtime", fmtTime(m.atS * 1000));
    text("fleet-info", m.devices + " devices" + (m.rows.length < m.devices ? " (first " + m.rows.length + " listed; open others with ?device=ID)" : "") + " at " + mmss(m.atS) + " simulated");
    var tbody = document.querySelector("#fleet-table tbody");
    tbody.innerHTML = "";
    m.rows.forEach(function (r) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-device", r.device);
      if (r.alerts.length) tr.className = "alert";
      var a = document.createElement("a");
      a.href = deviceHref(r.device); a.textContent = r.device;
      var cells = [a, r.status, r.last ? mmss(r.last.t) + " (" + r.verified + " verified)" : "–",
        r.last && r.last.hr !== null ? r.last.hr.toFixed(1) + " bpm (q " + r.last.quality + ")" : "–",
        r.last && r.last.tempC !== null ? r.last.tempC.toFixed(2) + " °C" : "–",
        r.alerts.length ? r.alerts.join(", ") : "none", String(r.queueDepth), r.link];
      cells.forEach(function (c) { var td = document.createElement("td"); if (typeof c === "string") td.textContent = c; else td.appendChild(c); tr.appendChild(td); });
      tbody.appendChild(tr);
    });
  }

  function connect() {
    if (!/^[0-9a-f]{32}$/.test(token)) {
      $("conn").textContent = "no token: open the address the simulator printed (…/?token=…)";
      $("conn").className = "pill down";
      return;
    }
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws?token=" + encodeURIComponent(token) + (device ? "&device=" + device : ""));
    var opened = false;
    window.dashboard.ws = ws;
    ws.onopen = function () { opened = true; $("conn").textContent = "live"; $("conn").className = "pill up"; };
    ws.onclose = function () {
      // After the run's end the page keeps its final state; the server may be gone.
      if (ended) { $("conn").textContent = "run ended (dashboard closed)"; return; }
      $("conn").textContent = opened ? "simulator stopped" : "refused (wrong token or address?) or simulator stopped";
      $("conn").className = "pill down";
    };
    ws.onmessage = function (ev) {
      var m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (m.type === "error") { text("control-result", "refused: " + m.error); return; }
      if (m.type === "hello") onHello(m);
      else if (m.type === "fleet") showFleet(m);
      else if (m.type === "history") {
        hrPts = m.hr.slice(); tempPts = m.temp.slice();
        setCounts(m.counts); showTimeline(m.timeline); showEpisodes(m.episodes); redrawTrends();
      }
      else if (m.type === "events") { $("events").innerHTML = ""; m.events.forEach(eventLine); }
      else if (m.type === "timeline") showTimeline(m.timeline);
      else if (m.type === "scenario") { showScenario(m.name); eventLine(m); }
      else if (m.type === "update") eventLine(m);
      else if (m.type === "controls") { if (!ended) showControls(m.controls); }
      else if (m.type === "telemetry") { simS = m.telemetry.virtualMs / 1000; onTelemetry(m.telemetry, m.status); markPhase(); }
      else if (m.type === "reading") onReading(m);
      else if (m.type === "rejected") { setCounts(m.counts); eventLine(m); }
      else if (m.type === "epoch" || m.type === "event") eventLine(m);
      else if (m.type === "ended") onEnded(m);
      else if (m.type === "control-result") text("control-result", m.name + (m.error ? ": " + m.error : ": done"));
    };
  }

  function control(name, arg) {
    if (!controls[name] || !controls[name].available || !window.dashboard.ws) return;
    window.dashboard.ws.send(JSON.stringify({ type: "control", name: name, arg: arg || "" }));
    text("control-result", name + ": sent");
  }
  $("btn-scenario").onclick = function (e) { e.preventDefault(); control("scenario", $("scenario-choice").value); };
  $("btn-link-drop").onclick = function (e) { e.preventDefault(); control("link-drop", $("link-drop-seconds").value); };
  $("btn-reboot").onclick = function () { control("reboot"); };
  $("btn-power-cut").onclick = function () { control("power-cut"); };
  $("btn-update").onclick = function (e) { e.preventDefault(); control("update", $("update-dir").value); };

  // For tests and the curious: what the page holds.
  window.dashboard = {
    plot: plot,
    counts: counts,
    controls: function () { return controls; },
    series: function () { return { x: plot.data[0].slice(), y: plot.data[1].slice(), beats: plot.data[2].filter(function (v) { return v !== null; }).length }; },
    trends: function () {
      return {
        hr: hrPlot.data[0].length, hrValues: hrPlot.data[1].filter(function (v) { return v !== null; }).length, temp: tempPlot.data[0].length,
        episodes: episodes.slice(), bands: { hr: bandsDrawn.hr, temp: bandsDrawn.temp }, zoomed: { hr: zoomed.hr, temp: zoomed.temp },
        xRange: [hrPlot.scales.x.min, hrPlot.scales.x.max], ended: ended !== null,
      };
    },
    plots: { hr: hrPlot, temp: tempPlot },
    fleet: function () { return fleetRows.slice(); },
    ws: null,
  };
  connect();
})();

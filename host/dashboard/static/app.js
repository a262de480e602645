// The dashboard page: a WebSocket to the simulator, a uPlot chart of the PPG samples the
// firmware's estimator received with the beats it detected, and the verified readings.
"use strict";
(function () {
  var WINDOW = 500; // samples on screen: 10 s at 50 sps
  var xs = [], ys = [], beatSeries = [];
  var firstIndex = 0; // sample index of xs[0]
  var rate = 50;
  var beats = [];
  var counts = { telemetry: 0, readings: 0, rejected: 0 };
  var controls = {};
  var $ = function (id) { return document.getElementById(id); };

  var plot = new uPlot({
    width: Math.max(400, ($("ppg").clientWidth || 900) - 10),
    height: 260,
    scales: { x: { time: false } },
    axes: [{ label: "s (sample clock)" }, { label: "counts", size: 70 }],
    series: [
      {},
      { label: "PPG", stroke: "#c0392b", width: 1 },
      { label: "beat", stroke: "#1d5fa8", width: 0, paths: function () { return null; }, points: { show: true, size: 9, fill: "#1d5fa8" } },
    ],
  }, [[], [], []], $("ppg"));

  function redraw() {
    var marks = new Array(xs.length).fill(null);
    for (var i = 0; i < beats.length; i++) {
      var k = Math.round((beats[i] * rate) / 1000) - firstIndex;
      if (k >= 0 && k < xs.length) marks[k] = ys[k];
    }
    beatSeries = marks;
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

  function onReading(r, fw) {
    counts.readings++;
    text("verified", counts.readings);
    text("hr", r.hr === null ? "–" : r.hr.toFixed(1));
    text("quality", r.hrQuality);
    text("temp", r.tempC === null ? "–" : r.tempC.toFixed(2));
    text("reading-seq", r.seq);
    text("reading-time", r.time);
    $("hr").setAttribute("data-seq", String(r.seq));
    if (fw) text("fw", fw);
  }

  // Alerts as the verified readings carry them: each newly active alert once, with its time.
  var activeAlerts = {}, alertLog = [];
  function onAlerts(r, names) {
    var now = {};
    names.forEach(function (n) {
      now[n] = true;
      if (!activeAlerts[n]) alertLog.push(r.time.slice(11, 19) + " " + n + " (reading " + r.seq + ")");
    });
    Object.keys(activeAlerts).forEach(function (n) { if (!now[n]) alertLog.push(r.time.slice(11, 19) + " " + n + " cleared"); });
    activeAlerts = now;
    if (alertLog.length > 30) alertLog.splice(0, alertLog.length - 30);
    list("alerts", alertLog, function (x) { return x; });
  }

  function showScenario(name) { text("scenario", name || "default trace"); }

  // The update as the gateway sees it: its offer, the device's verified reports, the resets.
  function onUpdate(e) {
    var line;
    if (e.kind === "offer") line = "offered " + e.dir + " over " + e.via.toUpperCase() + " (" + e.bytes + " bytes)";
    else if (e.kind === "status") line = e.outcome + (e.reason ? " (" + e.reason + ")" : "") + ": " + (e.version || "-") + " seq " + e.sequence + "; " + e.detail + "; running " + e.running;
    else line = "device reset (" + e.reason + "), running " + e.version;
    text("update-status", line);
    $("update-status").setAttribute("data-kind", e.kind);
    event("update " + line);
  }

  // The run's token, from the address the simulator printed (http://127.0.0.1:PORT/?token=...):
  // the server refuses the WebSocket without it.
  var token = new URLSearchParams(location.search).get("token") || "";

  function connect() {
    if (!/^[0-9a-f]{32}$/.test(token)) {
      $("conn").textContent = "no token: open the address the simulator printed (…/?token=…)";
      $("conn").className = "pill down";
      return;
    }
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws?token=" + encodeURIComponent(token));
    var opened = false;
    window.dashboard.ws = ws;
    ws.onopen = function () { opened = true; $("conn").textContent = "live"; $("conn").className = "pill up"; };
    ws.onclose = function () {
      $("conn").textContent = opened ? "simulator stopped" : "refused (wrong token or address?) or simulator stopped";
      $("conn").className = "pill down";
    };
    ws.onmessage = function (ev) {
      var m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (m.type === "error") { text("control-result", "refused: " + m.error); return; }
      if (m.type === "hello") { text("engine", m.engine); text("fw", m.firmwareVersion); showScenario(m.scenario); showControls(m.controls); }
      else if (m.type === "scenario") { showScenario(m.name); event("scenario " + m.name + " from " + fmtTime(m.atMs)); }
      else if (m.type === "update") onUpdate(m.event);
      else if (m.type === "controls") showControls(m.controls);
      else if (m.type === "telemetry") onTelemetry(m.telemetry, m.status);
      else if (m.type === "reading") { onReading(m.reading, m.firmwareVersion); onAlerts(m.reading, m.alerts || []); }
      else if (m.type === "rejected") { counts.rejected++; text("rejected", counts.rejected); event("rejected: " + m.reason + " (" + m.detail + ")"); }
      else if (m.type === "epoch") event("device " + m.device + " opened epoch " + m.epoch);
      else if (m.type === "event") event(m.event.kind + ": " + JSON.stringify(m.event).slice(0, 160));
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
    ws: null,
  };
  connect();
})();

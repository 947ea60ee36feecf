package report

// pageHTML is the report: one file, inline CSS, no script, nothing external.
const pageHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="generator" content="affect report">
<title>affect report · {{.D.Title}}</title>
<style>
:root { --ink: #1d2330; --muted: #6b7280; --line: #e3e6eb; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1100px; padding: 24px; color: var(--ink); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 22px; margin: 0 0 2px; }
h2 { font-size: 16px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.sub, .note, caption { color: var(--muted); font-size: 12px; }
caption { text-align: left; caption-side: bottom; padding-top: 4px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 10px 3px 0; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 12px; }
td.n, th.n { text-align: right; }
.kv th { font-weight: normal; font-size: 14px; padding-right: 24px; }
.grid { display: flex; gap: 40px; flex-wrap: wrap; }
svg.plot { width: 100%; height: auto; display: block; font-family: inherit; }
svg .ax { font-size: 11px; fill: #6b7280; }
svg .mk { font-size: 11px; fill: #2a8c2a; }
.legend span { display: inline-block; margin-right: 14px; }
.sw { display: inline-block; width: 14px; height: 8px; margin-right: 4px; vertical-align: middle; }
.warn { color: #a40e26; }
@media print { body { padding: 0; } h2 { break-after: avoid; } }
</style>
</head>
<body>
<header>
  <h1>Expressed happiness · {{.D.Title}}</h1>
  <div class="sub">affect report of {{.D.Kind}} · generated {{.Generated}}</div>
</header>

<h2>Source</h2>
<table class="kv" id="source">
{{with .D.Meta.Input}}<tr><th>Input</th><td>{{.}}</td></tr>{{end}}
{{with .D.Meta.Source}}<tr><th>Source</th><td>{{.}}</td></tr>{{end}}
{{with .S.Session}}<tr><th>Session</th><td>{{.}}</td></tr>{{end}}
{{with .S.Participant}}<tr><th>Participant</th><td>{{.}}</td></tr>{{end}}
{{with .D.Meta.Model}}<tr><th>Model</th><td>{{.}}{{with $.D.Meta.Backend}} ({{.}} backend){{end}}</td></tr>{{end}}
{{with .D.Meta.Status}}<tr><th>Status</th><td>{{.}}</td></tr>{{end}}
{{with time .D.Meta.Started}}<tr><th>Started</th><td>{{.}}</td></tr>{{end}}
{{with time .D.Meta.Ended}}<tr><th>Ended</th><td>{{.}}</td></tr>{{end}}
{{with .Span}}<tr><th>Media time</th><td>{{.}}</td></tr>{{end}}
{{if .D.Meta.ScoredFPS}}<tr><th>Scoring speed</th><td>{{f1 .D.Meta.ScoredFPS}} frames/s ({{f1 .D.Meta.ElapsedS}} s)</td></tr>{{end}}
<tr><th>Data</th><td>{{join .D.Meta.Files}}</td></tr>
</table>

<h2>Happiness over time</h2>
<figure id="plot" style="margin:0">
{{.Plot}}
<figcaption class="legend sub">
<span><span class="sw" style="background:#c86e14;height:2px"></span>mean per bin</span>
<span><span class="sw" style="background:rgba(200,110,20,.22)"></span>min–max</span>
<span><span class="sw" style="background:#9aa0a8"></span>frames with no face (darker: more)</span>
<span><span class="sw" style="border-top:2px dashed #3c3cc8;height:0"></span>threshold {{.S.Threshold}}</span>
<span><span class="sw" style="background:#2a8c2a;width:2px"></span>marker, response window shaded</span>
{{with .PNG}}<br>The same plot as an image: {{.}} (beside this file).{{end}}
</figcaption>
</figure>

<div class="grid">
<section>
<h2>Summary</h2>
<table id="summary">
<thead><tr><th></th><th class="n">Whole session</th>{{if .S.Calibration}}<th class="n">After calibration, raw</th><th class="n">corrected</th>{{end}}</tr></thead>
<tbody>
<tr><th>Frames</th><td class="n">{{.S.Overall.Frames}}</td></tr>
<tr><th>With a face</th><td class="n">{{.S.Overall.FaceFrames}} ({{pct .S.Overall.FaceShare}})</td></tr>
<tr><th>Mean happiness</th><td class="n" id="mean">{{f3 .S.Overall.Mean}}</td>{{with .S.Calibration}}<td class="n">{{f3 .RawMean}}</td><td class="n">{{signed .CorrectedMean}}</td>{{end}}</tr>
<tr><th>Median</th><td class="n" id="median">{{f3 .S.Overall.Median}}</td>{{with .S.Calibration}}<td class="n">{{f3 .RawMedian}}</td><td class="n">{{signed .CorrectedMedian}}</td>{{end}}</tr>
<tr><th>Peak</th><td class="n" id="peak">{{f3 .S.Overall.Peak}}</td>{{with .S.Calibration}}<td class="n">{{f3 .RawPeak}}</td><td class="n">{{signed .CorrectedPeak}}</td>{{end}}</tr>
<tr><th>Face frames ≥ threshold</th><td class="n" id="above">{{pct .S.Overall.AboveShare}}</td></tr>
<tr><th>Longest run ≥ threshold</th><td class="n" id="run">{{secs .S.Overall.LongestRunMS}}</td></tr>
</tbody>
<caption>Frames with no face are counted, never scored as 0. {{with .S.Calibration}}Calibration: neutral segment before {{clock .UntilMS}}, {{.NeutralFrames}} face frames, neutral mean {{f3 .Neutral}}.{{end}}</caption>
</table>
</section>

<section>
<h2>Data quality</h2>
<table class="kv" id="quality">
<tr><th>Frames with a face</th><td class="n" id="faceshare">{{pctv .Q.FaceShare}}</td><td class="sub">{{.Q.FaceFrames}} of {{.Q.Frames}}</td></tr>
<tr><th>Frames with no face</th><td class="n">{{.Q.NoFaceFrames}}</td><td class="sub">longest stretch {{secs .Q.LongestNoFaceMS}}</td></tr>
<tr><th>Frames with several faces</th><td class="n">{{.Q.MultiFaceFrames}}</td><td class="sub">{{ratio .Q.MultiFaceFrames .Q.Frames}} (the participant's face is tracked)</td></tr>
<tr><th>Low-quality faces</th><td class="n">{{.Q.LowQualityFaces}}</td><td class="sub">{{ratio .Q.LowQualityFaces .Q.FaceFrames}} of face frames</td></tr>
<tr><th>Frames not scored (errors)</th><td class="n">{{.Q.ErrorFrames}}</td><td></td></tr>
<tr><th>Media duration</th><td class="n">{{secs .Q.DurationMS}}</td><td class="sub">{{f1 .Q.FPS}} frames/s; frame interval {{f1 .S.FrameIntervalMS}} ms</td></tr>
{{if .S.DuplicateFrames}}<tr><th>Duplicate frames ignored</th><td class="n">{{.S.DuplicateFrames}}</td><td></td></tr>{{end}}
{{with .S.Delivery}}
<tr><th>Delivery</th><td class="n">{{.PublishedFrames}}</td><td class="sub">frames published{{if .UndeliveredFrames}}, <span class="warn">{{.UndeliveredFrames}} undelivered</span>{{end}}{{if .MissingFrames}}, <span class="warn">{{.MissingFrames}} missing from the stream</span>{{end}}{{if not .Ended}}, <span class="warn">no session end received</span>{{end}}</td></tr>
{{if or .Malformed .UnknownSchema}}<tr><th>Messages skipped</th><td class="n">{{.Malformed}} + {{.UnknownSchema}}</td><td class="sub">malformed + unknown schema</td></tr>{{end}}
{{end}}
</table>
</section>
</div>

<h2>Epochs</h2>
{{if .S.Epochs}}
<table id="epochs">
<thead><tr><th>Onset</th><th>Label</th><th>Condition</th><th class="n">Baseline</th><th class="n">Response</th><th class="n">Corrected</th><th class="n">Peak</th><th class="n">Latency</th><th class="n">Face frames (base / resp)</th><th class="n">Resp. no face</th>{{if .S.Calibration}}<th class="n">Calibrated</th>{{end}}</tr></thead>
<tbody>
{{range .S.Epochs}}<tr><td>{{clock .OnsetMS}}</td><td>{{.Label}}</td><td>{{.Condition}}</td><td class="n">{{f3 .BaselineMean}}</td><td class="n">{{f3 .ResponseMean}}</td><td class="n">{{signed .Corrected}}</td><td class="n">{{f3 .Peak}}</td><td class="n">{{ms .LatencyMS}}</td><td class="n">{{.BaselineFrames}} / {{.ResponseFrames}}</td><td class="n">{{.ResponseNoFace}}</td>{{if $.S.Calibration}}<td class="n">{{signed .Calibrated}}</td>{{end}}</tr>
{{end}}
</tbody>
<caption>Baseline: face frames in the {{secs .S.BaselineMS}} before onset. Response: face frames from {{secs .S.ResponseFromMS}} to {{secs .S.ResponseToMS}} after onset. Corrected = response − baseline. Latency: to the first response frame ≥ {{.S.Threshold}}.</caption>
</table>
{{else}}<p class="note">No markers: no epochs.</p>{{end}}

{{if .S.Conditions}}
<h2>Conditions</h2>
<table id="conditions">
<thead><tr><th>Condition</th><th class="n">Epochs</th><th class="n">Baseline</th><th class="n">Response</th><th class="n">Corrected</th><th class="n">Peak</th><th class="n">Latency</th><th class="n">Epochs with a crossing</th>{{if .S.Calibration}}<th class="n">Calibrated</th>{{end}}</tr></thead>
<tbody>
{{range .S.Conditions}}<tr><td>{{.Condition}}</td><td class="n">{{.Epochs}}</td><td class="n">{{f3 .BaselineMean}}</td><td class="n">{{f3 .ResponseMean}}</td><td class="n">{{signed .Corrected}}</td><td class="n">{{f3 .Peak}}</td><td class="n">{{ms .LatencyMS}}</td><td class="n">{{.EpochsWithLatency}}</td>{{if $.S.Calibration}}<td class="n">{{signed .Calibrated}}</td>{{end}}</tr>
{{end}}
</tbody>
<caption>Means over the condition's epochs, each over the epochs where the value exists.</caption>
</table>
{{end}}

<h2>Settings</h2>
<p class="note">Threshold {{.S.Threshold}}; rolling window {{secs .S.WindowMS}}; epoch baseline {{secs .S.BaselineMS}}; response {{secs .S.ResponseFromMS}}–{{secs .S.ResponseToMS}}.
Happiness is the expression model's probability of the happy class for the participant's face, in [0, 1].</p>
</body>
</html>
`

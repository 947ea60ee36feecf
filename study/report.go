package study

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

// BootstrapReps is the number of bootstrap resamples of a 95 % interval.
const BootstrapReps = 2000

// CI is a mean with its 95 % percentile bootstrap interval over videos.
type CI struct {
	Label    string
	N        int
	Mean     float64
	Lo, Hi   float64
	HasCI    bool // at least 2 values
	HasValue bool
}

// Bootstrap returns the mean of v and its 95 % percentile bootstrap
// interval (BootstrapReps resamples with a fixed seed, so a report is
// reproducible).
func Bootstrap(label string, v []float64) CI {
	c := CI{Label: label, N: len(v)}
	if len(v) == 0 {
		return c
	}
	c.HasValue = true
	c.Mean = meanOf(v)
	if len(v) < 2 {
		return c
	}
	rng := rand.New(rand.NewPCG(1, uint64(len(v))))
	means := make([]float64, BootstrapReps)
	for i := range means {
		s := 0.0
		for range v {
			s += v[rng.IntN(len(v))]
		}
		means[i] = s / float64(len(v))
	}
	sort.Float64s(means)
	c.Lo, c.Hi, c.HasCI = means[int(0.025*BootstrapReps)], means[int(0.975*BootstrapReps)-1], true
	return c
}

func meanOf(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// ReportData is what the study report shows.
type ReportData struct {
	Study       string
	Generated   string
	Status      *Status
	Models      []string
	Conditions  []CI // mean happiness per manifest condition
	Sessions    []CI // per session
	SessionList []string
	Change      []ParticipantChange
	Quality     []VideoQuality
	Problems    []Record // failed, queued, running, retrying
	ChartCond   template.HTML
	ChartSess   template.HTML
	ChartChange template.HTML
}

// ParticipantChange is one participant's mean happiness per session.
type ParticipantChange struct {
	Participant string
	Group       string
	Means       []*float64 // per ReportData.SessionList
	Change      *float64   // last session with data minus first
}

// VideoQuality is the data quality of one video.
type VideoQuality struct {
	Job                            Job
	Frames, FaceFrames, LowQuality int
	FaceShare, LowShare            *float64
	Mean                           *float64
}

// BuildReport computes the report's numbers. The unit is a video's overall
// mean happiness; videos without a face frame have none and are left out
// of the means (and listed under data quality).
func BuildReport(st *Status, done []DoneJob, now time.Time) *ReportData {
	d := &ReportData{Study: st.Study, Generated: now.UTC().Format(time.RFC3339), Status: st}
	byCond, bySess := map[string][]float64{}, map[string][]float64{}
	type pk struct{ p, s string }
	perPS := map[pk][]float64{}
	groups := map[string]string{}
	models := map[string]bool{}
	sessSet := map[string]bool{}
	for _, dj := range done {
		j, s := dj.Record.Job, dj.Summary
		models[dj.Record.Result.Model+" "+dj.Record.Result.ModelVersion+" ("+dj.Record.Result.Backend+")"] = true
		sessSet[j.Session] = true
		groups[j.Participant] = j.Group
		q := VideoQuality{Job: j, Frames: s.Overall.Frames, FaceFrames: s.Overall.FaceFrames, LowQuality: s.LowQualityFrames,
			FaceShare: s.Overall.FaceShare, Mean: s.Overall.Mean}
		all := s.Overall.FaceFrames
		if s.ExcludeLowQuality {
			all += s.LowQualityFrames
		}
		if all > 0 {
			v := float64(s.LowQualityFrames) / float64(all)
			q.LowShare = &v
		}
		d.Quality = append(d.Quality, q)
		if m := s.Overall.Mean; m != nil {
			byCond[j.Condition] = append(byCond[j.Condition], *m)
			bySess[j.Session] = append(bySess[j.Session], *m)
			perPS[pk{j.Participant, j.Session}] = append(perPS[pk{j.Participant, j.Session}], *m)
		}
	}
	for m := range models {
		d.Models = append(d.Models, m)
	}
	sort.Strings(d.Models)
	for _, k := range sortedKeys(byCond) {
		d.Conditions = append(d.Conditions, Bootstrap(k, byCond[k]))
	}
	for _, k := range sortedKeys(bySess) {
		d.Sessions = append(d.Sessions, Bootstrap(k, bySess[k]))
	}
	for s := range sessSet {
		d.SessionList = append(d.SessionList, s)
	}
	sort.Strings(d.SessionList)
	for _, p := range sortedKeys(groups) {
		pc := ParticipantChange{Participant: p, Group: groups[p]}
		var first, last *float64
		for _, s := range d.SessionList {
			var m *float64
			if v := perPS[pk{p, s}]; len(v) > 0 {
				x := meanOf(v)
				m = &x
				if first == nil {
					first = m
				}
				last = m
			}
			pc.Means = append(pc.Means, m)
		}
		if first != nil && last != first {
			c := *last - *first
			pc.Change = &c
		}
		d.Change = append(d.Change, pc)
	}
	for _, r := range st.Records {
		if r.State != StateDone {
			d.Problems = append(d.Problems, r)
		}
	}
	d.ChartCond = ciChart(d.Conditions)
	d.ChartSess = ciChart(d.Sessions)
	d.ChartChange = changeChart(d.SessionList, d.Change)
	return d
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

const chartW, chartH = 560.0, 220.0

// ciChart draws means as dots with 95 % interval whiskers on a 0–1 axis.
func ciChart(cs []CI) template.HTML {
	if len(cs) == 0 {
		return ""
	}
	const L, R, T, B = 40.0, 10.0, 10.0, 40.0
	pw, ph := chartW-L-R, chartH-T-B
	y := func(v float64) float64 { return T + (1-math.Max(0, math.Min(1, v)))*ph }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %g %g" width="%g" height="%g" role="img" class="chart">`, chartW, chartH, chartW, chartH)
	for _, t := range []float64{0, 0.25, 0.5, 0.75, 1} {
		fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%g" y="%.1f" font-size="10" text-anchor="end">%.2f</text>`,
			L, L+pw, y(t), y(t), L-4, y(t)+3, t)
	}
	step := pw / float64(len(cs))
	for i, c := range cs {
		x := L + step*(float64(i)+0.5)
		if c.HasCI {
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#36c" stroke-width="2"/>`, x, x, y(c.Lo), y(c.Hi))
		}
		if c.HasValue {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="#36c"><title>%s: %.3f (n=%d)</title></circle>`, x, y(c.Mean), template.HTMLEscapeString(c.Label), c.Mean, c.N)
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" font-size="11" text-anchor="middle">%s</text>`, x, T+ph+16, template.HTMLEscapeString(c.Label))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// changeChart draws each participant's mean per session as a line.
func changeChart(sessions []string, pcs []ParticipantChange) template.HTML {
	if len(sessions) == 0 || len(pcs) == 0 {
		return ""
	}
	const L, R, T, B = 40.0, 10.0, 10.0, 40.0
	pw, ph := chartW-L-R, chartH-T-B
	y := func(v float64) float64 { return T + (1-math.Max(0, math.Min(1, v)))*ph }
	x := func(i int) float64 { return L + pw*(float64(i)+0.5)/float64(len(sessions)) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %g %g" width="%g" height="%g" role="img" class="chart">`, chartW, chartH, chartW, chartH)
	for _, t := range []float64{0, 0.25, 0.5, 0.75, 1} {
		fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%g" y="%.1f" font-size="10" text-anchor="end">%.2f</text>`,
			L, L+pw, y(t), y(t), L-4, y(t)+3, t)
	}
	for i, s := range sessions {
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" font-size="11" text-anchor="middle">%s</text>`, x(i), T+ph+16, template.HTMLEscapeString(s))
	}
	for _, pc := range pcs {
		var pts []string
		for i, m := range pc.Means {
			if m != nil {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(*m)))
			}
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="#888" stroke-opacity="0.7"><title>%s</title></polyline>`, strings.Join(pts, " "), template.HTMLEscapeString(pc.Participant))
		for _, p := range pts {
			xy := strings.SplitN(p, ",", 2)
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="2.5" fill="#555"/>`, xy[0], xy[1])
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

var reportTmpl = template.Must(template.New("study").Funcs(template.FuncMap{
	"f3": func(p *float64) string {
		if p == nil {
			return "–"
		}
		return fmt.Sprintf("%.3f", *p)
	},
	"pct": func(p *float64) string {
		if p == nil {
			return "–"
		}
		return fmt.Sprintf("%.1f %%", 100**p)
	},
	"ci": func(c CI) string {
		switch {
		case !c.HasValue:
			return "–"
		case !c.HasCI:
			return fmt.Sprintf("%.3f (one video: no interval)", c.Mean)
		}
		return fmt.Sprintf("%.3f [%.3f, %.3f]", c.Mean, c.Lo, c.Hi)
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>affect study {{.Study}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:980px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.bad{color:#b00}.note{color:#555;font-size:.9em}
</style></head><body>
<h1>Study {{.Study}}</h1>
<p>{{.Status.Done}} of {{.Status.Total}} videos done, {{.Status.Failed}} failed, {{len .Problems}} not done. Generated {{.Generated}}.</p>
<p class="note">Model{{if gt (len .Models) 1}}s (more than one: the study mixes results!){{end}}: {{range .Models}}<code>{{.}}</code> {{end}}</p>
<p class="note">Unit: a video's mean happiness over its frames with a face (0–1, 0.5 is the model's decision point). Intervals: 95 % percentile bootstrap over videos ({{.Reps}} resamples). Videos without a face frame have no mean and are left out.</p>
<h2>Per condition</h2>
{{.ChartCond}}
<table><tr><th>condition</th><th>videos</th><th>mean [95 % CI]</th></tr>
{{range .Conditions}}<tr><td>{{.Label}}</td><td>{{.N}}</td><td>{{ci .}}</td></tr>{{end}}</table>
<h2>Per session</h2>
{{.ChartSess}}
<table><tr><th>session</th><th>videos</th><th>mean [95 % CI]</th></tr>
{{range .Sessions}}<tr><td>{{.Label}}</td><td>{{.N}}</td><td>{{ci .}}</td></tr>{{end}}</table>
<h2>Each participant across sessions</h2>
{{.ChartChange}}
<table><tr><th>participant</th><th>group</th>{{range .SessionList}}<th>{{.}}</th>{{end}}<th>change (last − first)</th></tr>
{{range .Change}}<tr><td>{{.Participant}}</td><td>{{.Group}}</td>{{range .Means}}<td>{{f3 .}}</td>{{end}}<td>{{f3 .Change}}</td></tr>{{end}}</table>
<h2>Data quality per video</h2>
<table><tr><th>participant / session / condition</th><th>frames</th><th>face share</th><th>low-quality share of faces</th><th>mean</th><th>source</th></tr>
{{range .Quality}}<tr><td>{{.Job.Participant}} / {{.Job.Session}} / {{.Job.Condition}}</td><td>{{.Frames}}</td><td>{{pct .FaceShare}}</td><td>{{pct .LowShare}}</td><td>{{f3 .Mean}}</td><td>{{.Job.Source}}</td></tr>{{end}}</table>
<h2>Failed or incomplete videos</h2>
{{if .Problems}}<table><tr><th>participant / session / condition</th><th>state</th><th>worker</th><th>error</th><th>source</th></tr>
{{range .Problems}}<tr class="bad"><td>{{.Job.Participant}} / {{.Job.Session}} / {{.Job.Condition}}</td><td>{{.State}}</td><td>{{.Worker}}</td><td>{{.Error}}</td><td>{{.Job.Source}}</td></tr>{{end}}</table>
{{else}}<p>None: every video of the manifest is done.</p>{{end}}
</body></html>
`))

// WriteReport writes the self-contained HTML study report.
func WriteReport(w io.Writer, d *ReportData) error {
	return reportTmpl.Execute(w, struct {
		*ReportData
		Reps int
	}{d, BootstrapReps})
}

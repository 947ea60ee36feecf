#!/usr/bin/env bash
# Builds the container image and checks that it runs `affect session` (bundled
# sample, embedded broker; and against an external server) and `affect worker`
# (the six CREMA-D clips of ../shared as a study, uploaded, scored by a worker
# in a container, stopped with SIGTERM) with results equal to a local
# `affect score`. Not part of `make test` (CI has no container engine).
#
#   scripts/container-check.sh            # docker, or podman when there is no docker daemon
#   ENGINE=podman scripts/container-check.sh
#
# Needs: a container engine, Go (for the host-side affect and nats-server),
# ../shared/data/video/crema_d. Extra build flags: BUILD_FLAGS="--network host".
set -euo pipefail
cd "$(dirname "$0")/.."
ENGINE=${ENGINE:-}
if [ -z "$ENGINE" ]; then
  if docker info >/dev/null 2>&1; then ENGINE=docker; elif command -v podman >/dev/null; then ENGINE=podman; else
    echo "container-check: no container engine (docker daemon or podman)" >&2; exit 2; fi
fi
IMAGE=${IMAGE:-affect:check}
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
cleanup() { $ENGINE rm -f affect-check-worker >/dev/null 2>&1 || true; [ -n "${natspid:-}" ] && kill "$natspid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

echo "== build ($ENGINE)"
$ENGINE build ${BUILD_FLAGS:-} -t "$IMAGE" .
go build -o "$work/affect" ./cmd/affect
GOBIN="$work" go install github.com/nats-io/nats-server/v2@v2.15.2

echo "== affect session (bundled sample, embedded broker)"
$ENGINE run --rm --network host "$IMAGE" session --nats-port -1 --http off --quiet | tee "$work/s1.out"
grep -q "status complete" "$work/s1.out"

"$work/nats-server" -js -a 127.0.0.1 -p "$port" -sd "$work/js" >"$work/nats.log" 2>&1 & natspid=$!
sleep 1
url=nats://127.0.0.1:$port

echo "== affect session against an external server"
$ENGINE run --rm --network host "$IMAGE" session --nats "$url" --session check1 --http off --quiet | tee "$work/s2.out"
grep -q "status complete" "$work/s2.out"

echo "== affect worker: the CREMA-D clips as a study"
{ echo "participant,session,condition,source"; for f in ../shared/data/video/crema_d/*.mp4; do
  b=$(basename "$f" .mp4); echo "P1,v1,$b,$(realpath "$f")"; done; } >"$work/manifest.csv"
"$work/affect" study submit "$work/manifest.csv" --study check --nats "$url" --upload
$ENGINE run -d --network host --name affect-check-worker "$IMAGE" worker --nats "$url" --id container
n=$(ls ../shared/data/video/crema_d/*.mp4 | wc -l)
for _ in $(seq 1 150); do
  "$work/affect" study status check --nats "$url" >"$work/status" 2>&1 || true
  grep -q " $n of $n done" "$work/status" && break
  sleep 2
done
cat "$work/status"
grep -q " $n of $n done" "$work/status"
$ENGINE stop -t 30 affect-check-worker >/dev/null
$ENGINE logs affect-check-worker 2>&1 | tail -1
[ "$($ENGINE inspect affect-check-worker --format '{{.State.ExitCode}}')" = 0 ]
"$work/affect" study table check --nats "$url" --out "$work/table.csv"
"$work/affect" score ../shared/data/video/crema_d/*.mp4 --out "$work/local" --quiet --no-plot >/dev/null
python3 - "$work" <<'PY'
import csv, json, sys
w = sys.argv[1]
n = 0
for r in csv.DictReader(open(f"{w}/table.csv")):
    if r["scope"] == "overall" and r["measure"] in ("frames", "face_frames", "mean", "median", "peak"):
        local = json.load(open(f"{w}/local/{r['condition']}.summary.json"))["overall"][r["measure"]]
        if abs(float(r["value"]) - float(local)) > 1e-9 * max(1, abs(float(local))):
            sys.exit(f"container-check: {r['condition']} {r['measure']}: container {r['value']}, local {local}")
        n += 1
print(f"{n} overall measures of the container worker equal a local affect score")
PY
echo "container-check: ok"

#!/usr/bin/env bash
# Runs inside the CPU image (docker/build-local.sh smoke): index a generated folder, search it
# from the CLI, serve it, and ask /healthz and /api/search. Stops at the first thing that fails.
# Uses only what the image ships: the offline text model, no hub, no CLIP weights.
set -euo pipefail

work=$(mktemp -d)
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
export XMODAL_DATA=$work/data HF_HUB_OFFLINE=1
media=$work/media
mkdir -p "$media"

echo "The lighthouse keeper climbed the spiral stairs to light the lamp before the storm." \
    >"$media/lighthouse.txt"
echo "Sourdough bread needs a starter, flour, water and a long slow rise overnight." \
    >"$media/bread.txt"
echo "The orbit of a satellite depends on its speed and the pull of gravity." >"$media/orbit.txt"
python -c "from PIL import Image; Image.new('RGB', (64, 64), (200, 30, 30)).save('$media/red.png')"

# top_path FILE: the path of the first result in a search answer.
top_path() { python -c "import json,sys; print(json.load(open(sys.argv[1]))['results'][0]['path'])" "$1"; }

echo "== xmodal index"
xmodal index --json --quiet "$media" >"$work/index.json"
cat "$work/index.json"
python - "$work/index.json" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
assert report["added"] == 4 and report["failed"] == 0, report
EOF

echo "== xmodal search"
xmodal search "storm at sea and a lamp" --json --limit 1 >"$work/search.json"
found=$(top_path "$work/search.json")
echo "top result: $found"
[ "$found" = "$media/lighthouse.txt" ]

echo "== xmodal serve"
port=$(python -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
xmodal serve --port "$port" >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 180); do
    curl -fsS "http://127.0.0.1:$port/healthz" >"$work/health.json" 2>/dev/null && break
    kill -0 "$server" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
    sleep 1
done
echo "healthz: $(cat "$work/health.json")"
curl -fsS "http://127.0.0.1:$port/api/search?q=flour+and+a+slow+rise&limit=1" >"$work/api.json"
found=$(top_path "$work/api.json")
echo "api top result: $found"
[ "$found" = "$media/bread.txt" ]
# A foreign Host header (DNS rebinding) is refused.
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: rebind.example" \
    "http://127.0.0.1:$port/api/search?q=bread")
echo "foreign Host header: HTTP $status"
[ "$status" = 400 ]
echo "smoke test passed"

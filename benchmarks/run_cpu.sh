#!/usr/bin/env bash
# The CPU measurements quoted in benchmarks/README.md, written to benchmarks/results/ (about 15 minutes
# on 2 idle cores; other load on the machine slows every number, so run it on a quiet machine).
set -euo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/results
mkdir -p "$out"
# 1. the scan alone at the vrds shapes (and a training step at tiny shapes), one tiny window,
#    the tiny engine at 480p (5 and 10 frames), in float32 and bfloat16
python -m models.bench --scan-grad --presets tiny --sizes 480p --frames 5,10 --dtype float32,bfloat16 \
    --json "$out/cpu_tiny.json" --markdown "$out/cpu_tiny.md"
# 2. one vrds window (5x256x256) against the authors' forward with the per-step scan
python -m models.bench --no-scan --presets vrds --sizes none --repeat 2 --dtype float32,bfloat16 \
    --json "$out/cpu_vrds_window.json" --markdown "$out/cpu_vrds_window.md"
# 3. the tiny engine at 720p and 1080p; 1080p at 5, 10 and 20 frames: does peak memory grow with length?
python -m models.bench --no-scan --presets tiny --sizes 720p,1080p --frames 5,10,20 --repeat 1 \
    --json "$out/cpu_tiny_hd.json" --markdown "$out/cpu_tiny_hd.md"
# 4. where the engine's time goes: the shipped model at 480p and 1080p, fast mode, per stage
python -m models.bench --profile --presets shipped --sizes 480p,1080p \
    --json "$out/cpu_profile.json" --markdown "$out/cpu_profile.md"
# 5. the shipped model through the whole engine, preset tiles and whole frames, with the floor ratio
python -m models.bench --no-scan --no-windows --presets shipped --sizes 480p,1080p --authors-scan none --repeat 1 \
    --json "$out/cpu_shipped.json" --markdown "$out/cpu_shipped.md"
python -m models.bench --no-scan --no-windows --presets shipped --sizes 480p,1080p --authors-scan none --repeat 1 \
    --tile 0 --json "$out/cpu_shipped_whole.json" --markdown "$out/cpu_shipped_whole.md"
# 6. what decoding and encoding a 480p video file take next to the shipped model's engine
python -m models.bench --threads 2 --no-scan --no-windows --no-engine --presets shipped --sizes 480p --frames 10 \
    --sections io --json "$out/cpu_io_share.json" --markdown "$out/cpu_io_share.md"

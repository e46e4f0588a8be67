#!/bin/bash
# The renderer benchmark on a GPU machine with hardware WebGL, from the payload of pack_chromium.sh:
#
#   bash PAYLOAD/renderers/device_run.sh [SIZES] [REPEATS] [BENCH_SECONDS]
#
# Unpacks the GL/Vulkan loaders to / and Chromium to /tmp/chr (once per machine), links from the bundled
# libraries only those the machine lacks, then tries Chromium's GPU flag sets in order with a probe page and
# runs drive_cdp.py with the first whose WebGL renderer is a hardware one. Nothing is measured in software:
# with no hardware renderer it stops after the probes. Writes to $OUT: env.txt (the machine, the driver, the
# libraries linked), probe.jsonl (one row per flag set tried), rows.jsonl (the measurements, as drive.mjs's),
# chrome.log (Chromium's own output, last 8 MiB).
#
# DRY_RUN=1 rehearses it all on a machine without a GPU: no packages unpacked to /, SwiftShader's flags
# instead of the probes' choice, and the rows' {"gpu": ...} row says so (hardware: false).
set -u
payload=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-/tmp/out}
mkdir -p "$out"
sizes=${1:-100000,1000000}
repeats=${2:-3}
bench_s=${3:-360}
env_txt=$out/env.txt
chr=/tmp/chr
export PYTHONUNBUFFERED=1

{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  uname -r; head -2 /etc/os-release; python3 --version; echo "cores: $(nproc)"
} >"$env_txt" 2>&1

# The loaders, as the device README says: unpacked to / (they are small, and nothing else there provides them).
if [ -z "${DRY_RUN:-}" ]; then
  for f in "$payload"/gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json; do
  if [ -f "$f" ]; then export VK_DRIVER_FILES=$f VK_ICD_FILENAMES=$f; break; fi
done
for f in /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json /usr/share/glvnd/egl_vendor.d/10_nvidia.json; do
  if [ -f "$f" ]; then export __EGL_VENDOR_LIBRARY_FILENAMES=$f; break; fi
done

# The archive's parts may come in more than one call (one call carries at most 64 MiB): each call leaves its
# parts in /tmp/chrp, and the call that finds them all, by the checksum, unpacks them.
mkdir -p /tmp/chrp
cp "$payload"/chr.tar.xz.part* /tmp/chrp/ 2>/dev/null
if [ ! -x "$chr/chromium-headless-shell" ]; then
  if [ "$(cat /tmp/chrp/chr.tar.xz.part* | sha256sum | cut -d' ' -f1)" != "$(cat "$payload/chr.tar.xz.sha256")" ]; then
    echo "Chromium's archive is incomplete so far: $(ls /tmp/chrp)"
    exit 2
  fi
  t0=$SECONDS
  # Python's lzma, not xz(1): the image may have no xz.
  cat /tmp/chrp/chr.tar.xz.part* | python3 -c \
    'import sys, tarfile; tarfile.open(fileobj=sys.stdin.buffer, mode="r|xz").extractall("/tmp", filter="tar")'
  echo "unpacked Chromium in $((SECONDS - t0)) s" >>"$env_txt"
fi
# Link from the bundle only the libraries this machine lacks (its own, newer ones win), until ldd is content.
mkdir -p "$chr/fb"
python3 - "$chr" >>"$env_txt" 2>&1 <<'EOF'
import os, re, subprocess, sys
chr_dir = sys.argv[1]
fb = os.path.join(chr_dir, "fb")
env = dict(os.environ, LD_LIBRARY_PATH=fb)
linked = []
for _ in range(10):
    out = subprocess.run(["ldd", os.path.join(chr_dir, "chromium-headless-shell")], capture_output=True, text=True, env=env).stdout
    missing = sorted({so for so in re.findall(r"^\s*(\S+) => not found", out, re.M) if not os.path.lexists(os.path.join(fb, so))})
    if not missing:
        break
    for so in missing:
        src = os.path.join(chr_dir, "lib", so)
        if os.path.exists(src):
            os.symlink(src, os.path.join(fb, so))
            linked.append(so)
        else:
            print("not bundled and missing:", so)
print("linked from the bundle:", " ".join(linked) or "nothing")
print("still missing:", re.findall(r"^\s*(\S+) => not found", out, re.M))
EOF
ld=$chr/fb
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do [ -d "$d" ] && ld=$ld:$d; done
export LD_LIBRARY_PATH=$ld
cat >"$chr/fonts.conf" <<EOF
<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig><dir>$chr/fonts</dir><dir>/usr/share/fonts</dir><cachedir>/tmp/chr/fontcache</cachedir></fontconfig>
EOF
export FONTCONFIG_FILE=$chr/fonts.conf
{
  echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset} __EGL_VENDOR_LIBRARY_FILENAMES=${__EGL_VENDOR_LIBRARY_FILENAMES:-unset}"
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  ldconfig -p | grep -iE 'libvulkan|libEGL|nvidia' | head -20
  ls /usr/local/nvidia/share/vulkan/icd.d /usr/local/nvidia/share/glvnd/egl_vendor.d 2>&1
} >>"$env_txt" 2>&1

driver=$payload/renderers/drive_cdp.py
log=$out/chrome.log
gpu="--enable-gpu --ignore-gpu-blocklist"
chosen=""
# Headless Chromium forces SwiftShader unless --enable-gpu; which backend reaches the GPU without a display
# varies by machine, so the probe tries ANGLE on Vulkan first, then on EGL (through glvnd).
while IFS= read -r flags; do
  echo "== probe: $flags" >>"$log"
  timeout 30 python3 "$driver" --chromium "$chr/chromium-headless-shell" --probe-only --flags "$flags" \
    --log "$log" >>"$out/probe.jsonl" 2>>"$log" || echo "{\"probe_failed\": \"$flags\", \"rc\": $?}" >>"$out/probe.jsonl"
  line=$(tail -1 "$out/probe.jsonl")
  echo "probe [$flags]: $(echo "$line" | grep -o '"renderer": "[^"]*"' | head -1) hardware=$(echo "$line" | grep -o '"hardware": [a-z]*')"
  if echo "$line" | grep -q '"hardware": true'; then chosen=$flags; break; fi
done <<EOF
$gpu --use-angle=vulkan --enable-features=Vulkan,VulkanFromANGLE,DefaultANGLEVulkan
$gpu --use-gl=angle --use-angle=vulkan
$gpu --use-gl=angle --use-angle=gl-egl
$gpu --use-angle=gl
$gpu --use-gl=egl
$gpu --use-angle=vulkan --use-vulkan=native --disable-vulkan-surface
$gpu --use-gl=angle --use-angle=gl-egl --in-process-gpu
EOF

require=--require-hardware
if [ -n "${DRY_RUN:-}" ]; then
  chosen="--use-angle=swiftshader --enable-unsafe-swiftshader"
  require=""
fi
if [ -z "$chosen" ]; then
  echo "no flag set gave a hardware WebGL renderer; see probe.jsonl and chrome.log"
  tail -c 8M "$log" >"$log.tail" && mv "$log.tail" "$log"
  exit 3
fi
echo "benchmark with: $chosen"
timeout "$bench_s" python3 "$driver" --chromium "$chr/chromium-headless-shell" --flags "$chosen" \
  --sizes "$sizes" --repeats "$repeats" $require --out "$out/rows.jsonl" --log "$log" | cut -c1-220
rc=${PIPESTATUS[0]}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,memory.used --format=csv >>"$env_txt" 2>&1
tail -c 8M "$log" >"$log.tail" && mv "$log.tail" "$log"
echo "drive_cdp rc=$rc"
exit "$rc"

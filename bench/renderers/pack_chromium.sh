#!/bin/sh
# Packs what bench/renderers/device_run.sh needs on a GPU machine that has Python but no browser, no node and
# no network: Debian's chromium-headless-shell with the libraries it links (from this Debian machine), the GL
# and Vulkan loader packages, the page bundles and the drivers.
#
#   sh bench/renderers/pack_chromium.sh DEST        # DEST: a folder that travels with the working tree
#
# DEST/chr.tar.xz.part*  chromium-headless-shell + icudtl/snapshots + ANGLE's Vulkan loader + lib/ (xz -9e,
#                        76 MB, split in parts of at most 58 MiB, since one call carries at most 64 MiB:
#                        part00 goes in a first call, the rest in a second; device_run.sh joins them)
# DEST/chr.tar.xz.sha256 the whole archive's checksum
# DEST/gl/*.deb          libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 (unpacked to / there)
# DEST/renderers/        index.html, dist/{plotly,regl,widget}.js, drive_cdp.py, device_run.sh
set -eu
dest=$(realpath "$1")
here=$(dirname "$(realpath "$0")")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dest/gl" "$dest/renderers/dist"

(cd "$work" && apt-get download chromium-headless-shell >/dev/null)
dpkg -x "$work"/chromium-headless-shell_*.deb "$work/stage"
chr="$work/chr"
mkdir -p "$chr/lib" "$chr/fonts"
cp -a "$work/stage/usr/lib/chromium/." "$chr/"
# From chromium-common (installed here with Debian's chromium), what the headless shell reads at start or
# loads for WebGL: ICU data, V8 snapshots, the Vulkan loader ANGLE opens from its own folder, SwiftShader (the
# software fallback, so a failed GPU start still says what it fell back to). Left out: resources.pak and the
# locales (the headless shell has its own .pak files), the Vulkan validation layers, crashpad.
for f in icudtl.dat v8_context_snapshot.bin snapshot_blob.bin libvulkan.so.1 libvk_swiftshader.so \
    vk_swiftshader_icd.json libEGL.so libGLESv2.so; do
  cp /usr/lib/chromium/$f "$chr/"
done
# Every library the binary links except glibc's and the C++ runtime (the target's own are newer); the target
# links only those it lacks (device_run.sh), so its own versions win where it has them.
ldd "$chr/chromium-headless-shell" | awk '/=>/ {print $1, $3}' \
  | grep -vE '^(libc|libm|libpthread|libdl|librt|libstdc\+\+|libgcc_s)\.so' \
  | while read -r so path; do cp -L "$path" "$chr/lib/$so"; done
cp -rL /usr/lib/x86_64-linux-gnu/nss "$chr/lib/"
cp /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf "$chr/fonts/"
rm -f "$dest"/chr.tar.xz.part*
tar -C "$work" -cf - chr | xz -9e -T2 | tee "$work/chr.tar.xz" | split -b 58M -d - "$dest/chr.tar.xz.part"
sha256sum "$work/chr.tar.xz" | cut -d' ' -f1 >"$dest/chr.tar.xz.sha256"

o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64"
(cd "$dest/gl" && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null)
cp "$here/index.html" "$here/drive_cdp.py" "$here/device_run.sh" "$dest/renderers/"
cp "$here/dist/plotly.js" "$here/dist/regl.js" "$here/dist/widget.js" "$dest/renderers/dist/"
du -sh "$dest"/*

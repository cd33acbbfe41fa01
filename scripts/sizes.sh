#!/usr/bin/env bash
# Sizes of the three images, as a Markdown table on stdout and a bar chart in
# media/sizes.svg. Uncompressed is the sum of the layer tars; compressed is what
# a pull transfers (each layer tar through `gzip -n`, summed); "over base" is
# what the runtime stage adds beyond the binary itself. Both architectures
# (ARCHS, default "amd64 arm64"), of ENGINE's images (podman or docker,
# scripts/lib.sh). Reference rows: the static glibc amd64 images as measured
# before the musl build (same stand-in bases), and the original lab's Python
# images.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$root"

svg=${SVG:-media/sizes.svg}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# name|uncompressed|compressed|layers|binary|over base|bases (bytes; empty = unknown)
rows=()
read -r -a archs <<<"${ARCHS:-amd64 arm64}"
for arch in "${archs[@]}"; do
for v in alpine distroless scratch; do
    t=$v-$arch
    img=$repo:$t
    unpack "$img" "$work/$t" >/dev/null
    extract_binary "$work/$t" "$work/$t.bin"
    total=0 gz=0 added=0 n=0
    count=$(layers "$work/$t" | wc -l)
    base_count=$((count - $(added_layers "$t" "$work/$t")))
    for layer in $(layers "$work/$t"); do
        n=$((n + 1))
        size=$(stat -c %s "$layer")
        total=$((total + size))
        gz=$((gz + $(gzip -n -c "$layer" | wc -c)))
        if ((n > base_count)); then added=$((added + size)); fi
    done
    bin=$(stat -c %s "$work/$t.bin")
    rows+=("$img|$total|$gz|$count|$bin|$((added - bin))|$(label "$img" "$bases_label")")
done
done
# Measured by this script at commit 21ab802 (static glibc, amd64): no
# compressed bar, so the chart draws them grey.
rows+=("ref: glibc static, scratch (amd64)|1700000|||1692224|" "ref: glibc static, alpine (amd64)|4060000|||1692224|"
    "ref: glibc static, distroless (amd64)|25970000|||1692224|")
rows+=("lab: Python on alpine|104000000|||" "lab: Python on distroless|107000000|||")

mb() { [[ -n $1 ]] && awk -v b="$1" 'BEGIN { printf "%.2f MB", b / 1e6 }' || echo "–"; }
echo "| image | uncompressed | compressed (gzip) | layers | binary | over base + binary | bases |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
for row in "${rows[@]}"; do
    IFS='|' read -r name total gz count bin over bases <<<"$row"
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$(mb "$total")" "$(mb "$gz")" \
        "${count:-–}" "$(mb "$bin")" "$([[ -n $over ]] && echo "$over B" || echo "–")" "${bases:-–}"
done
echo
# The bases as build.sh chose them (upstream, stand-in or named), from the labels.
echo "MB = 10^6 bytes. Bases: builder $(label "$repo:scratch-${archs[0]}" "$builder_label");" \
    "$(for arch in "${archs[@]}"; do printf '%s: %s, %s; ' "$arch" "$(base_image "alpine-$arch")" "$(base_image "distroless-$arch")"; done)"

# The chart: one row per image, uncompressed and compressed bars on a log
# axis from 0.1 MB to 1 GB so the 2 MB images and the 100 MB ones both show.
mkdir -p "$(dirname "$svg")"
printf '%s\n' "${rows[@]}" | awk -F'|' -v bases="$(base_image "alpine-amd64" | sed 's/@.*//') / $(base_image "distroless-amd64" | sed 's/@.*//') (and their arm64 ones)" '
function x(bytes) { return left + width * (log(bytes / 1e5) / log(10)) / 4 }
function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); return s }
function label(b) { return b >= 1e7 ? sprintf("%.0f MB", b / 1e6) : sprintf("%.2f MB", b / 1e6) }
{ name[NR] = $1; total[NR] = $2; gz[NR] = $3 }
END {
    left = 250; width = 520; rowh = 46; top = 80
    h = top + NR * rowh + 58
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"840\" height=\"%d\" viewBox=\"0 0 840 %d\" font-family=\"system-ui, -apple-system, Segoe UI, Roboto, sans-serif\" font-size=\"13\">\n", h, h
    printf "<title>moscow-time image sizes</title>\n"
    printf "<rect width=\"840\" height=\"%d\" fill=\"#ffffff\"/>\n", h
    printf "<text x=\"20\" y=\"28\" font-size=\"17\" font-weight=\"600\" fill=\"#1a1a1a\">moscow-time image sizes, log scale (MB = 1,000,000 bytes)</text>\n"
    # Legend.
    printf "<rect x=\"20\" y=\"40\" width=\"14\" height=\"12\" fill=\"#2b6cb0\"/><text x=\"40\" y=\"51\" fill=\"#1a1a1a\">uncompressed</text>\n"
    printf "<rect x=\"140\" y=\"40\" width=\"14\" height=\"12\" fill=\"#90cdf4\"/><text x=\"160\" y=\"51\" fill=\"#1a1a1a\">compressed (gzip): what a pull moves</text>\n"
    printf "<rect x=\"470\" y=\"40\" width=\"14\" height=\"12\" fill=\"#a0a0a0\"/><text x=\"490\" y=\"51\" fill=\"#1a1a1a\">references: glibc before musl, lab Python</text>\n"
    # Grid and axis labels: 0.1, 1, 10, 100, 1000 MB.
    split("0.1 MB|1 MB|10 MB|100 MB|1 GB", ticks, "|")
    for (i = 0; i <= 4; i++) {
        gx = left + width * i / 4
        printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#d0d0d0\"/>\n", gx, top - 8, gx, top + NR * rowh
        printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#555555\">%s</text>\n", gx, top + NR * rowh + 18, ticks[i + 1]
    }
    for (r = 1; r <= NR; r++) {
        y = top + (r - 1) * rowh
        ref = (gz[r] == "")
        printf "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" fill=\"%s\">%s</text>\n", left - 10, y + 20, ref ? "#666666" : "#1a1a1a", esc(name[r])
        w = x(total[r]) - left
        printf "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"14\" fill=\"%s\"/>\n", left, y + 6, w, ref ? "#a0a0a0" : "#2b6cb0"
        printf "<text x=\"%.1f\" y=\"%d\" fill=\"#1a1a1a\">%s</text>\n", left + w + 6, y + 18, label(total[r])
        if (!ref) {
            w = x(gz[r]) - left
            printf "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"14\" fill=\"#90cdf4\"/>\n", left, y + 22, w
            printf "<text x=\"%.1f\" y=\"%d\" fill=\"#1a1a1a\">%s</text>\n", left + w + 6, y + 34, label(gz[r])
        }
    }
    printf "<text x=\"20\" y=\"%d\" font-size=\"11\" fill=\"#666666\">Bases: %s. Grey: references (the glibc images before musl; the lab Python images).</text>\n", h - 12, esc(bases)
    printf "</svg>\n"
}' >"$svg"
echo "wrote $svg"

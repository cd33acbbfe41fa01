# The size chart (media/sizes.svg), drawn by scripts/sizes.sh: one row per
# image, an uncompressed and a compressed bar on a log axis from 0.1 MB to
# 1 GB, so the 1 MB images and the 100 MB ones both show.
#
# Input: NAME|UNCOMPRESSED|COMPRESSED lines (bytes; no compressed size draws a
# grey reference bar); -v title=... -v footer=... name the chart and its bases.
#
# awk cannot measure text, so every width is estimated from the character
# count with a generous em per character (wider than DejaVu Sans, the widest
# common fallback), and the canvas, the label column and the footer lines are
# sized from those estimates: no label can run off the edge.
# tests/browser/chart.test.js renders the result and checks every text box.

function textw(s, size) { return length(s) * size * 0.64 }
function x(bytes) { return left + barw * (log(bytes / 1e5) / log(10)) / 4 }
function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); return s }
function mb(b) { return b >= 1e7 ? sprintf("%.0f MB", b / 1e6) : sprintf("%.2f MB", b / 1e6) }
function text(px, py, s, attrs) { printf "<text x=\"%.1f\" y=\"%d\"%s>%s</text>\n", px, py, attrs, esc(s) }

BEGIN { FS = "|" }
NF >= 2 { n++; name[n] = $1; total[n] = $2; gz[n] = $3 }
END {
    pad = 20; font = 13; small = 11; rowh = 46; barw = 520
    left = pad
    for (r = 1; r <= n; r++) if (pad + textw(name[r], font) + 10 > left) left = pad + textw(name[r], font) + 10
    # The widest value label sits right of the longest bar.
    right = 0
    for (r = 1; r <= n; r++) {
        e = x(total[r]) + 6 + textw(mb(total[r]), font)
        if (e > right) right = e
    }
    w = left + barw + textw("1 GB", font) / 2 + pad
    if (right + pad > w) w = right + pad
    if (pad + textw(title, 17) + pad > w) w = pad + textw(title, 17) + pad

    # Legend: its items in a row, wrapped when the next would not fit.
    split("uncompressed|compressed (gzip): what a pull moves|reference: the lab's Python images", legend, "|")
    split("#2b6cb0|#90cdf4|#a0a0a0", colour, "|")
    lx = pad; ly = 40
    for (i = 1; i <= 3; i++) {
        iw = 20 + textw(legend[i], font) + 16
        if (lx > pad && lx + iw > w - pad) { lx = pad; ly += 20 }
        lxs[i] = lx; lys[i] = ly; lx += iw
    }
    top = ly + 40

    # Footer: wrapped to the canvas.
    per = int((w - 2 * pad) / (small * 0.64)); lines = 0; rest = footer
    while (length(rest) > 0) {
        cut = length(rest)
        if (cut > per) { cut = per; while (cut > 1 && substr(rest, cut + 1, 1) != " ") cut-- }
        foot[++lines] = substr(rest, 1, cut); rest = substr(rest, cut + 1); sub(/^ +/, "", rest)
    }
    h = top + n * rowh + 36 + lines * 15

    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"system-ui, -apple-system, Segoe UI, Roboto, sans-serif\" font-size=\"%d\">\n", w, h, w, h, font
    printf "<title>%s</title>\n", esc(title)
    printf "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", w, h
    text(pad, 28, title, " font-size=\"17\" font-weight=\"600\" fill=\"#1a1a1a\"")
    for (i = 1; i <= 3; i++) {
        printf "<rect x=\"%.1f\" y=\"%d\" width=\"14\" height=\"12\" fill=\"%s\"/>\n", lxs[i], lys[i], colour[i]
        text(lxs[i] + 20, lys[i] + 11, legend[i], " fill=\"#1a1a1a\"")
    }
    # Grid and axis labels: 0.1, 1, 10, 100, 1000 MB.
    split("0.1 MB|1 MB|10 MB|100 MB|1 GB", ticks, "|")
    for (i = 0; i <= 4; i++) {
        gx = left + barw * i / 4
        printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#d0d0d0\"/>\n", gx, top - 8, gx, top + n * rowh
        text(gx, top + n * rowh + 18, ticks[i + 1], " text-anchor=\"middle\" fill=\"#555555\"")
    }
    for (r = 1; r <= n; r++) {
        y = top + (r - 1) * rowh
        ref = (gz[r] == "")
        text(left - 10, y + 20, name[r], " text-anchor=\"end\" fill=\"" (ref ? "#666666" : "#1a1a1a") "\"")
        bw = x(total[r]) - left
        printf "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"14\" fill=\"%s\"/>\n", left, y + 6, bw, ref ? "#a0a0a0" : "#2b6cb0"
        text(left + bw + 6, y + 18, mb(total[r]), " fill=\"#1a1a1a\"")
        if (!ref) {
            bw = x(gz[r]) - left
            printf "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"14\" fill=\"#90cdf4\"/>\n", left, y + 22, bw
            text(left + bw + 6, y + 34, mb(gz[r]), " fill=\"#1a1a1a\"")
        }
    }
    for (i = 1; i <= lines; i++) text(pad, top + n * rowh + 36 + (i - 1) * 15 + 4, foot[i], " font-size=\"" small "\" fill=\"#666666\"")
    printf "</svg>\n"
}

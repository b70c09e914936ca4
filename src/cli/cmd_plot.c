/*
 * cmd_plot.c — `gptc plot LOG.jsonl [-o FILE.svg]`: the loss and validation-loss curves of a
 * training log (the records `gptc train --log` writes, which the --ui dashboard draws live) as
 * an SVG file, drawn here without any library.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char *k_help =
    "usage: gptc plot LOG.jsonl [-o FILE.svg] [--log-scale] [--title TEXT]\n"
    "\n"
    "Draw the loss and validation loss of a training log (gptc train --log) by step as SVG.\n"
    "A resumed run's repeated steps count once (the last record wins).\n"
    "\n"
    "  -o, --out FILE   the picture (default: LOG with .svg for .jsonl); only .svg: PNG is not\n"
    "                   supported (no image library), convert the SVG if you need one\n"
    "  --log-scale      logarithmic loss axis\n"
    "  --title TEXT     the title (default: the run's model and step count)\n";

typedef struct pt {
    double x, y;
} pt;

typedef struct series {
    pt *p;
    size_t n, cap;
} series;

/* Set step x to y: the last record of a step wins (a resumed run repeats steps). */
static void put(series *s, double x, double y)
{
    for (size_t i = s->n; i > 0 && s->p[i - 1].x >= x; i--)
        if (s->p[i - 1].x == x) {
            s->p[i - 1].y = y;
            return;
        }
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->p = realloc(s->p, s->cap * sizeof *s->p);
        if (!s->p) cli_die("plot: out of memory");
    }
    s->p[s->n++] = (pt){x, y};
}

static int cmp_pt(const void *a, const void *b)
{
    double d = ((const pt *)a)->x - ((const pt *)b)->x;
    return d < 0 ? -1 : d > 0;
}

/* A "nice" tick step for a span, about n ticks. */
static double nice_step(double span, int n)
{
    double raw = span / n, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '"')
            fputs("&quot;", f);
        else if ((unsigned char)*s >= 0x20 || *s == '\t')
            fputc(*s, f);
    }
}

int cmd_plot(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *title = NULL;
    int logy = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is(a, "-h", "--help")) {
            fputs(k_help, stdout);
            return 0;
        } else if (cli_is(a, "-o", "--out"))
            out = cli_value(argc, argv, &i);
        else if (cli_is(a, "--log-scale", NULL))
            logy = 1;
        else if (cli_is(a, "--title", NULL))
            title = cli_value(argc, argv, &i);
        else if (a[0] == '-' && a[1])
            cli_die("plot: unknown option '%s' (see gptc plot --help)", a);
        else if (!in)
            in = a;
        else
            cli_die("plot: unexpected argument '%s'", a);
    }
    if (!in) cli_die("plot: no log given (usage: gptc plot LOG.jsonl [-o FILE.svg])");
    char out_buf[4200];
    if (!out) {
        size_t n = strlen(in);
        if (n > 6 && strcmp(in + n - 6, ".jsonl") == 0)
            snprintf(out_buf, sizeof out_buf, "%.*s.svg", (int)(n - 6), in);
        else
            snprintf(out_buf, sizeof out_buf, "%s.svg", in);
        out = out_buf;
    }
    size_t on = strlen(out);
    if (on >= 4 && strcasecmp(out + on - 4, ".png") == 0)
        cli_die("plot: PNG output is not supported (gptc has no image library); write '.svg' "
                "(e.g. -o loss.svg) and convert it if you need a PNG");
    if (on < 4 || strcasecmp(out + on - 4, ".svg") != 0)
        cli_die("plot: the output '%s' must end in .svg", out);

    FILE *f = fopen(in, "r");
    if (!f) cli_die("plot: cannot open '%s': %s", in, strerror(errno));
    series loss = {0}, val = {0};
    char model[160] = "";
    int steps_cfg = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (len == 0) continue;
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)len, 0, &je);
        if (!o || !json_is_object(o))
            cli_die("plot: %s:%ld: not a JSON object (%s)", in, lineno,
                    o ? "another JSON value" : je.text);
        json_t *cfg = json_object_get(o, "config");
        if (json_is_object(cfg)) {
            const char *arch = json_string_value(json_object_get(cfg, "arch"));
            json_t *p = json_object_get(cfg, "params");
            snprintf(model, sizeof model, "%s%s%.2fM parameters", arch ? arch : "",
                     arch ? ", " : "", json_is_number(p) ? json_number_value(p) / 1e6 : 0.0);
            steps_cfg = (int)json_integer_value(json_object_get(cfg, "steps"));
        }
        json_t *st = json_object_get(o, "step"), *l = json_object_get(o, "loss"),
               *v = json_object_get(o, "val_loss");
        if ((l || v) && !json_is_number(st))
            cli_die("plot: %s:%ld: a loss without a numeric \"step\"", in, lineno);
        if (l) {
            if (!json_is_number(l)) cli_die("plot: %s:%ld: \"loss\" is not a number", in, lineno);
            put(&loss, json_number_value(st), json_number_value(l));
        }
        if (v) {
            if (!json_is_number(v))
                cli_die("plot: %s:%ld: \"val_loss\" is not a number", in, lineno);
            put(&val, json_number_value(st), json_number_value(v));
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    if (!loss.n && !val.n)
        cli_die("plot: %s: no loss records (write one with gptc train --log FILE.jsonl)", in);
    qsort(loss.p, loss.n, sizeof *loss.p, cmp_pt);
    qsort(val.p, val.n, sizeof *val.p, cmp_pt);

    /* ranges */
    double x0 = 0, x1 = steps_cfg > 0 ? steps_cfg : 1, y0 = INFINITY, y1 = -INFINITY;
    series *all[2] = {&loss, &val};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < all[k]->n; i++) {
            pt p = all[k]->p[i];
            if (!isfinite(p.y) || (logy && p.y <= 0)) continue;
            double y = logy ? log10(p.y) : p.y;
            if (p.x > x1) x1 = p.x;
            if (y < y0) y0 = y;
            if (y > y1) y1 = y;
        }
    if (!isfinite(y0))
        cli_die("plot: %s: no finite loss to draw%s", in, logy ? " on a log scale" : "");
    if (!logy && y0 > 0) y0 = 0;
    if (y1 - y0 < 1e-9) y0 -= 0.5, y1 += 0.5;
    if (logy) y0 = floor(y0 * 10) / 10, y1 = ceil(y1 * 10) / 10;

    const double W = 800, H = 450, L = 70, R = 20, T = 44, B = 52;
#define PX(x) (L + ((x)-x0) / (x1 - x0) * (W - L - R))
#define PY(v) (T + (1 - (((logy ? log10(v) : (v))) - y0) / (y1 - y0)) * (H - T - B))
    FILE *o = fopen(out, "w");
    if (!o) cli_die("plot: cannot write '%s': %s", out, strerror(errno));
    fprintf(o,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 "
            "0 %.0f %.0f\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n",
            W, H, W, H);
    fprintf(o,
            "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n<text x=\"%.0f\" y=\"24\" "
            "font-size=\"15\" "
            "fill=\"#1a1a1a\">",
            L);
    if (title)
        xml_text(o, title);
    else {
        fprintf(o, "training loss");
        if (model[0]) fprintf(o, " — "), xml_text(o, model);
        fprintf(o, ", %d steps", (int)(loss.n ? loss.p[loss.n - 1].x : val.p[val.n - 1].x));
    }
    fprintf(o, "</text>\n");
    /* y grid and labels */
    if (logy) {
        for (double e = floor(y0); e <= y1 + 1e-9; e += 1)
            for (int m = 1; m < 10; m++) {
                double v = m * pow(10, e), ly = log10(v);
                if (ly < y0 - 1e-9 || ly > y1 + 1e-9) continue;
                double py = PY(v);
                fprintf(o,
                        "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n",
                        L, W - R, py, py, m == 1 ? "#bbb" : "#eee");
                if (m == 1 || m == 2 || m == 5 || y1 - y0 < 1.2)
                    fprintf(
                        o,
                        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#555\">%g</text>\n",
                        L - 6, py + 4, v);
            }
    } else {
        double step = nice_step(y1 - y0, 5);
        for (double v = ceil(y0 / step) * step; v <= y1 + 1e-9; v += step) {
            double py = PY(v);
            fprintf(o,
                    "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>\n",
                    L, W - R, py, py);
            fprintf(o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#555\">%g</text>\n",
                    L - 6, py + 4, fabs(v) < 1e-12 ? 0 : v);
        }
    }
    double xs = nice_step(x1 - x0, 6);
    for (double x = 0; x <= x1 + 1e-9; x += xs)
        fprintf(o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#555\">%g</text>\n",
                PX(x), H - B + 18, x);
    fprintf(o, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>\n", L,
            W - R, H - B, H - B);
    fprintf(o, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>\n", L, L, T,
            H - B);
    fprintf(o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#333\">step</text>\n",
            (L + W - R) / 2, H - 12);
    fprintf(o,
            "<text transform=\"translate(16 %.1f) rotate(-90)\" text-anchor=\"middle\" "
            "fill=\"#333\">loss%s</text>\n",
            (T + H - B) / 2, logy ? " (log scale)" : "");
    /* curves: at most about 4000 points each (every k-th) */
    const char *col[2] = {"#1f56a8", "#c2410c"};
    const char *id[2] = {"loss", "val_loss"};
    for (int k = 0; k < 2; k++) {
        series *s = all[k];
        if (!s->n) continue;
        size_t every = s->n > 4000 ? (s->n + 3999) / 4000 : 1;
        fprintf(o, "<polyline id=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"%s\" points=\"",
                id[k], col[k], k ? "2" : "1.5");
        for (size_t i = 0; i < s->n; i++) {
            if (i % every && i != s->n - 1) continue;
            pt p = s->p[i];
            if (!isfinite(p.y) || (logy && p.y <= 0)) continue;
            fprintf(o, "%.1f,%.1f ", PX(p.x), PY(p.y));
        }
        fprintf(o, "\"/>\n");
        if (k == 1 && s->n <= 200)
            for (size_t i = 0; i < s->n; i++)
                if (isfinite(s->p[i].y) && (!logy || s->p[i].y > 0))
                    fprintf(o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                            PX(s->p[i].x), PY(s->p[i].y), col[k]);
    }
    /* legend */
    double lx = W - R - 190;
    fprintf(o,
            "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"20\" y2=\"20\" stroke=\"%s\" stroke-width=\"2\"/>"
            "<text x=\"%.1f\" y=\"24\" fill=\"#333\">loss</text>\n",
            lx, lx + 18, col[0], lx + 24);
    fprintf(o,
            "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"20\" y2=\"20\" stroke=\"%s\" stroke-width=\"2\"/>"
            "<text x=\"%.1f\" y=\"24\" fill=\"#333\">validation loss</text>\n",
            lx + 70, lx + 88, col[1], lx + 94);
    fprintf(o, "</svg>\n");
#undef PX
#undef PY
    int bad = ferror(o);
    if (fclose(o) != 0 || bad) cli_die("plot: cannot write '%s': %s", out, strerror(errno));
    fprintf(stderr, "gptc plot: %zu loss and %zu validation points -> %s\n", loss.n, val.n, out);
    free(loss.p);
    free(val.p);
    return 0;
}

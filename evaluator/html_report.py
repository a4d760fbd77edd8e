"""Self-contained HTML reports: ``report.html`` of ``ra2 leaderboard --out`` and of ``ra2 demo``.

One file, no network: the CSS is inline and every picture (the bootstrap plot, SHAP
maps, overlay thumbnails) is embedded as a base64 data URI; links point only inside
the output folder (overlay thumbnails open the patient in the review site).  The
paired Wilcoxon tables say in words which way each median difference goes, and why a
method can lead the weighted leaderboard yet lose the unweighted per-patient test.
"""
from __future__ import annotations

import base64
import html
import io
import math
import time
from pathlib import Path

from challenge.outputs import write_text

from .official import METRICS, RANKED
from .report import fmt

_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1d1f21;
  max-width: 1180px; margin: 24px auto; padding: 0 20px; }
h1 { font-size: 24px; } h2 { font-size: 19px; margin-top: 34px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
table { border-collapse: collapse; margin: 10px 0; font-size: 14px; }
th, td { border: 1px solid #d6d6d2; padding: 4px 9px; text-align: right; vertical-align: top; }
th { background: #f0efea; } td.l, th.l { text-align: left; }
tr.best td { background: #eef7ee; } tr.upper td { color: #555; font-style: italic; }
td.words { text-align: left; max-width: 560px; font-size: 13px; }
.note { color: #555; font-size: 13px; max-width: 900px; }
figure { margin: 12px 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 13px; color: #555; }
.grid { display: flex; flex-wrap: wrap; gap: 10px; }
.grid a { display: block; text-decoration: none; color: #333; font-size: 12px; text-align: center; }
.grid img { display: block; height: 170px; border: 1px solid #ccc; background: #000; }
.shap img { max-width: 48%; }
code { background: #f3f3f0; padding: 1px 4px; border-radius: 3px; }
"""


def esc(x) -> str:
    return html.escape(str(x), quote=True)


def data_uri(path: str | Path, *, max_side: int | None = None, quality: int = 80) -> str:
    """A picture as a data URI: PNG as it is, or (``max_side``) a JPEG thumbnail."""
    path = Path(path)
    if max_side is None:
        return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        im.thumbnail((max_side, max_side))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def table(header: list[str], rows: list[list], *, left: int = 1, classes: list[str | None] | None = None) -> str:
    """An HTML table; the first ``left`` columns are left-aligned; cells are escaped unless wrapped in ``Raw``."""
    prose = {i for row in rows[:1] for i, v in enumerate(row) if isinstance(v, Words)}

    def cell(tag, i, v):
        cls = ' class="l"' if i < left or (tag == "th" and i in prose) else (
            ' class="words"' if isinstance(v, Words) else "")
        return f"<{tag}{cls}>{v if isinstance(v, Raw) else esc(v)}</{tag}>"

    out = ["<table>", "<tr>" + "".join(cell("th", i, h) for i, h in enumerate(header)) + "</tr>"]
    for k, row in enumerate(rows):
        cls = f' class="{classes[k]}"' if classes and classes[k] else ""
        out.append(f"<tr{cls}>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


class Raw(str):
    """HTML that ``table`` must not escape."""


class Words(str):
    """A cell of prose (left-aligned, narrower font)."""


def page(title: str, parts: list[str]) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M")
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{esc(title)}</title>"
            f"<style>{_CSS}</style></head><body>\n<h1>{esc(title)}</h1>\n"
            + "\n".join(parts) + f"\n<p class=\"note\">Written {esc(stamp)} by the ra2 harness.</p>\n</body></html>\n")


def write_page(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary sibling and a rename."""
    return write_text(path, text)


# ------------------------------------------------------------------ sections
def _num(v, digits=4) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt(v, digits)


def leaderboard_section(board: dict, png: str | Path | None = None) -> str:
    """The leaderboard table (best first, ties shaded) and the bootstrap plot."""
    rows, classes = [], []
    for r in board["table"]:
        cells = [r["team"]]
        for key in RANKED:
            k, rank = r.get(f"{key}_K"), r.get(f"{key}_rank")
            cells += [_num(r.get(key)), _num(k, 2), "—" if rank is None or (isinstance(rank, float) and math.isnan(rank))
                      else str(int(rank))]
        rows.append(cells)
        upper = str(r["team"]).startswith("reader 2")
        classes.append("upper" if upper else "best" if r.get(f"{RANKED[0]}_rank") == 1 else None)
    ranking = board.get("ranking", {})
    header = ["team"] + [h for k in RANKED for h in (METRICS[k].heading, "K", "rank")]
    parts = ["<h2>Leaderboard</h2>", table(header, rows, classes=classes),
             f"<p class=\"note\">Lower scores are better. K: Bayes factor against the best team over "
             f"{esc(ranking.get('n_boot', '?'))} paired bootstrap resamples (seed {esc(ranking.get('seed', '?'))}); "
             f"K &le; {esc(ranking.get('tie_k', 3))} ties with the best (rank 1, shaded). The official metrics weight "
             "every patient by the gold Overall_Tol (1 for 0 up to 64 for the most damaged).</p>"]
    if png is not None and Path(png).is_file():
        parts.append(f'<figure><img alt="bootstrap distributions" src="{data_uri(png)}">'
                     "<figcaption>Bootstrap distributions of each team's score; blue boxes tie with the best, the "
                     "dashed line is the second human reader.</figcaption></figure>")
    return "\n".join(parts)


def wilcoxon_words(test: dict | None, a: str, b: str, score_a=None, score_b=None, alpha: float = 0.05) -> str:
    """One metric's one-sided paired Wilcoxon result (H1: A's per-patient errors are lower) in words."""
    if test is None or test.get("p_value") is None:
        return "undefined: the two methods' per-patient errors do not differ (or the metric is undefined)."
    med, p = test["median_difference"], test["p_value"]
    if med < 0:
        way = f"on the median patient {a}'s error is {fmt(-med, 3)} lower than {b}'s"
    elif med > 0:
        way = f"on the median patient {a}'s error is {fmt(med, 3)} higher than {b}'s"
    else:
        way = f"the median patient's errors are equal"
    verdict = (f"{a} is better than {b} per patient (p = {fmt(p, 4)} < {alpha:g})" if p < alpha
               else f"no evidence that {a} is better than {b} per patient (p = {fmt(p, 4)})")
    text = f"{way}; {verdict}."
    if score_a is not None and score_b is not None:
        if score_a < score_b and (med > 0 or p >= alpha):
            text += (f" Yet {a} leads the weighted metric ({fmt(score_a, 3)} against {fmt(score_b, 3)}): its "
                     "advantage lies with the few heavily damaged, heavily weighted patients.")
        elif score_a > score_b and p < alpha:
            text += (f" Yet {b} leads the weighted metric ({fmt(score_b, 3)} against {fmt(score_a, 3)}): {a} wins "
                     "on the many lightly damaged patients, who weigh little.")
    return text


WHY_WEIGHTS = ("Why the two can disagree: the leaderboard's metrics weight every patient by the gold Overall_Tol "
               "(weight 1 at 0, up to 64 for the most damaged patients), so a few severely damaged patients carry "
               "most of the score. The paired Wilcoxon test counts every patient once and looks only at the sign and "
               "rank of the per-patient differences. A method that is much better on the few heavily damaged patients "
               "but a little worse on the many with little damage leads the weighted leaderboard and yet loses the "
               "unweighted per-patient test; the reverse happens too.")


def wilcoxon_section(title: str, comp: dict, a: str, b: str) -> str:
    rows = []
    for key, t in comp["tests"].items():
        sa = comp.get("official", {}).get("a", {}).get(key)
        sb = comp.get("official", {}).get("b", {}).get(key)
        rows.append([METRICS[key].label if key in METRICS else key, _num(sa), _num(sb), _num(t and t["median_difference"]),
                     _num(t and t["p_value"], 6), Words(wilcoxon_words(t, a, b, sa, sb))])
    return "\n".join([
        f"<h2>{esc(title)}</h2>",
        f"<p class=\"note\">One-sided paired Wilcoxon signed-rank tests over {esc(comp.get('patients', '?'))} patients; "
        f"H1: the per-patient errors of {esc(a)} (A) are lower than those of {esc(b)} (B). Median difference = "
        "median of A's error minus B's: negative favours A.</p>",
        table(["metric", f"{a} (weighted)", f"{b} (weighted)", "median A−B", "p", "reading"], rows),
        f"<p class=\"note\">{esc(WHY_WEIGHTS)}</p>"])


def timings_section(timings: dict) -> str:
    labels = {"synth_s": "phantom cohort", "method_train_s": "method: training",
              "method_predict_s": "method: prediction", "review_s": "review site", "total_s": "total"}
    rows = []
    for key, seconds in timings.items():
        name = labels.get(key) or (f"baseline {key[len('baseline_'):-2]}" if key.startswith("baseline_")
                                   else key.removesuffix("_s").replace("_", " "))
        rows.append([name, f"{seconds:.1f}", f"{seconds / 60:.1f}"])
    return "<h2>Time</h2>\n" + table(["step", "seconds", "minutes"], rows)


def official_section(scores: dict) -> str:
    from .official import OFFICIAL

    names = list(scores)
    rows = [[m.label] + [_num(scores[n]["official"][m.key]) for n in names] for m in OFFICIAL]
    agree = []
    for group in scores[names[0]]["paper"]["groups"]:
        agree.append([group.replace("_", ", ")] + [
            f"{fmt(scores[n]['paper']['groups'][group]['r'], 3)} / {fmt(scores[n]['paper']['groups'][group]['rmse'], 3)}"
            for n in names])
    return "\n".join(["<h2>Official metrics (lower is better)</h2>", table(["metric"] + names, rows),
                      "<h2>Agreement with gold (raw scale): Pearson r / RMSE</h2>", table(["group"] + names, agree)])


def pictures_section(title: str, pictures: list[tuple[str, Path]], caption: str = "", css: str = "shap") -> str:
    if not pictures:
        return ""
    figs = "".join(f'<img alt="{esc(label)}" title="{esc(label)}" src="{data_uri(path)}">' for label, path in pictures)
    return f"<h2>{esc(title)}</h2>\n<div class=\"{css}\">{figs}</div>\n<p class=\"note\">{esc(caption)}</p>"


def overlays_section(thumbs: list[tuple[str, Path, str | None]], review_index: str | None) -> str:
    """Overlay thumbnails (stem, PNG, link into the review site or None)."""
    if not thumbs:
        return ""
    items = []
    for stem, path, link in thumbs:
        img = f'<img alt="{esc(stem)}" src="{data_uri(path, max_side=260)}">{esc(stem)}'
        items.append(f'<a href="{esc(link)}">{img}</a>' if link else f"<a>{img}</a>")
    note = (f"Each thumbnail opens its patient in the review site (<code>{esc(review_index)}</code>), where the "
            "scores can be corrected." if review_index else "")
    return ("<h2>The method's overlays</h2>\n<p class=\"note\">Predicted landmarks, joint-space outlines and scores "
            f"per image. {note}</p>\n<div class=\"grid\">" + "".join(items) + "</div>")


# ------------------------------------------------------------------ the two reports
def write_leaderboard_html(board: dict, out_dir: str | Path) -> Path:
    """``out_dir/report.html``: the leaderboard and the bootstrap plot (``leaderboard.png`` in ``out_dir``)."""
    out_dir = Path(out_dir)
    parts = [leaderboard_section(board, out_dir / "leaderboard.png")]
    return write_page(out_dir / "report.html", page("RA2 leaderboard", parts))


def write_demo_html(path: str | Path, *, board: dict, scores: dict, comparisons: dict, timings: dict,
                    cohort: str | Path, shap: list[Path] = (), overlays: list[tuple[str, Path, str | None]] = (),
                    review_index: str | None = None) -> Path:
    """The demo's ``report.html``: leaderboard, official metrics, Wilcoxon tests in words, SHAP maps,
    overlay thumbnails linking into the review site, and the timings."""
    path = Path(path)
    parts = [f"<p class=\"note\">Cohort: <code>{esc(cohort)}</code> (phantoms with known truth; see cohort.json)."
             + (f" Review site: <a href=\"{esc(review_index)}\"><code>{esc(review_index)}</code></a>."
                if review_index else "") + "</p>",
             leaderboard_section(board, path.parent / "leaderboard.png"), official_section(scores)]
    for title, comp in comparisons.items():
        a, b = title.split("_vs_", 1) if "_vs_" in title else ("A", "B")
        parts.append(wilcoxon_section(f"{a} against {b}: paired Wilcoxon per patient", comp, a, b))
    parts.append(pictures_section("SHAP: what the stacker draws on", [(p.stem, p) for p in shap],
                                  "Mean absolute SHAP contribution of each input joint (columns) to each predicted "
                                  "joint (rows), same side and other side."))
    parts.append(overlays_section(list(overlays), review_index))
    parts.append(timings_section(timings))
    return write_page(path, page("RA2 harness demo report", parts))

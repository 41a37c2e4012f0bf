"""The training report: curves, confusion matrix, per-class table and validation chips.

arcgis.learn users get plot_losses, per_class_metrics and show_results; this is the same
story on one HTML page with PNGs, saved inside the package under report/.
"""

from __future__ import annotations

import html
from types import SimpleNamespace

import numpy as np

from ..accuracy.metrics import shown
from ..accuracy.reliability_plot import calibration_html
from ..model_package.format import png_bytes
from .monitor import monitor_label


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def loss_scale(history) -> str:
    """A log axis for the losses whenever they are all positive: a first validation loss of
    2e8 then leaves the later epochs readable instead of flattening them on a linear axis."""
    values = [v for h in history for v in (h.train_loss, h.valid_loss)
              if v is not None and np.isfinite(v)]  # a NaN epoch is a gap, not a linear axis
    return "log" if values and min(values) > 0 else "linear"


def _scored_on(held_out: bool) -> str:
    """What the per-class figures are: the same validation chips chose the best epoch (and
    fitted the temperature), so they lean optimistic; without validation chips they are
    the training chips'."""
    return ("validation chips, which also chose the best epoch: a little optimistic; "
            "Assess Accuracy on independent reference data is the honest figure"
            if held_out else "training chips: no validation held out, overstated")


def curves_png(history, best_epoch: int | None = None) -> bytes:
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    ep = [h.epoch for h in history]
    a.plot(ep, [h.train_loss for h in history], "o-", label="train loss")
    if any(h.valid_loss is not None for h in history):
        a.plot(ep, [h.valid_loss for h in history], "o-", label="validation loss")
        b.plot(ep, [h.accuracy for h in history], "o-", label="overall accuracy")
        b.plot(ep, [h.mean_iou for h in history], "o-", label="mean IoU")
    a.set_yscale(loss_scale(history))
    a.set_ylabel("loss" + (" (log scale)" if loss_scale(history) == "log" else ""))
    if best_epoch:
        for ax in (a, b):
            ax.axvline(best_epoch, color="grey", linestyle="--", linewidth=1,
                       label=f"best epoch ({best_epoch})")
    a.set_xlabel("epoch")
    b.set_xlabel("epoch")
    a.legend()
    if len(b.lines) > 1:
        b.legend()
    b.set_ylim(0, 1)
    data = png_bytes(fig)
    plt.close(fig)
    return data


def normalised(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(each reference row as shares: recall on the diagonal, each predicted column as
    shares: precision on the diagonal); an empty row or column stays 0."""
    m = matrix.astype(np.float64)
    return (m / np.maximum(m.sum(axis=1, keepdims=True), 1),
            m / np.maximum(m.sum(axis=0, keepdims=True), 1))


def confusion_png(acc) -> bytes:
    """Both normalised matrices. Names are shown as written (a '$' started matplotlib's
    math mode: 'Forest $\\x$' failed the report after every epoch had run), and the figure
    stops growing at 40 classes (255 classes asked 6.9 GB; adversarial sweep, stop 68)."""
    plt = _plt()
    n = len(acc.names)
    names = [str(name).replace("$", r"\$") for name in acc.names]
    side = min(n, 40)
    fig, axes = plt.subplots(1, 2, figsize=(2.4 + 1.2 * side, 1.2 + 0.55 * side))
    titles = ("share of each reference class (recall)", "share of each predicted class "
              "(precision)")
    for ax, shares, title in zip(axes, normalised(acc.matrix), titles):
        ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        for i in range(n if n <= 40 else 0):  # past 40 classes the cells are too small
            for j in range(n):
                ax.text(j, i, f"{100 * shares[i, j]:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if shares[i, j] > 0.6 else "black")
        ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=8 if n <= 40 else 3)
        ax.set_yticks(range(n), names, fontsize=8 if n <= 40 else 3)
        ax.set_xlabel("predicted")
        ax.set_ylabel("reference")
        ax.set_title(f"% {title}", fontsize=8)
    fig.tight_layout()
    data = png_bytes(fig)
    plt.close(fig)
    return data


def _counts_table(acc) -> str:
    """The confusion matrix in pixels, with the totals of each row and column."""
    names = [html.escape(n) for n in acc.names]
    head = "".join(f"<th>{n}</th>" for n in names)
    rows = "".join(
        f"<tr><th>{names[i]}</th>" + "".join(f"<td>{v:.0f}</td>" for v in acc.matrix[i])
        + f"<td><b>{acc.matrix[i].sum():.0f}</b></td></tr>" for i in range(len(names)))
    cols = "".join(f"<td><b>{v:.0f}</b></td>" for v in acc.matrix.sum(axis=0))
    return (f"<table><tr><th>reference \\ predicted</th>{head}<th>total</th></tr>{rows}"
            f"<tr><th>total</th>{cols}<td><b>{acc.matrix.sum():.0f}</b></td></tr></table>")


def lr_png(lr_history) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot([h[0] for h in lr_history], [h[1] for h in lr_history])
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("smoothed loss")
    data = png_bytes(fig)
    plt.close(fig)
    return data


def _rgb(x: np.ndarray) -> np.ndarray:
    """A displayable composite of a normalised chip: bands 3-2-1 (or the first), 2-98% stretch."""
    idx = [2, 1, 0] if x.shape[0] >= 3 else [0, 0, 0]
    img = x[idx].transpose(1, 2, 0).astype(np.float64)
    lo, hi = np.percentile(img, 2), np.percentile(img, 98)
    return np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1)


def samples_png(samples, chips, colors) -> bytes:
    plt = _plt()
    lut = np.array([*colors, (0, 0, 0)], dtype=np.float64) / 255.0
    fig, axes = plt.subplots(len(samples), 3, figsize=(7.5, 2.5 * len(samples)), squeeze=False)
    for row, (index, truth, pred) in zip(axes, samples):
        x, _ = chips.load(index)
        t = np.where(truth == 255, len(colors), truth)
        row[0].imshow(_rgb(x))
        row[1].imshow(lut[t])
        row[2].imshow(lut[pred])
        for ax, title in zip(row, ("image", "reference", "prediction")):
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    data = png_bytes(fig)
    plt.close(fig)
    return data


def build_report(emd: dict, result, data, chips, samples) -> dict[str, bytes]:
    info = emd["LandLearn"]
    files = {"report/curves.png": curves_png(result.history, result.best_epoch)}
    networks = getattr(result, "members", None) or []
    for k, net in enumerate(networks[1:], start=2):  # the first network's are curves.png
        files[f"report/curves_network_{k}.png"] = curves_png(
            [SimpleNamespace(**h) for h in net["history"]], net["best_epoch"])
    acc = result.accuracy
    colors = [tuple(c["Color"]) for c in emd["Classes"]]
    if acc is not None:
        files["report/confusion_matrix.png"] = confusion_png(acc)
    held_out = bool(result.chips.get("valid"))
    if samples:
        # without VALIDATION_PERCENT the samples are training chips: named so
        files[f"report/{'validation' if held_out else 'training'}_chips.png"] = samples_png(
            samples, chips, colors)
    if result.lr_history:
        files["report/lr_finder.png"] = lr_png(result.lr_history)
    rows = ""
    if acc is not None:
        for i, name in enumerate(acc.names):
            rows += (f"<tr><td>{html.escape(name)}</td><td>{shown(acc.precision[i])}</td>"
                     f"<td>{shown(acc.recall[i])}</td><td>{shown(acc.f1[i])}</td>"
                     f"<td>{shown(acc.iou[i])}</td><td>{acc.support[i]:.0f}</td></tr>")
    epochs = "".join(
        f"<tr{' class=best' if h.epoch == result.best_epoch else ''}><td>{h.epoch}</td>"
        f"<td>{h.train_loss:.4g}</td><td>{_f(h.valid_loss)}</td>"
        f"<td>{_f(h.accuracy)}</td><td>{_f(h.mean_iou)}</td><td>{h.seconds:.1f}</td></tr>"
        for h in result.history)
    counts = f"<h2>Confusion matrix (pixels)</h2>{_counts_table(acc)}" if acc else ""
    counts += _networks_table(networks)
    summary = (f"overall accuracy {acc.overall:.3f}, kappa {shown(acc.kappa)}, mean IoU "
               f"{acc.mean_iou:.3f}, macro F1 {acc.macro_f1:.3f} over {acc.total} pixels"
               if acc else "no accuracy: no evaluated pixels")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
    monitor = ((info.get("training") or {}).get("parameters") or {}).get("monitor", "mean_iou")
    chosen_by = monitor_label(monitor, bool(acc is not None and held_out))
    calibration = calibration_html(getattr(result, "calibration", None),
                                   "no validation chips to fit it on"
                                   if not result.chips.get("valid") else
                                   "too few labelled validation pixels")
    imgs = "".join(f'<h2>{html.escape(k.split("/")[-1][:-4].replace("_", " "))}</h2>'
                   f'<img src="{k.split("/")[-1]}">' for k in files if k.endswith(".png"))
    page = f"""<!doctype html><html><head><meta charset="utf-8"><meta name="generator" content="LandLearn"><title>LandLearn training report</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}td,th{{padding:2px 8px;
text-align:right}}table{{border-collapse:collapse}}tr:nth-child(even){{background:#eee}}
tr.best{{font-weight:bold;background:#dfd}}</style>
</head><body><h1>{html.escape(info['architecture'])} / {html.escape(info['encoder'])}:
training report</h1><p>{html.escape(summary)}{_ensemble_words(networks)}. Best epoch {result.best_epoch} of
{len(result.history)} (by {chosen_by}); learning rate {result.learning_rate:.2e}; batch {result.batch_size};
{html.escape(result.device)}; {result.seconds:.0f} s. Chips: {result.chips}.</p>
<ul>{notes}</ul><h2>Per class ({_scored_on(held_out)})</h2><table><tr><th>class</th><th>precision</th>
<th>recall</th><th>F1</th><th>IoU</th><th>pixels</th></tr>{rows}</table>{counts}
<h2>Epochs (the best in bold)</h2><table><tr><th>epoch</th><th>train loss</th><th>valid loss</th>
<th>accuracy</th><th>mean IoU</th><th>s</th></tr>{epochs}</table>{calibration}{imgs}
</body></html>"""
    files["report/report.html"] = page.encode("utf-8")
    return files


def _ensemble_words(networks: list) -> str:
    return (f" (an ensemble of {len(networks)} networks, their probabilities averaged; below: "
            "the first network's epochs)" if networks else "")


def _networks_table(networks: list) -> str:
    """One row per network of an ensemble: its seed, rate and best epoch."""
    if not networks:
        return ""
    rows = "".join(
        f"<tr><td>{k}</td><td>{n['seed']}</td><td>{n['learning_rate']:.2e}</td>"
        f"<td>{n['best_epoch']}</td><td>{n['epochs_run']}</td><td>{_f(n['best_mean_iou'])}</td></tr>"
        for k, n in enumerate(networks, start=1))
    return ("<h2>Networks of the ensemble</h2><table><tr><th>network</th><th>seed</th>"
            "<th>learning rate</th><th>best epoch</th><th>epochs run</th>"
            f"<th>best mean IoU</th></tr>{rows}</table>")


def _f(v) -> str:
    return "-" if v is None else f"{v:.4g}"

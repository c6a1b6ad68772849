"""Probe: which conventions reproduce the printed "Bicubic" rows of STEA Table II (Gaussian8)?

STEA's Table II Bicubic row (×2 Set5 28.82/0.8577, ×3 26.21/0.7766, ×4 24.57/0.7108, ...) is the Bicubic row
of IKC's Table 1 (Gu et al., CVPR 2019) as printed there; the "Gaussian8" test protocol is IKC's.  This
script rebuilds the Bicubic baseline under every combination of the conventions that the IKC-family code
(IKC, DAN/DANv2, DCLS) leaves as knobs, and prints one row per combination with the dataset means next to
the printed values.  Knobs (each value is an implementation found in that public code or a common
alternative):

widths      ``linspace``: numpy.linspace(lo, hi, 8) over the §III-B / IKC range of the scale (DCLS
            ``codes/scripts/generate_mod_blur_LR_bic.py``: ``for sig in np.linspace(1.8, 3.2, 8)``; IKC
            ``codes/scripts/generate_mod_LR_bic.py`` comments ``sig_list = [1.8, 2.0, ..., 3.2]``, the same
            8 values at ×4).
pad         blur border: ``reflect`` (torch ReflectionPad2d / F.pad 'reflect', edge not repeated — IKC
            ``codes/utils/util.py`` BatchBlur, DCLS ``codes/utils/deg_utils.py`` BatchBlur), ``symmetric``
            (edge repeated), ``replicate``, ``zero``.
down        ``matlab``: MATLAB bicubic imresize(·, 1/s) of the float blurred image, rounded to uint8 once
            (DCLS/DAN ``b_Bicubic`` = torch port of MATLAB imresize on the float tensor; the LR is saved
            with ``tensor2img`` rounding);  ``ikc-pil``: the blurred image truncated to uint8
            (``to_pil_image``: ``pic.mul(255).byte()``) then PIL BICUBIC resize (IKC ``b_GPUVar_Bicubic``);
            ``s-fold``: ``blurred[::s, ::s]`` (direct subsampling, y = (x ⊗ k)↓s read literally).
up          Bicubic baseline upsampling of the uint8 LR: ``matlab`` (MATLAB imresize ×s, uint8 in/out),
            ``pil`` (PIL BICUBIC), ``torch`` (F.interpolate bicubic, a = -0.75, align_corners=False, the
            cv2.INTER_CUBIC kernel).
metric      scored per SR image (all with shave = scale unless said, mean over images × kernels):
            ``Y``: BT.601 Y float (basicsr / IKC ``bgr2ycbcr(only_y=True)`` on [0,1] floats);
            ``RGB``: all three channels (IKC test_IKC.py's ``psnr`` / ``ssim`` next to ``psnr_y``);
            ``Y-noshave`` / ``RGB-noshave``: crop_border 0.
            SSIM is Wang's (11×11 Gaussian σ 1.5, 'valid' mean) on the same arrays — IKC ``calculate_ssim``
            (cv2.filter2D then [5:-5, 5:-5]).
grey        Set14's one-channel ``bridge``: ``bt601`` (cv2.imread replicates grey to BGR, so the IKC code
            scores BT.601 Y of a grey RGB image) — used for every probe; identity differs by < 0.1 dB.

Usage::

    SRBENCH_DATA_DIR=/work/shared/datasets .nox/tests/bin/python scripts/probe_gaussian8.py \
        --datasets Set5,Set14 --scales 2,3,4 [--down ...] [--up ...] [--pad ...] [--markdown out.md]

Cheap: Set5 × 3 scales × the default knobs takes about a minute on one core.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.degradations import gaussian8_lr, gaussian8_sigmas, mod_crop
from harness.images import read_image
from harness.imresize import imresize
from harness.metrics import psnr, rgb_to_y, shave, ssim

# The printed Bicubic rows of STEA Table II (= IKC Table 1), (PSNR, SSIM).
PRINTED = {
    2: {"Set5": (28.82, 0.8577), "Set14": (26.02, 0.7634), "B100": (25.92, 0.7310), "Urban100": (23.14, 0.7258)},
    3: {"Set5": (26.21, 0.7766), "Set14": (24.01, 0.6662), "B100": (24.25, 0.6356), "Urban100": (21.39, 0.6203)},
    4: {"Set5": (24.57, 0.7108), "Set14": (22.79, 0.6032), "B100": (23.29, 0.5786), "Urban100": (20.35, 0.5532)},
}
METRICS = ("Y", "Yfull", "Y709", "Lpil", "RGB")  # add "<space>-noshave" for crop_border 0


def upsample(lr: np.ndarray, shape: tuple[int, int], how: str) -> np.ndarray:
    """uint8 LR → uint8 SR of ``shape`` by the named bicubic implementation."""
    if how == "matlab":
        return imresize(lr, output_shape=shape)
    if how == "pil":
        from PIL import Image

        chans = [np.asarray(Image.fromarray(lr[..., c]).resize((shape[1], shape[0]), Image.BICUBIC))
                 for c in range(lr.shape[2])]
        return np.stack(chans, axis=2)
    if how == "torch":
        import torch
        import torch.nn.functional as F

        t = torch.from_numpy(lr.astype(np.float64).transpose(2, 0, 1))[None]
        up = F.interpolate(t, size=shape, mode="bicubic", align_corners=False)[0].numpy().transpose(1, 2, 0)
        return np.clip(np.floor(up + 0.5), 0, 255).astype(np.uint8)
    raise ValueError(f"unknown upsampling {how!r}")


SSIMS = ("wang", "skimage-default", "gauss-same")


def _ssim(a: np.ndarray, b: np.ndarray, variant: str) -> float:
    """``wang``/``skimage-default`` as harness.metrics.ssim; ``gauss-same``: the 11×11 σ 1.5 Gaussian map
    averaged over the whole image (reflect-padded, no 'valid' crop — cv2.filter2D without the [5:-5] crop)."""
    if variant != "gauss-same":
        return ssim(a, b, variant)
    if a.ndim == 3:
        return float(np.mean([_ssim(a[..., c], b[..., c], variant) for c in range(a.shape[2])]))
    from scipy.ndimage import gaussian_filter

    def f(x):
        return gaussian_filter(x, 1.5, truncate=5 / 1.5, mode="mirror")

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu1, mu2 = f(a), f(b)
    s11, s22, s12 = f(a * a) - mu1**2, f(b * b) - mu2**2, f(a * b) - mu1 * mu2
    m = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1**2 + mu2**2 + c1) * (s11 + s22 + c2))
    return float(m.mean())


def lumas(img: np.ndarray) -> dict[str, np.ndarray]:
    """The luma definitions probed, each on its own 0–255-ish scale (float64)."""
    a = img.astype(np.float64)
    return {
        "Y": rgb_to_y(img),  # BT.601 studio swing 16–235 (MATLAB rgb2ycbcr, basicsr, IKC bgr2ycbcr)
        "Yfull": a @ np.array([0.299, 0.587, 0.114]),  # BT.601 full range (JPEG YCbCr, cv2 YCrCb, rgb2gray)
        "Y709": a @ np.array([0.2125, 0.7154, 0.0721]),  # skimage.color.rgb2gray (BT.709 weights)
        "Lpil": np.floor(a @ np.array([0.299, 0.587, 0.114]) + 0.5),  # PIL convert('L'), integer
    }


def score(sr: np.ndarray, hr: np.ndarray, scale: int, metrics=METRICS, ssims=SSIMS) -> dict[str, tuple[float, ...]]:
    """metric → (PSNR, SSIM per variant in ``ssims``); the *-noshave rows report the 'wang' SSIM only."""
    out = {}
    ls, lh = lumas(sr), lumas(hr)
    spaces = {**{k: (ls[k], lh[k]) for k in ls}, "RGB": (sr.astype(np.float64), hr.astype(np.float64))}
    for name in metrics:
        base, _, tail = name.partition("-")
        border = 0 if tail == "noshave" else scale
        a, b = shave(spaces[base][0], border), shave(spaces[base][1], border)
        variants = ssims if border else ("wang",)
        vals = [_ssim(a, b, v) for v in variants] + [float("nan")] * (len(ssims) - len(variants))
        out[name] = (psnr(a, b), *vals)
    return out


def widths_for(spec: str, scale: int) -> list[float]:
    """``paper``: linspace over the scale's §III-B/IKC range; ``lo:hi``: linspace(lo, hi, 8); ``a/b/c``: a list."""
    if spec == "paper":
        return gaussian8_sigmas(scale)
    if ":" in spec:
        lo, hi = map(float, spec.split(":"))
        return [float(x) for x in np.linspace(lo, hi, 8)]
    return [float(x) for x in spec.split("/")]


def probe(datasets, scales, pads, downs, ups, data_dir: Path, metrics=METRICS, ssims=SSIMS, widths=("paper",)):
    rows = []
    for scale, dataset in itertools.product(scales, datasets):
        files = sorted((data_dir / "benchmark" / dataset / "HR").glob("*.png"))
        hrs = [mod_crop(read_image(f), scale) for f in files]
        for wspec, pad, down, up in itertools.product(widths, pads, downs, ups):
            sigmas = widths_for(wspec, scale)
            t0 = time.perf_counter()
            acc = {m: [] for m in metrics}
            for hr in hrs:
                for sigma in sigmas:
                    lr = gaussian8_lr(hr, scale, sigma, pad=pad, downsample=down)
                    sr = upsample(lr, hr.shape[:2], up)
                    for m, v in score(sr, hr, scale, metrics, ssims).items():
                        acc[m].append(v)
            for m in metrics:
                p, *ss = np.mean(acc[m], axis=0)
                rows.append(dict(dataset=dataset, scale=scale, widths=wspec, pad=pad, down=down, up=up, metric=m,
                                 psnr=float(p), ssim=dict(zip(ssims, map(float, ss))),
                                 printed=PRINTED[scale].get(dataset),
                                 n=len(acc[m]), secs=time.perf_counter() - t0))
            print(f"  {dataset} x{scale} widths={wspec} pad={pad} down={down} up={up}: "
                  + ", ".join(f"{m} {np.mean(acc[m], axis=0)[0]:.2f}" for m in metrics)
                  + f"  ({time.perf_counter() - t0:.1f}s)", file=sys.stderr, flush=True)
    return rows


def table(rows) -> str:
    """Markdown: one row per combination; SSIM columns per variant (Δ to the printed SSIM in brackets)."""
    head = ("| dataset | × | widths | pad | down | up | metric | PSNR | printed | ΔPSNR | "
            + " | ".join(f"SSIM {v} (Δ)" for v in rows[0]["ssim"]) + " | printed SSIM |\n")
    head += "|" + "---|" * (11 + len(rows[0]["ssim"])) + "\n"
    lines = []
    for r in rows:
        pp, ps = r["printed"] or (float("nan"), float("nan"))
        ss = " | ".join("–" if np.isnan(r["ssim"][v]) else f"{r['ssim'][v]:.4f} ({r['ssim'][v] - ps:+.4f})"
                        for v in r["ssim"])
        lines.append(f"| {r['dataset']} | {r['scale']} | {r['widths']} | {r['pad']} | {r['down']} | {r['up']} | {r['metric']} | "
                     f"{r['psnr']:.2f} | {pp:.2f} | {r['psnr'] - pp:+.2f} | {ss} | {ps:.4f} |")
    return head + "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default="Set5")
    ap.add_argument("--scales", default="2,3,4")
    ap.add_argument("--widths", default="paper", help="kernel-width sets, see widths_for")
    ap.add_argument("--pad", default="reflect")
    ap.add_argument("--down", default="matlab,ikc-pil,s-fold")
    ap.add_argument("--up", default="matlab,pil,torch")
    ap.add_argument("--metrics", default=",".join(METRICS), help="metric spaces (see score)")
    ap.add_argument("--ssim", default=",".join(SSIMS), help="SSIM variants")
    ap.add_argument("--markdown", help="append the table to this file")
    ap.add_argument("--data-dir", default=os.environ.get("SRBENCH_DATA_DIR", "../shared/datasets"))
    a = ap.parse_args(argv)
    rows = probe(a.datasets.split(","), [int(s) for s in a.scales.split(",")], a.pad.split(","),
                 a.down.split(","), a.up.split(","), Path(a.data_dir), a.metrics.split(","), a.ssim.split(","),
                 a.widths.split(","))
    text = table(rows)
    print(text)
    if a.markdown:
        with open(a.markdown, "a") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

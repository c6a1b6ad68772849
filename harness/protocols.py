"""Each published model's own evaluation protocol: one source, used by every suite that prints its row.

Baseline rows of a comparison table are usually copied from the model's own paper, so the printed numbers
follow *that* paper's evaluation (script, luma, input pipeline, counting convention), not the citing
paper's.  An entry declares ``protocol = "model"`` when its printed row comes from the model's own paper
(copied from it, or this suite *is* that paper's table); it is then evaluated and counted as below, in
every suite alike.  ``protocol = "suite"`` (the default) uses the suite's profile and the entry's ``count``.

Each protocol cites the evidence that established it (measured with the published weights, in the suite
whose ambiguities hold the probe figures).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Protocol:
    model: str
    paper: str  # the model's own paper (whose printed numbers follow this protocol)
    profile: str  # named metric profile (harness.profile.PROFILES)
    overrides: dict[str, Any] = field(default_factory=dict)
    count: dict[str, str] = field(default_factory=dict)  # harness.suite.Count fields
    evidence: str = ""


# The MATLAB-era luma models: the authors' MATLAB test code (HR Y in double, bicubic down/up), scored with
# the SelfExSR script; their papers count conv weights only.  Evidence: carn_table1 (VDSR ×4 Set5 31.108 →
# 31.342 with matlab-y, printed 31.35; SRCNN ×4 reproduces all four sets).
_MATLAB_Y = {"y_model_input": "matlab-y"}
_WEIGHTS = {"params": "weights-only"}

PROTOCOLS: dict[str, Protocol] = {p.model: p for p in [
    Protocol("srcnn", "Dong et al., SRCNN (ECCV 2014 / TPAMI 2016)", "selfexsr", _MATLAB_Y, _WEIGHTS,
             "carn_table1: published ×4 weights reproduce Set5/Set14/B100/Urban100 under this protocol"),
    Protocol("vdsr", "Kim et al., VDSR (CVPR 2016)", "selfexsr", _MATLAB_Y, _WEIGHTS,
             "carn_table1: ×4 Set5 31.342 (printed 31.35) only with the MATLAB-Y input pipeline"),
    Protocol("drcn", "Kim et al., DRCN (CVPR 2016)", "selfexsr", _MATLAB_Y, _WEIGHTS,
             "same MATLAB code base as VDSR (carn_table1 ambiguities)"),
    Protocol("drrn", "Tai et al., DRRN (CVPR 2017)", "selfexsr", _MATLAB_Y, _WEIGHTS,
             "MATLAB test code on bicubic-upscaled Y (carn_table1 ambiguities)"),
    Protocol("memnet", "Tai et al., MemNet (ICCV 2017)", "selfexsr", _MATLAB_Y, _WEIGHTS,
             "MATLAB test code on bicubic-upscaled Y (carn_table1 ambiguities)"),
    Protocol("fsrcnn", "Dong et al., FSRCNN (ECCV 2016)", "selfexsr", {},
             {"params": "weights-only", "multadds": "deconv-per-output", "flops": "deconv-per-output"},
             "carn_table1: 12K params = conv weights; Mult-Adds count the 9×9 deconvolution per output pixel"),
    Protocol("lapsrn", "Lai et al., LapSRN (CVPR 2017)", "selfexsr", {},
             {"params": "weights-only", "multadds": "deconv-per-output", "flops": "deconv-per-output"},
             "carn_table1: 813K weights and 149.4 G Mult-Adds (×4) with transposed convs per output pixel"),
    Protocol("carn_m", "Ahn et al., CARN (ECCV 2018)", "selfexsr", {"grey_y": "bt601"}, {"params": "no-bias"},
             "carn_table1: Set14 needs bridge scored as Y of replicated RGB (28.31 → 28.41, printed 28.42); "
             "412K = parameters without biases"),
    Protocol("carn", "Ahn et al., CARN (ECCV 2018)", "selfexsr", {"grey_y": "bt601"}, {"params": "all"},
             "carn_table2: 1,592K = all parameters of all three upsampler branches"),
]}


def get_protocol(model: str | None) -> Protocol | None:
    return PROTOCOLS.get(model or "")

"""Self-similarity modules of the STEA paper (../shared/papers/002_c14ca8e1fcc2e418.txt, §II-A) and its baselines.

- ``NonLocalAttention`` (NLA, Wang et al. [22], embedded Gaussian): softmax(θ(X) φ(X)ᵀ) g(X), O(N²C).
- ``NonLocalSparseAttention`` (NLSA, Mei et al., CVPR 2021 [21]): the same attention restricted by
  spherical LSH to the buckets a query falls in (chunks of ``chunk_size`` plus the adjacent chunks,
  ``n_hashes`` rounds combined by their log-sum-exp weights), O(N·chunk·C).
- ``TaylorAttention`` — FTEA / STEA / TTEA (order 1 / 2 / 3), with or without DWC(V).
- ``taylor_attention`` / ``softmax_attention``: the exact mathematics behind the approximation, used
  by the test that shows the error falling with the order.

The equations of §II-A are lost in the text extraction (only their numbers and the prose survive), so
the derivation below is rebuilt from the prose, equation number by equation number.  X ∈ R^{N×C} is
the feature map flattened to N = H·W tokens.

(3)  Q = X W_Q,  K = X W_K,  V = X W_V        three 1×1 convolutions ("the parameters of three
     convolutions").
(4)  A = σ(Q Kᵀ)                              σ = row-wise softmax, A ∈ R^{N×N}: the attention map.
(5)  A = σ(X W_Q W_Kᵀ Xᵀ)                     (3) substituted into (4).
(6)  S = Q Kᵀ,  A = σ(S)                      the paper's shorthand.
(7)  σ(S)_ij = exp(S_ij) / Σ_l exp(S_il) ≈ exp(S_ij) / λ
     λ is "a learnable parameter used to approximate the denominator of softmax".
(8)  exp(S) = 1 + S + ½ S∘S + R₃              second-order Taylor expansion of the exponential.  The
     paper writes "I + S + S²/2 + R" with I an identity matrix — a matrix-power notation; for softmax
     attention the exponential is element-wise, so the second-order term is the Hadamard square
     S∘S, and R₃ = Σ_{n≥3} S^{∘n}/n! is the remainder (|R₃| ≤ e^{|s|}|s|³/6 element-wise).
(9)  exp(S) ≈ S + ½ S∘S                        constant and remainder dropped (the paper's choice; the
     constant only adds the global sum Σ_j V_j / λ, and λ is learned anyway).
(10) O = A V ≈ (S + ½ S∘S) V / λ = [Q (Kᵀ V) + ½ (Q⊛Q) ((K⊛K)ᵀ V)] / λ
     with q⊛q = q ⊗ q the tensor square of a row (C² features): (q·k)² = ⟨q⊗q, k⊗k⟩, so Q and K
     separate and the associative law computes KᵀV (C×C) first — linear in N.  In the paper's
     matrix reading the second-order term is Q (KᵀQ) Kᵀ V: the same separation, with the C×C
     matrix KᵀQ in the middle.
(11) KᵀQ = P Λ Pᵀ                             the paper treats the C×C matrix as symmetric and
     diagonalises it (Λ diagonal eigenvalues, P orthogonal eigenvectors).
(12) O ≈ [Q (Kᵀ V) + ½ Q P Λ Pᵀ Kᵀ V] / λ      (11) in (10).
(13) Λ ≈ Λ₁ Λ₂                                 eigen-decomposition per input is too expensive, and a
     single learned Λ would fix the input size, so two "separative eigenvalue extraction modules"
     (Fig. 4) predict diagonal matrices Λ₁ (from Q) and Λ₂ (from K).  Each module "first reduces the
     number of channels to a quarter and then restores it": global average pool → 1×1 conv C→C/4 →
     ReLU → 1×1 conv C/4→C → softplus (a positive diagonal).  "The same network block" gives λ.
(14) Q̂ = Q P Λ₁,  K̂ = K P Λ₂:   O ≈ [Q (Kᵀ V) + ½ Q̂ (K̂ᵀ V)] / λ
     P is replaced by "an efficient operation".  Here P is absorbed into the learned projections
     (Q P = X (W_Q P): any orthogonal P is reachable by W_Q, W_K), so Q̂ = Q Λ₁, K̂ = K Λ₂ — a
     declared reading: the paper does not say what the operation is.
(15) O ≈ [Q (Kᵀ V) + ½ Q̂ (K̂ᵀ V)] / λ + DWC(V) a depth-wise conv on V (as in FLatten Transformer [23])
     restores the rank the linear form loses.  A 1×1 output projection follows (declared: Fig. 3/4
     are not in the text; it is what makes the FTEA module 10.6K at C = 48, Table IV).

Orders.  FTEA keeps the first-order term only: O ≈ Q (Kᵀ V) / λ.  TTEA adds the third-order term
S^{∘3}/6 ↔ Q (KᵀQ)² Kᵀ V / 6 ≈ Q̃ (K̃ᵀ V) / 6 with Q̃ = Q Λ₃, K̃ = K Λ₄ from two more extraction
modules (Λ² of (11) replaced by a learned pair, as in (13)).  Cost of the learned form:
O(N·C²/h) per order for h heads, against O(N²·C) for NLA.

The learned form (``form="learned"``, what LabNet/RealNet use) is not an approximation of any fixed
function once Λ and λ are learned; the *exact* form (``form="exact"``) keeps the tensor-power features
of (10) and the true row sums, Σ_{n≤p} S^{∘n}/n! V / Σ_{n≤p} S^{∘n}/n! 1, which converges to softmax
attention as p grows when |S_ij| is moderate (the expansion of exp converges everywhere, but the
truncation error e^{|s|}|s|^{p+1}/(p+1)! is small only for |s| ≲ 1–2, i.e. normalised Q and K with a
moderate temperature).  ``tests/test_stea_models.py`` checks that error order by order.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# -- the exact mathematics ---------------------------------------------------------------------------------


def softmax_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q kᵀ) v over the last two dims (q: …×N×d, k: …×M×d, v: …×M×e); no scaling applied."""
    return torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v


def _tensor_power(x: torch.Tensor, n: int) -> torch.Tensor:
    """Rows of x (…×N×d) raised to the n-th tensor power, flattened: …×N×dⁿ (n = 0 gives ones)."""
    out = torch.ones(*x.shape[:-1], 1, dtype=x.dtype, device=x.device)
    for _ in range(n):
        out = (out.unsqueeze(-1) * x.unsqueeze(-2)).flatten(-2)
    return out


def taylor_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, order: int,
                     keep_constant: bool = True, denominator: torch.Tensor | float | None = None) -> torch.Tensor:
    """Σ_{n≤order} (q kᵀ)^{∘n}/n! v, normalised — Eq. (8)–(10) computed in linear form (never N×M).

    (q·k)ⁿ = ⟨q^{⊗n}, k^{⊗n}⟩, so each term is φₙ(Q) (φₙ(K)ᵀ V) with dⁿ features.  ``denominator``
    None: the exact row sums of the truncated kernel (what softmax's denominator becomes); a tensor or
    float: a given λ as in Eq. (7).  ``keep_constant=False`` drops the n = 0 term, as Eq. (9) does.
    """
    if order < 1:
        raise ValueError("order must be ≥ 1")
    num = torch.zeros(*q.shape[:-1], v.shape[-1], dtype=q.dtype, device=q.device)
    den = torch.zeros(*q.shape[:-1], 1, dtype=q.dtype, device=q.device)
    ones = torch.ones(*k.shape[:-1], 1, dtype=k.dtype, device=k.device)
    for n in range(0 if keep_constant else 1, order + 1):
        fq, fk = _tensor_power(q, n), _tensor_power(k, n)
        kt = fk.transpose(-2, -1)
        num = num + (fq @ (kt @ v)) / math.factorial(n)
        den = den + (fq @ (kt @ ones)) / math.factorial(n)
    if denominator is None:
        return num / den
    return num / denominator


def taylor_kernel_error(q: torch.Tensor, k: torch.Tensor, order: int) -> float:
    """max |exp(q kᵀ) − Σ_{n≤order} (q kᵀ)ⁿ/n!| (element-wise), the remainder R_{order+1} of Eq. (8)."""
    s = q @ k.transpose(-2, -1)
    approx = sum(s ** n / math.factorial(n) for n in range(order + 1))
    return float((torch.exp(s) - approx).abs().max())


# -- building blocks ---------------------------------------------------------------------------------------


class EigenExtract(nn.Module):
    """Fig. 4's eigenvalue extraction block: pool → 1×1 C→C/4 → ReLU → 1×1 C/4→C → softplus: B×C > 0."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.reduce = nn.Conv2d(channels, hidden, 1)
        self.restore = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.adaptive_avg_pool2d(x, 1)
        return F.softplus(self.restore(F.relu(self.reduce(y)))).flatten(1) + 1e-4


class TaylorAttention(nn.Module):
    """FTEA / STEA / TTEA (order 1 / 2 / 3) with the learnable denominator λ and optional DWC(V), Eq. (15).

    ``form="learned"`` is the paper's module (Eq. 13–15, see the module docstring); ``form="exact"``
    uses the tensor-power features of Eq. (10) with the exact truncated row sums (no λ, no Λ), for
    checking the expansion itself.  Q and K are L2-normalised per head and scaled by a learnable
    temperature (initialised to 1), which keeps |q·k| ≤ τ in the range where the expansion holds
    (declared: the paper does not say how S is kept small).
    """

    def __init__(self, channels: int, order: int = 2, dwc_v: bool = True, dwc_kernel: int = 11,
                 dwc_bias: bool = False, heads: int = 1, form: str = "learned", keep_constant: bool = False):
        super().__init__()
        if order not in (1, 2, 3):
            raise ValueError("order must be 1 (FTEA), 2 (STEA) or 3 (TTEA)")
        if channels % heads:
            raise ValueError(f"channels {channels} not divisible by heads {heads}")
        if form not in ("learned", "exact"):
            raise ValueError("form must be 'learned' or 'exact'")
        self.order, self.heads, self.form, self.keep_constant = order, heads, form, keep_constant
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        if form == "learned":
            self.lam = EigenExtract(channels)  # λ of Eq. (7), per channel
            # Λ₁, Λ₂ (order 2) and Λ₃, Λ₄ (order 3): one extraction module each, Eq. (13)
            self.eig = nn.ModuleList(EigenExtract(channels) for _ in range(2 * (order - 1)))
        self.dwc = (nn.Conv2d(channels, channels, dwc_kernel, padding=dwc_kernel // 2, groups=channels,
                              bias=dwc_bias) if dwc_v else None)
        self.proj = nn.Conv2d(channels, channels, 1)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:  # B×C×H×W -> B×h×N×d
        b, c, h, w = t.shape
        return t.reshape(b, self.heads, c // self.heads, h * w).transpose(-2, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, hh, ww = x.shape
        q, k, v = self.q(x), self.k(x), self.v(x)
        qh = F.normalize(self._heads(q), dim=-1) * self.temperature
        kh = F.normalize(self._heads(k), dim=-1)
        vh = self._heads(v)
        if self.form == "exact":
            out = taylor_attention(qh, kh, vh, self.order, keep_constant=True)
        else:
            d = c // self.heads
            # first order: Q (Kᵀ V)
            out = qh @ (kh.transpose(-2, -1) @ vh)
            for n in range(2, self.order + 1):  # ½ Q̂ (K̂ᵀ V), ⅙ Q̃ (K̃ᵀ V)
                l1 = self.eig[2 * (n - 2)](q).reshape(b, self.heads, 1, d)
                l2 = self.eig[2 * (n - 2) + 1](k).reshape(b, self.heads, 1, d)
                out = out + (qh * l1) @ ((kh * l2).transpose(-2, -1) @ vh) / math.factorial(n)
            if self.keep_constant:
                out = out + vh.sum(dim=-2, keepdim=True)
            lam = self.lam(x).reshape(b, self.heads, 1, d)
            out = out / (lam * hh * ww)  # λ scaled by N: the softmax row sum is Σ over N tokens
        out = out.transpose(-2, -1).reshape(b, c, hh, ww)
        if self.dwc is not None:
            out = out + self.dwc(v)
        return self.proj(out)


class NonLocalAttention(nn.Module):
    """NLA [22] (embedded Gaussian): x + W(softmax(θ(x) φ(x)ᵀ) g(x)), θ/φ/g 1×1 convs C→C/reduction."""

    def __init__(self, channels: int, reduction: int = 2):
        super().__init__()
        inner = max(1, channels // reduction)
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Conv2d(channels, inner, 1)
        self.g = nn.Conv2d(channels, inner, 1)
        self.w = nn.Conv2d(inner, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        t = self.theta(x).flatten(2).transpose(1, 2)  # B×N×c'
        p = self.phi(x).flatten(2)  # B×c'×N
        g = self.g(x).flatten(2).transpose(1, 2)  # B×N×c'
        y = torch.softmax(torch.matmul(t, p), dim=-1)
        y = torch.matmul(y, g).transpose(1, 2).reshape(b, -1, h, w)
        return x + self.w(y)


class NonLocalSparseAttention(nn.Module):
    """NLSA (Mei, Fan, Zhou, CVPR 2021): non-local attention within LSH buckets.

    Follows the paper's description (spherical LSH by random rotations, ``n_hashes`` rounds, tokens
    sorted by bucket and split into chunks of ``chunk_size``, each chunk attending to itself and its two
    neighbour chunks, the rounds merged with softmax weights of their log-sum-exp); the defaults are the
    paper's (reduction 4, chunk 144, 4 hashes, res_scale 1).  Written from the paper, not copied.  The
    random rotations are drawn per forward from a generator seeded by ``seed`` (deterministic tracing).
    """

    def __init__(self, channels: int, reduction: int = 4, chunk_size: int = 144, n_hashes: int = 4,
                 res_scale: float = 1.0, seed: int = 0):
        super().__init__()
        self.match = nn.Conv2d(channels, max(1, channels // reduction), 3, padding=1)
        self.assembly = nn.Conv2d(channels, channels, 1)
        self.chunk_size, self.n_hashes, self.res_scale, self.seed = chunk_size, n_hashes, res_scale, seed

    def _hash(self, x: torch.Tensor, n_buckets: int) -> torch.Tensor:  # x: B×N×d -> B×hashes×N codes
        d = x.shape[-1]
        gen = torch.Generator(device="cpu").manual_seed(self.seed)
        rot = torch.randn(d, self.n_hashes, n_buckets // 2, generator=gen).to(x)
        r = torch.einsum("bnd,dhr->bhnr", x, rot)
        r = torch.cat([r, -r], dim=-1)
        return r.argmax(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        n = h * w
        emb = self.match(x).flatten(2).transpose(1, 2)  # B×N×d
        asm = self.assembly(x).flatten(2).transpose(1, 2)  # B×N×C
        n_buckets = max(2, min(n // self.chunk_size + (n // self.chunk_size) % 2, 128))
        codes = self._hash(F.normalize(emb, dim=-1), n_buckets)  # B×H×N
        codes = codes * n + torch.arange(n, device=x.device)  # stable sort by (bucket, position)
        order = codes.argsort(dim=-1)  # B×H×N
        undo = order.argsort(dim=-1)
        idx = order.reshape(b, -1)  # B×(H·N)
        e = emb.gather(1, idx.unsqueeze(-1).expand(-1, -1, emb.shape[-1]))
        a = asm.gather(1, idx.unsqueeze(-1).expand(-1, -1, c))
        pad = (-n) % self.chunk_size
        hashes, cs = self.n_hashes, self.chunk_size
        e = e.reshape(b, hashes, n, -1)
        a = a.reshape(b, hashes, n, c)
        if pad:  # fill the last chunk with the first tokens again (wrapping, so any pad ≥ n works)
            wrap = torch.arange(n, n + pad, device=x.device) % n
            e = torch.cat([e, e[:, :, wrap]], dim=2)
            a = torch.cat([a, a[:, :, wrap]], dim=2)
        m = (n + pad) // cs
        e = e.reshape(b, hashes, m, cs, -1)
        a = a.reshape(b, hashes, m, cs, c)
        en = F.normalize(e, dim=-1)

        def neighbours(t):  # chunk, previous chunk, next chunk
            return torch.cat([t, t.roll(1, dims=2), t.roll(-1, dims=2)], dim=3)

        scores = torch.einsum("bhmid,bhmjd->bhmij", e, neighbours(en))  # B×H×m×cs×3cs
        lse = torch.logsumexp(scores, dim=-1, keepdim=True)
        out = torch.einsum("bhmij,bhmjc->bhmic", torch.exp(scores - lse), neighbours(a))
        out = out.reshape(b, hashes, -1, c)[:, :, :n]
        lse = lse.reshape(b, hashes, -1, 1)[:, :, :n]
        out = out.gather(2, undo.unsqueeze(-1).expand(-1, -1, -1, c))
        lse = lse.gather(2, undo.unsqueeze(-1))
        weights = torch.softmax(lse, dim=1)
        out = (out * weights).sum(dim=1)  # B×N×C
        return out.transpose(1, 2).reshape(b, c, h, w) * self.res_scale + x

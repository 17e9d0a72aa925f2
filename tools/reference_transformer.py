#!/usr/bin/python3
"""PyTorch reference for apgen's transformer denoiser (docs/transformer.md), fixtures and a speed baseline.

Run it with Debian's interpreter, which has PyTorch (the pyenv `python3` on PATH does not):

    /usr/bin/python3 tools/reference_transformer.py generate-fixtures [--out tests/data/transformer]
    /usr/bin/python3 tools/reference_transformer.py verify-fixtures   [--dir tests/data/transformer]
    /usr/bin/python3 tools/reference_transformer.py bench --threads 1 [--shapes small,medium,large]
        [--batches 1,64] [--runs 20] [--linear blas|mkldnn] [--write-weights DIR]
    /usr/bin/python3 tools/reference_transformer.py generate-grad-fixtures [--out tests/data/transformer]
    /usr/bin/python3 tools/reference_transformer.py bench-train --threads 1 [--lengths 81,324] [--batch 64]
        [--impl reference|encoder] [--adamw]

The speed comparison with the C++ bench must be run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE UNSET (this
machine's environment sets them, which pins OpenBLAS to a slower kernel), for example:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        GLIBC_TUNABLES=glibc.malloc.trim_threshold=268435456:glibc.malloc.mmap_threshold=268435456 \\
        ATEN_CPU_CAPABILITY=avx512 OMP_WAIT_POLICY=passive \\
        /usr/bin/python3 tools/reference_transformer.py bench --threads 1

`bench` prints the relevant environment first and warns when either OpenBLAS variable is still set.
Note: Debian's python3-torch calls whatever libblas.so.3 is installed; on this machine that is the reference
(netlib) BLAS (~4 GFLOP/s), so `--linear mkldnn` (dense layers through oneDNN) is the fairer PyTorch baseline.

Conventions (shared with the C++ tests):
  * tensor names/shapes: include/apgen/nn/weights.hpp (Linear weights [out, in]); metadata: config.hpp to_metadata.
  * fixture feature ids: feature k of position i (0-based within its row) is (i * (k + 3) + 1) % F_k.
  * a case file holds, per row r: tokens.{r} (F32 token ids, [L_r]), expected.tokens.{r} ([L_r, V] F32 logits
    after SUBS, -inf where suppressed), expected.controls.{r} ([L_r, 3], only with control heads) and, for models
    with features, features.{r} ([L_r, K] F32 feature ids, redundant with the rule above). Its __metadata__ holds
    rows, model, weights (file name), dtype of the weights the expectation was computed from, feature_rule.
  * expectations are computed in float64 from the weights exactly as stored (BF16-rounded for the BF16 copy) and
    then cast to float32.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

# --------------------------------------------------------------------------------------------------------------
# safetensors, by hand
# --------------------------------------------------------------------------------------------------------------

_ST_NAME = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}
_ST_DTYPE = {v: k for k, v in _ST_NAME.items()}
_ST_SIZE = {"F32": 4, "F16": 2, "BF16": 2}
_ST_INT_VIEW = {"F32": torch.int32, "F16": torch.int16, "BF16": torch.int16}


def _tensor_bytes(t: torch.Tensor) -> bytes:
    """Raw little-endian bytes of a float tensor (bfloat16 has no numpy dtype: go through an integer view)."""
    assert sys.byteorder == "little", "this writer assumes a little-endian host"
    t = t.detach().contiguous().cpu()
    return t.view(_ST_INT_VIEW[_ST_NAME[t.dtype]]).numpy().tobytes()


def save_safetensors(path, tensors: dict, metadata: dict | None = None, dtype=torch.float32) -> None:
    """Writes `tensors` (name -> tensor, converted to `dtype`: float32, float16 or bfloat16) in insertion order."""
    if dtype not in _ST_NAME:
        raise ValueError(f"unsupported dtype {dtype}")
    header: dict = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError("safetensors metadata must map str to str")
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    for name, t in tensors.items():
        if name == "__metadata__":
            raise ValueError("reserved tensor name")
        data = _tensor_bytes(t.to(dtype))
        header[name] = {"dtype": _ST_NAME[dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((-len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    """Returns (tensors: dict name -> tensor in its stored dtype, metadata: dict str -> str)."""
    raw = Path(path).read_bytes()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    data = raw[8 + n :]
    metadata = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, info in header.items():
        dt = info["dtype"]
        if dt not in _ST_DTYPE:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {dt}")
        b, e = info["data_offsets"]
        shape = list(info["shape"])
        count = math.prod(shape)
        if not (0 <= b <= e <= len(data)) or e - b != count * _ST_SIZE[dt]:
            raise ValueError(f"{path}: tensor {name} has bad data_offsets {b}, {e} for shape {shape} {dt}")
        chunk = bytearray(data[b:e])
        if count == 0:
            t = torch.empty(shape, dtype=_ST_DTYPE[dt])
        else:
            t = torch.frombuffer(chunk, dtype=_ST_INT_VIEW[dt]).view(_ST_DTYPE[dt]).reshape(shape).clone()
        tensors[name] = t
    return tensors, metadata


# --------------------------------------------------------------------------------------------------------------
# configuration <-> metadata (exactly as config.hpp's to_metadata / from_metadata)
# --------------------------------------------------------------------------------------------------------------


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


@dataclass
class Config:
    vocab_size: int
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 512
    feature_vocab_sizes: list = field(default_factory=list)
    activation: str = "gelu"  # gelu | swiglu
    causal: bool = False
    attention_window: int = 0  # 0: unlimited; else |i - j| <= attention_window
    control_heads: bool = True
    pin_decoded: bool = True
    mask_id: int = 0
    rope_base: float = 10000.0
    norm_eps: float = 1e-5  # stored as a float32 in C++

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def validate(self) -> None:
        assert self.vocab_size > 0 and self.d_model > 0 and self.n_layers > 0 and self.n_heads > 0 and self.d_ff > 0
        assert self.d_model % self.n_heads == 0 and self.head_dim % 2 == 0
        assert 0 <= self.mask_id < self.vocab_size
        assert all(f > 0 for f in self.feature_vocab_sizes)
        assert self.activation in ("gelu", "swiglu")
        assert self.rope_base > 1 and self.norm_eps > 0

    def to_metadata(self) -> dict:
        b = lambda v: "true" if v else "false"  # noqa: E731
        return {
            "apgen.format": "transformer/1",
            "vocab_size": str(self.vocab_size),
            "d_model": str(self.d_model),
            "n_layers": str(self.n_layers),
            "n_heads": str(self.n_heads),
            "d_ff": str(self.d_ff),
            "feature_vocab_sizes": ",".join(str(f) for f in self.feature_vocab_sizes),
            "activation": self.activation,
            "causal": b(self.causal),
            "attention_window": str(self.attention_window),
            "control_heads": b(self.control_heads),
            "pin_decoded": b(self.pin_decoded),
            "mask_id": str(self.mask_id),
            # C++: ostream with precision 17 / 9 in the default (general, %g-like) float format.
            "rope_base": "%.17g" % self.rope_base,
            "norm_eps": "%.9g" % _f32(self.norm_eps),
        }

    @staticmethod
    def from_metadata(m: dict) -> "Config":
        if m.get("apgen.format") != "transformer/1":
            raise ValueError(f"unknown format {m.get('apgen.format')!r}")
        flag = lambda k: {"true": True, "false": False}[m[k]]  # noqa: E731
        fv = m["feature_vocab_sizes"]
        c = Config(
            vocab_size=int(m["vocab_size"]),
            d_model=int(m["d_model"]),
            n_layers=int(m["n_layers"]),
            n_heads=int(m["n_heads"]),
            d_ff=int(m["d_ff"]),
            feature_vocab_sizes=[int(x) for x in fv.split(",")] if fv else [],
            activation=m["activation"],
            causal=flag("causal"),
            attention_window=int(m.get("attention_window", "0")),
            control_heads=flag("control_heads"),
            pin_decoded=flag("pin_decoded"),
            mask_id=int(m["mask_id"]),
            rope_base=float(m["rope_base"]),
            norm_eps=_f32(float(m["norm_eps"])),
        )
        c.validate()
        return c


# --------------------------------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------------------------------


class _Attention(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)


class _MLP(nn.Module):
    def __init__(self, d: int, ff: int, swiglu: bool):
        super().__init__()
        self.up = nn.Linear(d, ff)
        self.gate = nn.Linear(d, ff) if swiglu else None
        self.down = nn.Linear(ff, d)


class _Layer(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.norm1 = nn.LayerNorm(c.d_model)
        self.attn = _Attention(c.d_model)
        self.norm2 = nn.LayerNorm(c.d_model)
        self.mlp = _MLP(c.d_model, c.d_ff, c.activation == "swiglu")


class _Embed(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.tokens = nn.Embedding(c.vocab_size, c.d_model)
        self.features = nn.ModuleList([nn.Embedding(f, c.d_model) for f in c.feature_vocab_sizes])


class _Heads(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.tokens = nn.Linear(c.d_model, c.vocab_size)
        self.controls = nn.Linear(c.d_model, 3) if c.control_heads else None


def apply_rotary(x: torch.Tensor, base: float) -> torch.Tensor:
    """x: [B, H, L, dh]; position p = index along L. Rotate-half: (u_i, u_{i+h}) rotated by p * base^(-2i/dh)."""
    L, dh = x.shape[-2], x.shape[-1]
    h = dh // 2
    i = torch.arange(h, dtype=torch.float64)
    inv_freq = torch.pow(torch.tensor(base, dtype=torch.float64), -2.0 * i / dh)
    theta = torch.arange(L, dtype=torch.float64)[:, None] * inv_freq[None, :]  # [L, h]
    cos = torch.cos(theta).to(x.dtype)
    sin = torch.sin(theta).to(x.dtype)
    u1, u2 = x[..., :h], x[..., h:]
    return torch.cat([u1 * cos - u2 * sin, u2 * cos + u1 * sin], dim=-1)


class Transformer(nn.Module):
    """State dict names are exactly those of include/apgen/nn/weights.hpp."""

    def __init__(self, c: Config):
        super().__init__()
        c.validate()
        self.config = c
        self.embed = _Embed(c)
        self.layers = nn.ModuleList([_Layer(c) for _ in range(c.n_layers)])
        self.norm = nn.LayerNorm(c.d_model)
        self.head = _Heads(c)
        self._mkldnn = None  # id(nn.Linear) -> (weight, bias) as oneDNN tensors, see use_mkldnn_linear

    def use_mkldnn_linear(self, on: bool = True) -> "Transformer":
        """Bench only (float32, inference): run the dense layers through oneDNN instead of torch's BLAS. Debian's
        python3-torch links the reference (netlib) libblas, which makes F.linear ~5-20x slower than oneDNN."""
        self._mkldnn = None
        if on:
            self._mkldnn = {id(m): (m.weight.detach().to_mkldnn(), m.bias.detach().to_mkldnn())
                            for m in self.modules() if isinstance(m, nn.Linear)}
        return self

    def _linear(self, x: torch.Tensor, m: nn.Linear) -> torch.Tensor:
        if self._mkldnn is None:
            return F.linear(x, m.weight, m.bias)
        w, b = self._mkldnn[id(m)]
        y = torch._C._nn.mkldnn_linear(x.reshape(-1, x.shape[-1]).contiguous().to_mkldnn(), w, b).to_dense()
        return y.reshape(*x.shape[:-1], y.shape[-1])

    # ---- weights -------------------------------------------------------------------------------------------
    def named_tensors(self) -> dict:
        """name -> parameter, in weights.hpp's for_each_tensor order (the state_dict order matches it)."""
        return dict(self.named_parameters())

    def init_default(self, seed: int, std: float = 0.02) -> "Transformer":
        """weights.hpp's scheme (not bit-identical to the C++ RNG): normal(0, std), std / sqrt(2 n_layers) for
        attn.out and mlp.down, ones/zeros for norms/biases, -2 for the control biases."""
        g = torch.Generator().manual_seed(seed)
        res = std / math.sqrt(2.0 * self.config.n_layers)
        with torch.no_grad():
            for name, p in self.named_tensors().items():
                if name.endswith("head.controls.bias"):
                    p.fill_(-2.0)
                elif "norm" in name:
                    p.fill_(1.0 if name.endswith("weight") else 0.0)
                elif name.endswith("bias"):
                    p.zero_()
                else:
                    s = res if ("attn.out.weight" in name or "mlp.down.weight" in name) else std
                    p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * s)
        return self

    def init_fixture(self, seed: int, std: float = 0.2, bias_std: float = 0.1, norm_std: float = 0.1) -> "Transformer":
        """Large random weights so that every part of the computation shows in the outputs."""
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in self.named_tensors().items():
                r = torch.randn(p.shape, generator=g, dtype=torch.float64)
                if name.endswith("head.controls.bias"):
                    p.copy_(-2.0 + bias_std * r)
                elif "norm" in name and name.endswith("weight"):
                    p.copy_(1.0 + norm_std * r)
                elif "norm" in name or name.endswith("bias"):
                    p.copy_(bias_std * r)
                else:
                    p.copy_(std * r)
        return self

    def state_for_save(self) -> dict:
        return {k: v.detach() for k, v in self.named_tensors().items()}

    def load_tensors(self, tensors: dict) -> "Transformer":
        mine = self.named_tensors()
        missing = set(mine) - set(tensors)
        extra = set(tensors) - set(mine)
        if missing or extra:
            raise ValueError(f"tensor names differ: missing {sorted(missing)}, unexpected {sorted(extra)}")
        with torch.no_grad():
            for k, p in mine.items():
                if tuple(tensors[k].shape) != tuple(p.shape):
                    raise ValueError(f"{k}: shape {tuple(tensors[k].shape)} != {tuple(p.shape)}")
                p.copy_(tensors[k].to(p.dtype))
        return self

    # ---- forward -------------------------------------------------------------------------------------------
    def forward(self, tokens: torch.Tensor, lengths=None, features: torch.Tensor | None = None):
        """tokens: [B, L] int64 (rows padded at the end with any token); lengths: [B] or None (all L);
        features: [B, L, K] int64 when the config has feature embeddings.
        Returns (token logits [B, L, V] after SUBS, control logits [B, L, 3] or None). Padded outputs are junk."""
        c = self.config
        B, L = tokens.shape
        d, H, dh = c.d_model, c.n_heads, c.head_dim
        dtype = self.embed.tokens.weight.dtype
        h = F.embedding(tokens, self.embed.tokens.weight)
        for k, emb in enumerate(self.embed.features):
            h = h + F.embedding(features[..., k], emb.weight)

        bias = None  # additive attention mask [B, 1, L, L]
        if lengths is not None or c.causal or c.attention_window > 0:
            allowed = torch.ones(B, 1, L, L, dtype=torch.bool)
            if lengths is not None:
                lengths = torch.as_tensor(lengths)
                valid = torch.arange(L)[None, :] < lengths[:, None]  # [B, L] keys
                allowed = allowed & valid[:, None, None, :]
            if c.causal:
                allowed = allowed & torch.ones(L, L, dtype=torch.bool).tril()[None, None]
            if c.attention_window > 0:
                pos = torch.arange(L)
                allowed = allowed & ((pos[:, None] - pos[None, :]).abs() <= c.attention_window)[None, None]
            bias = torch.zeros(B, 1, L, L, dtype=dtype).masked_fill(~allowed, float("-inf"))

        scale = 1.0 / math.sqrt(dh)
        for layer in self.layers:
            a = F.layer_norm(h, (d,), layer.norm1.weight, layer.norm1.bias, c.norm_eps)
            qkv = self._linear(a, layer.attn.qkv)
            q, k, v = qkv[..., :d], qkv[..., d : 2 * d], qkv[..., 2 * d :]
            q, k, v = (t.reshape(B, L, H, dh).transpose(1, 2) for t in (q, k, v))  # [B, H, L, dh]
            q = apply_rotary(q, c.rope_base)
            k = apply_rotary(k, c.rope_base)
            s = torch.matmul(q, k.transpose(-1, -2)) * scale
            if bias is not None:
                s = s + bias
            p = torch.softmax(s, dim=-1)
            o = torch.matmul(p, v).transpose(1, 2).reshape(B, L, d)
            h = h + self._linear(o, layer.attn.out)
            m = F.layer_norm(h, (d,), layer.norm2.weight, layer.norm2.bias, c.norm_eps)
            if c.activation == "gelu":
                u = F.gelu(self._linear(m, layer.mlp.up))  # exact erf form
            else:
                u = F.silu(self._linear(m, layer.mlp.gate)) * self._linear(m, layer.mlp.up)
            h = h + self._linear(u, layer.mlp.down)
        z = F.layer_norm(h, (d,), self.norm.weight, self.norm.bias, c.norm_eps)
        logits = self._linear(z, self.head.tokens)
        logits = apply_subs(logits, tokens, c.mask_id, c.pin_decoded)
        controls = self._linear(z, self.head.controls) if c.control_heads else None
        return logits, controls


def apply_subs(logits: torch.Tensor, tokens: torch.Tensor, mask_id: int, pin_decoded: bool) -> torch.Tensor:
    """MASK logit -> -inf; with pin_decoded, a non-MASK input position -> -inf everywhere but 0 at its token."""
    logits = logits.clone()
    logits[..., mask_id] = float("-inf")
    if pin_decoded:
        decoded = tokens != mask_id
        pinned = torch.full_like(logits, float("-inf"))
        pinned.scatter_(-1, tokens.unsqueeze(-1), 0.0)
        logits = torch.where(decoded.unsqueeze(-1), pinned, logits)
    return logits


# --------------------------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------------------------

FIXTURE_LENGTHS = (7, 1, 12)


def fixture_features(length: int, sizes) -> torch.Tensor:
    """[length, K] int64: feature k of position i is (i * (k + 3) + 1) % F_k."""
    i = torch.arange(length)
    cols = [(i * (k + 3) + 1) % f for k, f in enumerate(sizes)]
    return torch.stack(cols, dim=-1) if cols else torch.zeros(length, 0, dtype=torch.int64)


def fixture_models():
    a = Config(vocab_size=11, d_model=32, n_layers=2, n_heads=4, d_ff=64, feature_vocab_sizes=[5], activation="gelu",
               causal=False, control_heads=True, pin_decoded=True, mask_id=0)
    b = Config(vocab_size=13, d_model=32, n_layers=2, n_heads=2, d_ff=48, feature_vocab_sizes=[], activation="swiglu",
               causal=True, control_heads=False, pin_decoded=False, mask_id=0)
    c = Config(vocab_size=11, d_model=32, n_layers=2, n_heads=4, d_ff=64, feature_vocab_sizes=[], activation="gelu",
               causal=False, control_heads=True, pin_decoded=False, mask_id=0)
    return [("bidir_gelu", a, 1001), ("causal_swiglu", b, 1002), ("bidir_nopin", c, 1003)]


def fixture_rows(c: Config, seed: int):
    """Random tokens in [0, V) for rows of lengths 7, 1, 12, with about a third forced to MASK (and the
    length-1 row a MASK, so that it is informative under pin_decoded)."""
    g = torch.Generator().manual_seed(seed + 7)
    rows = []
    for n in FIXTURE_LENGTHS:
        t = torch.randint(0, c.vocab_size, (n,), generator=g)
        masked = torch.rand(n, generator=g) < 0.35
        t[masked] = c.mask_id
        if n == 1:
            t[0] = c.mask_id
        rows.append(t)
    return rows


def run_rows(model: Transformer, rows):
    """Runs the ragged batch padded to the longest row (pad token 0, padded keys masked) and unpads."""
    c = model.config
    L = max(len(r) for r in rows)
    B = len(rows)
    tokens = torch.zeros(B, L, dtype=torch.int64)
    feats = torch.zeros(B, L, len(c.feature_vocab_sizes), dtype=torch.int64)
    for i, r in enumerate(rows):
        tokens[i, : len(r)] = r
        feats[i, : len(r)] = fixture_features(len(r), c.feature_vocab_sizes)
    # padded positions need in-range feature ids too
    for i, r in enumerate(rows):
        feats[i, len(r) :] = 0
    lengths = torch.tensor([len(r) for r in rows])
    with torch.inference_mode():
        logits, controls = model(tokens, lengths, feats if c.feature_vocab_sizes else None)
    out = []
    for i, r in enumerate(rows):
        n = len(r)
        out.append((logits[i, :n].clone(), None if controls is None else controls[i, :n].clone()))
    return out


def _case_tensors(c: Config, rows, outputs):
    t = {}
    for r, (row, (lg, ct)) in enumerate(zip(rows, outputs)):
        t[f"tokens.{r}"] = row.to(torch.float32)
        if c.feature_vocab_sizes:
            t[f"features.{r}"] = fixture_features(len(row), c.feature_vocab_sizes).to(torch.float32)
        t[f"expected.tokens.{r}"] = lg.to(torch.float32)
        if ct is not None:
            t[f"expected.controls.{r}"] = ct.to(torch.float32)
    return t


def generate_fixtures(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, c, seed in fixture_models():
        torch.manual_seed(seed)
        model = Transformer(c).double().init_fixture(seed)
        # The stored weights are float32: compute the expectation from the float32-rounded values (in float64).
        w32 = {k: v.to(torch.float32) for k, v in model.state_for_save().items()}
        model.load_tensors(w32)
        rows = fixture_rows(c, seed)
        meta = c.to_metadata()
        save_safetensors(out / f"{name}.weights.safetensors", w32, meta, torch.float32)
        case_meta = {"model": name, "weights": f"{name}.weights.safetensors", "weights_dtype": "F32",
                     "rows": str(len(rows)), "feature_rule": "(i * (k + 3) + 1) % F_k"}
        save_safetensors(out / f"{name}.case.safetensors", _case_tensors(c, rows, run_rows(model, rows)), case_meta)
        if name == "bidir_gelu":
            wbf = {k: v.to(torch.bfloat16) for k, v in w32.items()}
            save_safetensors(out / f"{name}.weights.bf16.safetensors", wbf, meta, torch.bfloat16)
            model.load_tensors({k: v.to(torch.float64) for k, v in wbf.items()})
            case_meta = dict(case_meta, weights=f"{name}.weights.bf16.safetensors", weights_dtype="BF16")
            save_safetensors(out / f"{name}.case.bf16.safetensors", _case_tensors(c, rows, run_rows(model, rows)),
                             case_meta)
    total = 0
    for p in sorted(out.glob("*.safetensors")):
        total += p.stat().st_size
        print(f"{p}  {p.stat().st_size} bytes")
    print(f"total {total} bytes")


def verify_fixtures(d: Path) -> bool:
    """Reloads every case with this file's reader, rebuilds the model from the weights' metadata and compares."""
    ok = True
    for case in sorted(d.glob("*.case*.safetensors")):
        if case.name.startswith("grad_"):
            continue  # gradient fixtures: verify_grad_fixtures
        ct, cm = load_safetensors(case)
        wt, wm = load_safetensors(d / cm["weights"])
        c = Config.from_metadata(wm)
        assert c.to_metadata() == wm, "metadata does not round-trip"
        model = Transformer(c).double().load_tensors({k: v.to(torch.float64) for k, v in wt.items()})
        rows = [ct[f"tokens.{r}"].to(torch.int64) for r in range(int(cm["rows"]))]
        outs = run_rows(model, rows)
        worst = 0.0
        for r, (lg, ctl) in enumerate(outs):
            e = ct[f"expected.tokens.{r}"].to(torch.float64)
            fin = torch.isfinite(e)
            if not torch.equal(fin, torch.isfinite(lg)):
                ok = False
                print(f"{case.name}: row {r}: -inf pattern differs")
            worst = max(worst, (lg[fin] - e[fin]).abs().max().item() if fin.any() else 0.0)
            if ctl is not None:
                worst = max(worst, (ctl - ct[f"expected.controls.{r}"].to(torch.float64)).abs().max().item())
            # every row padded alone must give the same answer as in the ragged batch
            alone, _ = run_rows(model, [rows[r]])[0]
            worst = max(worst, (alone[fin] - e[fin]).abs().max().item() if fin.any() else 0.0)
        good = worst < 1e-5
        ok &= good
        dtypes = sorted({_ST_NAME[v.dtype] for v in wt.values()})
        print(f"{case.name}: weights {cm['weights']} {dtypes}, {len(ct)} tensors, max |diff| {worst:.2e} "
              f"{'ok' if good else 'MISMATCH'}")
    return ok


# --------------------------------------------------------------------------------------------------------------
# bench
# --------------------------------------------------------------------------------------------------------------

BENCH_SHAPES = {
    "small": (Config(vocab_size=32, d_model=128, n_layers=4, n_heads=4, d_ff=512), 81, (1, 64)),
    "medium": (Config(vocab_size=64, d_model=256, n_layers=6, n_heads=8, d_ff=1024), 128, (1, 32)),
    "large": (Config(vocab_size=32000, d_model=512, n_layers=8, n_heads=8, d_ff=2048), 256, (1,)),
}


def forward_flops(c: Config, L: int, B: int) -> int:
    """2*m*n*k for every matrix product: qkv, out, MLP (incl. gate), QK^T and PV (full L x L even when causal),
    token and control heads. Embedding lookups, norms, softmax and rotary are not counted."""
    d, ff, V = c.d_model, c.d_ff, c.vocab_size
    per_tok_layer = 2 * d * 3 * d + 2 * d * d + 2 * d * ff * (3 if c.activation == "swiglu" else 2)
    attn_per_row_layer = 2 * 2 * L * L * d  # QK^T and PV over all heads
    heads_per_tok = 2 * d * V + (2 * d * 3 if c.control_heads else 0)
    return B * (c.n_layers * (L * per_tok_layer + attn_per_row_layer) + L * heads_per_tok)


def _blas_library() -> str:
    """The libblas this process mapped (Debian's python3-torch uses whatever libblas.so.3 points to)."""
    try:
        for line in Path("/proc/self/maps").read_text().splitlines():
            if "blas" in line.lower():
                return os.path.realpath(line.split()[-1])
    except OSError:
        pass
    return "?"


class EncoderPeer(nn.Module):
    """PyTorch's own fast path for the same sizes, as a speed peer only: embedding + learned positions,
    nn.TransformerEncoder (pre-LN, GELU, batch_first; its fused attention kernels, no rotary embeddings), final
    LayerNorm, token head and control head. Not numerically comparable with apgen (no RoPE, no SUBS)."""

    def __init__(self, c: Config, max_len: int = 512):
        super().__init__()
        self.embed = nn.Embedding(c.vocab_size, c.d_model)
        self.pos = nn.Embedding(max_len, c.d_model)
        layer = nn.TransformerEncoderLayer(c.d_model, c.n_heads, c.d_ff, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, c.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.d_model)
        self.head = nn.Linear(c.d_model, c.vocab_size)
        self.controls = nn.Linear(c.d_model, 3)

    def forward(self, tokens):
        pos = torch.arange(tokens.shape[1]).unsqueeze(0)
        z = self.norm(self.encoder(self.embed(tokens) + self.pos(pos)))
        return self.head(z), self.controls(z)


def bench(args) -> None:
    torch.set_num_threads(args.threads)
    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "GLIBC_TUNABLES",
                                          "ATEN_CPU_CAPABILITY", "OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    unset = env["OPENBLAS_CORETYPE"] is None and env["OPENBLAS_L2_SIZE"] is None
    print("# env: " + ", ".join(f"{k}={'<unset>' if v is None else v}" for k, v in env.items()))
    if unset:
        print("# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset, as the comparison requires")
    else:
        print("# WARNING: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set: rerun under "
              "`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ...` before comparing")
    print(f"# torch {torch.__version__}, threads {torch.get_num_threads()}, implementation {args.impl}, "
          f"dense layers via {args.linear}, BLAS {_blas_library()}")
    print("# shape   batch threads  median_ms  GFLOP/s  peak_rss_MiB (ru_maxrss of the process so far)")
    shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    only_batches = [int(b) for b in args.batches.split(",")] if args.batches else None
    for name in shapes:
        c, L, batches = BENCH_SHAPES[name]
        torch.manual_seed(args.seed)
        if args.impl == "encoder":
            model = EncoderPeer(c).eval()
        else:
            model = Transformer(c).init_default(args.seed).eval()
            if args.linear == "mkldnn":
                model.use_mkldnn_linear()
        if args.write_weights and args.impl == "reference":
            d = Path(args.write_weights)
            d.mkdir(parents=True, exist_ok=True)
            save_safetensors(d / f"bench_{name}.weights.safetensors", model.state_for_save(), c.to_metadata())
        for B in batches:
            if only_batches is not None and B not in only_batches:
                continue
            g = torch.Generator().manual_seed(args.seed + B)
            tokens = torch.randint(0, c.vocab_size, (B, L), generator=g)
            times = []
            with torch.inference_mode():
                for _ in range(args.warmup):
                    model(tokens)
                spent = 0.0
                while len(times) < args.runs and (len(times) < 3 or spent < args.budget_s):
                    t0 = time.perf_counter()
                    model(tokens)
                    dt = time.perf_counter() - t0
                    times.append(dt)
                    spent += dt
            med = statistics.median(times)
            gflops = forward_flops(c, L, B) / med / 1e9
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
            print(f"{name:8s} {B:5d} {args.threads:7d} {med * 1e3:10.3f} {gflops:8.2f} {rss:12.1f}   "
                  f"(d={c.d_model} layers={c.n_layers} heads={c.n_heads} ff={c.d_ff} V={c.vocab_size} L={L}, "
                  f"{len(times)} runs)", flush=True)


# --------------------------------------------------------------------------------------------------------------
# training: the loss of include/apgen/train/loss.hpp, gradient fixtures, and a training-step bench
# --------------------------------------------------------------------------------------------------------------


def raw_outputs(model, tokens: torch.Tensor, features: torch.Tensor | None = None):
    """Training forward: (token logits [B, L, V] WITHOUT SUBS pinning, control logits or None). Only the MASK
    column is touched (-inf), which training excludes from the softmax anyway. Rows must all have length L."""
    from dataclasses import replace
    if isinstance(model, Transformer):
        saved = model.config
        model.config = replace(saved, pin_decoded=False)
        try:
            return model(tokens, None, features)
        finally:
            model.config = saved
    return model(tokens)


def apgen_loss(logits: torch.Tensor, controls: torch.Tensor | None, targets: torch.Tensor, labels: torch.Tensor | None,
               mask_id: int, token_weight: float, control_weight: float) -> torch.Tensor:
    """The loss of include/apgen/train/loss.hpp (row_loss_and_grad) for rows of equal length, averaged over rows
    as train::batch_gradient does. logits [B, L, V] (raw, any value in the MASK column); targets [B, L] int64,
    -1 = none; labels [B, L, 3] 0/1 (remask, insert, delete) or None (controls unsupervised).
    Per row: token = mean over positions with a target of -log softmax over the vocabulary WITHOUT the MASK
    column (0 when the row has no target); control = sum over the 3 heads of the mean over positions of BCE with
    logits; total = token_weight * token + control_weight * control. Returns the mean of the row totals."""
    V = logits.shape[-1]
    keep = torch.tensor([v for v in range(V) if v != mask_id], dtype=torch.int64)
    remap = torch.full((V,), -1, dtype=torch.int64)
    remap[keep] = torch.arange(V - 1)
    lp = torch.log_softmax(logits.index_select(-1, keep), dim=-1)  # [B, L, V-1]
    has = targets >= 0
    idx = remap[targets.clamp(min=0)]
    if bool(((idx < 0) & has).any()):
        raise ValueError("a token target is MASK")
    nll = -lp.gather(-1, idx.clamp(min=0).unsqueeze(-1)).squeeze(-1) * has.to(lp.dtype)  # [B, L]
    count = has.sum(dim=-1)
    token = nll.sum(dim=-1) / count.clamp(min=1).to(lp.dtype)  # 0 for a row without targets
    total = token_weight * token
    if labels is not None and controls is not None:
        bce = F.binary_cross_entropy_with_logits(controls, labels.to(controls.dtype), reduction="none")  # [B, L, 3]
        total = total + control_weight * bce.mean(dim=1).sum(dim=-1)
    return total.mean()


GRAD_TOKEN_WEIGHT = 1.0
GRAD_CONTROL_WEIGHT = 0.7


def grad_fixture_models():
    a = Config(vocab_size=11, d_model=32, n_layers=2, n_heads=4, d_ff=64, feature_vocab_sizes=[5], activation="gelu",
               causal=False, control_heads=True, pin_decoded=True, mask_id=0)
    b = Config(vocab_size=13, d_model=32, n_layers=2, n_heads=2, d_ff=48, feature_vocab_sizes=[], activation="swiglu",
               causal=True, control_heads=True, pin_decoded=False, mask_id=0)
    return [("bidir_gelu", a, 2001), ("causal_swiglu", b, 2002)]


def grad_fixture_rows(c: Config, seed: int, name: str):
    """Rows of lengths 7, 1, 12: random tokens with ~40% MASK; token targets (a random non-MASK id) at ~3/4 of
    the MASK positions (at least one per row, except that the causal model's length-1 row has none: its token
    loss is 0); random 0/1 labels for the three controls at every position."""
    g = torch.Generator().manual_seed(seed + 13)
    rows = []
    for n in FIXTURE_LENGTHS:
        t = torch.randint(0, c.vocab_size, (n,), generator=g)
        masked = torch.rand(n, generator=g) < 0.4
        masked[torch.randint(0, n, (1,), generator=g)] = True
        t[masked] = c.mask_id
        y = torch.full((n,), -1, dtype=torch.int64)
        pick = masked & (torch.rand(n, generator=g) < 0.75)
        if not pick.any():
            pick = masked.clone()
        y[pick] = torch.randint(1, c.vocab_size, (int(pick.sum()),), generator=g)  # mask_id == 0: never MASK
        if n == 1 and c.causal:
            y[:] = -1
        labels = torch.randint(0, 2, (n, 3), generator=g)
        rows.append((t, y, labels))
    return rows


def generate_grad_fixtures(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, c, seed in grad_fixture_models():
        assert c.mask_id == 0
        model = Transformer(c).double().init_fixture(seed)
        w32 = {k: v.to(torch.float32) for k, v in model.state_for_save().items()}
        model.load_tensors(w32)  # float64 computation from the float32 values
        rows = grad_fixture_rows(c, seed, name)
        model.zero_grad(set_to_none=True)
        row_losses = []
        total = None
        for t, y, lab in rows:
            feats = fixture_features(len(t), c.feature_vocab_sizes).unsqueeze(0) if c.feature_vocab_sizes else None
            lg, ct = raw_outputs(model, t.unsqueeze(0), feats)
            l = apgen_loss(lg, ct, y.unsqueeze(0), lab.unsqueeze(0), c.mask_id, GRAD_TOKEN_WEIGHT, GRAD_CONTROL_WEIGHT)
            row_losses.append(l.item())
            total = l if total is None else total + l
        loss = total / len(rows)
        loss.backward()
        wname = f"grad_{name}.weights.safetensors"
        save_safetensors(out / wname, w32, c.to_metadata(), torch.float32)
        case = {}
        for r, (t, y, lab) in enumerate(rows):
            case[f"tokens.{r}"] = t.to(torch.float32)
            case[f"targets.{r}"] = y.to(torch.float32)
            case[f"remask.{r}"] = lab[:, 0].to(torch.float32)
            case[f"insert.{r}"] = lab[:, 1].to(torch.float32)
            case[f"delete.{r}"] = lab[:, 2].to(torch.float32)
        for k, p in model.named_tensors().items():
            case[f"grad.{k}"] = p.grad.detach().to(torch.float32)
        meta = {"model": name, "weights": wname, "weights_dtype": "F32", "rows": str(len(rows)),
                "feature_rule": "(i * (k + 3) + 1) % F_k", "loss": repr(loss.item()),
                "row_losses": ",".join(repr(x) for x in row_losses),
                "token_weight": repr(GRAD_TOKEN_WEIGHT), "control_weight": repr(GRAD_CONTROL_WEIGHT),
                "reduction": "mean over rows of token_weight * token + control_weight * (remask + insert + delete)",
                "computed_in": "float64 (torch.autograd), stored as F32"}
        save_safetensors(out / f"grad_{name}.case.safetensors", case, meta, torch.float32)
        print(f"grad_{name}: loss {loss.item()!r} (rows {', '.join(f'{x:.6f}' for x in row_losses)}), "
              f"{len(model.named_tensors())} gradient tensors")
    for p in sorted(out.glob("grad_*.safetensors")):
        print(f"{p}  {p.stat().st_size} bytes")


def verify_grad_fixtures(d: Path) -> bool:
    """Recomputes every grad_*.case file's loss and gradients from its weights file and the stored rows."""
    ok = True
    for case in sorted(d.glob("grad_*.case.safetensors")):
        ct, cm = load_safetensors(case)
        wt, wm = load_safetensors(d / cm["weights"])
        c = Config.from_metadata(wm)
        model = Transformer(c).double().load_tensors({k: v.to(torch.float64) for k, v in wt.items()})
        tw, cw = float(cm["token_weight"]), float(cm["control_weight"])
        total = 0
        rows = int(cm["rows"])
        for r in range(rows):
            t = ct[f"tokens.{r}"].to(torch.int64)
            y = ct[f"targets.{r}"].to(torch.int64)
            lab = torch.stack([ct[f"{k}.{r}"] for k in ("remask", "insert", "delete")], dim=-1).to(torch.int64)
            feats = fixture_features(len(t), c.feature_vocab_sizes).unsqueeze(0) if c.feature_vocab_sizes else None
            lg, cl = raw_outputs(model, t.unsqueeze(0), feats)
            total = total + apgen_loss(lg, cl, y.unsqueeze(0), lab.unsqueeze(0), c.mask_id, tw, cw)
        loss = total / rows
        loss.backward()
        worst = abs(loss.item() - float(cm["loss"]))
        for k, p in model.named_tensors().items():
            worst = max(worst, (p.grad - ct[f"grad.{k}"].to(torch.float64)).abs().max().item())
        good = worst < 1e-6
        ok &= good
        print(f"{case.name}: loss {cm['loss']}, {len(model.named_tensors())} gradients, max |diff| {worst:.2e} "
              f"{'ok' if good else 'MISMATCH'}")
    return ok


def mdm_batch(c: Config, B: int, L: int, seed: int):
    """An MDM batch like train::mdm_example: clean tokens uniform over the non-MASK ids; per row t ~ U(0, 1) and
    each position masked with probability t (at least one), targets the clean tokens at the masked positions.
    About half the positions carry a target on average."""
    g = torch.Generator().manual_seed(seed)
    clean = torch.randint(1, c.vocab_size, (B, L), generator=g)  # mask_id == 0
    t = torch.rand(B, 1, generator=g)
    masked = torch.rand(B, L, generator=g) < t
    masked[:, 0] |= ~masked.any(dim=1)
    tokens = torch.where(masked, torch.full_like(clean, c.mask_id), clean)
    targets = torch.where(masked, clean, torch.full_like(clean, -1))
    return tokens, targets


def bench_train(args) -> None:
    torch.set_num_threads(args.threads)
    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "GLIBC_TUNABLES", "ATEN_CPU_CAPABILITY",
                                          "OMP_WAIT_POLICY", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    print("# env: " + ", ".join(f"{k}={'<unset>' if v is None else v}" for k, v in env.items()))
    if env["OPENBLAS_CORETYPE"] is not None or env["OPENBLAS_L2_SIZE"] is not None:
        print("# WARNING: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set: rerun under "
              "`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ...` before comparing")
    step = "forward + loss + backward" + (" + AdamW step" if args.adamw else " (no optimizer step)")
    print(f"# torch {torch.__version__}, threads {torch.get_num_threads()}, implementation {args.impl}, BLAS "
          f"{_blas_library()}; timed: zero_grad + {step}; MDM batch, token loss only (controls unsupervised)")
    print("# train   L batch threads  median_ms  tokens/s  GFLOP/s  peak_rss_MiB")
    c = Config(vocab_size=args.vocab, d_model=args.d_model, n_layers=args.layers, n_heads=args.heads, d_ff=args.ff)
    for L in [int(x) for x in args.lengths.split(",")]:
        torch.manual_seed(args.seed)
        if args.impl == "encoder":
            model = EncoderPeer(c, max_len=max(512, L)).train()
        else:
            model = Transformer(c).init_default(args.seed).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4) if args.adamw else None
        tokens, targets = mdm_batch(c, args.batch, L, args.seed + L)

        def one_step():
            model.zero_grad(set_to_none=True)
            lg, ct = raw_outputs(model, tokens)
            loss = apgen_loss(lg, ct, targets, None, c.mask_id, 1.0, 0.0)
            loss.backward()
            if opt is not None:
                opt.step()
            return loss

        for _ in range(args.warmup):
            one_step()
        times = []
        spent = 0.0
        while len(times) < args.runs and (len(times) < 3 or spent < args.budget_s):
            t0 = time.perf_counter()
            one_step()
            dt = time.perf_counter() - t0
            times.append(dt)
            spent += dt
        med = statistics.median(times)
        flops = 3 * forward_flops(c, L, args.batch)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        print(f"train {L:5d} {args.batch:5d} {args.threads:7d} {med * 1e3:10.2f} {args.batch * L / med:9.0f} "
              f"{flops / med / 1e9:8.2f} {rss:12.1f}   (d={c.d_model} layers={c.n_layers} heads={c.n_heads} "
              f"ff={c.d_ff} V={c.vocab_size}, {len(times)} runs)", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate-fixtures", help="write the test fixtures")
    g.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "tests/data/transformer"))
    v = sub.add_parser("verify-fixtures", help="reload the fixtures and recompute them")
    v.add_argument("--dir", default=str(Path(__file__).resolve().parent.parent / "tests/data/transformer"))
    b = sub.add_parser("bench", help="time the PyTorch forward pass")
    b.add_argument("--threads", type=int, default=1)
    b.add_argument("--shapes", default="small,medium,large", help="comma-separated: small, medium, large")
    b.add_argument("--batches", default="", help="comma-separated batch sizes to keep (default: all of a shape's)")
    b.add_argument("--runs", type=int, default=20, help="at most this many timed runs (at least 3)")
    b.add_argument("--budget-s", type=float, default=3.0, help="stop timing a case after this many seconds")
    b.add_argument("--warmup", type=int, default=2)
    b.add_argument("--seed", type=int, default=1)
    b.add_argument("--impl", choices=("reference", "encoder"), default="reference",
                   help="reference: this file's model (same architecture as apgen); encoder: nn.TransformerEncoder")
    b.add_argument("--linear", choices=("blas", "mkldnn"), default="blas",
                   help="dense layers through torch's BLAS (Debian: reference netlib libblas) or oneDNN")
    b.add_argument("--write-weights", default="", metavar="DIR",
                   help="save each bench model's weights + metadata as DIR/bench_<shape>.weights.safetensors")
    gg = sub.add_parser("generate-grad-fixtures", help="write the gradient fixtures (grad_*.safetensors)")
    gg.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "tests/data/transformer"))
    bt = sub.add_parser("bench-train", help="time a PyTorch training step (MDM batch) like bench/bench_training")
    bt.add_argument("--threads", type=int, default=1)
    bt.add_argument("--lengths", default="81,324", help="comma-separated row lengths")
    bt.add_argument("--batch", type=int, default=64)
    bt.add_argument("--vocab", type=int, default=32)
    bt.add_argument("--d-model", type=int, default=128)
    bt.add_argument("--layers", type=int, default=4)
    bt.add_argument("--heads", type=int, default=4)
    bt.add_argument("--ff", type=int, default=512)
    bt.add_argument("--runs", type=int, default=10, help="at most this many timed steps (at least 3)")
    bt.add_argument("--budget-s", type=float, default=10.0, help="stop timing a length after this many seconds")
    bt.add_argument("--warmup", type=int, default=2, help="untimed steps first (glibc and torch warm up over ~2)")
    bt.add_argument("--seed", type=int, default=1)
    bt.add_argument("--impl", choices=("reference", "encoder"), default="reference")
    bt.add_argument("--adamw", action="store_true", help="include an AdamW step (the C++ bench does not)")
    args = ap.parse_args(argv)
    if args.cmd == "generate-fixtures":
        generate_fixtures(Path(args.out))
    elif args.cmd == "verify-fixtures":
        ok = verify_fixtures(Path(args.dir))
        ok = verify_grad_fixtures(Path(args.dir)) and ok
        return 0 if ok else 1
    elif args.cmd == "generate-grad-fixtures":
        generate_grad_fixtures(Path(args.out))
    elif args.cmd == "bench-train":
        bench_train(args)
    else:
        bench(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

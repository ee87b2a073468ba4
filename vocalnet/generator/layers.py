"""A compact Llama decoder layer with HF-identical parameter names, plus the KV cache it streams with.

Parameter names match `transformers`' `LlamaDecoderLayer` (`self_attn.{q,k,v,o}_proj`,
`mlp.{gate,up,down}_proj`, `input_layernorm`, `post_attention_layernorm`), so released VocalNet weights
load unchanged. Writing the layer ourselves keeps the step-by-step decoder free of HF cache plumbing:
positions and attention masks (boolean or additive) are always passed explicitly, which is what the VocalNet
streaming masks need.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    """Root-mean-square layer norm (Llama), computed in fp32."""

    def __init__(self, hidden_size: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == self.weight.dtype == torch.float32:  # one fused call (the decoding hot path)
            return F.rms_norm(x, x.shape[-1:], self.weight, self.variance_epsilon)
        normed = F.rms_norm(x.float(), x.shape[-1:], eps=self.variance_epsilon)
        return self.weight * normed.to(x.dtype)


class HeadStack(nn.Module):
    """Output heads (RMSNorm + Linear each) applied in one batched call, head i to row i.

    Inference only (`SpeechGenerator.stack_heads`): an MTP step reads one hidden state per head, and
    one call for all of them costs little more than one head. The weights stay fp32.
    """

    def __init__(self, norms: list[RMSNorm], projs: list[nn.Linear]) -> None:
        super().__init__()
        self.eps = norms[0].variance_epsilon
        zeros = torch.zeros(projs[0].out_features)
        self.register_buffer("norm_weight", torch.stack([n.weight.detach() for n in norms]))  # (K, H)
        self.register_buffer("weight", torch.stack([p.weight.detach().t() for p in projs]).contiguous())  # (K, H, V)
        self.register_buffer("bias", torch.stack([zeros if p.bias is None else p.bias.detach() for p in projs])[:, None])

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h: (k, H), row i for head i (k <= number of heads) -> logits (k, V)."""
        k = h.shape[0]
        x = F.rms_norm(h.float(), h.shape[-1:], eps=self.eps) * self.norm_weight[:k]
        return torch.baddbmm(self.bias[:k], x[:, None], self.weight[:k])[:, 0]


class RotaryEmbedding(nn.Module):
    """Llama rotary position embedding (default rope type): cos and signed sin for given positions.

    The sin table carries rotate_half's sign (-sin on the first half), so applying the rotation is
    x * cos + roll(x) * sin: three tensor calls instead of six (`apply_rotary`).
    """

    def __init__(self, head_dim: int, theta: float = 10000.0) -> None:
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, positions: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """positions: (B, T) int -> cos, signed sin of shape (B, T, 1, head_dim)."""
        freqs = positions.float()[:, :, None, None] * self.inv_freq
        cos, sin = freqs.cos(), freqs.sin()
        return torch.cat((cos, cos), -1).to(dtype), torch.cat((-sin, sin), -1).to(dtype)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor) -> torch.Tensor:
    """Rotate (B, T, heads, head_dim) by `RotaryEmbedding` tables: Llama's x*cos + rotate_half(x)*sin."""
    return torch.addcmul(x * cos, x.roll(x.shape[-1] // 2, -1), signed_sin)


Segment = str | int  # "text", "speech", or n: n text rows followed by speech rows


class KVCache:
    """Keys/values of one attention layer, ordered [text, speech] in one growable buffer.

    Text may keep arriving while speech is being generated (streaming): new text is inserted before
    the speech part, which is then shifted (rare: once per text chunk). Reading the cache is a view.
    """

    def __init__(self) -> None:
        self._k: torch.Tensor | None = None
        self._v: torch.Tensor | None = None
        self._len = {"text": 0, "speech": 0}

    def length(self, segment: str) -> int:
        return self._len[segment]

    def _reserve(self, like: torch.Tensor, total: int) -> None:
        if self._k is not None and total <= self._k.shape[2]:
            return
        cap = max(64, 2 * total)
        b, h, _, d = like.shape
        new_k, new_v = like.new_empty(b, h, cap, d), like.new_empty(b, h, cap, d)
        n = self._len["text"] + self._len["speech"]
        if n:
            new_k[:, :, :n], new_v[:, :, :n] = self._k[:, :, :n], self._v[:, :, :n]
        self._k, self._v = new_k, new_v

    def append(self, segment: Segment, k: torch.Tensor, v: torch.Tensor) -> None:
        """Append (B, heads, T, d) keys/values to the text or speech segment (an int n: the first n
        rows are text, the rest speech)."""
        if isinstance(segment, int):
            self.append("text", k[:, :, :segment], v[:, :, :segment])
            self.append("speech", k[:, :, segment:], v[:, :, segment:])
            return
        nt, ns, t = self._len["text"], self._len["speech"], k.shape[2]
        self._reserve(k, nt + ns + t)
        if segment == "text" and ns:
            self._k[:, :, nt + t : nt + t + ns] = self._k[:, :, nt : nt + ns].clone()
            self._v[:, :, nt + t : nt + t + ns] = self._v[:, :, nt : nt + ns].clone()
        at = nt if segment == "text" else nt + ns
        self._k[:, :, at : at + t] = k
        self._v[:, :, at : at + t] = v
        self._len[segment] += t

    def keys_values(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All cached keys/values, [text, speech] along the time axis."""
        n = self._len["text"] + self._len["speech"]
        return self._k[:, :, :n], self._v[:, :, :n]


class Attention(nn.Module):
    """Multi-head (grouped-query capable) self-attention with rotary positions, no biases."""

    def __init__(self, hidden_size: int, num_heads: int, num_kv_heads: int, dropout: float) -> None:
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden size {hidden_size} is not divisible by {num_heads} heads")
        self.num_heads, self.num_kv_heads = num_heads, num_kv_heads
        self.head_dim = hidden_size // num_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(hidden_size, num_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(hidden_size, num_kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(hidden_size, num_kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(num_heads * self.head_dim, hidden_size, bias=False)
        self.qkv_proj: nn.Linear | None = None  # set by fuse()

    def fuse(self) -> None:
        """Inference only: q/k/v become one `qkv_proj` (one matmul call instead of three; at batch 1
        a call's fixed cost outweighs its arithmetic). Parameter names change: do not save after."""
        self.qkv_proj = _concat_linears(self.q_proj, self.k_proj, self.v_proj)
        del self.q_proj, self.k_proj, self.v_proj

    def _rotated_qkv(
        self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q, k (rotated) and v, each (B, heads, T, head_dim). Fused projections rotate q and k in one call."""
        b, t, _ = x.shape
        nq, nk, d = self.num_heads, self.num_kv_heads, self.head_dim
        if self.qkv_proj is None:
            q = apply_rotary(self.q_proj(x).view(b, t, nq, d), *rope)
            k = apply_rotary(self.k_proj(x).view(b, t, nk, d), *rope)
            v = self.v_proj(x).view(b, t, nk, d)
        else:
            qkv = self.qkv_proj(x).view(b, t, nq + 2 * nk, d)
            qk, v = apply_rotary(qkv[:, :, : nq + nk], *rope), qkv[:, :, nq + nk :]
            q, k = qk[:, :, :nq], qk[:, :, nq:]
        return q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        mask: torch.Tensor | None,
        cache: KVCache | None = None,
        segment: Segment = "speech",
        out_rows: int | None = None,
    ) -> torch.Tensor:
        """x: (B, T, H); mask: bool or additive float (B or 1, 1, T, S) over [cached text, cached speech]
        keys (+ new ones).

        Without a cache the keys are the T new positions. With a cache the new keys are appended to
        `segment` first, and the mask covers all cached keys in [text, speech] order. `out_rows`: only
        the last rows are attended from (the others only add their keys and values).
        """
        b, t, _ = x.shape
        q, k, v = self._rotated_qkv(x, rope)
        if cache is not None:
            cache.append(segment, k, v)
            k, v = cache.keys_values()
        if out_rows is not None and out_rows < t:
            if out_rows == 0:
                return x[:, :0]
            q, t = q[:, :, t - out_rows :], out_rows
            mask = mask[..., -out_rows:, :] if mask is not None else None
        if self.num_kv_heads != self.num_heads:
            rep = self.num_heads // self.num_kv_heads
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        p = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, -1))


class MLP(nn.Module):
    """SwiGLU feed-forward block."""

    def __init__(self, hidden_size: int, ffn_dim: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(hidden_size, ffn_dim, bias=False)
        self.up_proj = nn.Linear(hidden_size, ffn_dim, bias=False)
        self.down_proj = nn.Linear(ffn_dim, hidden_size, bias=False)
        self.gate_up_proj: nn.Linear | None = None  # set by fuse()

    def fuse(self) -> None:
        """Inference only: gate and up become one `gate_up_proj` (see `Attention.fuse`)."""
        self.gate_up_proj = _concat_linears(self.gate_proj, self.up_proj)
        del self.gate_proj, self.up_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gate_up_proj is None:
            gate, up = self.gate_proj(x), self.up_proj(x)
        else:
            gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)


def _concat_linears(*linears: nn.Linear) -> nn.Linear:
    """One bias-free Linear whose outputs are the given Linears' outputs, concatenated."""
    w = torch.cat([lin.weight.detach() for lin in linears])
    fused = nn.Linear(w.shape[1], w.shape[0], bias=False, device=w.device, dtype=w.dtype)
    fused.weight.data.copy_(w)
    return fused


class DecoderLayer(nn.Module):
    """Pre-norm transformer layer: x + attn(norm(x)), then x + mlp(norm(x)); `hidden_dropout` drops
    attention and MLP outputs while training."""

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        ffn_dim: int,
        num_kv_heads: int | None = None,
        dropout: float = 0.0,
        eps: float = 1e-6,
        hidden_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.hidden_dropout = hidden_dropout
        self.self_attn = Attention(hidden_size, num_heads, num_kv_heads or num_heads, dropout)
        self.mlp = MLP(hidden_size, ffn_dim)
        self.input_layernorm = RMSNorm(hidden_size, eps)
        self.post_attention_layernorm = RMSNorm(hidden_size, eps)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        mask: torch.Tensor | None,
        cache: KVCache | None = None,
        segment: Segment = "speech",
        out_rows: int | None = None,
    ) -> torch.Tensor:
        """`out_rows`: compute the outputs of the last rows only (all rows still fill the cache)."""
        attn = self.self_attn(self.input_layernorm(x), rope, mask, cache, segment, out_rows)
        if attn.shape[1] == 0:
            return attn
        x = x[:, x.shape[1] - attn.shape[1] :] + self._drop(attn)
        return x + self._drop(self.mlp(self.post_attention_layernorm(x)))

    def _drop(self, branch: torch.Tensor) -> torch.Tensor:
        if self.training and self.hidden_dropout:
            return F.dropout(branch, self.hidden_dropout, training=True)
        return branch

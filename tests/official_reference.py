"""An independent re-statement of the official VocalNet speech generator's training forward.

Written from the spec (section 3) on top of transformers' own Llama modules, with the official
module names, dense float masks built with explicit per-chunk loops and official position ids
(0..len-1 over the padded text). The tests load its weights into our implementation and require
identical logits and losses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRMSNorm, LlamaRotaryEmbedding


class OfficialReferenceGenerator(nn.Module):
    def __init__(self, hidden: int, ffn: int, heads: int, n_enc: int, n_dec: int, mtp: int, unit_vocab: int,
                 txt_chunk: int = 5, speech_chunk: int = 15) -> None:
        super().__init__()
        self.V0, self.V = unit_vocab, unit_vocab + 4
        self.bos, self.sos, self.eos, self.pad = unit_vocab, unit_vocab + 1, unit_vocab + 2, unit_vocab + 3
        self.ct, self.cs = txt_chunk, speech_chunk
        lc = LlamaConfig(vocab_size=self.V, hidden_size=hidden, intermediate_size=ffn, num_hidden_layers=n_dec,
                         num_attention_heads=heads, max_position_embeddings=2048, attention_dropout=0.0)
        lc._attn_implementation = "eager"
        self.embedding = nn.Embedding(self.V, hidden, padding_idx=self.pad)
        self.encode_layers = nn.ModuleList(LlamaDecoderLayer(lc, i) for i in range(n_enc))
        self.decode_layers = nn.ModuleList(LlamaDecoderLayer(lc, i) for i in range(n_dec))
        self.norm = LlamaRMSNorm(hidden)
        self.output_proj = nn.Linear(hidden, self.V)
        self.mtp_layers = nn.ModuleList(
            nn.ModuleDict({"decoder_layer": LlamaDecoderLayer(lc, 0), "norm_final": LlamaRMSNorm(hidden),
                           "output_proj": nn.Linear(hidden, self.V)})
            for _ in range(mtp)
        )
        self.rotary = LlamaRotaryEmbedding(lc)

    @staticmethod
    def _additive(mask: torch.Tensor) -> torch.Tensor:
        return (~mask[:, None]).float() * torch.finfo(torch.float32).min

    def _run(self, layers, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(x.shape[1])[None]
        pe = self.rotary(x, pos)
        for layer in layers:
            out = layer(x, attention_mask=self._additive(mask), position_ids=pos, position_embeddings=pe)
            x = out[0] if isinstance(out, tuple) else out
        return x

    def forward(self, text: torch.Tensor, text_lens: list[int], units: torch.Tensor, unit_lens: list[int],
                streaming: list[bool]):
        B, Lmax, _ = text.shape
        pre_mask = torch.zeros(B, Lmax, Lmax, dtype=torch.bool)
        for i, n in enumerate(text_lens):
            pre_mask[i, :n, :n] = torch.ones(n, n, dtype=torch.bool).tril()
        pre = self._run(self.encode_layers, text, pre_mask)
        T = torch.cat([self.embedding(torch.full((B, 1), self.bos)), pre], 1)
        Tp, tl = T.shape[1], [n + 1 for n in text_lens]
        Nmax = units.shape[1]
        s_in = torch.full((B, Nmax + 1), self.pad)
        s_out = torch.full((B, Nmax + 1), self.pad)
        for i, n in enumerate(unit_lens):
            s_in[i, 0] = self.sos
            s_in[i, 1 : n + 1] = units[i, :n]
            s_out[i, :n] = units[i, :n]
            s_out[i, n] = self.eos
        x = torch.cat([T, self.embedding(s_in)], 1)
        total = x.shape[1]
        base = torch.zeros(B, total, total, dtype=torch.bool)
        for i in range(B):
            sp = unit_lens[i] + 1
            if streaming[i]:
                base[i, : tl[i], : tl[i]] = torch.ones(tl[i], tl[i], dtype=torch.bool).tril()
                k = 0
                while k * self.cs + 1 < sp or k == 0:
                    start = 0 if k == 0 else k * self.cs + 1
                    end = min((k + 1) * self.cs + 1, sp)
                    base[i, Tp + start : Tp + end, : min((k + 1) * self.ct, tl[i])] = True
                    k += 1
            else:
                base[i, : tl[i], : tl[i]] = True
                base[i, Tp : Tp + sp, : tl[i]] = True
            base[i, Tp : Tp + sp, Tp : Tp + sp] = torch.ones(sp, sp, dtype=torch.bool).tril()
        h = self._run(self.decode_layers, x, base)
        logits = [self.output_proj(self.norm(h))[:, Tp:]]
        targets = [s_out]
        for j, mod in enumerate(self.mtp_layers, start=1):
            m = torch.zeros_like(base)
            for i in range(B):
                rows = unit_lens[i] + 1 - j
                m[i, : tl[i], : tl[i]] = base[i, : tl[i], : tl[i]]
                m[i, Tp : Tp + rows, Tp : Tp + rows] = torch.ones(rows, rows, dtype=torch.bool).tril()
                m[i, Tp : Tp + rows, : tl[i]] = base[i, Tp + j : Tp + j + rows, : tl[i]]
            h = self._run([mod["decoder_layer"]], h, m)
            logits.append(mod["output_proj"](mod["norm_final"](h))[:, Tp:])
            targets.append(torch.cat([s_out[:, j:], torch.full((B, j), self.pad)], 1))
        losses = [F.cross_entropy(lg.reshape(-1, self.V), tg.reshape(-1), ignore_index=self.pad)
                  for lg, tg in zip(logits, targets)]
        loss = losses[0] + sum(0.8 ** j * l for j, l in enumerate(losses) if j)
        return loss, logits

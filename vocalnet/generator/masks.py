"""Attention masks of the speech generator (spec section 3, step 5), shared by training and decoding.

Everything is expressed through one function, `text_visibility`: how many text tokens (BOS
included) a speech row may attend to. Training builds dense masks from it; the decoding engine uses
it both for its step masks and for its emission schedule, so the two cannot drift apart.
"""

from __future__ import annotations

import torch

STREAMING = "streaming"
NON_STREAMING = "non-streaming"
RANDOM = "random"
MASK_MODES = (STREAMING, NON_STREAMING, RANDOM)


def speech_chunk(rows: torch.Tensor, speech_chunk_size: int) -> torch.Tensor:
    """Chunk index of speech-input rows: chunk 0 is rows 0..C_s (SOS + C_s units), chunk k>=1 is
    rows C_s*k+1 .. C_s*(k+1)."""
    return torch.clamp(torch.div(rows - 1, speech_chunk_size, rounding_mode="floor"), min=0)


def text_visibility(
    rows: torch.Tensor, text_len: int | None, streaming: bool, text_chunk_size: int, speech_chunk_size: int
) -> torch.Tensor:
    """Number of leading text tokens each speech row sees (positions, unless phoneme rows add some).

    rows: speech-row indices in base (main head) coordinates; MTP module j passes rows + j, since its
    row p must see exactly the text that base row p + j sees. text_len counts BOS; None means "not
    known yet" (streaming), which only bounds nothing.
    """
    if not streaming:
        if text_len is None:
            raise ValueError("non-streaming visibility needs the full text length")
        return torch.full_like(rows, text_len)
    vis = (speech_chunk(rows, speech_chunk_size) + 1) * text_chunk_size
    return vis if text_len is None else torch.clamp(vis, max=text_len)


def sample_mask(
    text_len: int,
    speech_rows: int,
    streaming: bool,
    text_chunk_size: int,
    speech_chunk_size: int,
    row_shift: int = 0,
    row_stride: int = 1,
    text_pad: int | None = None,
    speech_pad: int | None = None,
    token_rows: torch.Tensor | None = None,
) -> torch.Tensor:
    """Dense boolean mask (T, T) of one sample laid out as [text (padded), speech (padded)].

    text_len: valid text tokens (BOS included); speech_rows: valid speech rows. Row r sees the
    text of base row r * row_stride + row_shift (MTP module j: shift j; group modeling: stride g and
    shift g - 1, the group's last token). Padding rows attend to themselves only (never NaN).
    token_rows: when tokens span several text positions (phoneme rows), token_rows[k] is the number
    of positions that hold the first k tokens (k = 0 .. text_len); None: one position per token.
    """
    vis_tokens = text_len
    if token_rows is not None:
        text_len = int(token_rows[text_len])
    tp = text_len if text_pad is None else text_pad
    sp = speech_rows if speech_pad is None else speech_pad
    mask = torch.zeros(tp + sp, tp + sp, dtype=torch.bool)
    if streaming:
        mask[:text_len, :text_len] = torch.ones(text_len, text_len, dtype=torch.bool).tril()
    else:
        mask[:text_len, :text_len] = True
    if speech_rows > 0:
        rows = torch.arange(speech_rows)
        vis = text_visibility(rows * row_stride + row_shift, vis_tokens, streaming, text_chunk_size, speech_chunk_size)
        if token_rows is not None:
            vis = token_rows[vis]
        mask[tp : tp + speech_rows, :tp] = torch.arange(tp)[None, :] < vis[:, None]
        mask[tp : tp + speech_rows, tp : tp + speech_rows] = torch.ones(
            speech_rows, speech_rows, dtype=torch.bool
        ).tril()
    idx = torch.arange(tp + sp)
    padded = torch.cat([idx[:tp] >= text_len, idx[tp:] >= tp + speech_rows])
    mask[idx[padded], idx[padded]] = True
    return mask


def causal_mask(lengths: list[int], pad: int) -> torch.Tensor:
    """(B, 1, pad, pad) causal masks for right-padded sequences (padding rows see themselves)."""
    masks = []
    for n in lengths:
        m = torch.ones(pad, pad, dtype=torch.bool).tril()
        m[n:, :] = False
        m[:, n:] = False
        idx = torch.arange(n, pad)
        m[idx, idx] = True
        masks.append(m)
    return torch.stack(masks)[:, None]


def resolve_streaming_flags(mode: str | list[str], batch: int, generator: torch.Generator | None = None) -> list[bool]:
    """Per-sample streaming flags for a mask mode ("random" draws each with p=0.5, as in training)."""
    if isinstance(mode, (list, tuple)):
        if len(mode) != batch:
            raise ValueError(f"got {len(mode)} mask modes for a batch of {batch}")
        return [resolve_streaming_flags(m, 1)[0] for m in mode]
    if mode not in MASK_MODES:
        raise ValueError(f"mask mode must be one of {MASK_MODES}, got {mode!r}")
    if mode == RANDOM:
        return (torch.rand(batch, generator=generator) < 0.5).tolist()
    return [mode == STREAMING] * batch

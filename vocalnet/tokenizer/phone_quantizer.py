"""Phone-supervised quantiser: Whisper features -> phone posteriors -> nearest of k-means centroids.

Why: k-means straight on Whisper features spends its centroids on whatever varies most (loudness,
pitch, context), not on what is said; the final encoder layer, the most phonetic one, is the worst
for it. Here a small classifier first maps each token's frames to posteriors over the answer
voice's phonemes, trained on the frame alignment piper itself used (`vocalnet data phones`), and
k-means runs on those posteriors. A token then names which phonemes fill its 40 ms and in which
half, in the spirit of CosyVoice's supervised (ASR-trained) tokens, and text predicts it easily.
Measured, it resynthesised worse than k-means trained on the same 500 answers (39.7% vs 21.2% WER,
`vocalnet/models/README.md`), so it is an option, not the default.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

KERNEL = 5  # tokens seen by each classifier convolution (200 ms)
TARGET_SAMPLES = 8  # label-grid samples per frame when averaging a frame's phonemes


def nearest_centroid(centroids: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
    """Index of the nearest row of ``centroids`` (K, D) for each vector of ``feats`` (..., D)."""
    d = (centroids**2).sum(1) - 2 * feats @ centroids.T  # |f|^2 is constant per row
    return d.argmin(-1)


def fit_centroids(data: np.ndarray, vocab_size: int, seed: int) -> torch.Tensor:
    """k-means centroids (vocab_size, D) of the rows of ``data`` (scikit-learn MiniBatchKMeans)."""
    from sklearn.cluster import MiniBatchKMeans

    if len(data) < vocab_size * 4:
        raise ValueError(f"only {len(data)} frames to fit {vocab_size} clusters: give more audio")
    km = MiniBatchKMeans(n_clusters=vocab_size, batch_size=8192, n_init=3, max_iter=200, random_state=seed,
                         compute_labels=False).fit(data)
    return torch.from_numpy(km.cluster_centers_.astype(np.float32))


def phone_targets(labels: np.ndarray, label_rate: float, tokens: int, pool: int, classes: int,
                  token_rate: float = 25.0) -> np.ndarray:
    """Soft targets (tokens, pool, classes): the share of each phoneme in each of a token's ``pool``
    frames, from ``labels`` (one phoneme id per label frame at ``label_rate`` Hz)."""
    frame_s = 1.0 / (token_rate * pool)
    frames = tokens * pool
    t = (np.arange(frames)[:, None] + (np.arange(TARGET_SAMPLES) + 0.5) / TARGET_SAMPLES) * frame_s
    ids = labels[np.minimum((t * label_rate).astype(np.int64), len(labels) - 1)]
    if ids.max() >= classes:
        raise ValueError(f"phone label {ids.max()} outside the {classes} classes")
    out = np.zeros((frames, classes), dtype=np.float32)
    np.add.at(out, (np.repeat(np.arange(frames), TARGET_SAMPLES), ids.reshape(-1)), 1.0 / TARGET_SAMPLES)
    return out.reshape(tokens, pool, classes)


class PhonePosteriorQuantizer(nn.Module):
    """Features (B, T, pool * D) -> posteriors of each of a token's ``pool`` frames -> unit ids (B, T).

    The classifier is a linear layer and two residual kernel-5 convolutions over tokens; the
    centroids live in the concatenated posterior space (pool * classes)."""

    def __init__(self, dim: int, pool: int, classes: int, channels: int, vocab_size: int) -> None:
        super().__init__()
        self.pool, self.classes = pool, classes
        self.register_buffer("feat_mean", torch.zeros(dim))
        self.register_buffer("feat_std", torch.ones(dim))
        self.inp = nn.Linear(dim, channels)
        self.convs = nn.ModuleList(nn.Conv1d(channels, channels, KERNEL, padding=KERNEL // 2) for _ in range(2))
        self.out = nn.Linear(channels, pool * classes)
        self.register_buffer("centroids", torch.zeros(vocab_size, pool * classes))

    def logits(self, feats: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, pool, classes); ``mask`` (B, T) zeroes padding so it looks like the sequence's end."""
        x = F.gelu(self.inp((feats - self.feat_mean) / self.feat_std))
        if mask is not None:
            x = x * mask[..., None]
        x = x.transpose(1, 2)
        for conv in self.convs:
            x = x + F.gelu(conv(x))
            if mask is not None:
                x = x * mask[:, None]
        return self.out(x.transpose(1, 2)).unflatten(-1, (self.pool, self.classes))

    def posteriors(self, feats: torch.Tensor) -> torch.Tensor:
        return self.logits(feats).softmax(-1).flatten(-2)

    def encode(self, feats: torch.Tensor) -> torch.Tensor:
        return nearest_centroid(self.centroids, self.posteriors(feats))


def _batch(feats: list[torch.Tensor], targets: list[torch.Tensor], idx: np.ndarray) -> tuple[torch.Tensor, ...]:
    length = max(len(feats[i]) for i in idx)
    x = torch.zeros(len(idx), length, feats[0].shape[-1])
    y = torch.zeros(len(idx), length, *targets[0].shape[1:])
    mask = torch.zeros(len(idx), length)
    for row, i in enumerate(idx):
        n = len(feats[i])
        x[row, :n], y[row, :n], mask[row, :n] = feats[i], targets[i], 1.0
    return x, y, mask


def train_phone_quantizer(
    feats: list[torch.Tensor], targets: list[np.ndarray], vocab_size: int, channels: int = 256, steps: int = 2000,
    batch_size: int = 16, lr: float = 1e-3, seed: int = 0, progress: bool = True,
) -> PhonePosteriorQuantizer:
    """Fit the classifier (soft cross-entropy against ``targets``, AdamW, cosine decay), then k-means
    (`fit_centroids`) on its posteriors over the same utterances."""
    if len(feats) != len(targets) or not feats:
        raise ValueError(f"need as many phone targets as utterances, got {len(targets)} for {len(feats)}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    _, pool, classes = targets[0].shape
    q = PhonePosteriorQuantizer(feats[0].shape[-1], pool, classes, channels, vocab_size)
    every = torch.cat(feats)
    q.feat_mean.copy_(every.mean(0))
    q.feat_std.copy_(every.std(0).clamp_min(1e-5))
    ys = [torch.from_numpy(t) for t in targets]
    opt = torch.optim.AdamW([p for p in q.parameters() if p.requires_grad], lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    bar = tqdm(range(steps), desc="phone classifier", unit="step", disable=not progress)
    for _ in bar:
        x, y, mask = _batch(feats, ys, rng.integers(len(feats), size=batch_size))
        ce = -(y * F.log_softmax(q.logits(x, mask), -1)).sum(-1).mean(-1)
        loss = (ce * mask).sum() / mask.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    q.eval()
    with torch.inference_mode():
        post = torch.cat([q.posteriors(f[None])[0] for f in feats]).numpy()
    q.centroids.copy_(fit_centroids(post, vocab_size, seed))
    return q

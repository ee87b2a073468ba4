"""The training loop shared by both stages, on top of accelerate.

The same code runs single-process, multi-process DDP (`torchrun --nproc_per_node N -m vocalnet.cli.main
train ...`, gloo on CPU) and multi-GPU / DeepSpeed (`accelerate launch --config_file ...`).

- Losses are sums normalised by the token count over all processes, so N processes with batch b
  give the same loss and gradients as one process with batch N*b.
- Checkpoints hold only the trainable parameters, optimizer, scheduler, RNG and step; they are
  written to a temp folder and renamed, so a kill never leaves a half checkpoint. A restarted run
  resumes from the newest one, skipping the batches it already consumed.
- Logs: JSON lines (`log.jsonl`) and TensorBoard (`tb/`), a progress bar, dev loss every eval_every.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np
import torch
from accelerate import Accelerator, DistributedType
from accelerate.utils import set_seed
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm
from transformers import get_cosine_schedule_with_warmup

from ..generator.config import ConfigError
from .config import TrainConfig

EVAL_SEED = 0  # seed of the random parts of the dev loss (the same in every run)

STATE_NAME = "trainer_state.json"


class Recipe(Protocol):
    """One training method: what it trains, on which data, with which loss, and what it exports.

    `build` returns a module whose forward(batch) gives the loss terms, (weight, summed loss, token
    count) each, the first being the one evaluated on dev; calling it through forward is what lets
    DDP / DeepSpeed synchronise gradients.
    """

    def build(self) -> nn.Module: ...

    def datasets(self, module: nn.Module) -> tuple[Dataset, Dataset | None]: ...

    def collate(self, items: list) -> Any: ...

    def export(self, module: nn.Module, out_dir: Path) -> None: ...


class LossModule(nn.Module):
    """A model plus its loss function, so that DDP sees the whole loss computation as forward()."""

    def __init__(self, model: nn.Module, loss_fn: Callable[[nn.Module, Any], list]) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, batch: Any) -> list[tuple[float, torch.Tensor, torch.Tensor]]:
        return self.loss_fn(self.model, batch)


def global_loss(acc: Accelerator, terms: list[tuple[float, torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, float]:
    """sum_j w_j * sum_j / global_count_j, scaled by the world size (DDP averages gradients)."""
    counts = torch.stack([c.detach().float() for _, _, c in terms])
    global_counts = acc.reduce(counts, reduction="sum") if acc.num_processes > 1 else counts
    loss = sum(w * s * acc.num_processes / gc.clamp(min=1) for (w, s, _), gc in zip(terms, global_counts))
    reported = acc.reduce(loss.detach(), reduction="mean") if acc.num_processes > 1 else loss.detach()
    return loss, float(reported)


def param_groups(model: nn.Module, lr: float, param_lr: dict[str, float]) -> list[dict[str, Any]]:
    """Trainable parameters grouped by learning rate: the first `param_lr` key contained in a
    parameter's name sets its lr, the rest train at `lr`. A key matching nothing is an error."""
    groups: dict[float, list[nn.Parameter]] = {}
    used: set[str] = set()
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        key = next((k for k in param_lr if k in name), None)
        if key is not None:
            used.add(key)
        groups.setdefault(param_lr[key] if key else lr, []).append(p)
    unused = sorted(set(param_lr) - used)
    if unused:
        raise ConfigError(f"optim.param_lr keys match no trainable parameter: {unused}")
    return [{"params": ps, "lr": group_lr} for group_lr, ps in groups.items()]


class Trainer:
    def __init__(self, cfg: TrainConfig, recipe: Recipe) -> None:
        self.cfg, self.recipe = cfg, recipe
        self.out = Path(cfg.output_dir)
        self.ckpt_root = self.out / "checkpoints"

    # ---- checkpoints ---------------------------------------------------------------------------------
    def latest_checkpoint(self) -> Path | None:
        if not self.ckpt_root.is_dir():
            return None
        done = [p for p in self.ckpt_root.glob("step-*") if (p / STATE_NAME).is_file()]
        return max(done, key=lambda p: int(p.name.split("-")[1]), default=None)

    def _save(self, acc: Accelerator, model: nn.Module, opt, sched, step: int, epoch: int, batch_in_epoch: int,
              progress: dict[str, float]) -> None:
        final = self.ckpt_root / f"step-{step}"
        tmp = self.ckpt_root / f".step-{step}.tmp"
        if acc.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        acc.wait_for_everyone()
        if acc.distributed_type == DistributedType.DEEPSPEED:
            acc.save_state(str(tmp))
        elif acc.is_main_process:
            trainable = {n: p.detach().cpu().contiguous() for n, p in acc.unwrap_model(model).named_parameters() if p.requires_grad}
            save_file(trainable, str(tmp / "trainable.safetensors"))
            torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "rng": _rng_state()}, tmp / "optim.pt")
        if acc.is_main_process:
            (tmp / STATE_NAME).write_text(json.dumps({"step": step, "epoch": epoch, "batch_in_epoch": batch_in_epoch, **progress}))
            os.replace(tmp, final)
            for old in sorted(self.ckpt_root.glob("step-*"), key=lambda p: int(p.name.split("-")[1]))[: -self.cfg.keep_checkpoints]:
                shutil.rmtree(old, ignore_errors=True)
        acc.wait_for_everyone()

    def _load(self, acc: Accelerator, model: nn.Module, opt, sched, ckpt: Path) -> dict[str, int]:
        if acc.distributed_type == DistributedType.DEEPSPEED:
            acc.load_state(str(ckpt))
        else:
            trainable = load_file(str(ckpt / "trainable.safetensors"))
            missing = acc.unwrap_model(model).load_state_dict(trainable, strict=False)
            if missing.unexpected_keys:
                raise RuntimeError(f"checkpoint {ckpt} does not match the model: {missing.unexpected_keys[:5]}")
            state = torch.load(ckpt / "optim.pt", weights_only=False)
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            _set_rng_state(state["rng"])
        return json.loads((ckpt / STATE_NAME).read_text())

    # ---- loop ----------------------------------------------------------------------------------------------
    def fit(self) -> Path:
        cfg = self.cfg
        set_seed(cfg.seed)
        acc = Accelerator(
            cpu=not torch.cuda.is_available(),  # lets torchrun's CPU processes form a gloo group
            gradient_accumulation_steps=cfg.optim.grad_accum, log_with="tensorboard", project_dir=str(self.out),
        )
        model = self.recipe.build()
        with acc.main_process_first():
            train_ds, dev_ds = self.recipe.datasets(model)
        if len(train_ds) == 0:
            raise ValueError("the training manifest is empty")
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(param_groups(model, cfg.optim.lr, cfg.optim.param_lr),
                                lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
        dl = self._epoch_loader(acc, train_ds, 0)
        steps_per_epoch = math.ceil(len(dl) / cfg.optim.grad_accum)
        total = cfg.optim.max_steps or max(1, math.ceil(cfg.optim.epochs * steps_per_epoch))
        sched = get_cosine_schedule_with_warmup(opt, int(cfg.optim.warmup_ratio * total), total)
        # the scheduler is not prepared: accelerate would step it once per process, and our schedule
        # counts optimizer steps, whatever the number of processes
        model, opt = acc.prepare(model, opt)
        dev_dl = None
        if dev_ds is not None and len(dev_ds):
            dev_dl = acc.prepare(DataLoader(dev_ds, batch_size=cfg.optim.batch_size, collate_fn=self.recipe.collate))
        if acc.is_main_process:
            self.out.mkdir(parents=True, exist_ok=True)
        acc.init_trackers("tb", config={"stage": cfg.stage, "lr": cfg.optim.lr, "total_steps": total})

        step, epoch, skip, seen0, elapsed0 = 0, 0, 0, 0, 0.0
        ckpt = self.latest_checkpoint()
        if ckpt is not None:
            st = self._load(acc, model, opt, sched, ckpt)
            step, epoch, skip = st["step"], st["epoch"], st["batch_in_epoch"]
            seen0, elapsed0 = st.get("samples", 0), st.get("elapsed_s", 0.0)  # totals over all runs
            acc.print(f"resumed from {ckpt} (step {step})")
        log = (self.out / "log.jsonl").open("a") if acc.is_main_process else None
        bar = tqdm(total=total, initial=step, desc=f"train {cfg.stage}", disable=not acc.is_main_process)
        t0, seen = time.time() - elapsed0, seen0
        if step == 0 and dev_dl is not None:  # the starting point (a warm start's "before")
            record = {"step": 0, **evaluate(acc, model, dev_dl)}
            acc.log(_scalars(record), step=0)
            if log:
                log.write(json.dumps(record) + "\n")
        model.train()
        while step < total:
            dl = self._epoch_loader(acc, train_ds, epoch)
            batches = acc.skip_first_batches(dl, skip) if skip else dl
            for b_idx, batch in enumerate(batches, start=skip):
                with acc.accumulate(model):
                    loss, value = global_loss(acc, model(batch))
                    acc.backward(loss)
                    if acc.sync_gradients and cfg.optim.max_grad_norm:
                        acc.clip_grad_norm_(params, cfg.optim.max_grad_norm)
                    opt.step()
                    if acc.sync_gradients:
                        sched.step()
                    opt.zero_grad()
                seen += cfg.optim.batch_size * acc.num_processes
                if not acc.sync_gradients:
                    continue
                step += 1
                bar.update()
                bar.set_postfix(loss=f"{value:.3f}")
                record = {"step": step, "epoch": epoch, "loss": value, "lr": sched.get_last_lr()[0],
                          "samples": seen, "elapsed_s": round(time.time() - t0, 1)}
                if (step % cfg.eval_every == 0 or step == total) and dev_dl is not None:
                    record.update(evaluate(acc, model, dev_dl))
                if step % cfg.log_every == 0 or "dev_loss" in record:
                    acc.log(_scalars(record), step=step)
                    if log:
                        log.write(json.dumps(record) + "\n")
                        log.flush()
                if step % cfg.save_every == 0 or step == total:
                    self._save(acc, model, opt, sched, step, epoch, b_idx + 1,
                               {k: record[k] for k in ("samples", "elapsed_s")})
                if step >= total:
                    break
            else:
                epoch, skip = epoch + 1, 0
                continue
            break
        bar.close()
        final = self.out / "final"
        if acc.is_main_process:
            self.recipe.export(acc.unwrap_model(model), final)
        acc.wait_for_everyone()
        acc.end_training()
        return final

    def _epoch_loader(self, acc: Accelerator, ds: Dataset, epoch: int) -> DataLoader:
        """The loader of one epoch: a permutation drawn from (seed, epoch), identical in every process
        and after a resume, so a resumed run skips exactly the batches it had consumed."""
        g = torch.Generator().manual_seed(self.cfg.seed * 100_003 + epoch)
        order = torch.randperm(len(ds), generator=g).tolist()
        dl = DataLoader(ds, batch_size=self.cfg.optim.batch_size, sampler=order, collate_fn=self.recipe.collate,
                        num_workers=self.cfg.num_workers)
        return acc.prepare(dl)


@torch.no_grad()
def evaluate(acc: Accelerator, model: nn.Module, dev_dl: DataLoader) -> dict[str, Any]:
    """Dev loss: the main term (text CE in stage 1, the main speech head in stage 2) as `dev_loss`,
    every term's mean as `dev_terms` (stage 2: heads 0..mtp_num). Random parts of the loss (stage 2's
    masks) are drawn from a fixed seed, so every evaluation, in any run, sees the same ones."""
    model.eval()
    sums = counts = None
    devices = [acc.device] if acc.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(EVAL_SEED)
        for batch in dev_dl:
            terms = model(batch)
            s = torch.stack([t[1].detach().float() for t in terms])
            c = torch.stack([t[2].detach().float() for t in terms])
            s, c = acc.reduce(s, reduction="sum"), acc.reduce(c, reduction="sum")
            sums, counts = (s, c) if sums is None else (sums + s, counts + c)
    model.train()
    means = [float(a) / max(float(b), 1.0) for a, b in zip(sums, counts)] if sums is not None else [math.nan]
    return {"dev_loss": means[0], "dev_terms": [round(m, 4) for m in means]}


def _scalars(record: dict[str, Any]) -> dict[str, float]:
    """The TensorBoard values of a log record: its floats, and each dev term as dev_term_<j>."""
    out = {k: v for k, v in record.items() if isinstance(v, float)}
    out.update({f"dev_term_{j}": v for j, v in enumerate(record.get("dev_terms", []))})
    return out


def _rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():  # dropout on the GPU draws from the CUDA generators
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])

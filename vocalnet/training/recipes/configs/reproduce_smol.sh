#!/usr/bin/env bash
# Reproduce the shipped vocalnet-smol from scratch on a CPU machine (run from the repository root).
# Every step resumes or skips work already done, so re-running after an interruption continues.
# Seeds: corpus 0, tokenizer 0, vocoder 0, stage 1 0 (continued: 3), readings 0-2 (generator) and 3 (vocoder), stage 2 0.
# The shipped tokenizer, vocoder, stage 1 and generator up to stage 2p (sessions 1-11) were trained on a
# corpus with piper's sampled answer voice (add --answer-noise-scale 0.667 --answer-noise-w 0.8 to the
# synth line to rebuild that one); the default now renders answers noise-free (README, "Corpus"), and
# the shipped generator's last 2,100 steps (smol_generator_chain/stage2q.yaml and stage2r.yaml, sessions 13-14)
# used it.
set -euo pipefail
DATA=${DATA:-data/corpus}
CFG=vocalnet/training/recipes/configs
vocalnet assets prepare
vocalnet data synth --out "$DATA" --num 9000 --seed 0
vocalnet data check "$DATA" --allow-missing-units
[ -f runs/smol/tokenizer/tokenizer.json ] || \
  vocalnet tokenizer train --manifest "$DATA/train.json" --out runs/smol/tokenizer --vocab 1024 --seed 0
for split in train dev test; do vocalnet tokenizer encode "$DATA/$split.json" --tokenizer runs/smol/tokenizer; done
vocalnet data check "$DATA" --vocab 1024
vocalnet train --config $CFG/smol_align.yaml
vocalnet train --config $CFG/smol_stage1.yaml
for seed in 0 1 2; do  # answer texts for the generator: sentences of common words in the assistant voice
  vocalnet data readings --out data/readings_s$seed --num 8000 --seed $seed
  vocalnet tokenizer encode data/readings_s$seed/readings.json --tokenizer runs/smol/tokenizer
done
vocalnet train --config $CFG/smol_stage1r.yaml  # stage 1 goes on, also transcribing the seed-1 readings
vocalnet train --config $CFG/smol_stage2.yaml
# the vocoder learns the generator's own units too (GTA): of the training answers, and of readings it never
# trained on; the hidden states come from the stage-2 run's cache
vocalnet data readings --out data/readings_s3 --num 8000 --seed 3
vocalnet tokenizer encode data/readings_s3/readings.json --tokenizer runs/smol/tokenizer
for src in "$DATA/train.json:train" "$DATA/dev.json:dev" "data/readings_s3/readings.json:readings_s3"; do
  vocalnet vocoder gta --model runs/smol/stage2/final --manifest "${src%%:*}" --out "runs/smol/gta/${src##*:}" \
    --mtp 3 --cache-dir runs/smol/stage2/cache
done
vocalnet vocoder train --config $CFG/smol_vocoder_gta.yaml
vocalnet package --trained runs/smol/stage2/final --tokenizer runs/smol/tokenizer \
  --vocoder runs/smol/vocoder_gta/final --out vocalnet/models/vocalnet-smol --default-mtp 3
vocalnet eval run --data "$DATA/test.json"

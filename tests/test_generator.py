"""Semantics of the speech generator: masks, MTP targets, batching, and decoding vs teacher forcing."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vocalnet.decoding.engine import SpeechDecoder, forced_decoder
from vocalnet.decoding.sampling import DecodingOptions, ForcedSampler, RepetitionPenalty
from vocalnet.generator.config import ConfigError, SpeechGeneratorConfig
from vocalnet.generator.masks import sample_mask, text_visibility
from vocalnet.generator.speech_generator import SpeechGenerator

VARIANTS = ["mtp", "group", "parallel_linear", "deepseek_mtp"]
D_LLM = 24
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"))]


def tiny(variant: str = "mtp", **kw) -> SpeechGenerator:
    torch.manual_seed(0)
    cfg = SpeechGeneratorConfig(
        hidden_size=32, llm_hidden_size=D_LLM, ffn_dim=64, num_heads=4, unit_vocab_size=40, mtp_num=3,
        variant=variant, dropout=0.0, **kw,
    )
    return SpeechGenerator(cfg).eval()


def data(L: int = 13, N: int = 40, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, L, D_LLM, generator=g), torch.randint(0, 40, (1, N), generator=g)


def max_trace_error(trace: dict[int, dict[int, torch.Tensor]], logits: list[torch.Tensor]) -> dict[int, float]:
    """Largest logit difference per head over the rows that have a target (head j: all but the last j;
    a step may run its MTP modules one row past the end before its heads choose EOS)."""
    return {j: max(float((v - logits[j][0, r]).abs().max()) for r, v in rows.items() if r < logits[j].shape[1] - j)
            for j, rows in trace.items()}


# ---- decoding == teacher forcing ---------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("layout,mode", [("concat", "non-streaming"), ("separate", "non-streaming"), ("separate", "streaming")])
def test_cached_decoding_matches_teacher_forced_forward(variant: str, layout: str, mode: str, device: str) -> None:
    gen = tiny(variant, position_layout=layout).to(device)
    text, units = (t.to(device) for t in data())
    with torch.no_grad():
        ref = gen(text, [text.shape[1]], units, [units.shape[1]], mode)
    m = 0 if variant == "group" else 2
    dec = forced_decoder(gen, units[0].tolist(), mtp=m)
    if mode == "non-streaming":
        res = dec.generate(text)
    else:
        for i in range(0, text.shape[1], 3):  # text arrives in uneven pieces
            dec.push_text(text[:, i : i + 3])
        dec.finish()
        res = dec.result()
    assert res.tokens == units[0].tolist() and res.ended_with_eos
    heads = 1 if variant == "group" else m + 1
    assert sorted(res.trace) == list(range(heads))
    rows = ref.logits[0].shape[1]
    assert len(res.trace[0]) >= rows - m  # the decoder computed every row but those after EOS was emitted
    for j, err in max_trace_error(res.trace, ref.logits).items():
        assert err < (1e-4 if device == "cpu" else 1e-3), (j, err)  # GPU kernels sum in other orders


def test_mtp_decoding_takes_fewer_steps() -> None:
    gen = tiny()
    text, units = data(N=36)
    steps = {m: forced_decoder(gen, units[0].tolist(), mtp=m).generate(text).steps for m in (0, 1, 3)}
    assert steps[0] == 37  # one per token plus the EOS step
    assert steps[1] == 19 and steps[3] == 10


def test_pattern_units_take_each_unit_from_the_head_that_decoding_uses() -> None:
    """m-token decoding takes unit p from head j = p mod (m+1) at row p - j; special tokens never win."""
    gen = tiny()
    V, rows = gen.config.vocab_size, 11
    logits = []
    for j in range(4):  # head j at row r prefers unit (3 * r + j) mod 40, and EOS above all of them
        lg = torch.zeros(2, rows, V)
        lg[:, torch.arange(rows), (3 * torch.arange(rows) + j) % 40] = 1.0
        lg[..., gen.config.eos_id] = 5.0
        logits.append(lg)
    for m in (0, 2, 3):
        got = gen.pattern_units(logits, m)
        want = [(3 * (p - p % (m + 1)) + p % (m + 1)) % 40 for p in range(rows)]
        assert got.shape == (2, rows) and got[0].tolist() == want and got[1].tolist() == want
    with pytest.raises(ValueError, match="mtp must lie"):
        gen.pattern_units(logits, 4)
    with pytest.raises(ValueError, match="group"):
        tiny("group").pattern_units(logits[:1], 0)


# ---- masks ----------------------------------------------------------------------------------------------
def test_streaming_chunk_boundaries() -> None:
    rows = torch.arange(50)
    vis = text_visibility(rows, 100, True, 5, 15)
    assert vis[:16].tolist() == [5] * 16  # chunk 0: SOS + 15 units
    assert vis[16:31].tolist() == [10] * 15
    assert vis[31:46].tolist() == [15] * 15
    assert vis[46] == 20
    assert text_visibility(rows, 12, True, 5, 15)[40] == 12  # never beyond the text
    assert text_visibility(rows, 12, False, 5, 15).tolist() == [12] * 50


def test_sample_mask_structure() -> None:
    m = sample_mask(text_len=8, speech_rows=20, streaming=True, text_chunk_size=5, speech_chunk_size=15,
                    text_pad=10, speech_pad=22)
    assert m[:8, :8].equal(torch.ones(8, 8, dtype=torch.bool).tril())  # causal text
    assert m[10 + 15, :10].tolist() == [True] * 5 + [False] * 5  # row 15 still chunk 0
    assert m[10 + 16, :10].tolist() == [True] * 8 + [False] * 2  # row 16 sees all 8 (clamped)
    assert m[10:30, 10:30].equal(torch.ones(20, 20, dtype=torch.bool).tril())
    assert not m[:8, 10:].any()  # text never sees speech
    for r in (8, 9, 30, 31):  # padding rows see only themselves
        assert m[r].sum() == 1 and m[r, r]
    full = sample_mask(8, 20, False, 5, 15)
    assert full[:8, :8].all() and full[8:, :8].all()
    shifted = sample_mask(8, 20, True, 5, 15, row_shift=2)
    assert shifted[8 + 14, :8].sum() == 8 and shifted[8 + 13, :8].sum() == 5  # MTP-2 row p sees row p+2's text


# ---- losses ---------------------------------------------------------------------------------------------
def test_mtp_target_alignment() -> None:
    gen = tiny()
    text, units = data(N=20)
    out = gen(text, [13], units, [20], "non-streaming")
    u = units[0].tolist()
    s_out = u + [gen.config.eos_id]
    for j, logits in enumerate(out.logits):
        target = s_out[j:]  # head j at row p predicts the unit j places after the main head's target
        ce = F.cross_entropy(logits[0, : len(target)], torch.tensor(target))
        assert torch.allclose(ce, out.head_losses[j], atol=1e-6), j
    expected = sum(0.8**j * h for j, h in enumerate(out.head_losses))
    assert torch.allclose(out.loss, expected, atol=1e-5)


def test_loss_decay_is_configurable() -> None:
    gen = tiny(mtp_loss_decay=0.5)
    text, units = data(N=20)
    out = gen(text, [13], units, [20], "streaming")
    assert len(out.head_losses) == 4
    assert torch.allclose(out.loss, sum(0.5**j * h for j, h in enumerate(out.head_losses)), atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("layout", ["concat", "separate"])
@pytest.mark.parametrize("mode", ["streaming", "non-streaming"])
def test_padded_batch_equals_single_samples(variant: str, layout: str, mode: str) -> None:
    gen = tiny(variant, position_layout=layout)
    g = torch.Generator().manual_seed(3)
    lens, ulens = [13, 6, 9], [40, 17, 31]
    text = torch.randn(3, 13, D_LLM, generator=g)
    units = torch.randint(0, 40, (3, 40), generator=g)
    batch = gen(text, lens, units, ulens, mode)
    for i in range(3):
        single = gen(text[i : i + 1, : lens[i]], [lens[i]], units[i : i + 1, : ulens[i]], [ulens[i]], mode)
        assert torch.allclose(batch.sample_losses[i], single.sample_losses[0], atol=1e-5), i


@pytest.mark.parametrize("regulariser", [dict(hidden_dropout=0.3), dict(unit_noise=0.3), dict(text_dropout=0.3)])
def test_training_regularisers_act_only_while_training(regulariser: dict) -> None:
    plain, dropped = tiny(), tiny(**regulariser)
    dropped.load_state_dict(plain.state_dict())
    text, units = data(N=20)
    loss = lambda g: g(text, [13], units, [20], "streaming").loss  # noqa: E731
    assert torch.equal(loss(dropped), loss(plain))  # eval mode: the same function
    dropped.train()
    assert not torch.equal(loss(dropped), loss(dropped))  # training: a new dropout mask each call


def test_unit_noise_corrupts_only_unit_inputs_at_its_rate() -> None:
    gen = tiny(unit_noise=0.25)
    c = gen.config
    units = torch.randint(0, c.unit_vocab_size, (64, 50), generator=torch.Generator().manual_seed(3))
    s_in, _, _ = gen._speech_io(units, [50] * 32 + [30] * 32)
    torch.manual_seed(0)
    noisy = gen._corrupt_units(s_in)
    special = s_in >= c.unit_vocab_size
    assert torch.equal(noisy[special], s_in[special])  # SOS and PAD untouched
    assert int(noisy[~special].max()) < c.unit_vocab_size
    changed = (noisy != s_in)[~special].float().mean()
    assert 0.2 < changed < 0.26  # replaced with p = 0.25, minus replacements that drew the same unit


def test_random_mask_mode_is_seeded_and_mixed() -> None:
    gen = tiny()
    text, units = data()
    t, u = text.expand(64, -1, -1), units.expand(64, -1)
    a = gen(t, [13] * 64, u, [40] * 64, "random", rng=torch.Generator().manual_seed(0)).streaming
    b = gen(t, [13] * 64, u, [40] * 64, "random", rng=torch.Generator().manual_seed(0)).streaming
    assert a == b and 16 < sum(a) < 48


def test_speech_projector_when_widths_differ() -> None:
    gen = tiny()
    assert gen.input_proj is not None and gen.input_proj.in_features == D_LLM
    same = SpeechGenerator(SpeechGeneratorConfig(hidden_size=32, llm_hidden_size=32, ffn_dim=64, num_heads=4,
                                                 unit_vocab_size=40, mtp_num=1))
    assert same.input_proj is None


def test_official_parameter_names() -> None:
    names = set(tiny().state_dict())
    for n in ["embedding.weight", "encode_layers.1.self_attn.q_proj.weight", "decode_layers.3.mlp.gate_proj.weight",
              "decode_layers.0.input_layernorm.weight", "decode_layers.0.post_attention_layernorm.weight",
              "norm.weight", "output_proj.bias", "mtp_layers.2.decoder_layer.self_attn.o_proj.weight",
              "mtp_layers.0.norm_final.weight", "mtp_layers.0.output_proj.weight"]:
        assert n in names, n


# ---- decoding options -------------------------------------------------------------------------------------
def test_streaming_schedule_emits_as_text_arrives() -> None:
    gen = tiny(position_layout="separate")
    text, units = data(L=30, N=60)
    dec = SpeechDecoder(gen, DecodingOptions(mtp=2, max_tokens=61), ForcedSampler(units[0].tolist(), gen.config.eos_id))
    assert dec.push_text(text[:, :3]) == []  # BOS + 3 < C_t = 5
    assert len(dec.push_text(text[:, 3:4])) == 16  # chunk 0: text 5 -> 16 tokens
    assert len(dec.push_text(text[:, 4:9])) == 15  # chunk 1: text 10 -> 15 more
    rest = dec.finish()
    assert dec.tokens == units[0].tolist() and len(rest) == 60 - 31 and dec.ended_with_eos
    dec.reset()
    assert dec.tokens == [] and dec.text_len == 0


def test_streamed_text_runs_once_per_chunk_and_decodes_the_same() -> None:
    """Text pushed one token at a time is buffered until it unblocks the next speech row, so the
    pre-net runs once per C_t chunk, and the tokens equal those of pushing the whole chunks."""
    gen = tiny(position_layout="separate")
    text, units = data(L=22, N=50)
    calls = []
    prenet = gen.prenet
    gen.prenet = lambda x, *a, **k: calls.append(x.shape[1]) or prenet(x, *a, **k)
    got = {}
    for step in (1, 5):
        calls.clear()
        dec = SpeechDecoder(gen, DecodingOptions(mtp=2, max_tokens=51), ForcedSampler(units[0].tolist(), gen.config.eos_id))
        emitted = [len(dec.push_text(text[:, i : i + step])) for i in range(0, text.shape[1], step)]
        dec.finish()
        got[step] = (dec.tokens, list(calls))
        if step == 1:
            assert emitted[:4] == [0, 0, 0, 16] and emitted[4:8] == [0, 0, 0, 0] and emitted[8] == 15
    assert got[1][1][:3] == [4, 5, 5]  # BOS + 4 text, then chunks of 5
    assert got[1][0] == got[5][0] == units[0].tolist()


def test_text_rows_ride_with_the_next_speech_row() -> None:
    """Each module runs a chunk's text rows in the same layer call as its next speech row: no call
    carries text alone, and every module takes every chunk once (60 units need all 20 text rows)."""
    gen = tiny(position_layout="separate")
    text, units = data(L=20, N=60)
    calls: list[tuple[int, object]] = []
    run_module = gen.run_module
    gen.run_module = lambda j, x, rope, mask, caches=None, segment="speech", out_rows=None: (
        calls.append((j, segment)) or run_module(j, x, rope, mask, caches, segment, out_rows))
    dec = SpeechDecoder(gen, DecodingOptions(mtp=2, max_tokens=61), ForcedSampler(units[0].tolist(), gen.config.eos_id))
    for i in range(0, text.shape[1], 5):
        dec.push_text(text[:, i : i + 5])
    dec.finish()
    assert dec.tokens == units[0].tolist()
    assert all(seg == "speech" or isinstance(seg, int) for _, seg in calls)
    text_rows = {j: sum(seg for k, seg in calls if k == j and isinstance(seg, int)) for j in range(3)}
    assert text_rows == {j: text.shape[1] + 1 for j in range(3)}  # BOS + every text row, once per module
    assert sum(isinstance(seg, int) for j, seg in calls if j == 0) == 4  # chunks: BOS+5, 5, 5, 5


def test_sampling_is_seeded_and_top_k_one_is_greedy() -> None:
    gen = tiny()
    text, _ = data()
    run = lambda **kw: SpeechDecoder(gen, DecodingOptions(mtp=1, max_tokens=30, **kw)).generate(text).tokens
    assert run(temperature=1.0, seed=5) == run(temperature=1.0, seed=5)
    assert run(temperature=1.0, seed=5) != run(temperature=1.0, seed=6)
    assert run(temperature=0.7, top_k=1, seed=1) == run()
    assert run(temperature=1.0, top_p=1e-6, seed=2) == run()


def test_length_guard_and_bad_m() -> None:
    gen = tiny()
    text, _ = data()
    res = SpeechDecoder(gen, DecodingOptions(mtp=3, max_tokens=7), ForcedSampler([1] * 100, gen.config.eos_id)).generate(text)
    assert res.truncated and len(res.tokens) == 7 and not res.ended_with_eos
    with pytest.raises(ValueError, match="extra heads"):
        SpeechDecoder(gen, DecodingOptions(mtp=4))
    with pytest.raises(ValueError, match="extra heads"):
        SpeechDecoder(tiny("group"), DecodingOptions(mtp=1))
    with pytest.raises(ValueError, match="max_tokens"):
        SpeechDecoder(gen, DecodingOptions(max_tokens=gen.config.max_position_embeddings + 1))


def test_repetition_penalty_lowers_recent_tokens() -> None:
    logits = torch.tensor([2.0, -1.0, 0.5, 3.0])
    out = RepetitionPenalty(2.0, window=2)(logits, [3, 0, 1])
    assert out.tolist() == [1.0, -2.0, 0.5, 3.0]  # only the last two (0, 1) are penalised


# ---- configuration ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [
    dict(hidden_size=30, num_heads=4), dict(variant="medusa"), dict(mtp_num=-1), dict(special_tokens=3),
    dict(dropout=1.5), dict(hidden_dropout=-0.1), dict(unit_noise=1.0), dict(text_dropout=-0.5), dict(position_layout="interleaved"), dict(unit_vocab_size=0), dict(mtp_loss_decay=0),
    dict(variant="group", group_size=4),
])
def test_bad_configs_fail_clearly(bad: dict) -> None:
    with pytest.raises(ConfigError):
        SpeechGeneratorConfig(**bad)


def test_config_round_trip_and_unknown_keys() -> None:
    cfg = tiny().config
    assert SpeechGeneratorConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown"):
        SpeechGeneratorConfig.from_dict({**cfg.to_dict(), "mtp_layers": 3})


def test_out_of_range_units_rejected() -> None:
    gen = tiny()
    text, units = data()
    with pytest.raises(ValueError, match="speech tokens"):
        gen(text, [13], units + 100, [40], "streaming")


def test_int8_inference_keeps_small_output_channels() -> None:
    """int8 weights are scaled per output channel: a row 1000x smaller than its neighbour keeps its
    precision (per-tensor scaling would round it to zero); fp32 returns the module unchanged."""
    from vocalnet.decoding.optimize import for_inference

    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 2, bias=False)
    with torch.no_grad():
        lin.weight[0] *= 1e-3
    x = torch.randn(8, 64)
    q = for_inference(torch.nn.Sequential(lin), "int8")
    assert not any(isinstance(m, torch.nn.Linear) and type(m) is torch.nn.Linear for m in q.modules())
    ref, out = lin(x).detach(), q(x)
    assert torch.allclose(out[:, 0], ref[:, 0], rtol=0.05, atol=0.02 * float(ref[:, 0].abs().max()))
    assert for_inference(lin, "fp32") is lin
    with pytest.raises(ValueError, match="precision"):
        for_inference(lin, "int4")


def test_inference_copy_fuses_projections_without_changing_outputs() -> None:
    """for_inference fuses q/k/v and gate/up on a copy and stacks its heads: same speech tokens and
    logits, one matmul where there were three (two), one head call per step, and the training module
    keeps its HF parameter names."""
    from vocalnet.decoding.engine import SpeechDecoder
    from vocalnet.decoding.optimize import for_inference
    from vocalnet.decoding.sampling import DecodingOptions

    torch.manual_seed(0)
    gen = SpeechGenerator(SpeechGeneratorConfig(hidden_size=32, llm_hidden_size=48, ffn_dim=64, num_heads=4,
                                                num_kv_heads=2, unit_vocab_size=40, mtp_num=2, dropout=0.0)).eval()
    names = set(gen.state_dict())
    fused = for_inference(gen, "fp32")
    assert fused is not gen and set(gen.state_dict()) == names
    fused_names = set(fused.state_dict())
    assert any("qkv_proj" in n for n in fused_names) and any("gate_up_proj" in n for n in fused_names)
    assert not any(".q_proj." in n or ".up_proj." in n for n in fused_names)
    text = torch.randn(1, 7, 48)
    runs = [SpeechDecoder(g, DecodingOptions(mtp=2, max_tokens=30)).generate(text) for g in (gen, fused)]
    assert runs[0].tokens == runs[1].tokens and len(runs[0].tokens) > 0
    x, rope = torch.randn(1, 5, 32), gen.rope(torch.arange(5)[None], torch.float32)
    with torch.no_grad():
        assert torch.allclose(gen.decode_layers[0](x, rope, None), fused.decode_layers[0](x, rope, None), atol=1e-5)
    # the copy's heads run as one stacked call per step, with the heads' own logits
    for g in (gen, tiny("parallel_linear")):
        with torch.no_grad():
            for p in g.parameters():  # norms start at one: make every head's parameters distinct
                p.normal_()
        stacked, h = for_inference(g, "fp32"), torch.randn(3, g.config.hidden_size)
        assert stacked.head_stack is not None and g.head_stack is None
        with torch.no_grad():
            assert torch.allclose(stacked.step_logits(h), g.step_logits(h), atol=1e-5)
    assert for_inference(tiny("deepseek_mtp"), "fp32").head_stack is None  # its heads run one at a time


def test_bench_runs_a_trained_model_folder(tmp_path, capsys) -> None:
    """`vocalnet bench generator --model DIR` loads that folder's generator (its shape, its weights)."""
    import json

    from safetensors.torch import save_file

    from vocalnet.bench.generator import load_generator
    from vocalnet.cli.main import main as cli_main
    from vocalnet.config import VocalNetConfig

    cfg = SpeechGeneratorConfig(hidden_size=32, llm_hidden_size=48, ffn_dim=64, num_heads=4, unit_vocab_size=40,
                                mtp_num=3, text_embed_size=48, phoneme_slots=6)  # the bench feeds valid phoneme ids
    gen = SpeechGenerator(cfg)
    VocalNetConfig(generator=cfg).save(tmp_path / "config.json")
    save_file({f"speech_generator.{k}": v.contiguous() for k, v in gen.state_dict().items()},
              str(tmp_path / "model.safetensors"))
    loaded = load_generator(tmp_path)
    assert loaded.config == cfg
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in gen.state_dict().items())
    assert cli_main(["bench", "generator", "--model", str(tmp_path), "--mtp", "0,3", "--tokens", "12",
                     "--repeats", "1", "--precision", "fp32", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["mtp"] for r in rows] == [0, 3] and all(r["tokens"] == 12 and r["tokens_per_s"] > 0 for r in rows)
    assert cli_main(["bench", "generator", "--model", str(tmp_path), "--mtp", "5", "--tokens", "4", "--repeats", "1"]) != 0
    assert "3 MTP modules" in capsys.readouterr().err
    assert cli_main(["bench", "generator", "--model", str(tmp_path), "--mtp", "3", "--tokens", "4", "--device", "cuda"]) != 0
    assert "CPU-only" in capsys.readouterr().err  # int8 is CPU dynamic quantisation
    if torch.cuda.is_available():
        assert cli_main(["bench", "generator", "--model", str(tmp_path), "--mtp", "0,3", "--tokens", "12",
                         "--repeats", "1", "--precision", "fp32", "--device", "cuda", "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["device"] == "cuda" and all(r["tokens"] == 12 for r in out["rows"])


class _GreedyNoEos(ForcedSampler):
    """Greedy over units only, so every run decodes exactly max_tokens tokens."""

    def __init__(self, eos_id: int) -> None:
        self.eos_id = eos_id

    def __call__(self, logits: torch.Tensor, history: list[int]) -> int:
        return int(torch.argmax(logits.masked_fill(torch.arange(len(logits), device=logits.device) == self.eos_id,
                                                   float("-inf"))))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("mode", ["non-streaming", "streaming"])
def test_decoding_without_trace_emits_the_traced_tokens(variant: str, mode: str, device: str) -> None:
    """Untraced decoding computes only what the heads read (the last module's newest row; no text
    outputs in the last module), traced decoding every row (checked against teacher forcing above):
    both emit the same tokens, on the GPU too."""
    gen = tiny(variant, position_layout="separate").to(device)
    text = data(L=13)[0].to(device)
    m = 0 if variant == "group" else 2

    def tokens(trace: bool) -> list[int]:
        dec = SpeechDecoder(gen, DecodingOptions(mtp=m, max_tokens=30), _GreedyNoEos(gen.config.eos_id), trace=trace)
        if mode == "non-streaming":
            return dec.generate(text).tokens
        for i in range(0, text.shape[1], 3):
            dec.push_text(text[:, i : i + 3])
        dec.finish()
        return dec.tokens

    untraced = tokens(False)
    assert len(untraced) == 30 and untraced == tokens(True)


# ---- phoneme rows -------------------------------------------------------------------------------------
def phoneme_text(L: int = 13, slots: int = 4, seed: int = 5, batch: int = 1) -> torch.Tensor:
    """Text input whose last `slots` values are phoneme ids as `generator_rows` writes them: a token
    carries 0..slots ids, packed from the first place (0 = none)."""
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(batch, L, D_LLM, generator=g)
    ids = torch.randint(1, 30, (batch, L, slots), generator=g)
    counts = torch.randint(0, slots + 1, (batch, L, 1), generator=g)
    ids = torch.where(torch.arange(slots) < counts, ids, 0)
    return torch.cat([hidden, ids.float()], dim=-1)


def phoneme_tiny(**kw) -> SpeechGenerator:
    return tiny(position_layout="separate", phoneme_slots=4, phoneme_vocab=32, phoneme_embed_size=8,
                phoneme_rows=True, **kw)


def test_phoneme_rows_follow_their_token() -> None:
    gen = phoneme_tiny()
    text = phoneme_text()
    x, rows = gen.text_inputs(text, [13])
    ids = text[0, :, D_LLM:]
    assert rows[0].tolist() == (1 + (ids > 0).sum(-1)).tolist()
    assert x.shape[1] == int(rows.sum())
    first = int(rows[0, 0])  # token 1's row comes right after token 0's phoneme rows
    token_only = tiny(position_layout="separate", phoneme_slots=4, phoneme_vocab=32, phoneme_embed_size=8)
    token_only.load_state_dict(gen.state_dict(), strict=False)
    y, ones = token_only.text_inputs(text, [13])
    assert ones.tolist() == [[1] * 13]
    assert torch.allclose(x[0, 0], y[0, 0]) and torch.allclose(x[0, first], y[0, 1])
    short, rows2 = gen.text_inputs(text, [5])  # padded tokens give no rows
    assert rows2[0, 5:].sum() == 0 and torch.allclose(short[0, : int(rows2.sum())], x[0, : int(rows2.sum())])


@pytest.mark.parametrize("mode", ["non-streaming", "streaming"])
def test_phoneme_rows_decode_as_teacher_forced(mode: str) -> None:
    """The engine expands pushed text into phoneme rows exactly as training does, under the token-counted
    streaming schedule."""
    gen = phoneme_tiny()
    text, units = phoneme_text(), data(N=40)[1]
    with torch.no_grad():
        ref = gen(text, [13], units, [40], mode)
    dec = forced_decoder(gen, units[0].tolist(), mtp=2)
    if mode == "non-streaming":
        res = dec.generate(text)
    else:
        for i in range(0, 13, 3):
            dec.push_text(text[:, i : i + 3])
        dec.finish()
        res = dec.result()
    assert res.tokens == units[0].tolist() and dec.text_tokens == 14 and dec.text_len > 14
    for j, err in max_trace_error(res.trace, ref.logits).items():
        assert err < 1e-4, (j, err)


def test_phoneme_rows_stream_with_their_token() -> None:
    """In streaming, speech rows of chunk 0 (which see BOS + 4 tokens) ignore the phonemes of token 5
    and later; chunk 1's rows read them."""
    gen = phoneme_tiny()
    text, units = phoneme_text(), data(N=40)[1]
    other = text.clone()
    first = other[0, 4:, D_LLM]
    other[0, 4:, D_LLM] = torch.where(first > 0, first % 29 + 1, 0)  # token 5 on: another first phoneme
    assert (first > 0).any()
    with torch.no_grad():
        a, b = (gen(t, [13], units, [40], "streaming").logits[0] for t in (text, other))
    assert torch.allclose(a[0, :16], b[0, :16], atol=1e-6)
    assert not torch.allclose(a[0, 16:31], b[0, 16:31], atol=1e-3)


def test_phoneme_rows_padded_batch_equals_single_samples() -> None:
    gen = phoneme_tiny()
    text = phoneme_text(batch=3)
    units = torch.randint(0, 40, (3, 40), generator=torch.Generator().manual_seed(3))
    lens, ulens = [13, 6, 9], [40, 17, 31]
    batch = gen(text, lens, units, ulens, "streaming")
    for i in range(3):
        single = gen(text[i : i + 1, : lens[i]], [lens[i]], units[i : i + 1, : ulens[i]], [ulens[i]], "streaming")
        assert torch.allclose(batch.sample_losses[i], single.sample_losses[0], atol=1e-5), i


def test_sample_mask_counts_tokens_over_phoneme_rows() -> None:
    token_rows = torch.tensor([0, 1, 3, 4, 7])  # BOS, then tokens of 2, 1 and 3 positions
    m = sample_mask(4, 20, True, 2, 15, token_rows=token_rows)
    assert m.shape == (27, 27)
    assert m[7 + 15, :7].tolist() == [True] * 3 + [False] * 4  # chunk 0 sees BOS + token 1 (with its phoneme)
    assert m[7 + 16, :7].tolist() == [True] * 7  # chunk 1 sees every token (clamped at 4)

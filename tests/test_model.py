"""Speech encoder, adaptor and the full model's two training losses."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, WhisperConfig

from vocalnet.config import VocalNetConfig
from vocalnet.encoder.adaptor import SpeechAdaptor
from vocalnet.encoder.speech_encoder import SpeechEncoder
from vocalnet.generator.config import SpeechGeneratorConfig
from vocalnet.generator.masks import causal_mask
from vocalnet.generator.speech_generator import SpeechGenerator
from vocalnet.llm.backbone import SPEECH_PLACEHOLDER, build_prompt, end_of_turn_id, load_tokenizer
from vocalnet.modeling import SpeechBatch, VocalNetModel

WHISPER = dict(d_model=64, num_mel_bins=80, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=128,
               max_source_positions=1500, decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=128)


def tiny_encoder(**kw) -> SpeechEncoder:
    torch.manual_seed(0)
    return SpeechEncoder.from_config(WhisperConfig(**WHISPER), **kw).eval()


def test_real_length_batch_equals_single_samples() -> None:
    enc = tiny_encoder()
    mel = torch.randn(2, 80, 300)
    h, lens = enc(mel, [300, 170])
    assert h.shape == (2, 150, 64) and lens.tolist() == [150, 85]
    single, _ = enc(mel[1:, :, :170])
    assert torch.allclose(h[1, :85], single[0], atol=1e-5)


def test_pad_to_30s_matches_hf_whisper_encoder() -> None:
    enc = tiny_encoder(pad_to_30s=True)
    mel = torch.randn(1, 80, 400)
    h, lens = enc(mel)
    padded = torch.nn.functional.pad(mel, (0, 3000 - 400))
    ref = enc.whisper(padded).last_hidden_state
    assert h.shape == (1, 1500, 64) and lens.tolist() == [200]
    assert torch.allclose(h, ref, atol=1e-5)


def test_encoder_is_frozen_by_default_and_validates_input() -> None:
    enc = tiny_encoder()
    assert not any(p.requires_grad for p in enc.parameters())
    assert tiny_encoder(frozen=False).whisper.conv1.weight.requires_grad
    with pytest.raises(ValueError, match="log-mel"):
        enc(torch.randn(1, 40, 100))
    with pytest.raises(ValueError, match="too long"):
        enc(torch.randn(1, 80, 3002))


def test_adaptor_concatenates_k_frames() -> None:
    ad = SpeechAdaptor(4, 6, ds_rate=5, hidden=8)
    x = torch.randn(2, 23, 4)
    y, lens = ad(x, torch.tensor([23, 12]))
    assert y.shape == (2, 4, 6) and lens.tolist() == [4, 2]
    manual = ad.linear2(torch.relu(ad.linear1(x[0, 5:10].reshape(-1))))
    assert torch.allclose(y[0, 1], manual, atol=1e-6)
    with pytest.raises(ValueError, match="too short"):
        ad(torch.randn(1, 3, 4), torch.tensor([3]))


def test_prompt_splits_at_speech_placeholder(assets) -> None:
    tok = load_tokenizer(assets.llm)
    p = build_prompt(tok, "You are helpful.")
    text = tok.decode(p.before) + SPEECH_PLACEHOLDER + tok.decode(p.after)
    assert "You are helpful." in text and text.index(SPEECH_PLACEHOLDER) > text.index("user")
    assert tok.convert_ids_to_tokens(end_of_turn_id(tok)) == "<|im_end|>"


@pytest.fixture()
def small_model(assets, tmp_path) -> VocalNetModel:
    """Tiny random Llama (SmolLM2 tokenizer) + tiny Whisper: exercises both training losses quickly."""
    tok = load_tokenizer(assets.llm)
    llm = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=48, intermediate_size=96,
                                       num_hidden_layers=2, num_attention_heads=4))
    llm.save_pretrained(tmp_path / "llm")
    tok.save_pretrained(tmp_path / "llm")
    gen = SpeechGeneratorConfig(hidden_size=32, llm_hidden_size=48, ffn_dim=64, num_heads=4, unit_vocab_size=50, mtp_num=2)
    cfg = VocalNetConfig(llm=str(tmp_path / "llm"), encoder_config=WHISPER, adaptor_hidden_size=32, generator=gen)
    torch.manual_seed(0)
    return VocalNetModel.from_config(cfg)


def test_stage_losses_and_gradients(small_model: VocalNetModel) -> None:
    m = small_model
    batch = SpeechBatch(mel=torch.randn(2, 80, 200), mel_lens=torch.tensor([200, 130]),
                        answer_ids=[[10, 11, 12, 13], [20, 21]], units=[list(range(30)), list(range(12))])
    loss1 = m.forward_s2t(batch)
    assert loss1.ndim == 0 and torch.isfinite(loss1)
    loss1.backward()
    assert m.speech_projector.linear1.weight.grad is not None
    assert all(p.grad is None for p in m.speech_encoder.parameters())
    m.zero_grad()
    out = m.forward_s2s(batch, mask_mode="streaming")
    out.loss.backward()
    assert len(out.head_losses) == 3 and out.sample_losses.shape == (2,)
    assert m.speech_generator.output_proj.weight.grad is not None
    assert m.speech_projector.linear1.weight.grad is None and all(p.grad is None for p in m.llm.parameters())


def test_generator_text_input_uses_answer_positions_and_eot(small_model: VocalNetModel) -> None:
    m = small_model
    hidden = torch.randn(20, 48)
    t = m.generator_text_input(hidden, start=7, answer_ids=[5, 6, 7, 8, 9])
    eot = m.llm.get_input_embeddings().weight[m.eot_id]
    assert t.shape == (5, 48) and torch.equal(t[:4], hidden[7:11]) and torch.equal(t[4], eot)


def _prenet(gen: SpeechGenerator, text: torch.Tensor, pos: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Pre-net outputs of one answer's text rows (n, text_input_size)."""
    return gen.prenet(gen.text_inputs(text[None], [text.shape[0]])[0], pos, mask)


def test_token_embeddings_fused_into_the_generator_text_input(small_model: VocalNetModel) -> None:
    """With text_embed_size, each answer row carries its token's input embedding after the hidden
    state (end-of-turn's on the replaced last row), and the pre-net adds its projection."""
    m = small_model
    emb = m.llm.get_input_embeddings().weight
    m.config.generator = SpeechGeneratorConfig.from_dict({**m.config.generator.to_dict(), "text_embed_size": 48})
    gen = SpeechGenerator(m.config.generator).eval()
    hidden = torch.randn(20, 48)
    t = m.generator_text_input(hidden, start=3, answer_ids=[11, 12, 13])
    assert t.shape == (3, 96)
    assert torch.equal(t[:2, :48], hidden[3:5]) and torch.equal(t[:2, 48:], emb[[11, 12]])
    assert torch.equal(t[2, :48], emb[m.eot_id]) and torch.equal(t[2, 48:], emb[m.eot_id])
    pos, mask = torch.arange(3)[None], causal_mask([3], 3)
    with torch.no_grad():
        base = _prenet(gen, t, pos, mask)
        gen.embed_proj.weight.zero_()  # without the embedding term, only the hidden half matters
        assert not torch.allclose(base, _prenet(gen, t, pos, mask))
        t2 = t.clone()
        t2[:, 48:] = torch.randn(3, 48)
        assert torch.equal(_prenet(gen, t, pos, mask), _prenet(gen, t2, pos, mask))
    with pytest.raises(ValueError, match="text_embed_size"):
        VocalNetModel(VocalNetConfig(generator=SpeechGeneratorConfig(**{**m.config.generator.to_dict(),
                                                                         "text_embed_size": 7})),
                      m.llm, m.speech_encoder)


def test_phoneme_ids_of_completed_words(small_model: VocalNetModel) -> None:
    """With phoneme_slots, the row of each token that completes a word carries that word's espeak
    phonemes (the rest carry none); rows built one token at a time, as the assistant streams them,
    equal the training rows; and the pre-net reads the ids."""
    m = small_model
    m.config.generator = SpeechGeneratorConfig.from_dict({**m.config.generator.to_dict(), "phoneme_slots": 12})
    answer = m.tokenizer("Polar bears, 42 of them.", add_special_tokens=False)["input_ids"]
    pieces = [m.tokenizer.decode([i]) for i in answer]
    hidden = torch.randn(len(answer), 48)
    rows = m.generator_rows(hidden, answer)
    assert rows.shape == (len(answer), 60) and torch.equal(rows[:, :48], hidden)
    ids = rows[:, 48:].long()
    words = {"".join(pieces[: k + 1]).split()[-1]: ids[k] for k in range(len(answer)) if ids[k].any()}
    assert list(words) == ["Polar", "bears,", "42", "of", "them."]
    ph = m.phonemizer
    for word, row in words.items():
        expect = ph.word_ids(word)[:12]
        assert row[: len(expect)].tolist() == expect and not row[len(expect):].any()
    assert int(ids.any(1).sum()) == 5 < len(answer)  # tokens inside a word, or before its punctuation, carry none
    streamed = [m.generator_rows(hidden[k : k + 1], answer[: k + 2], first=k, final=False) for k in range(len(answer) - 1)]
    streamed.append(m.generator_rows(hidden[-1:], answer, first=len(answer) - 1, final=True))
    assert torch.equal(torch.cat(streamed), rows)
    with pytest.raises(ValueError, match="next token"):
        m.generator_rows(hidden[:1], answer[:1], first=0, final=False)
    gen = SpeechGenerator(m.config.generator).eval()
    pos, mask = torch.arange(len(answer))[None], causal_mask([len(answer)], len(answer))
    other = rows.clone()
    other[:, 48:] = 0
    with torch.no_grad():
        assert not torch.allclose(_prenet(gen, rows, pos, mask), _prenet(gen, other, pos, mask))

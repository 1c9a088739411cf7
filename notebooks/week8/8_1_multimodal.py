# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 8.1 Multimodal integration: images, sound and text in one model
#
# Until now every model of the course read text. This notebook gives it eyes and ears:
#
# 1. **Early against late fusion** on a task that needs both modalities (does this word, in
#    English, Indonesian, Thai or Vietnamese, name the digit in this image?), with text-only and
#    image-only baselines at the same parameter count.
# 2. **Audio features from scratch**: the STFT, the mel filter bank and the log, proven equal to
#    librosa (exercises); speech made offline by espeak-ng in four languages of the region; an
#    audio encoder fused with text, tested on a voice it never heard; Whisper base as the
#    reference speech recogniser, scored by word error rate.
# 3. **A small vision-language model**, LLaVA-style: the CLIP vision tower of 1.3, a projector,
#    and *your* course GPT as the language model, trained to caption and answer questions about
#    rendered scenes in English, Indonesian and Thai, and tested on colour-shape combinations it
#    never saw.

# %%
# On Colab, install the course package the first time (on your machine `make setup` did it).
import importlib.util, subprocess, sys
if importlib.util.find_spec("llmcourse") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "llmcourse[course] @ git+https://github.com/llmcourse/llmcourse"], check=True)

from llmcourse import check, setup

cfg = setup("8.1")

# %% [markdown]
# ## Knobs
# `smoke` checks that every cell runs in well under a minute; `laptop` trains long enough to
# see the differences, over three seeds.

# %%
FUSION_TRAIN = cfg.pick(smoke=600, laptop=6000)  # image-text pairs
FUSION_STEPS = cfg.pick(smoke=40, laptop=1200)
FUSION_PARAMS = 20_000  # every fusion model and baseline gets this many parameters
SEEDS = cfg.pick(smoke=[0], laptop=[0, 1, 2])
SPEECH_LANGS = cfg.pick(smoke=("en", "id"), laptop=("en", "id", "th", "vi"))
SPEECH_VOICES = cfg.pick(smoke=("m1", "f2"), laptop=("m1", "f2", "m3", "f4"))
SPEECH_SPEEDS = cfg.pick(smoke=(150,), laptop=(120, 160, 200))
MATCHER_STEPS = cfg.pick(smoke=30, laptop=400)
ASR_LANGS = cfg.pick(smoke=("en",), laptop=("en", "id", "th", "vi"))  # languages Whisper transcribes
ASR_CLIPS = cfg.pick(smoke=1, laptop=8)  # single-word clips per language
SCENES_TRAIN = cfg.pick(smoke=240, laptop=3000)
SCENES_TEST = cfg.pick(smoke=2, laptop=120)
CLIP_STEPS = cfg.pick(smoke=15, laptop=400)
VLM_STAGE1 = cfg.pick(smoke=10, laptop=400)
VLM_STAGE2 = cfg.pick(smoke=10, laptop=800)
VLM_BATCH = cfg.pick(smoke=16, laptop=32)
VLM_LANGS = ("en", "id", "th")
HELD_OUT = (("green", "triangle"), ("blue", "circle"))  # never seen together in training

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

torch.set_num_threads(cfg.threads)

# %% [markdown]
# ## 1. Early against late fusion
#
# Each example is an 8x8 handwritten digit (scikit-learn) and a number word in one of four
# languages; the label says whether they name the same number. Half the pairs match, so the
# image alone or the text alone is worth a coin flip. The two ways of combining them:
#
# * **early fusion** concatenates the pixels and the text's features and trains one network on
#   the joint vector;
# * **late fusion** encodes each modality to the end on its own and compares the two summaries
#   (a dot product in a shared space: the CLIP idea of 1.3).
#
# Every model gets the same number of parameters (`make_fusion_model` picks the hidden width).

# %%
from llmcourse.multimodal.fusion import count_params, digit_match_data, fusion_accuracy, make_fusion_model, train_fusion

fusion_train = digit_match_data(FUSION_TRAIN, "train", seed=0)
fusion_test = digit_match_data(cfg.pick(smoke=400, laptop=2000), "test", seed=0)
print(f"{len(fusion_train)} training pairs, e.g. {fusion_train.texts[:6]} with labels {fusion_train.labels[:6].tolist()}")

KINDS = ("text-only", "image-only", "early", "late")
fusion_results = {k: [] for k in KINDS}
for seed in SEEDS:
    for kind in KINDS:
        model = make_fusion_model(kind, FUSION_PARAMS, seed=seed)
        train_fusion(model, fusion_train, steps=FUSION_STEPS, seed=seed, progress=not cfg.smoke)
        fusion_results[kind].append(fusion_accuracy(model, fusion_test))
params = {k: count_params(make_fusion_model(k, FUSION_PARAMS)) for k in KINDS}

acc = {k: np.array([r["accuracy"] for r in fusion_results[k]]) for k in KINDS}
print(f"{'model':>11s} {'params':>7s} {'accuracy':>15s}   by language (first seed)")
for k in KINDS:
    by_lang = ", ".join(f"{l} {a:.2f}" for l, a in fusion_results[k][0]["by_lang"].items())
    print(f"{k:>11s} {params[k]:7d} {acc[k].mean():.3f} ± {acc[k].std():.3f}   {by_lang}")

fig, ax = plt.subplots(figsize=(6, 3))
ax.bar(KINDS, [acc[k].mean() for k in KINDS], yerr=[acc[k].std() for k in KINDS], color=["grey", "grey", "tab:blue", "tab:orange"])
ax.axhline(0.5, ls="--", c="k", lw=1, label="chance")
ax.set_ylabel("test accuracy")
ax.set_title(f"digit-word matching, {FUSION_PARAMS:,} parameters each, {len(SEEDS)} seed(s)")
ax.legend()
plt.show()

# %% [markdown]
# What does each get wrong? Accuracy on the pairs that match against those that do not, and the
# digits whose images each model reads worst:

# %%
for k in ("early", "late"):
    r = fusion_results[k][0]
    print(f"{k:>6s}: matches {r['on_matches']:.2f}, mismatches {r['on_mismatches']:.2f}, worst digits {r['worst_digits']}")
best_fusion = max(("early", "late"), key=lambda k: acc[k].mean())
cfg.say(f"With {FUSION_PARAMS:,} parameters and {FUSION_STEPS} steps, early fusion reaches "
        f"{acc['early'].mean():.1%} and late fusion {acc['late'].mean():.1%} "
        f"({len(SEEDS)} seed(s)); the single-modality baselines reach {acc['text-only'].mean():.1%} (text) and "
        f"{acc['image-only'].mean():.1%} (image), against 50% for chance on this balanced task. "
        f"{best_fusion.capitalize()} fusion is ahead here.")
cfg.report(fusion_early_acc=float(acc["early"].mean()), fusion_late_acc=float(acc["late"].mean()),
           fusion_text_only_acc=float(acc["text-only"].mean()), fusion_image_only_acc=float(acc["image-only"].mean()),
           fusion_params_ratio=max(params.values()) / min(params.values()))

# %% [markdown]
# Late fusion is *built* for matching: each side only has to learn "which number is this?"
# into a shared space, and the dot product does the comparing. Early fusion must discover the
# comparison itself from raw features (an XOR-like interaction: "the pixels say 7 *and* the
# word says tujuh"), which takes more data and steps; in exchange it can model interactions that
# are not a similarity. Look at the curves' budget before concluding either is "better".
#
# ## 2. Audio: the log-mel spectrogram from scratch
#
# Speech models (Whisper, and the audio side below) do not read raw samples. They read a
# **log-mel spectrogram**: the wave cut into overlapping 25 ms frames every 10 ms, each frame's
# power spectrum, pooled into 80 bands spaced like the ear's pitch resolution (the mel scale),
# in decibels.
#
# **Exercise `multimodal.stft_power`** · difficulty 2 · ~20 min. Write `stft_power(wave, n_fft,
# hop_length)`: pad `n_fft // 2` zeros on both sides (so frame t is centred on sample t * hop),
# cut frames of `n_fft` samples every `hop_length`, multiply by the *periodic* Hann window
# `0.5 - 0.5 cos(2 pi n / n_fft)`, take `np.fft.rfft`, and return the power `|X|^2` as
# (1 + n_fft // 2 frequencies, frames).

# %%
def stft_power(wave, n_fft=400, hop_length=160):
    ### BEGIN SOLUTION
    padded = np.pad(np.asarray(wave, dtype=np.float64), n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]  # (frames, n_fft)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    spectrum = np.fft.rfft(frames * window, axis=1)  # (frames, F)
    return (np.abs(spectrum) ** 2).T  # (F, frames)
    ### END SOLUTION


# %%
stft_power = check("multimodal.stft_power", stft_power)

# %% [markdown]
# **Exercise `multimodal.power_to_db`** · difficulty 1 · ~10 min. Loudness is heard
# logarithmically. Write `power_to_db(power, ref=1.0, amin=1e-10, top_db=80.0)`:
# `10 log10(max(amin, power)) - 10 log10(max(amin, ref))`, then clip everything more than
# `top_db` below the maximum (skip the clipping when `top_db` is None).

# %%
def power_to_db(power, ref=1.0, amin=1e-10, top_db=80.0):
    ### BEGIN SOLUTION
    db = 10.0 * np.log10(np.maximum(amin, power)) - 10.0 * np.log10(max(amin, ref))
    if top_db is not None:
        db = np.maximum(db, db.max() - top_db)
    return db
    ### END SOLUTION


# %%
power_to_db = check("multimodal.power_to_db", power_to_db)

# %% [markdown]
# **Exercise `multimodal.mel_filter_bank`** · difficulty 3 · ~35 min (stretch). The mel filter
# bank: `n_mels` triangles evenly spaced on Slaney's mel scale (linear below 1 kHz: `f / (200/3)`;
# logarithmic above: `15 + ln(f / 1000) / (ln 6.4 / 27)`), each normalised by its width in Hz
# (`2 / (right edge - left edge)`), evaluated at the rfft bin frequencies. Return
# (n_mels, 1 + n_fft // 2). librosa's `filters.mel` is the oracle.

# %%
def mel_filter_bank(sample_rate, n_fft, n_mels=80):
    ### BEGIN SOLUTION
    def hz_to_mel(f):
        f = np.asarray(f, dtype=np.float64)
        return np.where(f >= 1000, 15 + np.log(np.maximum(f, 1e-10) / 1000) / (np.log(6.4) / 27), f / (200 / 3))

    def mel_to_hz(m):
        return np.where(m >= 15, 1000 * np.exp((np.log(6.4) / 27) * (m - 15)), (200 / 3) * m)

    freqs = np.linspace(0, sample_rate / 2, 1 + n_fft // 2)
    edges = mel_to_hz(np.linspace(hz_to_mel(0), hz_to_mel(sample_rate / 2), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    weights = np.maximum(0, np.minimum(-ramps[:-2] / widths[:-1, None], ramps[2:] / widths[1:, None]))
    return weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    ### END SOLUTION


# %%
mel_filter_bank = check("multimodal.mel_filter_bank", mel_filter_bank)

# %% [markdown]
# Your three pieces make the log-mel spectrogram. Compare with librosa on a spoken word
# (espeak-ng, offline, resampled to Whisper's 16 kHz) and with the library's `log_mel`:

# %%
import librosa

from llmcourse.assets.speech import speak
from llmcourse.multimodal.audio import log_mel, mel_spectrogram

wave22, rate = speak("Selamat pagi, apa kabar?", "id", variant="f2", speed=150)
wave = librosa.resample(wave22, orig_sr=rate, target_sr=16000).astype(np.float32)
yours = mel_filter_bank(16000, 400, 80) @ stft_power(wave, 400, 160)  # (80, frames)
theirs = librosa.feature.melspectrogram(y=wave, sr=16000, n_fft=400, hop_length=160, n_mels=80)
mel_equal = bool(np.allclose(yours, theirs, rtol=1e-3, atol=1e-6 * theirs.max()))
db_equal = bool(np.allclose(power_to_db(yours), librosa.power_to_db(theirs), atol=1e-2))
lib_equal = bool(np.allclose(mel_spectrogram(wave, 16000), theirs, rtol=1e-4, atol=1e-6 * theirs.max()))
assert mel_equal and db_equal and lib_equal
print(f"mel spectrogram {yours.shape}: yours == librosa: {mel_equal}; in dB: {db_equal}; library: {lib_equal}")
cfg.report(logmel_equals_librosa=mel_equal and db_equal and lib_equal)

fig, ax = plt.subplots(figsize=(8, 3))
ax.imshow(power_to_db(yours), origin="lower", aspect="auto", cmap="magma")
ax.set_xlabel("frame (10 ms)")
ax.set_ylabel("mel band")
ax.set_title("'Selamat pagi, apa kabar?' (espeak-ng, Indonesian voice): your log-mel")
plt.show()

# %% [markdown]
# ### Speech fused with text
#
# Now a task that needs both senses: *does this spoken word mean the same number as this written
# word?* espeak-ng speaks the words for 0-9 in each language with several voice timbres and
# speeds. The audio encoder (a small 1-D CNN over the log-mel frames) and the text encoder (the
# character bag of section 1) are trained contrastively, CLIP-style, with written words in *any*
# of the languages. One voice is kept out of training to test on.

# %%
from llmcourse.multimodal.speech import SpeechTextMatcher, match_accuracy, spoken_words, train_matcher

t0 = time.perf_counter()
speech = spoken_words(langs=SPEECH_LANGS, variants=SPEECH_VOICES, speeds=SPEECH_SPEEDS, progress=not cfg.smoke)
voices = np.array(speech.variants)
test_voice = SPEECH_VOICES[-1]
speech_train, speech_test = speech.where(voices != test_voice), speech.where(voices == test_voice)
print(f"{len(speech)} clips ({time.perf_counter() - t0:.1f} s to synthesise); test voice: {test_voice}")

match_acc = {l: [] for l in SPEECH_LANGS}
for seed in SEEDS:
    torch.manual_seed(seed)
    matcher = SpeechTextMatcher()
    losses = train_matcher(matcher, speech_train, steps=MATCHER_STEPS, seed=seed, text_langs=SPEECH_LANGS,
                           progress=not cfg.smoke)
    for l in SPEECH_LANGS:
        match_acc[l].append(match_accuracy(matcher, speech_test, l))
for l in SPEECH_LANGS:
    print(f"spoken word (new voice) -> written word in {l}: {np.mean(match_acc[l]):.2f} ± {np.std(match_acc[l]):.2f} "
          "(chance 0.10)")
speech_acc = float(np.mean([np.mean(v) for v in match_acc.values()]))
cfg.say(f"On a voice it never heard, the speech-text model picks the right written number word "
        f"{speech_acc:.0%} of the time (chance: 10 %), averaged over {len(SPEECH_LANGS)} written languages.")
cfg.report(speech_text_match_acc=speech_acc)

# %% [markdown]
# ### Whisper base as the reference recogniser
#
# A trained speech recogniser transcribes the same kind of clips. Whisper base (OpenAI, MIT
# licence) runs here through faster-whisper from two PyPI packages, offline. Two kinds of clip:
# the isolated number words above, and each language *counting* from zero to nine in one
# utterance. Word error rate (jiwer; character error rate for Thai, written without spaces),
# with digits spelled out first: Whisper often writes "0-1-2" for "zero one two", which is right:

# %%
from llmcourse.multimodal.fusion import number_words
from llmcourse.multimodal.speech import load_whisper, transcribe, word_error_rate

whisper = load_whisper(threads=cfg.threads)
asr_rows = []
for lang in ASR_LANGS:
    counting = " ".join(number_words(lang))
    w22, r = speak(", ".join(number_words(lang)), lang, variant=test_voice, speed=150)
    w16 = librosa.resample(w22, orig_sr=r, target_sr=16000).astype(np.float32)
    asr_rows.append(("counting", lang, counting, transcribe(whisper, w16, lang)))
    idx = [i for i, l in enumerate(speech_test.langs) if l == lang][:ASR_CLIPS]
    for i in idx:
        asr_rows.append(("word", lang, speech_test.words[i], transcribe(whisper, speech_test.waves[i], lang)))
wer = {}
for kind in ("counting", "word"):
    for lang in ASR_LANGS:
        rows = [r for r in asr_rows if r[0] == kind and r[1] == lang]
        if rows:
            wer[(kind, lang)] = word_error_rate([r[2] for r in rows], [r[3] for r in rows], chars=lang == "th",
                                                digit_words=number_words(lang))  # "0-1-2" is right for "zero one two"
for kind, lang, ref, hyp in asr_rows[:8]:
    print(f"{kind:>8s} {lang}: {ref!r:40s} -> {hyp!r}")
for (kind, lang), v in wer.items():
    print(f"{'CER' if lang == 'th' else 'WER'} {kind:>8s} {lang}: {v:.2f}")
asr_wer = float(np.mean([v for (k, l), v in wer.items() if k == "counting"]))
word_wer = [v for (k, l), v in wer.items() if k == "word"]
word_note = ""
if word_wer:
    word_mean = float(np.mean(word_wer))
    word_note = (f" On isolated single words it is {word_mean:.2f}: " +
                 ("harder than a sentence — with one word of context it often hears another word, or hallucinates "
                  "a phrase from its training data." if word_mean > asr_wer else "no harder than the sentences here."))
cfg.say(f"Whisper base's mean error rate on the counting clips is {asr_wer:.2f}.{word_note}")
cfg.report(whisper_counting_error=asr_wer)

# %% [markdown]
# ## 3. A small vision-language model
#
# The scenes: one to three shapes of one colour on the left or right, rendered with Pillow, with
# captions and questions in English, Indonesian and Thai. Two colour-shape combinations never
# appear in training; the test set has only those.

# %%
from llmcourse.assets.scenes import make_scenes, scene_questions

scenes = make_scenes(SCENES_TRAIN, seed=0, exclude=HELD_OUT)
scenes_test = make_scenes(SCENES_TEST, seed=1, only=HELD_OUT)
scenes_seen = make_scenes(SCENES_TEST, seed=2, exclude=HELD_OUT)
fig, axes = plt.subplots(1, 6, figsize=(10, 2))
for ax, i in zip(axes, range(6)):
    ax.imshow(scenes.images[i].transpose(1, 2, 0))
    ax.set_title(scenes.captions("id")[i], fontsize=7)
    ax.axis("off")
plt.show()

# %% [markdown]
# **The vision tower** is the CLIP image encoder of 1.3, trained contrastively on these scenes'
# English captions. The VLM keeps its convolution stack and reads the 4x4 feature map as 16
# patch vectors. **The language model** is your course GPT (week 4's pre-trained artifact, or
# the reference one), exported to Hugging Face Llama (`to_hf()`, equal logits) so that it takes
# `inputs_embeds`.

# %%
from llmcourse.assets.artifacts import load_artifact
from llmcourse.models.course import reference_pretrained_gpt
from llmcourse.multimodal.clip import train_clip

clip_run = train_clip(scenes.images, scenes.captions("en"), steps=CLIP_STEPS, batch_size=cfg.pick(smoke=32, laptop=128),
                      progress=not cfg.smoke)
print(f"CLIP on scenes: loss {clip_run.losses[0]:.2f} -> {clip_run.losses[-1]:.2f}")
art = load_artifact("course-gpt-pretrained", fallback=reference_pretrained_gpt)
gpt, tok = art["model"], art["tokenizer"]
lm = gpt.to_hf()
print(f"language model: course GPT, {sum(p.numel() for p in lm.parameters()):,} parameters, vocabulary {tok.vocab_size}")

# %% [markdown]
# **Stage 1 (alignment)**: only the projector learns, on captions in the three languages. **Stage
# 2 (instruction tuning)**: LoRA adapters (week 5's `apply_lora`, proven equal to peft there) on
# the LM's attention join the projector, on captions and questions.

# %%
from llmcourse.multimodal.vlm import TinyVLM, answer_matches, caption_attribute_accuracy, train_vlm_stage

vlm = TinyVLM.build(clip_run.model.image_encoder, lm, tok)
for p in lm.parameters():
    p.requires_grad_(False)
captions = [(i, f"Caption ({l}):", c) for l in VLM_LANGS for i, c in enumerate(scenes.captions(l))]
stage1 = train_vlm_stage(vlm, captions, scenes.images, steps=VLM_STAGE1, batch=VLM_BATCH, lr=2e-3,
                         progress=not cfg.smoke, desc="stage 1: projector")

from llmcourse.finetuning import apply_lora  # noqa: E402

vlm.lm = apply_lora(lm, ["q_proj", "k_proj", "v_proj", "o_proj"], r=8, alpha=16)
questions = [(i, f"Q: {q} A:", a) for l in VLM_LANGS for i, at in enumerate(scenes.attrs)
             for _, q, a in scene_questions(at["colour"], at["shape"], at["count"], at["side"], l)]
stage2 = train_vlm_stage(vlm, captions + questions, scenes.images, steps=VLM_STAGE2, batch=VLM_BATCH, lr=2e-3,
                         progress=not cfg.smoke, desc="stage 2: projector + LoRA")
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(stage1, label="stage 1 (projector)")
ax.plot(range(len(stage1), len(stage1) + len(stage2)), stage2, label="stage 2 (+ LoRA)")
ax.set_xlabel("step")
ax.set_ylabel("answer cross-entropy")
ax.legend()
plt.show()


# %%
def evaluate_vlm(vlm, test_scenes, langs=VLM_LANGS):
    """Caption attribute accuracy and question exact match, per language."""
    out = {}
    for l in langs:
        attr_hits, qa_hits = [], []
        for img, at in zip(test_scenes.images, test_scenes.attrs):
            x = torch.as_tensor(img)
            cap = vlm.generate(x, f"Caption ({l}):", max_new_tokens=24)
            attr_hits.append(np.mean(list(caption_attribute_accuracy(cap, at, l).values())))
            for _, q, a in scene_questions(at["colour"], at["shape"], at["count"], at["side"], l):
                qa_hits.append(answer_matches(vlm.generate(x, f"Q: {q} A:", max_new_tokens=8), a))
        out[l] = {"caption_attributes": float(np.mean(attr_hits)), "qa": float(np.mean(qa_hits))}
    return out


vlm_seen, vlm_heldout = evaluate_vlm(vlm, scenes_seen), evaluate_vlm(vlm, scenes_test)
print(f"{'':>4s} {'seen combos':>28s} {'held-out combos':>28s}")
print(f"{'':>4s} {'caption attrs':>14s} {'QA':>13s} {'caption attrs':>14s} {'QA':>13s}")
for l in VLM_LANGS:
    s, h = vlm_seen[l], vlm_heldout[l]
    print(f"{l:>4s} {s['caption_attributes']:14.2f} {s['qa']:13.2f} {h['caption_attributes']:14.2f} {h['qa']:13.2f}")
for i in range(min(3, len(scenes_test))):
    x = torch.as_tensor(scenes_test.images[i])
    print(scenes_test.attrs[i], "->", [vlm.generate(x, f"Caption ({l}):", max_new_tokens=24) for l in VLM_LANGS])
vlm_qa_seen = float(np.mean([v["qa"] for v in vlm_seen.values()]))
vlm_qa_held = float(np.mean([v["qa"] for v in vlm_heldout.values()]))
vlm_cap_held = float(np.mean([v["caption_attributes"] for v in vlm_heldout.values()]))
cfg.say(f"After {VLM_STAGE1} + {VLM_STAGE2} steps the VLM answers {vlm_qa_seen:.0%} of the questions on seen "
        f"colour-shape combinations and {vlm_qa_held:.0%} on the held-out ones; its captions of held-out scenes name "
        f"{vlm_cap_held:.0%} of the attributes right.")
cfg.report(vlm_stage1_loss_start=stage1[0], vlm_stage2_loss_end=float(np.mean(stage2[-5:])),
           vlm_qa_seen=vlm_qa_seen, vlm_qa_heldout=vlm_qa_held, vlm_caption_attr_heldout=vlm_cap_held)

# %% [markdown]
# ### The reference: SEA-LION v4's smallest vision-language model (online, on a GPU)
#
# On Colab the same held-out scenes go to `aisingapore/Gemma-SEA-LION-v4-4B-VL` (Gemma 3 4B with a
# SigLIP vision tower, instruction-tuned for the region), 4-bit, with its chat template. Offline
# or without a GPU this cell says so and does nothing.

# %%
SEA_LION_VL = "aisingapore/Gemma-SEA-LION-v4-4B-VL"
if cfg.online and torch.cuda.is_available():
    import transformers
    from PIL import Image

    processor = transformers.AutoProcessor.from_pretrained(SEA_LION_VL)
    vl = transformers.AutoModelForImageTextToText.from_pretrained(
        SEA_LION_VL, device_map="auto",
        quantization_config=transformers.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                            bnb_4bit_compute_dtype=torch.float16))
    hits = []
    for img, at in list(zip(scenes_test.images, scenes_test.attrs))[:20]:
        pil = Image.fromarray((img.transpose(1, 2, 0) * 255).astype(np.uint8)).resize((224, 224))
        for _, q, a in scene_questions(at["colour"], at["shape"], at["count"], at["side"], "id"):
            messages = [{"role": "user", "content": [{"type": "image", "image": pil},
                                                     {"type": "text", "text": q + " Jawab dengan satu kata."}]}]
            inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                   return_dict=True, return_tensors="pt").to(vl.device)
            out = vl.generate(**inputs, max_new_tokens=8, do_sample=False)
            reply = processor.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
            hits.append(answer_matches(reply, a))
    cfg.say(f"SEA-LION v4 4B VL answers {np.mean(hits):.0%} of the Indonesian questions on held-out scenes "
            f"(our VLM: {vlm_heldout['id']['qa']:.0%}).")
else:
    print(f"{SEA_LION_VL} needs the Hub and a CUDA GPU (Colab); skipped here.")

# %% [markdown]
# ## What to take away
# * Fusion is a design choice with a budget: compare at equal parameters and steps, and check
#   each modality alone first (the baselines say whether the task needs both).
# * The log-mel spectrogram is 20 lines of NumPy, and yours equals librosa's.
# * A VLM is an LM that reads a few extra vectors: the projector writes the image in the LM's
#   embedding space; LoRA lets the LM learn to use them. Held-out combinations tell whether it
#   composes what it saw or memorised pairs.

"""Speech recognition, Listen, Attend and Spell style: log-mel frames subsampled by strided
convolutions and read by a bidirectional LSTM (the listener), an attention LSTM decoder
writing characters (the speller), SpecAugment in training, greedy and beam search.

  sudo scripts/install_system_data.sh      # flite and espeak-ng, once
  python -m s2s.train --config configs/speech.py --workdir runs/speech
  python -m s2s.predict --workdir runs/speech --beam 5 question.wav
  python -m s2s.train --config configs/speech.py:dataset=manifest,manifest=clips.tsv \
      --workdir runs/my_speech

Datasets (s2s/tasks/speech.py):
  arithmetic  (default) the arithmetic questions ("12+345") spoken by flite and espeak-ng
              voices at random speed and pitch with light noise; target=transcript (write
              what was said) or target=answer (compute it). The `test` split is spoken by a
              flite voice never heard in training (held_out_voice); `test_seen` holds the
              same questions in the training voices.
  sentences   the English messages of the installed software's gettext catalogs (the
              translation task's corpus) that are plain words, spoken the same way;
              target=transcript (recognition) or target=translation (their French text)
  manifest    your recordings: path<TAB>transcript lines, WAV or FLAC at any sample rate

Arguments: dataset, target, digits, ops, manifest, held_out_voice, num_examples,
spec_augment (True|False), conv_layers (time reduction 2**conv_layers), encoder_layers,
hidden_size, attention (none|bahdanau|luong), ctc_weight (joint CTC-attention; 0 = none),
epochs.

Sweeps (`python scripts/launch.py --config configs/speech.py --sweep NAME --workdir DIR`):
  arithmetic  the default (target=transcript, 10 epochs) x 2 seeds (experiments/speech;
              target=answer is trained from a transcript run's weights: see there)
  six_epochs  the default trained for 6 epochs instead of 10, x 2 seeds: the issue's time bar
              (run it with --parallel 1, each run alone on the cores)
  ablation    6 epochs as six_epochs: the default, then without SpecAugment, without
              speed/pitch/noise perturbation of the training speech, and with flite voices
              only (no espeak-ng), x 2 seeds; the test speech is the same in every row
  sentences   dataset=sentences for 20 epochs x 2 seeds, each listener (source_input,
              encoder) copied from the same seed's run of `ablation`'s default row, which
              must have run into runs/speech_ablation (experiments/speech)
"""

import ml_collections

from s2s import config as config_lib
from s2s.sweeps import axis, product, seeds


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, dataset="arithmetic", target="transcript", digits=3, ops="+",
                             manifest="", held_out_voice="flite:rms", num_examples=12_000,
                             spec_augment=True, conv_layers=2, encoder_layers=2,
                             hidden_size=128, attention="luong", ctc_weight=0.0, epochs=10.0)
  config = config_lib.base_config()
  config.task = ml_collections.ConfigDict()
  config.task.name = "speech"
  config.task.dataset = arg.dataset
  # arithmetic: "transcript" (hearing) or "answer" (computing); sentences: "transcript" or
  # "translation" (the French text: speech translation).
  config.task.target = arg.target
  config.task.digits = arg.digits
  config.task.ops = arg.ops
  # Train + validation utterances (arithmetic); training sentences at most (sentences).
  config.task.num_examples = arg.num_examples
  config.task.val_fraction = 0.1
  config.task.test_fraction = 0.1  # manifest, sentences: the test share (by a hash).
  # Test questions, each spoken twice (test, test_seen); sentences: at most this many
  # validation and test sentences.
  config.task.num_test = 1_000
  config.task.seed = 0
  # The speaker of the headline test split; flite's other voices and every English espeak-ng
  # voice speak the training data.
  config.task.held_out_voice = arg.held_out_voice
  config.task.flite_share = 0.5
  # Speaking rate in 0.85..1.15 of the voice's, then Kaldi's speed perturbation (0.9..1.1,
  # tempo and pitch together) unless speed = 0.
  config.task.speed = 0.15
  config.task.pitch = 0.15
  config.task.min_snr_db = 15.0  # Noise at 15-40 dB SNR.
  # False: the training utterances without speed, pitch or noise perturbation, every other
  # split unchanged (the ablation's row; speed=pitch=min_snr_db=0 would clean the test too).
  config.task.perturb_train = True
  # sentences: the English messages of the installed software's gettext catalogs, translated
  # to lang (the translation task's corpus), of at most max_chars characters.
  config.task.corpus_path = "/usr/share/locale"
  config.task.lang = "fr"
  config.task.max_chars = 60
  config.task.manifest = arg.manifest
  config.task.max_seconds = 20.0
  config.task.tokenizer = "char"
  config.task.vocab_size = 1000  # spm only.
  config.task.conv_layers = arg.conv_layers
  config.task.conv_channels = 32
  # SpecAugment (Park 2019): 2 frequency masks of up to 15 of the 80 bins, 2 time masks of up
  # to 20 frames (these clips last about 3 s, LibriSpeech's ~12 s get 100).
  on = arg.spec_augment
  config.task.freq_masks = 2 if on else 0
  config.task.freq_width = 15 if on else 0
  config.task.time_masks = 2 if on else 0
  config.task.time_width = 20 if on else 0

  config.model.name = "encoder_decoder"
  config.model.attention = arg.attention
  config.model.encoder_layers = arg.encoder_layers
  config.model.bidirectional = True
  config.model.hidden_size = arg.hidden_size
  config.model.embed_dim = 64
  config.model.dropout = 0.2
  # Joint CTC-attention (ESPnet's mtlalpha): the listener's own CTC output layer, its loss
  # times ctc_weight added to the speller's cross-entropy, so that attention learns a
  # monotonic alignment sooner.
  config.model.ctc_weight = arg.ctc_weight

  config.batch_size = 32
  config.eval_batch_size = 250
  config.learning_rate = 1e-3
  config.schedule = "cosine"
  config.warmup_steps = 300
  config.grad_clip_norm = 1.0
  config.num_epochs = arg.epochs
  config.length_buckets = 4  # Utterances last 1.5-4.5 s: batch similar lengths.
  # One step per device call: XLA:CPU runs convolution gradients ~10x slower inside the loop
  # that would run several (s2s/train.py's train_steps).
  config.steps_per_dispatch = 1
  config.beam_size = 5
  config.num_samples = 8
  config.stop_at = ""
  return config


SWEEPS = {
    "arithmetic": seeds(2),
    "six_epochs": product(seeds(2), [{"num_epochs": 6.0}]),
    # What buys generalisation to the held-out voice: each row takes one ingredient away.
    # At six_epochs's 6 epochs: the recipe that meets the 20-minute bar.
    "ablation": product(seeds(2), [{"num_epochs": 6.0}], [
        {},
        {"task.freq_masks": 0, "task.time_masks": 0},  # No SpecAugment.
        {"task.perturb_train": False},  # No speed, pitch or noise in training; test unchanged.
        {"task.flite_share": 1.0},  # flite's other voices only (3 speakers), no espeak-ng.
    ]),
    # Spoken sentences, each seed's listener from the same seed's run of the ablation's
    # default row (run that sweep first, into runs/speech_ablation): 20 epochs.
    "sentences": product(seeds(2), [{
        "task.dataset": "sentences", "num_epochs": 20.0,
        "init_from": "runs/speech_ablation/seed={seed}",
        "init_from_modules": "source_input,encoder"}]),
}

"""Translation with the Sutskever/Cho encoder-decoder, with or without attention.

  python -m s2s.train --config configs/translation.py --workdir runs/translation
  python -m s2s.train --config configs/translation.py:corpus=tsv,path=fra.txt,tokenizer=char \
      --workdir runs/fra
  python -m s2s.predict --workdir runs/translation --beam 5 "Where is the file?"

The default corpus is this machine's gettext catalogs (/usr/share/locale/<tgt>/LC_MESSAGES:
human translations of program messages), English -> French, short messages without format
specifiers or markup. Other corpora:
  corpus=tsv,path=fra.txt        an Anki/Tatoeba file, English<TAB>other[<TAB>attribution]
  corpus=gettext,path=DIR        any tree holding <lang>/LC_MESSAGES/*.po|*.mo (e.g. Django's)
  corpus=tfds,path=NAME          a TFDS translation dataset already prepared in the data_dir,
                                 e.g. ted_hrlr_translate/pt_to_en with src=pt,tgt=en

Arguments: src, tgt, corpus, path, tokenizer (char|spm), vocab_size (spm), attention
(none|bahdanau|luong), reverse (feed the source reversed), max_chars (per side), hidden_size,
epochs.

Sweeps (`python scripts/launch.py --config configs/translation.py --sweep NAME --workdir DIR`):
  table   attention {none, bahdanau, luong} x reverse x 2 seeds; the final evaluation
          reports greedy and beam-5 BLEU/chrF (experiments/translation)
  buckets length_buckets {0 (padded), 2, 3, 4} x 2 seeds: what batching sentences of similar
          length costs in BLEU (experiments/translation/buckets; speed in BENCHMARKS.md)
  padded_vs_3  length_buckets {0, 3} x 6 seeds: padded batches against 3 buckets with the
          power to see a 1-point BLEU difference (experiments/translation/padded_vs_3)
"""

import ml_collections

from s2s import config as config_lib
from s2s.sweeps import axis, product, seeds


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, src="en", tgt="fr", corpus="gettext", path="/usr/share/locale",
                             tokenizer="spm", vocab_size=2000, attention="luong",
                             reverse=False, max_chars=30, hidden_size=128, epochs=12.0)
  config = config_lib.base_config()
  config.task = ml_collections.ConfigDict()
  config.task.name = "translation"
  config.task.corpus = arg.corpus  # "gettext", "tsv" or "tfds".
  config.task.path = arg.path  # A directory (gettext), a file (tsv) or a dataset name (tfds).
  config.task.src = arg.src
  config.task.tgt = arg.tgt
  config.task.max_source_chars = arg.max_chars  # Longer pairs are dropped; 0 = keep all.
  config.task.max_target_chars = arg.max_chars * 3 // 2  # French runs longer than English.
  config.task.drop_format = True  # Drop messages with %s, {0}, ...
  config.task.drop_markup = True  # Drop messages with <b>, </a>, ...
  config.task.val_fraction = 0.05
  config.task.test_fraction = 0.05
  config.task.tokenizer = arg.tokenizer  # "char" or "spm" (sentencepiece, trained on train).
  config.task.vocab_size = arg.vocab_size  # spm, per side.
  config.task.reverse = arg.reverse  # Sutskever 2014: feed the source reversed.

  config.model.name = "encoder_decoder"
  config.model.attention = arg.attention
  config.model.hidden_size = arg.hidden_size
  config.model.embed_dim = 64
  config.model.bidirectional = False
  config.model.dropout = 0.2

  config.batch_size = 64
  config.eval_batch_size = 500
  config.learning_rate = 2e-3
  config.schedule = "cosine"
  config.warmup_steps = 200
  config.grad_clip_norm = 1.0
  config.num_epochs = arg.epochs
  config.beam_size = 5
  config.num_samples = 8
  return config


def table():
  """Attention x source order x 2 seeds (12 runs, seed outermost so that a partial sweep has
  every configuration); greedy and beam 5 come from each run's final evaluation."""
  return product(seeds(2), axis("model.attention", ["none", "bahdanau", "luong"]),
                 axis("task.reverse", [False, True]))


SWEEPS = {
    "table": table(),
    # Length buckets against batches padded to the corpus's longest sentence, at the default
    # recipe (Luong, plain source): the BLEU side of BENCHMARKS.md's bucket speed-ups.
    "buckets": product(seeds(2), axis("length_buckets", [0, 2, 3, 4])),
    # Padded batches against 3 buckets over 6 seeds: 2 seeds leave a 1-point BLEU difference
    # within the noise.
    "padded_vs_3": product(seeds(6), axis("length_buckets", [0, 3])),
}

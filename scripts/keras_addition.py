"""The Keras addition_rnn recipe in Keras 3, the peer `scripts/benchmark.py --peers` runs.

  KERAS_BACKEND=jax python scripts/keras_addition.py --max_epochs 30   # (the default backend)
  KERAS_BACKEND=tensorflow python scripts/keras_addition.py --max_epochs 30
  ... --batch_size 4096 --hidden_size 1024   # Other sizes (`benchmark.py --peers` passes them).

As the Keras tutorial builds it: queries padded with spaces to 7 characters and reversed,
answers padded to 4, both one-hot over 12 characters; LSTM(128) -> RepeatVector(4) ->
LSTM(128, return_sequences) -> Dense softmax; categorical cross-entropy, Adam (1e-3,
constant), batch 32; one `fit` of one epoch with the validation split per loop iteration, then
10 validation samples predicted one at a time. The 45,000/5,000 questions are the ones s2s
trains on (`s2s.arithmetic.make_splits` with configs/addition.py's arguments), so the two
read the same data.

Prints one JSON line per epoch on standard output: its number, its seconds (fit with
validation, then the samples), the validation per-character accuracy (Keras's "accuracy",
padding included: s2s's padded_char_accuracy). Stops after the first epoch at or above
--target, or after --max_epochs.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # pylint: disable=wrong-import-position

from s2s import arithmetic  # pylint: disable=wrong-import-position

DIGITS = 3
CHARS = "0123456789+ "
QUERY_LENGTH = DIGITS + 1 + DIGITS
ANSWER_LENGTH = DIGITS + 1


def one_hot(texts, length):
  index = {c: i for i, c in enumerate(CHARS)}
  ids = np.array([[index[c] for c in text.ljust(length)] for text in texts])
  return np.eye(len(CHARS), dtype=np.float32)[ids]


def data(seed, num_examples=50_000):
  splits = arithmetic.make_splits(arithmetic.ArithmeticTask(digits=DIGITS, ops="+"),
                                  num_examples=num_examples, val_fraction=0.1,
                                  num_test=num_examples // 10, seed=seed)
  out = {}
  for name in ("train", "validation"):
    queries, answers = zip(*splits[name])
    x = one_hot([q.ljust(QUERY_LENGTH) for q in queries], QUERY_LENGTH)[:, ::-1]  # Reversed.
    out[name] = (x, one_hot(answers, ANSWER_LENGTH))
  return out


def import_keras():
  """Keras, imported on first use, so that scripts/jax_addition.py reads the same data
  without it."""
  os.environ.setdefault("KERAS_BACKEND", "jax")  # Keras's own default is TensorFlow.
  import keras  # pylint: disable=import-outside-toplevel
  return keras


def model(hidden_size=128):
  keras = import_keras()
  m = keras.Sequential([
      keras.Input((QUERY_LENGTH, len(CHARS))),
      keras.layers.LSTM(hidden_size),
      keras.layers.RepeatVector(ANSWER_LENGTH),
      keras.layers.LSTM(hidden_size, return_sequences=True),
      keras.layers.Dense(len(CHARS), activation="softmax"),
  ])
  m.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
  return m


def recipe_parser(doc: str) -> argparse.ArgumentParser:
  """The flags every peer script of the recipe takes (this one, jax_addition.py,
  torch_addition.py): how long, what target, which questions, what sizes."""
  p = argparse.ArgumentParser(description=doc.split("\n")[0])
  p.add_argument("--max_epochs", type=int, default=30)
  p.add_argument("--target", type=float, default=0.99)
  p.add_argument("--seed", type=int, default=0, help="The questions' seed (config.task.seed).")
  p.add_argument("--num_examples", type=int, default=50_000,
                 help="Questions split 90/10 into train and validation (the recipe: 50,000).")
  p.add_argument("--batch_size", type=int, default=32)
  p.add_argument("--hidden_size", type=int, default=128)
  return p


def main(argv):
  p = recipe_parser(__doc__)
  p.add_argument("--min_epochs", type=int, default=1,
                 help="Epochs to run even after --target is reached.")
  args = p.parse_args(argv)
  splits = data(args.seed, args.num_examples)
  (x, y), (x_val, y_val) = splits["train"], splits["validation"]
  import_keras().utils.set_random_seed(args.seed)
  m = model(args.hidden_size)
  rng = np.random.default_rng(args.seed)
  for epoch in range(1, args.max_epochs + 1):
    start = time.perf_counter()
    history = m.fit(x, y, batch_size=args.batch_size, epochs=1, validation_data=(x_val, y_val), verbose=0)
    for i in rng.integers(0, len(x_val), 10):  # The tutorial's sample table.
      m.predict(x_val[np.array([i])], verbose=0)
    accuracy = float(history.history["val_accuracy"][-1])
    print(json.dumps({"epoch": epoch, "epoch_s": time.perf_counter() - start,
                      "val_char_accuracy": accuracy}), flush=True)
    if accuracy >= args.target and epoch >= args.min_epochs:
      break


if __name__ == "__main__":
  main(sys.argv[1:])

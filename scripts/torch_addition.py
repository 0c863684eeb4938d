"""The Keras addition_rnn recipe in PyTorch, the peer `scripts/benchmark.py --peers` runs as
`pytorch` (on a GPU, `nn.LSTM` runs cuDNN's kernels).

  python scripts/torch_addition.py --max_epochs 30 [--batch_size 32] [--hidden_size 128]

Keras's model on Keras's data (scripts/keras_addition.py, the same one-hot reversed questions):
nn.LSTM(hidden) over the 7 query characters, its last hidden state repeated 4 times into a
second nn.LSTM(hidden), a linear layer to the 12 characters; cross-entropy averaged over the 4
answer positions, Adam (1e-3, Keras's epsilon 1e-7), shuffled batches, the last partial batch
kept (as Keras's fit does). PyTorch's own initialisers and float32 defaults (cuDNN may use
TF32 for its recurrent matmuls, as PyTorch ships it). Validation is one forward pass per batch
of the 5,000 questions, then 10 validation samples predicted one at a time (the tutorial's
sample table, as the Keras peer does). The data lives on the device for the whole run.

Prints one JSON line per epoch on standard output, as scripts/keras_addition.py does: its
number, its seconds (training, validation and the samples), the validation per-character
accuracy (padding included, Keras's "accuracy"). Stops after the first epoch at or above
--target, or after --max_epochs.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # pylint: disable=wrong-import-position
import torch  # pylint: disable=wrong-import-position
from torch import nn  # pylint: disable=wrong-import-position

import keras_addition  # pylint: disable=wrong-import-position


class Addition(nn.Module):
  """LSTM -> repeat -> LSTM -> linear, as keras_addition.model builds it."""

  def __init__(self, hidden_size, vocab=len(keras_addition.CHARS)):
    super().__init__()
    self.encoder = nn.LSTM(vocab, hidden_size, batch_first=True)
    self.decoder = nn.LSTM(hidden_size, hidden_size, batch_first=True)
    self.dense = nn.Linear(hidden_size, vocab)

  def forward(self, x):  # x: [batch, 7, 12] one-hot -> [batch, 4, 12] logits.
    _, (h, _) = self.encoder(x)
    repeated = h[-1].unsqueeze(1).expand(-1, keras_addition.ANSWER_LENGTH, -1)
    out, _ = self.decoder(repeated)
    return self.dense(out)


def synchronize(device):
  if device.type == "cuda":
    torch.cuda.synchronize()


def main(argv):
  p = keras_addition.recipe_parser(__doc__)
  p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
  args = p.parse_args(argv)
  device = torch.device(args.device)
  torch.manual_seed(args.seed)
  splits = keras_addition.data(args.seed, args.num_examples)
  # Class indices for the loss and the accuracy; the inputs stay one-hot, as Keras's.
  (x, y), (x_val, y_val) = [(torch.from_numpy(np.ascontiguousarray(q)).to(device),
                             torch.from_numpy(a.argmax(-1)).to(device))
                            for q, a in (splits["train"], splits["validation"])]
  model = Addition(args.hidden_size).to(device)
  optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
  loss_fn = nn.CrossEntropyLoss()
  rng = np.random.default_rng(args.seed)
  batch = args.batch_size
  for epoch in range(1, args.max_epochs + 1):
    synchronize(device)
    start = time.perf_counter()
    model.train()
    order = torch.randperm(len(x), device=device)
    for i in range(0, len(x), batch):
      index = order[i:i + batch]
      logits = model(x[index])
      loss = loss_fn(logits.reshape(-1, logits.shape[-1]), y[index].reshape(-1))
      optimizer.zero_grad(set_to_none=True)
      loss.backward()
      optimizer.step()
    model.eval()
    with torch.no_grad():
      correct = sum(int((model(x_val[i:i + batch]).argmax(-1) == y_val[i:i + batch]).sum())
                    for i in range(0, len(x_val), batch))
      for i in rng.integers(0, len(x_val), 10):  # The tutorial's sample table.
        model(x_val[int(i)][None]).argmax(-1).cpu()
    accuracy = correct / y_val.numel()
    synchronize(device)
    print(json.dumps({"epoch": epoch, "epoch_s": time.perf_counter() - start,
                      "val_char_accuracy": accuracy}), flush=True)
    if accuracy >= args.target:
      break


if __name__ == "__main__":
  main(sys.argv[1:])

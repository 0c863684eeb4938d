"""Tasks: what a run learns to map, one file each, found by `config.task.name`.

`config.task.name` names a module: `arithmetic` is `s2s/tasks/arithmetic.py`, and a dotted
name (`my_project.tasks.reverse`) is imported as it is, so a task can live outside s2s.
The train loop, `s2s.predict`, reporting, results and the scripts never name a task: they
go through this protocol. A task module defines

  RULES: dict        config.task fields (but `name`) -> s2s.config.Rule: what each may hold
  METRICS: tuple     what its evaluation reports (names of s2s.metrics.TABLE); `stop_at`,
                     tables and plots may use these
  check(task_config) raises a UserError for a value only the task's code can judge
                     (its operators, its corpus path); called after RULES are checked
  shape(flat)        (optional) -> s2s.config.Shape: the data's size, estimated from the
                     flat config before any is made, for the memory check
  load(task_config, data_dir) -> {split: source}
                     prepares the dataset once (TFDS, array_record) and returns random-access
                     sources: len(source), source.__getitems__(indices) -> records
  build(config, workdir=None, sources=None) -> Task
                     the run's task: it fits what it learns from the training split (e.g.
                     tokenizers) the first time (`sources` given) and saves it in the
                     workdir; later (resuming, predicting) it loads it from there.

and the Task object `build` returns has

  input_spec: {key: (shape, dtype)}  one example's model inputs (targets excluded): model
                     init makes zeros of these; the input module reads these batch keys
  target_length: int, target_vocab_size: int
  input_module(model_config) -> a factory of the flax module that turns a batch's inputs
                     into (features [B, L, D], lengths [B]), called as module(batch,
                     train=...) (e.g. s2s.models.TokenInput; SpeechInput augments in training)
  encode(record) -> {key: array}  a record as the model's arrays: input_spec's keys and
                     `targets` (int32 [target_length]: answer ids, EOS, PAD)
  texts(record) -> (query, answer)  strings for the sample table; `answer` is the reference
  decode(ids) -> str                 predicted ids (up to EOS) as text
  parse_query(text) -> {key: array}  a user's query for s2s.predict, as one example's
                     inputs; a UserError naming it if it is not a question of the task
  text_metrics(hypotheses, references, final=False) -> dict  metrics on decoded text ({} if
                     none); references are the answers, or each example's list of them when
                     the task defines `references`; `final` is a split's last evaluation of
                     the run, where a costly metric (METEOR) may be left to
                     (`config.stop_at` cannot name such a metric)
  references(record) -> [str]  (optional) every reference of a record (all captions of an
                     image), for text_metrics; else the answer of `texts` is the one
  source_pieces(example) -> [str], target_pieces(ids) -> [str]  (optional) labels of
                     attention plots: the input positions as fed, the predicted tokens
  source_image(example) -> (image uint8 [H, W, C], (rows, columns)) or None  (optional)
                     instead of source_pieces: attention plots drawn over the image, the
                     weights over a grid of regions listed column by column
  sequence_lengths(arrays) -> {key: int [N]}  (optional) the real lengths of encoded
                     examples' sequence keys, for config.length_buckets (s2s.input_pipeline)
  slices(query, answer) -> {family: label}  (optional) an example's label in each slice
                     family: every evaluation event then holds accuracy by slice
  final_checks(sources) -> {split: [record]}  (optional) extra splits made by the task,
                     evaluated once at the end of a run (the arithmetic task's small
                     operands, captioning's blanked test images); every split `load`
                     returns besides train and validation (speech's test_seen) is too
  train_iterator(config, data, sources)  (optional) the training batches, when the task
                     draws its own (a curriculum); else s2s.input_pipeline.training_batches
"""

import importlib

from s2s.errors import UserError


def get(name: str):
  """The task module `name` names (see above); an unknown name is a UserError."""
  module_name = name if "." in name else f"{__name__}.{name}"
  try:
    return importlib.import_module(module_name)
  except ModuleNotFoundError as e:
    if e.name and module_name.startswith(e.name):  # The task itself, not one of its imports.
      raise UserError(f"config.task.name {name!r} names no task (no module {module_name}; "
                      f"the tasks of s2s are {', '.join(builtin())})") from None
    raise


def builtin() -> list[str]:
  """The names of the tasks shipped in s2s/tasks/."""
  import pkgutil  # pylint: disable=import-outside-toplevel
  return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def build(config, workdir: str | None = None, sources: dict | None = None):
  """(task, model) of a run: the task's `build`, and the model over its input module."""
  from s2s import models  # pylint: disable=import-outside-toplevel
  task = get(config.task.name).build(config, workdir, sources)
  model = models.build(config.model, vocab_size=task.target_vocab_size,
                       source=task.input_module(config.model))
  return task, model

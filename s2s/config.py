"""Configs: every field with its default (`base_config`), string arguments of config files
(`configs/arithmetic.py:digits=5,ops=+-`), and the one table of what each field may hold
(`RULES`, and each task's own in s2s/tasks/), applied by `check` before a run writes anything."""

import collections.abc
import dataclasses
import math
import os
import re
import traceback
from typing import Callable, NamedTuple

import ml_collections

from s2s.errors import UserError


def _convert(key, text, default):
  if isinstance(default, bool):
    if text.lower() in ("1", "true", "yes"):
      return True
    if text.lower() in ("0", "false", "no"):
      return False
    raise UserError(f"config argument {key}={text!r} is not a boolean (use True or False)")
  if isinstance(default, (int, float)):
    try:
      return type(default)(text)
    except ValueError:
      raise UserError(
          f"config argument {key}={text!r} is not a valid {type(default).__name__}") from None
  return text


def parse_arg(arg, **defaults):
  """Parses `"k1=v1,k2=v2"` into a ConfigDict, typed like `defaults`.

  Keys not in `defaults` are an error, so a typo in a config argument cannot
  silently fall back to a default.
  """
  values = dict(defaults)
  for item in filter(None, (arg or "").split(",")):
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep:
      raise UserError(f"config argument {item!r} is not of the form key=value")
    if key not in defaults:
      raise UserError(
          f"unknown config argument {key!r} (known: {', '.join(sorted(defaults))})")
    values[key] = _convert(key, text.strip(), defaults[key])
  return ml_collections.ConfigDict(values)


# ---------------------------------------------------------------------------------------------
# What each config field may hold: one table, applied by `check` before anything is written.

INT32_MAX = 2**31 - 1  # Steps, sizes and seeds end up in int32 arrays.


@dataclasses.dataclass(frozen=True)
class Rule:
  """What one config field may hold.

  `kind` is int, float, bool or str (an int is a float too; a bool is neither). Numbers
  must be finite and within the bounds: `min`/`max` inclusive, `above`/`below` exclusive;
  an int is at most INT32_MAX unless `max` says less. A str is one of `choices` if given
  (else free text, or checked by the task's code). `why` ends the error message.
  """
  kind: type
  min: float | None = None
  above: float | None = None
  max: float | None = None
  below: float | None = None
  choices: tuple = ()
  why: str = ""


_KIND_NAMES = {int: "an integer", float: "a number", bool: "True or False", str: "a string"}


def _is_kind(value, kind) -> bool:
  if kind is float:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
  if kind is int:
    return isinstance(value, int) and not isinstance(value, bool)
  return isinstance(value, kind)


def _bounds(rule):
  """(lowest, lowest is allowed, highest, highest is allowed) of a numeric rule."""
  low, low_ok = (rule.min, True) if rule.min is not None else (rule.above, False)
  high, high_ok = (rule.max, True) if rule.max is not None else (rule.below, False)
  if rule.kind is int and (high is None or high > INT32_MAX):
    high, high_ok = INT32_MAX, True
  return low, low_ok, high, high_ok


def _number(x) -> str:
  return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _range_text(rule) -> str:
  low, low_ok, high, high_ok = _bounds(rule)
  if low is not None and high is not None and rule.kind is float and high < INT32_MAX:
    return f"in {'[' if low_ok else '('}{_number(low)}, {_number(high)}{']' if high_ok else ')'}"
  if (low == 0 and not low_ok) or (low == 1 and low_ok and rule.kind is int):
    return "positive"
  if low == 0 and low_ok:
    return "non-negative"
  return f"{'at least' if low_ok else 'above'} {_number(low)}"


def check_value(field: str, value, rule: Rule):
  """Raises a UserError if config.<field> = value breaks `rule`."""
  if not _is_kind(value, rule.kind):
    raise UserError(f"config.{field} must be {_KIND_NAMES[rule.kind]}, got {value!r}")
  why = f" ({rule.why})" if rule.why else ""
  if rule.kind in (int, float):
    if isinstance(value, float) and not math.isfinite(value):
      raise UserError(f"config.{field} must be a finite number, got {value!r}")
    low, low_ok, high, high_ok = _bounds(rule)
    if low is not None and not (value >= low if low_ok else value > low):
      raise UserError(f"config.{field} must be {_range_text(rule)}, got {value!r}{why}")
    if high is not None and not (value <= high if high_ok else value < high):
      limit = (_range_text(rule) if rule.kind is float and high < INT32_MAX
               else f"at most {_number(high)}")
      raise UserError(f"config.{field} must be {limit}, got {value!r}{why}")
  if rule.choices and value not in rule.choices:
    raise UserError(f"config.{field} must be one of {', '.join(map(repr, rule.choices))}, "
                    f"got {value!r}{why}")


RULES = {
    "seed": Rule(int, min=0),
    "data_dir": Rule(str),
    "init_from": Rule(str),
    "init_from_modules": Rule(str),
    "model.name": Rule(str, choices=("repeat", "encoder_decoder")),
    "model.cell": Rule(str, choices=("lstm", "gru")),
    "model.hidden_size": Rule(int, min=1),
    "model.encoder_layers": Rule(int, min=0, why="0 = no RNN encoder: the decoder starts from "
                                 "the mean input feature (encoder_decoder only)"),
    "model.decoder_layers": Rule(int, min=1),
    "model.bidirectional": Rule(bool),
    "model.dropout": Rule(float, min=0, below=1, why="the probability of dropping a unit"),
    "model.embed_dim": Rule(int, min=0, why="0 = one-hot input"),
    "model.attention": Rule(str, choices=("none", "bahdanau", "luong")),
    "model.attention_size": Rule(int, min=0, why="0 = hidden_size"),
    "model.ctc_weight": Rule(float, min=0, why="the CTC loss's weight beside the "
                             "cross-entropy (0 = none)"),
    "batch_size": Rule(int, min=1),
    "optimizer": Rule(str, choices=("adam", "adamw", "sgd")),
    "learning_rate": Rule(float, above=0),
    "weight_decay": Rule(float, min=0),
    "schedule": Rule(str, choices=("constant", "cosine")),
    "warmup_steps": Rule(int, min=0),
    "grad_clip_norm": Rule(float, min=0, why="0 = no clipping"),
    "num_epochs": Rule(float, min=0, max=INT32_MAX, why="steps are counted in int32"),
    "num_steps": Rule(int, min=0, why="0 = train for num_epochs"),
    "steps_per_dispatch": Rule(int, min=1),
    "length_buckets": Rule(int, min=0, why="0 = pad every batch to the longest example"),
    "data_memory_mb": Rule(float, min=0, why="0 = stream every split"),
    "stop_at": Rule(str),  # Its form and metric: _check_stop_at.
    "eval_every_steps": Rule(int, min=0, why="0 = once per epoch"),
    "eval_batch_size": Rule(int, min=1),
    "log_every_steps": Rule(int, min=1),
    "checkpoint_every_steps": Rule(int, min=1),
    "keep_checkpoints": Rule(int, min=1, why="a run resumes from its latest checkpoint"),
    "num_samples": Rule(int, min=0),
    "beam_size": Rule(int, min=0, why="0 or 1 = greedy decoding only"),
    "beam_alpha": Rule(float, min=0, why="GNMT's length penalty"),
    "num_attention_plots": Rule(int, min=0),
    "wandb.project": Rule(str),
    "wandb.entity": Rule(str),
    "wandb.name": Rule(str),
    "wandb.mode": Rule(str, choices=("", "online", "offline", "disabled")),
}


class Shape(NamedTuple):
  """The data a task config will make, estimated before any is made (None: unknown until the
  corpus is read). Lengths are in tokens, EOS included."""
  examples: int | None
  train_examples: int | None
  source_length: int
  target_length: int
  source_vocab: int
  target_vocab: int


@dataclasses.dataclass(frozen=True)
class TaskRules:
  """What config.task may hold for one task, and what the task reports: from its module
  (s2s/tasks/<name>.py: RULES, METRICS, shape; see s2s.tasks)."""
  fields: dict  # "task.<field>" -> Rule, every field but task.name.
  metrics: tuple  # What its validation reports, so what `stop_at` may name.
  shape: Callable  # Flat config values -> Shape.


def _unknown_shape(v) -> Shape:
  del v
  return Shape(examples=None, train_examples=None, source_length=0, target_length=0,
               source_vocab=0, target_vocab=0)


def task_rules(name) -> TaskRules:
  """The rules of the task `name` names; an unknown name is a UserError."""
  from s2s import tasks  # pylint: disable=import-outside-toplevel
  if not isinstance(name, str) or not name:
    raise UserError(f"config.task.name must name a task (one of "
                    f"{', '.join(map(repr, tasks.builtin()))}, or a module), got {name!r}")
  module = tasks.get(name)
  return TaskRules(module.RULES, module.METRICS, getattr(module, "shape", _unknown_shape))


class _BuiltinTaskRules(collections.abc.Mapping):
  """task name -> TaskRules of every task shipped in s2s/tasks/, read when asked for."""

  def __getitem__(self, name):
    from s2s import tasks  # pylint: disable=import-outside-toplevel
    if name not in tasks.builtin():
      raise KeyError(name)
    return task_rules(name)

  def __iter__(self):
    from s2s import tasks  # pylint: disable=import-outside-toplevel
    return iter(tasks.builtin())

  def __len__(self):
    return len(list(iter(self)))


TASK_RULES = _BuiltinTaskRules()


def field_kind(field: str):
  """The kind (int, float, bool, str) of config.<field> in every table that has it, or None."""
  kinds = {r.kind for r in [RULES.get(field)] + [t.fields.get(field) for t in TASK_RULES.values()]
           if r is not None}
  return kinds.pop() if len(kinds) == 1 else None


def type_error(field: str, value) -> str:
  """The message for a command-line value of the wrong kind (as `check` words it)."""
  kind = field_kind(field)
  expected = _KIND_NAMES[kind] if kind else "a value of the field's type"
  return f"config.{field} must be {expected}, got {value!r}"


# ---------------------------------------------------------------------------------------------
# Rules relating fields: each takes the flat config values and the machine that will run them.

class Machine(NamedTuple):
  """Where the run will train."""
  device_count: int
  memory_bytes: float  # What one run may use.


def check_val_fraction(task_config):
  """A UserError unless `val_fraction` of `num_examples` leaves both train and validation some
  examples (the tasks that make their own examples)."""
  num_val = round(task_config.num_examples * task_config.val_fraction)
  if num_val == 0 or num_val == task_config.num_examples:
    raise UserError(f"config.task.val_fraction={task_config.val_fraction} of "
                    f"config.task.num_examples={task_config.num_examples} leaves an empty train "
                    f"or validation split")


def parse_stop_at(text: str):
  """`"metric>=value"` -> (metric, ">=", value); "" -> None."""
  if not text:
    return None
  match = re.fullmatch(r"\s*(\w+)\s*(>=|<=)\s*([-+0-9.eE]+)\s*", text)
  try:
    parsed = match.group(1), match.group(2), float(match.group(3))
  except (AttributeError, ValueError):
    raise UserError(f"config.stop_at={text!r} is not of the form metric>=value or "
                    f"metric<=value (e.g. padded_char_accuracy>=0.99)") from None
  if not math.isfinite(parsed[2]):
    raise UserError(f"config.stop_at={text!r} must compare with a finite number")
  return parsed


def _check_stop_at(v, machine):
  """stop_at names a metric of metrics.TABLE that the task's validation reports; its op, not
  the table's direction, says which way it is reached (train.py)."""
  # Imported here: s2s.metrics needs jax, which reading a config does not.
  from s2s import metrics as metrics_lib  # pylint: disable=import-outside-toplevel
  stop_at = parse_stop_at(v["stop_at"])
  if not stop_at:
    return
  metrics_lib.lookup(stop_at[0], f"config.stop_at={v['stop_at']!r}:")
  reported = task_rules(v["task.name"]).metrics
  if stop_at[0] not in reported:
    raise UserError(f"config.stop_at names {stop_at[0]!r}, which validation of the "
                    f"{v['task.name']} task does not report (it reports {', '.join(reported)})")


def _check_attention(v, machine):
  if v["model.encoder_layers"] == 0 and v["model.name"] == "repeat":
    raise UserError("config.model.encoder_layers=0 needs config.model.name='encoder_decoder' "
                    "(the repeat model repeats its encoder's last output)")
  if v["model.encoder_layers"] == 0 and v["model.bidirectional"]:
    raise UserError("config.model.bidirectional=True needs config.model.encoder_layers >= 1 "
                    "(there is no RNN encoder to run backwards)")
  if v["model.name"] == "repeat" and v["model.attention"] != "none":
    raise UserError("config.model.attention needs config.model.name='encoder_decoder' "
                    "(the repeat model's decoder never sees the encoder's outputs)")
  if v["model.name"] == "repeat" and v["model.ctc_weight"] > 0:
    raise UserError("config.model.ctc_weight > 0 needs config.model.name='encoder_decoder' "
                    "(the CTC loss reads the encoder's outputs at every input position)")
  if v["model.name"] == "repeat" and v["beam_size"] > 1:
    raise UserError("config.beam_size > 1 needs config.model.name='encoder_decoder' (the "
                    "repeat model's decoder never reads its own outputs: greedy only)")


def _check_budget(v, machine):
  if not (v["num_steps"] or v["num_epochs"]):
    raise UserError("set config.num_epochs or config.num_steps to a positive value")
  train = task_rules(v["task.name"]).shape(v).train_examples
  if train is None or train < 1:
    return  # Known once the corpus is read (train.py checks it), or the task's check says.
  if v["batch_size"] > train:
    raise UserError(f"config.batch_size={v['batch_size']} exceeds the {train} training examples")
  steps = v["num_steps"] or round(v["num_epochs"] * (train // v["batch_size"]))
  if steps > INT32_MAX:
    raise UserError(f"config.num_epochs={v['num_epochs']:g} makes {steps:,} steps, more than "
                    f"the {INT32_MAX:,} an int32 step counter holds")


def _check_devices(v, machine):
  for field in ("batch_size", "eval_batch_size"):
    if v[field] % machine.device_count:
      raise UserError(
          f"config.{field}={v[field]} is not divisible by the {machine.device_count} devices "
          f"(the global batch is split evenly over devices)")


def estimate_parameters(v, source_vocab: int, target_vocab: int) -> int:
  """About how many parameters models.build makes of the config's model (flat values)."""
  h, embed = v["model.hidden_size"], v["model.embed_dim"]
  gates = 4 if v["model.cell"] == "lstm" else 3
  dirs = 2 if v["model.bidirectional"] else 1

  def rnn(inputs):  # One cell: input and recurrent kernels and a bias per gate.
    return gates * (inputs * h + h * h + h)

  n = source_vocab * embed
  if v["model.encoder_layers"]:
    n += dirs * (rnn(embed or source_vocab) + (v["model.encoder_layers"] - 1) * rnn(dirs * h))
  layers = v["model.decoder_layers"]
  if v["model.name"] == "repeat":
    return n + rnn(dirs * h) + (layers - 1) * rnn(h) + h * target_vocab + target_vocab
  attention = v["model.attention"]
  feed = {"none": 0, "bahdanau": dirs * h, "luong": h}[attention]
  n += target_vocab * embed + rnn((embed or target_vocab) + feed) + (layers - 1) * rnn(h)
  size = v["model.attention_size"] or h
  if attention == "bahdanau":
    n += size * (dirs * h + h + 1)
  elif attention == "luong":
    n += dirs * h * h + (dirs * h + h) * h
  top = h + dirs * h if attention == "bahdanau" else h
  n += top * target_vocab + target_vocab
  if v["model.ctc_weight"] > 0:  # The encoder's own output layer (joint CTC-attention).
    n += (dirs * h if v["model.encoder_layers"] else 0) * target_vocab + target_vocab
  if dirs == 2:  # Bridges from both directions' final states to the decoder's start states.
    n += min(v["model.encoder_layers"], layers) * (2 if v["model.cell"] == "lstm" else 1) * (
        2 * h * h + h)
  return n


def estimate_memory(v) -> int:
  """Bytes a run of the config needs at least, about: float32 parameters with their gradients
  and Adam's two moments, the encoded data, a dispatch's batches and a batch's activations."""
  shape = task_rules(v["task.name"]).shape(v)
  params = estimate_parameters(v, shape.source_vocab, shape.target_vocab)
  tokens = shape.source_length + shape.target_length
  data = 4 * 2 * (shape.examples or 0) * tokens  # int32 ids, and the strings they come from.
  dispatch = 4 * v["steps_per_dispatch"] * v["batch_size"] * tokens
  h, dirs = v["model.hidden_size"], 2 if v["model.bidirectional"] else 1
  width = (4 * h * dirs * (v["model.encoder_layers"] + v["model.decoder_layers"])
           + shape.target_vocab)  # Floats a token keeps for the backward pass, logits included.
  rows = max(2 * v["batch_size"], v["eval_batch_size"],
             max(1, v["eval_batch_size"] // 4) * v["beam_size"])
  return 16 * params + data + dispatch + 4 * rows * tokens * width


def physical_memory() -> int:
  """This machine's memory in bytes; a run's whole state passes through it at each checkpoint."""
  return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _check_memory(v, machine):
  need, have = estimate_memory(v), machine.memory_bytes
  if need <= have:
    return
  # Name the field that costs the most: the one whose smallest valid value saves the most.
  rules = {**RULES, **task_rules(v["task.name"]).fields}
  smallest = {f: _bounds(r)[0] for f, r in rules.items() if r.kind is int and r.min is not None}
  field = min(smallest, key=lambda f: estimate_memory({**v, f: smallest[f]}))
  shape = task_rules(v["task.name"]).shape(v)
  params = estimate_parameters(v, shape.source_vocab, shape.target_vocab)
  raise UserError(
      f"config.{field}={v[field]} makes a run need about {_gigabytes(need)} (a model of "
      f"{params:.3g} parameters with their gradients and Adam's moments, the data and a "
      f"batch's activations), more than the {_gigabytes(have)} of memory a run gets")


def _gigabytes(n) -> str:
  return f"{n / 1e9:,.0f} GB" if n >= 1e10 else f"{n / 1e9:.2g} GB"


def init_from_path(init_from: str, seed: int) -> str:
  """config.init_from with `{seed}` replaced by the run's seed: a sweep over seeds can start
  each run from the same seed's run of another sweep ("runs/ablation/seed={seed}")."""
  return init_from.replace("{seed}", str(seed))


def _check_init_from(v, machine):
  del machine
  path = init_from_path(v["init_from"], v["seed"])
  if path and not os.path.isdir(path):
    raise UserError(f"config.init_from={path!r} is not a directory (give the workdir "
                    f"of a trained run)")
  if v["init_from_modules"] and not v["init_from"]:
    raise UserError("config.init_from_modules is set but config.init_from is not (name the "
                    "run whose parameters to copy)")


CROSS_CHECKS = (_check_attention, _check_stop_at, _check_budget, _check_devices, _check_memory,
                _check_init_from)


def flatten(config, prefix: str = "") -> dict:
  """{"model.hidden_size": 128, ...}: every leaf of a (nested) ConfigDict or dict."""
  out = {}
  for key, value in config.items():
    if hasattr(value, "items"):
      out |= flatten(value, f"{prefix}{key}.")
    else:
      out[f"{prefix}{key}"] = value
  return out


def check(config, device_count: int, memory_bytes: float | None = None):
  """Raises a UserError naming the first config value that cannot work; writes nothing.

  Each field is checked against its rule (RULES, and TASK_RULES of its task), then the
  rules that relate fields (CROSS_CHECKS) for a run on `device_count` devices with
  `memory_bytes` of memory (default: this machine's), then the task's own checks, which look
  at the disk last (a corpus path's existence).
  """
  if not isinstance(config, ml_collections.ConfigDict):
    raise UserError(f"the config must be an ml_collections.ConfigDict, got a "
                    f"{type(config).__name__}")
  v = flatten(config)
  name = v.get("task.name")
  rules = {**RULES, **task_rules(name).fields}
  for field in v:
    if field not in rules and field != "task.name":
      raise UserError(f"unknown config field {field!r} (neither s2s/config.py nor the "
                      f"{name} task has a rule for it)")
  for field, rule in rules.items():
    if field not in v:
      raise UserError(f"config.{field} is missing (every {name} config has it)")
    check_value(field, v[field], rule)
  machine = Machine(device_count, physical_memory() if memory_bytes is None else memory_bytes)
  for cross_check in CROSS_CHECKS:
    cross_check(v, machine)
  from s2s import dataset  # The task checks what only its code knows.
  dataset.check_task(config.task)


# ---------------------------------------------------------------------------------------------
# Config files.

def returned_config(path: str, config):
  """`config` as a config file's get_config returned it, if it is a ConfigDict."""
  if not isinstance(config, ml_collections.ConfigDict):
    raise UserError(f"{path}: get_config() returned {type(config).__name__}, not an "
                    f"ml_collections.ConfigDict")
  return config


def no_get_config(path: str) -> str:
  return f"{path} defines no get_config function (it should return the config's ConfigDict)"


def _exception_chain(error):
  seen = []
  while error is not None and error not in seen:
    seen.append(error)
    error = error.__cause__ or error.__context__
  return seen


def _same_file(a: str, b: str) -> bool:
  return os.path.abspath(a) == os.path.abspath(b)


def describe_load_error(path: str, error: BaseException) -> str | None:
  """One line for an exception raised while loading config file `path` or running its
  get_config: a UserError's own message, else `FILE line N: what went wrong` where the
  file's code raised it; None if the exception did not come from the file."""
  chain = _exception_chain(error)
  for e in chain:
    if isinstance(e, UserError):
      return str(e)
  for e in chain:
    if isinstance(e, SyntaxError) and e.filename:  # Also in a module the file imports.
      shown = path if _same_file(e.filename, path) else e.filename
      return f"{shown} line {e.lineno}: {e.msg}"
  for e in chain:
    frames = [f for f in traceback.extract_tb(e.__traceback__) if _same_file(f.filename, path)]
    if frames:
      text = " ".join(str(e).split())[:300]
      return f"{path} line {frames[-1].lineno}: {type(e).__name__}: {text}"
  if any(isinstance(e, AttributeError) and "get_config" in str(e) for e in chain):
    return no_get_config(path)
  return None


def base_config() -> ml_collections.ConfigDict:
  """Every config field with its default; config files start here and change what they need."""
  config = ml_collections.ConfigDict()
  config.seed = 0  # Parameter init, data order, dropout.
  config.data_dir = ""  # TFDS data dir; "" = TFDS's default ($TFDS_DATA_DIR or ~/tensorflow_datasets).
  # Warm start: a workdir whose newest whole checkpoint's parameters start this run wherever a
  # parameter has the same path and shape (e.g. a speech listener trained on another dataset);
  # the rest are initialised afresh and the optimizer starts anew. "" = from scratch. "{seed}"
  # in it is replaced by config.seed: each seed of a sweep from the same seed's run.
  config.init_from = ""
  # Copy only under these top-level modules, comma-separated (e.g. "encoder"); "" = all.
  config.init_from_modules = ""

  config.task = ml_collections.ConfigDict()
  config.task.name = "arithmetic"
  config.task.digits = 3  # Operands have 1..digits digits.
  config.task.ops = "+"  # Any of "+-*".
  config.task.num_terms = 2
  config.task.parentheses = False
  config.task.reverse = True  # Feed the query reversed (Sutskever 2014).
  config.task.num_examples = 50_000  # Train + validation questions.
  config.task.val_fraction = 0.1
  config.task.num_test = 5_000
  config.task.num_length_generalization = 0  # Questions with operands longer than in training.
  config.task.length_generalization_digits = 0  # 0 = digits + 1.
  config.task.seed = 0  # The questions themselves (kept fixed across config.seed).
  # How operands are drawn: "keras", "uniform" or "balanced" (see s2s/arithmetic.py).
  config.task.sampler = "keras"
  # At the end of a two-term run, also evaluate every question of 1- and 2-digit operands.
  config.task.check_small_operands = True
  # Learning to Execute's curricula: training questions drawn fresh each step at a difficulty
  # (longest operand's digits) the strategy picks: "" = off (train on the train split),
  # "baseline" (all at config.task.digits), "naive", "mix" or "combined" (s2s/curriculum.py).
  config.task.curriculum = ""
  config.task.curriculum_patience = 2  # naive: evaluations without progress before moving up.
  config.task.curriculum_threshold = 0.95  # naive: or once the level's accuracy reaches this.

  config.model = ml_collections.ConfigDict()
  config.model.name = "repeat"  # "repeat" (Keras) or "encoder_decoder" (Sutskever/Cho).
  config.model.cell = "lstm"  # "lstm" or "gru".
  config.model.hidden_size = 128
  config.model.encoder_layers = 1
  config.model.decoder_layers = 1
  config.model.bidirectional = False
  config.model.dropout = 0.0
  config.model.embed_dim = 0  # 0 = one-hot characters, as Keras.
  # encoder_decoder only: "none", "bahdanau" (additive) or "luong" ("general", input feeding).
  config.model.attention = "none"
  config.model.attention_size = 0  # Bahdanau's scoring layer; 0 = hidden_size.
  # encoder_decoder only: joint CTC-attention (Kim 2017, ESPnet): an output layer over the
  # encoder's positions trained with CTC, its loss times ctc_weight added to the decoder's
  # cross-entropy. It pushes attention towards a monotonic alignment (speech).
  config.model.ctc_weight = 0.0

  config.batch_size = 32  # Global: split over all devices of all processes.
  config.optimizer = "adam"
  config.learning_rate = 1e-3
  config.weight_decay = 1e-4  # adamw only.
  config.schedule = "constant"  # "constant" or "cosine" (decay to 0 at the last step).
  config.warmup_steps = 0
  config.grad_clip_norm = 0.0  # 0 = no clipping.
  config.num_epochs = 30.0
  config.num_steps = 0  # If positive, overrides num_epochs.
  # Up to this many train steps in one device call (a loop over stacked batches); the same
  # updates, less host overhead.
  config.steps_per_dispatch = 16
  # Text tasks: draw each training batch from one of this many buckets of similar lengths, cut
  # to the bucket's longest example (one compiled step per bucket); 0 = pad every batch to the
  # longest example of the dataset.
  config.length_buckets = 0
  # A split whose encoded arrays take more than this is read and encoded batch by batch (the
  # same batches) instead of being held in memory.
  config.data_memory_mb = 4096.0

  # Stop once a validation metric reaches a value, e.g. "padded_char_accuracy>=0.99" or
  # "loss<=0.05"; "" = train for the whole budget. The test split is evaluated where it stops.
  config.stop_at = ""
  config.eval_every_steps = 0  # 0 = once per epoch.
  config.eval_batch_size = 1000
  config.log_every_steps = 200
  config.checkpoint_every_steps = 2000
  config.keep_checkpoints = 2
  config.num_samples = 10  # Validation samples printed after each evaluation.
  # encoder_decoder: the final evaluation also decodes with a beam this wide (0 or 1 = greedy
  # only), reporting e.g. sequence_accuracy_beam5; beam_alpha is GNMT's length penalty.
  config.beam_size = 0
  config.beam_alpha = 0.6
  config.num_attention_plots = 4  # Attention models: heatmaps of validation sentences at the end.

  config.wandb = ml_collections.ConfigDict()
  config.wandb.project = ""  # Set to log to Weights & Biases.
  config.wandb.entity = ""
  config.wandb.name = ""  # "" = the workdir's name.
  config.wandb.mode = ""  # "", "online", "offline" or "disabled".
  return config

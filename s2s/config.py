"""Config helpers: string arguments of config files (`configs/arithmetic.py:digits=5,ops=+-`) and checks of config values."""

import re

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


_CHOICES = {
    "model.name": ("repeat", "encoder_decoder"),
    "model.cell": ("lstm", "gru"),
    "model.attention": ("none", "bahdanau", "luong"),
    "optimizer": ("adam", "adamw", "sgd"),
    "schedule": ("constant", "cosine"),
}


def _get(config, dotted):
  for part in dotted.split("."):
    config = config[part]
  return config


def parse_stop_at(text: str):
  """`"metric>=value"` -> (metric, ">=", value); "" -> None."""
  if not text:
    return None
  match = re.fullmatch(r"\s*(\w+)\s*(>=|<=)\s*([-+0-9.eE]+)\s*", text)
  try:
    return match.group(1), match.group(2), float(match.group(3))
  except (AttributeError, ValueError):
    raise UserError(f"config.stop_at={text!r} is not of the form metric>=value or "
                    f"metric<=value (e.g. padded_char_accuracy>=0.99)") from None


def check(config, device_count: int):
  """Raises a UserError naming the first config value that cannot work."""
  from s2s import dataset  # The task checks its own fields.
  dataset.check_task(config.task)
  for field, allowed in _CHOICES.items():
    if _get(config, field) not in allowed:
      raise UserError(
          f"config.{field} must be one of {', '.join(allowed)}, got {_get(config, field)!r}")
  positive = ("model.hidden_size", "model.encoder_layers", "model.decoder_layers", "batch_size",
              "steps_per_dispatch",
              "eval_batch_size", "learning_rate", "log_every_steps", "checkpoint_every_steps")
  for field in positive:
    if not _get(config, field) > 0:
      raise UserError(f"config.{field} must be positive, got {_get(config, field)!r}")
  non_negative = ("model.embed_dim", "model.attention_size", "num_steps", "num_epochs", "warmup_steps", "grad_clip_norm",
                  "eval_every_steps", "beam_size", "num_attention_plots")
  for field in non_negative:
    if _get(config, field) < 0:
      raise UserError(f"config.{field} must not be negative, got {_get(config, field)!r}")
  if config.model.name == "repeat" and config.model.attention != "none":
    raise UserError("config.model.attention needs config.model.name='encoder_decoder' "
                    "(the repeat model's decoder never sees the encoder's outputs)")
  stop_at = parse_stop_at(config.stop_at)
  from s2s import metrics
  if stop_at and stop_at[0] not in metrics.EVAL_METRICS:
    raise UserError(f"config.stop_at names {stop_at[0]!r}, which evaluation does not report "
                    f"(one of {', '.join(metrics.EVAL_METRICS)})")
  if not 0 <= config.model.dropout < 1:
    raise UserError(f"config.model.dropout must be in [0, 1), got {config.model.dropout!r}")
  if not (config.num_steps or config.num_epochs):
    raise UserError("set config.num_epochs or config.num_steps to a positive value")
  for field in ("batch_size", "eval_batch_size"):
    if config[field] % device_count:
      raise UserError(
          f"config.{field}={config[field]} is not divisible by the {device_count} devices "
          f"(the global batch is split evenly over devices)")


def base_config() -> ml_collections.ConfigDict:
  """Every config field with its default; config files start here and change what they need."""
  config = ml_collections.ConfigDict()
  config.seed = 0  # Parameter init, data order, dropout.
  config.data_dir = ""  # TFDS data dir; "" = TFDS's default ($TFDS_DATA_DIR or ~/tensorflow_datasets).

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

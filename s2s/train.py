"""Training: a pmap'd pure train step, evaluation with greedy decoding, exact resume.

  python -m s2s.train --config configs/addition.py --workdir runs/addition \
      [--config.model.hidden_size=256 ...] [--allow_config_change]
"""

import contextlib
import functools
import json
import os
import re
import shutil
import signal
import sys

from absl import app
from absl import flags
from absl import logging
import flax
import flax.jax_utils
import jax
from jax import lax
from jax.experimental import multihost_utils
import jax.numpy as jnp
from ml_collections import config_flags
import numpy as np
import optax

from s2s import checkpoints
from s2s import config as config_lib
from s2s import dataset
from s2s import inference
from s2s import input_pipeline
from s2s import metrics as metrics_lib
from s2s import models
from s2s import reporting
from s2s import tokenizers
from s2s import vocab as vocab_lib
from s2s import workdir as workdir_lib
from s2s.errors import Interrupted, RunFailed, UserError, exit_on_user_error

AXIS = "devices"  # The pmap axis the global batch is split over.


class TrainState(flax.struct.PyTreeNode):
  step: jax.Array
  params: dict
  opt_state: optax.OptState
  rng: jax.Array  # Base dropout key; step t uses fold_in(rng, t), so resuming needs no RNG state.
  tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)

  def apply_gradients(self, grads):
    updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
    return self.replace(step=self.step + 1, params=optax.apply_updates(self.params, updates),
                        opt_state=opt_state)


def make_optimizer(config, total_steps: int) -> optax.GradientTransformation:
  if config.schedule == "cosine":
    lr = optax.warmup_cosine_decay_schedule(
        0.0, config.learning_rate, config.warmup_steps, max(total_steps, config.warmup_steps + 1))
  elif config.warmup_steps:
    lr = optax.join_schedules([optax.linear_schedule(0.0, config.learning_rate,
                                                     config.warmup_steps),
                               optax.constant_schedule(config.learning_rate)],
                              [config.warmup_steps])
  else:
    lr = config.learning_rate
  optimizer = {"adam": lambda: optax.adam(lr),
               "adamw": lambda: optax.adamw(lr, weight_decay=config.weight_decay),
               "sgd": lambda: optax.sgd(lr, momentum=0.9)}[config.optimizer]()
  if config.grad_clip_norm:
    return optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), optimizer)
  return optimizer


def pmean(x):
  """Mean over the devices. Over one device it is x: skip the all-reduce, which on CPU costs
  milliseconds per call even then (more than the rest of a small model's step)."""
  return x if lax.axis_size(AXIS) == 1 else lax.pmean(x, AXIS)


def psum(x):
  """Sum over the devices (see pmean)."""
  return x if lax.axis_size(AXIS) == 1 else lax.psum(x, AXIS)


def train_step(state: TrainState, batch, *, model):
  """One optimizer step on this device's part of the global batch (inside pmap).

  The loss is the cross-entropy mean over the real target tokens of the *global*
  batch: each device divides its sum by the mean token count per device, so the
  pmean of the devices' gradients is exactly the gradient of that global mean,
  whatever the split. Returns the new state and metric sums over the global batch.

  Dropout masks are a function of the step and of each example's row in the global batch
  (device d holds rows d * B .. d * B + B - 1), so 1 and N devices draw the same masks.
  """
  dropout_rng = jax.random.fold_in(state.rng, state.step)  # The same on every device.
  rows = batch["targets"].shape[0]
  example_ids = lax.axis_index(AXIS) * rows + jnp.arange(rows, dtype=jnp.int32)
  weights = jnp.ones(batch["targets"].shape[:1], jnp.float32)
  mean_tokens = pmean(jnp.sum(batch["targets"] != vocab_lib.PAD, dtype=jnp.float32))

  def loss_fn(params):
    logits = model.apply({"params": params}, batch["inputs"], batch["input_lengths"],
                         batch["targets"], train=True, example_ids=example_ids,
                         rngs={"dropout": dropout_rng})
    sums = metrics_lib.loss_sums(logits, batch["targets"], weights)
    return sums["loss_sum"] / mean_tokens, (sums, logits)

  grads, (sums, logits) = jax.grad(loss_fn, has_aux=True)(state.params)
  state = state.apply_gradients(pmean(grads))
  # Training accuracy is teacher-forced: the prediction at t sees the true tokens before t.
  accuracy = metrics_lib.accuracy_sums(jnp.argmax(logits, -1), batch["targets"], weights)
  # Padded-character accuracy needs decoding stopped at EOS: validation reports it.
  sums |= {k: v for k, v in accuracy.items() if not k.startswith("padded")}
  return state, psum(sums)


def train_steps(state: TrainState, batches, count, *, model):
  """`train_step` over the first `count` (int32 scalar) of K stacked batches [K, B, ...]: the
  same updates as `count` calls, without the dispatches. Any count <= K runs in one compiled
  program, so the steps before a boundary (log, evaluation) need no second compilation.
  Returns the metric sums over the `count` steps, and `first_nonfinite_step`: the first of
  them whose loss was not finite (0 if none), for the host to read at its next boundary."""
  def body(i, carry):
    state, sums, bad = carry
    state, step_sums = train_step(state, jax.tree.map(lambda x: x[i], batches), model=model)
    bad = jnp.where((bad == 0) & ~jnp.isfinite(step_sums["loss_sum"]), state.step, bad)
    return state, jax.tree.map(jnp.add, sums, step_sums), bad

  first = jax.tree.map(lambda x: x[0], batches)
  zeros = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype),
                       jax.eval_shape(functools.partial(train_step, model=model), state, first)[1])
  state, sums, bad = lax.fori_loop(0, count, body, (state, zeros, jnp.zeros((), jnp.int32)))
  return state, sums | {"first_nonfinite_step": bad}


def eval_step(params, batch, *, model):
  """Metric sums over the global batch, and this device's predictions [B, T].

  The loss is teacher-forced (the likelihood of the right answer); the
  accuracies use greedy decoding, as a user would predict.
  """
  args = (batch["inputs"], batch["input_lengths"], batch["targets"])
  logits = model.apply({"params": params}, *args)
  sums = metrics_lib.loss_sums(logits, batch["targets"], batch["weights"])
  if isinstance(model, models.EncoderDecoder):
    logits = model.apply({"params": params}, *args, greedy=True)
  predictions = metrics_lib.finalize_predictions(jnp.argmax(logits, -1).astype(jnp.int32))
  sums |= metrics_lib.accuracy_sums(predictions, batch["targets"], batch["weights"])
  return psum(sums), predictions


def stack_batches(train_iter, k: int, size: int):
  """The next k batches, sharded and stacked to [devices, size, B / devices, ...] (the last
  one repeated to fill `size`, and never trained on), and the count k for every device."""
  batches = [shard(next(train_iter)) for _ in range(k)]
  batches += batches[-1:] * (size - k)
  stacked = jax.tree.map(lambda *xs: np.stack(xs, axis=1), *batches)
  return stacked, np.full(jax.local_device_count(), k, np.int32)


def shard(batch):
  """[B, ...] host arrays -> [local devices, B / local devices, ...]."""
  n = jax.local_device_count()
  return jax.tree.map(lambda x: x.reshape((n, x.shape[0] // n) + x.shape[1:]), batch)


def evaluate(p_eval_step, params, split_arrays, eval_batch_size):
  """Metrics of a whole split, and the predicted ids of the whole split (every process)."""
  keys = (*input_pipeline.ARRAY_KEYS, "weights")
  arrays = {k: split_arrays[k] for k in keys}
  n = len(arrays["inputs"])  # The same in every process (padded shares).
  per_process = eval_batch_size // jax.process_count()
  padded = -(-n // per_process) * per_process
  arrays = {k: np.concatenate([v, np.zeros((padded - n,) + v.shape[1:], v.dtype)])
            for k, v in arrays.items()}
  sums, predictions = [], []
  for start in range(0, padded, per_process):
    batch = shard({k: v[start:start + per_process] for k, v in arrays.items()})
    s, p = p_eval_step(params, batch)
    sums.append(s)
    predictions.append(p)
  sums, predictions = jax.device_get((sums, predictions))
  total = {k: sum(s[k][0] for s in sums) for k in sums[0]}
  predictions = np.concatenate([p.reshape((-1, p.shape[-1])) for p in predictions])[:n]
  return metrics_lib.summarize(total), whole_split(predictions, split_arrays["weights"])


def whole_split(rows, weights):
  """This process's rows of a split -> the whole split's rows, in order, in every process."""
  if jax.process_count() > 1:
    rows = multihost_utils.process_allgather(rows, tiled=True)
    weights = multihost_utils.process_allgather(weights, tiled=True)
  return rows[weights > 0]


def prepare_workdir(workdir: str, config, allow_config_change: bool):
  """Creates the workdir, locks it and writes config.json (or checks that it holds the same
  config). Returns the lock, held by process 0 alone (the one writer of a multi-process run)."""
  new = json.loads(config.to_json())
  if jax.process_index() != 0:
    return contextlib.nullcontext()
  workdir_lib.make(workdir)
  lock = workdir_lib.Lock(workdir)
  try:
    workdir_lib.write_config(workdir, new, allow_config_change)
  except BaseException:
    lock.release()
    raise
  return lock


def check_disk_space(workdir: str, state, keep: int):
  """Refuses to start a run whose checkpoints cannot fit on the workdir's disk."""
  size = sum(np.asarray(x).nbytes for x in jax.tree.leaves(state))
  need, free = (keep + 1) * size, shutil.disk_usage(workdir).free
  if free < need:
    raise UserError(f"the disk of --workdir {workdir!r} has {free / 1e6:,.1f} MB free; this "
                    f"run's {keep + 1} checkpoints in flight need about {need / 1e6:,.1f} MB")


TASK_FILE = "task.json"  # Translation: tokenizer kind and sequence lengths, fixed at the start.


def build_task(config, workdir: str | None = None, sources: dict | None = None):
  """The example encoder and the model a config describes.

  Translation trains its tokenizers on the training split the first time (`sources`
  given) and saves them with the sequence lengths in the workdir; later (resuming,
  predicting) it loads them from there.
  """
  if config.task.name == "translation":
    return _build_translation(config, workdir, sources)
  task = dataset.task_from_config(config.task)
  longest = (dataset.length_generalization_digits(config.task)
             if config.task.num_length_generalization else task.digits)
  vocab = vocab_lib.CharVocab(task.chars)
  encoder = input_pipeline.Encoder(vocab, task.max_query_length(longest),
                                   task.max_answer_length(longest) + 1, config.task.reverse, task)
  return encoder, models.build(config.model, vocab.size)


def _build_translation(config, workdir, sources):
  c = config.task
  path = os.path.join(workdir, TASK_FILE)
  prefixes = {side: os.path.join(workdir, f"{side}_tokenizer") for side in ("source", "target")}
  if os.path.exists(path):
    with open(path) as f:
      saved = json.load(f)
    tok = {side: tokenizers.load(saved["tokenizer"], p) for side, p in prefixes.items()}
    lengths = saved["query_length"], saved["target_length"]
  else:
    if sources is None:
      raise UserError(f"workdir {workdir!r} holds no {TASK_FILE}: its training never started")
    texts = input_pipeline.TextEncoder.texts
    train_texts = [texts(r) for r in _records(sources["train"])]
    tok = {side: tokenizers.train(c.tokenizer, [pair[i] for pair in train_texts],
                                  vocab_size=c.vocab_size)
           for i, side in enumerate(("source", "target"))}
    # Static shapes: the longest source and target (+ EOS) in any split.
    lengths = [0, 0]
    for src in sources.values():
      for source, target in (texts(r) for r in _records(src)):
        lengths[0] = max(lengths[0], len(tok["source"].encode(source)))
        lengths[1] = max(lengths[1], len(tok["target"].encode(target)) + 1)
    if jax.process_index() == 0:
      for side, prefix in prefixes.items():
        tok[side].save(prefix)
      workdir_lib.write_json(path, {
          "tokenizer": c.tokenizer, "query_length": lengths[0], "target_length": lengths[1],
          "source_vocab_size": tok["source"].size, "target_vocab_size": tok["target"].size})
  encoder = input_pipeline.TextEncoder(tok["source"], tok["target"], lengths[0], lengths[1],
                                       c.reverse)
  return encoder, models.build(config.model, tok["target"].size, tok["source"].size)


def _records(source):
  return source.__getitems__(list(range(len(source))))


def init_state(config, model, encoder, tx) -> TrainState:
  rng, init_rng = jax.random.split(jax.random.PRNGKey(config.seed))
  inputs = jnp.zeros((1, encoder.query_length), jnp.int32)
  targets = jnp.zeros((1, encoder.target_length), jnp.int32)
  params = jax.jit(model.init)(init_rng, inputs, jnp.ones((1,), jnp.int32), targets)["params"]
  return TrainState(step=jnp.array(0, jnp.int32), params=params, opt_state=tx.init(params),
                    rng=rng, tx=tx)


def train_and_evaluate(config, workdir: str, allow_config_change: bool = False):
  """Trains and evaluates the run `config` describes in `workdir`, resuming what is there.

  The run is done (done.json) only once its final checkpoint is on disk and its final
  splits are evaluated. A non-finite loss, a failed write or an interrupt stops it with a
  RunFailed that says where, leaving every good checkpoint in place.
  """
  config_lib.check(config, jax.device_count())
  with prepare_workdir(workdir, config, allow_config_change):
    progress = {"step": None, "checkpoint": None}
    try:
      _train_and_evaluate(config, workdir, progress)
    except KeyboardInterrupt as e:
      signame = e.args[0] if e.args else "SIGINT"
      where = (f"at step {progress['step']}" if progress["step"] is not None else
               "before training started")
      resume = (f"rerun the same command to resume from checkpoint {progress['checkpoint']}"
                if progress["checkpoint"] else "rerun the same command to start it again")
      raise Interrupted(f"stopped by {signame} {where}; {resume}",
                        128 + getattr(signal, signame, signal.SIGINT)) from None


def _train_and_evaluate(config, workdir: str, progress: dict):
  sources = dataset.load(config.task, config.data_dir)
  encoder, model = build_task(config, workdir, sources)

  steps_per_epoch = input_pipeline.steps_per_epoch(len(sources["train"]), config.batch_size)
  if steps_per_epoch == 0:
    raise UserError(f"config.batch_size={config.batch_size} exceeds the "
                    f"{len(sources['train'])} training examples")
  total_steps = config.num_steps or max(1, round(config.num_epochs * steps_per_epoch))
  eval_every = config.eval_every_steps or steps_per_epoch

  tx = make_optimizer(config, total_steps)
  state = init_state(config, model, encoder, tx)
  splits = {name: input_pipeline.read_split(src, encoder, process_share=name != "train")
            for name, src in sources.items() if len(src)}
  train_iter = input_pipeline.train_iterator(splits.pop("train"), config.batch_size, config.seed)
  if jax.process_index() == 0:
    check_disk_space(workdir, state, config.keep_checkpoints)
  ckpt = checkpoints.Checkpoints(workdir, config.keep_checkpoints)
  start_step, state = ckpt.restore_latest(state, train_iter)
  progress.update(step=start_step, checkpoint=start_step)

  stop_at = config_lib.parse_stop_at(config.stop_at)

  def reached(results):
    if stop_at is None:
      return False
    metric, op, value = stop_at
    if metric not in results:
      raise UserError(f"config.stop_at names {metric!r}, which validation does not report "
                      f"(it reports {', '.join(sorted(results))})")
    return metrics_lib.reaches(results[metric], op, value)  # The op decides, not the table.

  # A resumed run that had already stopped early goes straight to its final evaluation.
  previous = [e for e in reporting.read_metrics(workdir) if e["step"] == start_step]
  stopped = bool(start_step) and any(e["split"] == "validation" and reached(e) for e in previous)
  if (start_step >= total_steps or stopped) and workdir_lib.done_step(workdir) == start_step:
    print(f"{workdir}: already trained for {start_step} steps and tested")
    ckpt.close()
    return
  if jax.process_index() == 0:
    workdir_lib.clear_done(workdir)  # Until this attempt finishes, the run is not done.
  reporter = reporting.Reporter(workdir, config, start_step=start_step, total_steps=total_steps,
                                steps_per_epoch=steps_per_epoch)
  reporter.print(f"{model.__class__.__name__}: "
                 f"{sum(x.size for x in jax.tree.leaves(state.params)):,} parameters, "
                 f"{len(sources['train']):,} training examples, {steps_per_epoch} steps per "
                 f"epoch, {total_steps} steps on {jax.device_count()} {jax.default_backend()} "
                 f"device(s)" + (f", resuming at step {start_step}" if start_step else ""))

  p_train_steps = jax.pmap(functools.partial(train_steps, model=model), axis_name=AXIS,
                           donate_argnums=(0,))
  p_eval_step = jax.pmap(functools.partial(eval_step, model=model), axis_name=AXIS)

  translation = config.task.name == "translation"

  def run_eval(split, step, final=False):
    data = splits[split]
    results, predictions = evaluate(p_eval_step, rstate.params, data, config.eval_batch_size)
    # Text only where something reads it: the text metrics, or the sample table's rows.
    texts = ([encoder.decode(p) for p in predictions] if translation or config.num_samples
             else None)
    if translation:  # Padding positions mean nothing in a sentence.
      results = {k: v for k, v in results.items() if k != "padded_char_accuracy"}
      results |= metrics_lib.text_metrics(texts, data["all_answers"])
    if final and config.beam_size > 1 and isinstance(model, models.EncoderDecoder):
      results |= beam_results(data, flax.jax_utils.unreplicate(rstate.params))
    reporter.write(split, step, results)
    if config.num_samples:
      reporter.samples(split, step, data["queries"], data["answers"], texts[:len(data["answers"])],
                       config.num_samples, config.seed)
    return results

  if config.beam_size > 1 and isinstance(model, models.EncoderDecoder):
    # One jitted decoder for every final split (it compiles on first use).
    beam_decode = inference.make_decoder(model, max_length=encoder.target_length,
                                         beam_size=config.beam_size, alpha=config.beam_alpha)

  def beam_results(data, params):
    """The split decoded with beam search: metrics suffixed _beam{K}."""
    ids = inference.decode_all(beam_decode, params, data["inputs"], data["input_lengths"],
                               max(1, config.eval_batch_size // 4))
    ids = whole_split(ids, data["weights"])
    targets = whole_split(data["targets"], data["weights"])
    weights = np.ones(len(ids), np.float32)
    sums = jax.device_get(metrics_lib.accuracy_sums(ids, targets, weights))
    sums["tokens"] = np.sum(targets != vocab_lib.PAD)
    out = metrics_lib.summarize(sums)
    if translation:
      out.pop("padded_char_accuracy")
      out |= metrics_lib.text_metrics([encoder.decode(p) for p in ids], data["all_answers"])
    return {f"{k}_beam{config.beam_size}": v for k, v in out.items()}

  def boundary(step):  # Where the host must look: log, evaluate, checkpoint or stop.
    return (step % config.log_every_steps == 0 or step % eval_every == 0
            or step % config.checkpoint_every_steps == 0 or step == total_steps)

  rstate = flax.jax_utils.replicate(state)
  pending, fetched = [], []  # Metric sums of the steps since the last log: device, host side.
  step = start_step
  try:
    while step < total_steps and not stopped:
      # Up to K steps per dispatch, ending at the next boundary (one program for every k).
      k = 1
      while k < config.steps_per_dispatch and step + k < total_steps and not boundary(step + k):
        k += 1
      rstate, sums = p_train_steps(rstate,
                                   *stack_batches(train_iter, k, config.steps_per_dispatch))
      pending.append(sums)
      step += k
      progress["step"] = step
      reporter.step(step)
      if not boundary(step):
        continue
      # The host looks only here: the steps' sums, and the background save.
      fetched += jax.device_get(pending)
      pending = []
      check_finite(fetched, ckpt)
      ckpt.check()
      if step % config.log_every_steps == 0 or step == total_steps:
        reporter.write("train", step, metrics_lib.summarize(
            {name: sum(s[name][0] for s in fetched) for name in fetched[0]}))
        fetched = []
      if step % eval_every == 0 or step == total_steps:
        stopped = reached(run_eval("validation", step))
        if stopped and step < total_steps:
          reporter.print(f"stopping at step {step}: validation {config.stop_at}")
      if stopped or step % config.checkpoint_every_steps == 0 or step == total_steps:
        ckpt.save(step, flax.jax_utils.unreplicate(rstate), train_iter)
        progress["checkpoint"] = step
    # Nothing says the run is done before its final checkpoint is on disk.
    ckpt.wait()
    for split in reporting.FINAL_SPLITS:
      if split in splits:
        run_eval(split, step, final=True)
    if config.model.attention != "none" and config.num_attention_plots:
      data = splits["validation"]
      n = min(config.num_attention_plots, len(data["inputs"]))
      ids, weights = inference.attention_weights(
          model, flax.jax_utils.unreplicate(rstate.params), data["inputs"][:n],
          data["input_lengths"][:n], encoder.target_length)
      reporter.attention_plots(step, [encoder.source_pieces(x[:l]) for x, l in
                                      zip(data["inputs"][:n], data["input_lengths"][:n])],
                               [encoder.target_pieces(p) for p in ids], weights)
  except BaseException:
    reporter.close()
    ckpt.close(raise_errors=False)
    raise
  ckpt.close()
  reporter.close()
  if jax.process_index() == 0:
    workdir_lib.mark_done(workdir, step)


def check_finite(fetched, ckpt):
  """Stops the run at the first step whose training loss was not finite."""
  bad = [int(s["first_nonfinite_step"].max()) for s in fetched]
  bad = [b for b in bad if b]
  if bad:
    raise RunFailed(f"the training loss became non-finite at step {bad[0]}; stopped without "
                    f"saving (last checkpoint: {ckpt.manager.latest_step() or 'none'}); "
                    f"try a lower config.learning_rate or set config.grad_clip_norm")


FLAGS = flags.FLAGS


def define_flags():
  config_flags.DEFINE_config_file("config", None, "Config file, optionally with :arguments.",
                                  lock_config=True)
  flags.DEFINE_string("workdir", None, "Directory for config.json, metrics and checkpoints.")
  flags.DEFINE_bool("allow_config_change", False,
                    "Continue a workdir's run even though its config.json differs.")
  flags.DEFINE_string("coordinator_address", None,
                      "host:port of process 0, to train with several processes outside SLURM "
                      "(with --num_processes and --process_id).")
  flags.DEFINE_integer("num_processes", None, "Processes training together.")
  flags.DEFINE_integer("process_id", None, "This process's index, 0..num_processes-1.")
  flags.DEFINE_string("compilation_cache", os.path.join("~", ".cache", "s2s", "jax"),
                      "Directory of JAX's persistent compilation cache, shared by all runs: a "
                      "rerun or a sweep's next run loads its programs instead of compiling "
                      "them (about 2 s of configs/addition_fast.py's 22 s). Empty: no cache.")


def use_compilation_cache(path: str):
  """Caches every program that takes over 0.2 s to compile. A cached program is the same
  executable, so results do not change; a directory that cannot be made only costs speed."""
  if not path:
    return
  path = os.path.expanduser(path)
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as e:
    print(f"warning: no compilation cache ({e})", file=sys.stderr)
    return
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def init_distributed():
  """Joins a multi-process run: from the flags, or detected in a SLURM job of several tasks.

  Every process then feeds its local devices its part of each global batch, and
  the pmap'd step's collectives span all processes' devices.
  """
  if FLAGS.coordinator_address is None and int(os.environ.get("SLURM_NTASKS", "1")) <= 1:
    return
  jax.config.update("jax_cpu_collectives_implementation", "gloo")  # Used only on CPU.
  jax.distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)


def parse_flags(argv):
  """absl flag parsing whose errors (unknown config fields, bad values) are one line.

  Parsing only reads the command line and the config file, so every error here
  is the user's to fix and is reported without a traceback.
  """
  try:
    return FLAGS(argv)
  except Exception as e:  # pylint: disable=broad-except
    print(f"error: {_flag_error(e, argv)}", file=sys.stderr)
    sys.exit(2)


def _config_path(argv) -> str | None:
  """The config file named by `--config=FILE[:arg]` or `--config FILE[:arg]` (the last one)."""
  path = None
  for i, arg in enumerate(argv):
    if arg.startswith("--config="):
      path = arg.split("=", 1)[1]
    elif arg == "--config" and i + 1 < len(argv):
      path = argv[i + 1]
  return path.split(":", 1)[0] if path is not None else None


def _flag_error(e, argv) -> str:
  path = _config_path(argv)
  # A syntax error or an exception in the config file (or its get_config): its line.
  message = path and config_lib.describe_load_error(path, e)
  if message:
    return message
  field = re.match(r"flag --config\.([\w.]+)=", str(e))
  if isinstance(e, flags.IllegalFlagValueError) and field:  # A value of the wrong type.
    values = [a.split("=", 1)[1] for a in argv if a.startswith(f"--config.{field.group(1)}=")]
    if values:
      return config_lib.type_error(field.group(1), values[-1])
  while e.args and isinstance(e.args[0], BaseException):
    e = e.args[0]  # ml_collections wraps the KeyError that carries the message.
  text = str(e.args[0]) if e.args else str(e)
  if isinstance(e, (AttributeError, KeyError)):
    # ml_collections: "'hiden_size'\nDid you mean "hidden_size" instead of "hiden_size"?"
    key = re.match(r"\W*(\w+)", text)
    if key:
      paths = [a[2:].split("=")[0] for a in argv
               if a.startswith("--config.") and key.group(1) in a.split("=")[0].split(".")]
      suggestion = re.search(r'Did you mean "(\w+)"', text)
      hint = f" (did you mean {suggestion.group(1)!r}?)" if suggestion else ""
      return f"unknown config field {paths[0] if paths else key.group(1)!r}{hint}"
  if isinstance(e, flags.UnrecognizedFlagError) and "'config." in text:
    return text.replace("Unknown command line flag", "unknown config field")
  if isinstance(e, OSError) and "config file" in text:
    return f"cannot load the config file {path or ''!r}: {text.splitlines()[-1].strip()}"
  return " ".join(line.strip() for line in text.splitlines() if line.strip())


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  config = FLAGS.config
  try:
    if config is not None:
      config.get("task")  # config_flags defers a config file's load error until first use.
  except OSError as e:
    print(f"error: {_flag_error(e, sys.argv)}", file=sys.stderr)
    sys.exit(2)
  path = _config_path(sys.argv)
  if path is None or FLAGS.workdir is None:
    print("error: --config and --workdir are required", file=sys.stderr)
    sys.exit(2)
  exit_on_user_error(config_lib.returned_config, path, config)  # get_config returned a dict?
  logging.set_verbosity(logging.WARNING)  # Orbax reports every save at INFO.
  checkpoints.report_failures_once()
  init_distributed()
  use_compilation_cache(FLAGS.compilation_cache)
  # SIGTERM (kill, SLURM preemption) stops the run as Ctrl-C does: one line, no traceback.
  signal.signal(signal.SIGTERM, _raise_interrupt)
  exit_on_user_error(train_and_evaluate, config, FLAGS.workdir, FLAGS.allow_config_change)


def _raise_interrupt(signum, frame):
  del frame
  raise KeyboardInterrupt(signal.Signals(signum).name)


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=parse_flags)

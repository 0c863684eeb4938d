"""Training: a pmap'd pure train step, evaluation with greedy decoding, exact resume.

  python -m s2s.train --config configs/addition.py --workdir runs/addition \
      [--config.model.hidden_size=256 ...] [--allow_config_change]
"""

import contextlib
import functools
import json
import shutil
import signal
import sys

from absl import app
from absl import flags
from absl import logging
import flax
import flax.jax_utils
import flax.traverse_util
import jax
from jax import lax
import jax.numpy as jnp
from ml_collections import config_flags
import numpy as np
import optax

from s2s import checkpoints
from s2s import cli
from s2s import config as config_lib
from s2s import dataset
from s2s import inference
from s2s import input_pipeline
from s2s import evaluation
from s2s import metrics as metrics_lib
from s2s import reporting
from s2s import tasks
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

  def apply_gradients(self, grads, token_share=1.0):
    """`token_share` scales the gradient clipping bound (see clip_by_global_norm)."""
    updates, opt_state = self.tx.update(grads, self.opt_state, self.params,
                                        token_share=token_share)
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
    return optax.chain(clip_by_global_norm(config.grad_clip_norm), optimizer)
  return optimizer


def clip_by_global_norm(max_norm: float) -> optax.GradientTransformationExtraArgs:
  """optax.clip_by_global_norm, its bound times `token_share` (an extra argument of `update`,
  1 by default; the same state, so checkpoints are interchangeable).

  A length-bucketed batch's loss is its tokens' sum over a fixed count (see train_step), so its
  gradient grows with its tokens: under a fixed bound, the long buckets' batches were clipped
  (all of translation's longest at the end of training, 1-2% of padded batches) and their
  sentences learned less. With `token_share` = the batch's tokens / the fixed count, a batch is
  clipped exactly when the mean of its tokens' gradients exceeds `max_norm`, as a padded batch
  (share 1) is, and keeps its tokens' weight when it is.
  """

  def update_fn(updates, state, params=None, *, token_share=1.0, **extra_args):
    del params, extra_args
    bound = max_norm * token_share
    norm = optax.tree.norm(updates)
    keep = norm < bound
    return jax.tree.map(lambda t: lax.select(keep, t, t / norm.astype(t.dtype) * bound),
                        updates), state

  return optax.GradientTransformationExtraArgs(optax.init_empty_state, update_fn)


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
  whatever the split. A batch with `loss_tokens` (float32 [B], length buckets) is divided
  by their sum instead: the training set's mean tokens per example times the batch size,
  the count a padded batch has on average, so a batch of short sentences does not weigh
  its tokens more than a batch of long ones (and the clipping bound is scaled to match,
  see clip_by_global_norm). Losses the model sows in its "losses" collection
  (the CTC loss of joint CTC-attention, per example) are weighted by `model.ctc_weight`, summed
  and divided the same way. Returns the new state and metric sums over the global batch.

  Dropout masks are a function of the step and of each example's row in the global batch
  (device d holds rows d * B .. d * B + B - 1), so 1 and N devices draw the same masks.
  """
  dropout_rng = jax.random.fold_in(state.rng, state.step)  # The same on every device.
  rows = batch["targets"].shape[0]
  example_ids = lax.axis_index(AXIS) * rows + jnp.arange(rows, dtype=jnp.int32)
  weights = jnp.ones(batch["targets"].shape[:1], jnp.float32)
  real_tokens = pmean(jnp.sum(batch["targets"] != vocab_lib.PAD, dtype=jnp.float32))
  token_share = 1.0
  if "loss_tokens" in batch:  # Length buckets: a fixed count, so every token weighs the same.
    mean_tokens = pmean(jnp.sum(batch["loss_tokens"]))
    token_share = real_tokens / mean_tokens  # Clipped as the mean of its tokens' gradients.
  else:
    mean_tokens = real_tokens

  def loss_fn(params):
    logits, sown = model.apply({"params": params}, batch | {"example_ids": example_ids},
                               train=True, rngs={"dropout": dropout_rng}, mutable=["losses"])
    sums = metrics_lib.loss_sums(logits, batch["targets"], weights)
    loss_sum = sums["loss_sum"]
    if "ctc" in sown.get("losses", {}):
      ctc, = sown["losses"]["ctc"]
      labels = (batch["targets"] != vocab_lib.PAD) & (batch["targets"] != vocab_lib.EOS)
      sums |= {"ctc_loss_sum": jnp.sum(ctc * weights),
               "ctc_labels": jnp.sum(labels * weights[:, None])}
      loss_sum += model.ctc_weight * sums["ctc_loss_sum"]
    return loss_sum / mean_tokens, (sums, logits)

  grads, (sums, logits) = jax.grad(loss_fn, has_aux=True)(state.params)
  state = state.apply_gradients(pmean(grads), token_share)
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
  if jax.tree.leaves(batches)[0].shape[0] == 1:  # steps_per_dispatch=1: no loop at all.
    # XLA:CPU runs convolutions about 10x slower inside a loop (their gradients, measured on
    # 2026-12-02), so image models train one step per dispatch (configs/captioning.py).
    state, sums = train_step(state, jax.tree.map(lambda x: x[0], batches), model=model)
    bad = jnp.where(jnp.isfinite(sums["loss_sum"]), 0, state.step).astype(jnp.int32)
    return state, sums | {"first_nonfinite_step": bad}

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

  The loss is teacher-forced (the likelihood of the right answer); the accuracies use
  greedy decoding, as a user would predict (for a model that decodes step by step; the
  repeat model's outputs never depend on its own predictions).
  """
  logits = model.apply({"params": params}, batch)
  sums = metrics_lib.loss_sums(logits, batch["targets"], batch["weights"])
  if model.STEPWISE:
    logits = model.apply({"params": params}, batch, teacher_force=False)
  predictions = metrics_lib.finalize_predictions(jnp.argmax(logits, -1).astype(jnp.int32))
  sums |= metrics_lib.accuracy_sums(predictions, batch["targets"], batch["weights"])
  return psum(sums), predictions


def replicate(tree):
  """`tree` on every local device, placed as the pmap'd steps place their outputs (placed by
  flax.jax_utils.replicate, the first train step's inputs differ from the second's, and the
  step compiles twice)."""
  return jax.pmap(lambda x, _: x, axis_name=AXIS, in_axes=(None, 0))(
      tree, np.zeros(jax.local_device_count()))


def stack_batches(train_iter, k: int, size: int):
  """The next batches, up to k of one shape, sharded and stacked to [devices, size,
  B / devices, ...] (the last one repeated to fill `size`, and never trained on), and their
  count for every device. Fewer than k only from an iterator with `take_group` (length
  buckets), where the next batch has another shape."""
  if hasattr(train_iter, "take_group"):
    batches = train_iter.take_group(k)
  else:
    batches = [next(train_iter) for _ in range(k)]
  k = len(batches)
  batches = [input_pipeline.shard(b) for b in batches]
  batches += batches[-1:] * (size - k)
  stacked = jax.tree.map(lambda *xs: np.stack(xs, axis=1), *batches)
  return stacked, np.full(jax.local_device_count(), k, np.int32)


def prepare_workdir(workdir: str, config, allow_config_change: bool):
  """Creates the workdir, locks it and writes config.json (or checks that it holds the same
  config). Returns the lock, held by process 0 alone (the one writer of a multi-process run)."""
  new = json.loads(config.to_json())
  if jax.process_index() != 0:
    return contextlib.nullcontext()
  workdir_lib.make(workdir)
  lock = workdir_lib.Lock(workdir)
  try:
    workdir_lib.write_config(workdir, new, allow_config_change,
                             defaults=json.loads(config_lib.base_config().to_json()))
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


def init_state(config, model, task, tx) -> TrainState:
  """Parameters initialised from the task's input spec (zeros of one example's shapes)."""
  rng, init_rng = jax.random.split(jax.random.PRNGKey(config.seed))
  batch = {k: jnp.zeros((1, *shape), dtype) for k, (shape, dtype) in task.input_spec.items()}
  batch["targets"] = jnp.zeros((1, task.target_length), jnp.int32)
  params = jax.jit(model.init)(init_rng, batch)["params"]
  return TrainState(step=jnp.array(0, jnp.int32), params=params, opt_state=tx.init(params),
                    rng=rng, tx=tx)


def warm_start(state: TrainState, init_from: str, modules: str = "") -> tuple[TrainState, str]:
  """`state` with the parameters of `init_from`'s newest whole checkpoint copied in wherever
  a parameter has the same path and shape (only under the top-level modules named in
  `modules`, comma-separated, if any); the rest keep their fresh initialisation and the
  optimizer starts afresh. Returns (state, a line saying what was copied)."""
  try:
    source, step = checkpoints.restore_params(init_from)
  except UserError as e:
    raise UserError(f"config.init_from: {e}") from None
  source = flax.traverse_util.flatten_dict(source)
  target = flax.traverse_util.flatten_dict(state.params)
  wanted = [m.strip() for m in modules.split(",") if m.strip()]
  top = sorted({path[0] for path in target})
  unknown = [m for m in wanted if m not in top]
  if unknown:
    raise UserError(f"config.init_from_modules names {', '.join(map(repr, unknown))}, which "
                    f"this model does not have (its modules: {', '.join(top)})")
  copied, fresh = {}, []
  for path, value in target.items():
    other = source.get(path)
    if (not wanted or path[0] in wanted) and other is not None and other.shape == value.shape:
      copied[path] = jnp.asarray(other, value.dtype)
    else:
      fresh.append("/".join(path))
  if not copied:
    raise UserError(f"config.init_from: no parameter of {init_from!r} has the path and shape of "
                    f"one of this model's" + (f" under {modules!r}" if wanted else ""))
  params = flax.traverse_util.unflatten_dict(target | copied)
  values = sum(x.size for x in copied.values())
  total = sum(x.size for x in target.values())
  line = (f"init_from {init_from} (step {step}): copied {len(copied)} of {len(target)} "
          f"parameter arrays ({values:,} of {total:,} values)"
          + (f"; initialised afresh: {', '.join(fresh)}" if fresh else ""))
  return state.replace(params=params, opt_state=state.tx.init(params)), line


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
  task, model = tasks.build(config, workdir, sources)
  metrics = config_lib.task_rules(config.task.name).metrics  # What the task reports.
  if (config.model.attention != "none" and config.num_attention_plots
      and not (hasattr(task, "source_pieces") or hasattr(task, "source_image"))):
    raise UserError(f"config.num_attention_plots={config.num_attention_plots}: the "
                    f"{config.task.name} task cannot draw attention plots (it has no "
                    f"source_pieces or source_image); set it to 0")

  steps_per_epoch = input_pipeline.steps_per_epoch(len(sources["train"]), config.batch_size)
  if steps_per_epoch == 0:
    raise UserError(f"config.batch_size={config.batch_size} exceeds the "
                    f"{len(sources['train'])} training examples")
  total_steps = config.num_steps or max(1, round(config.num_epochs * steps_per_epoch))
  eval_every = config.eval_every_steps or steps_per_epoch

  tx = make_optimizer(config, total_steps)
  state = init_state(config, model, task, tx)
  train_data = input_pipeline.hold(sources["train"], task, range(len(sources["train"])),
                                   config.data_memory_mb)
  splits = {name: input_pipeline.Split(src, task, config.data_memory_mb)
            for name, src in sources.items() if name != "train" and len(src)}
  if hasattr(task, "final_checks"):  # Splits the task makes, evaluated at the end.
    for name, records in task.final_checks(sources).items():
      splits[name] = input_pipeline.Split(input_pipeline.Records(records), task,
                                          config.data_memory_mb)
  if hasattr(task, "train_iterator"):  # E.g. a curriculum drawing its own questions.
    train_iter = task.train_iterator(config, train_data, sources)
  else:
    train_iter = input_pipeline.training_batches(train_data, task, config)
  if jax.process_index() == 0:
    check_disk_space(workdir, state, config.keep_checkpoints)
  ckpt = checkpoints.Checkpoints(workdir, config.keep_checkpoints)
  start_step, state = ckpt.restore_latest(state, train_iter)
  warm_line = None
  if config.init_from and not start_step:  # A resumed run has its own parameters.
    state, warm_line = warm_start(state, config_lib.init_from_path(config.init_from, config.seed),
                                  config.init_from_modules)
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
  if warm_line:
    reporter.print(warm_line)

  p_train_steps = jax.pmap(functools.partial(train_steps, model=model), axis_name=AXIS,
                           donate_argnums=(0,))
  p_eval_step = jax.pmap(functools.partial(eval_step, model=model), axis_name=AXIS)

  if config.beam_size > 1:  # One jitted decoder for every final split (compiled on first use).
    beam_decoder = inference.make_decoder(model, max_length=task.target_length,
                                          beam_size=config.beam_size, alpha=config.beam_alpha)

  slice_labels = {}  # Split -> each example's slice labels, computed once.

  def run_eval(name, step, final=False):
    split = splits[name]
    results, ids = evaluation.evaluate(p_eval_step=p_eval_step, params=rstate.params,
                                       split=split, eval_batch_size=config.eval_batch_size)
    texts = None  # Decoded only where something reads them.
    if any(m not in results for m in metrics):  # The rest are computed on decoded text.
      text_metrics, texts = evaluation.text_results(task, ids, split, final)
      results |= text_metrics
    results = evaluation.reported(results, metrics)
    sliced = None
    if hasattr(task, "slices"):  # Accuracy by the questions' structure.
      texts = texts or [task.decode(row) for row in ids]
      if name not in slice_labels:
        slice_labels[name] = evaluation.slice_index(
            [task.slices(q, a) for q, a in zip(split.all_queries, split.all_answers)])
      sliced = evaluation.slices(slice_labels[name],
                                 [t == a for t, a in zip(texts, split.all_answers)])
      if name == "validation" and hasattr(train_iter, "observe"):
        train_iter.observe(sliced)
    if final and config.beam_size > 1:
      results |= evaluation.beam_metrics(
          decoder=beam_decoder, params=flax.jax_utils.unreplicate(rstate.params), split=split,
          task=task, metrics=metrics, beam_size=config.beam_size,
          batch_size=max(1, config.eval_batch_size // 4))
    reporter.write(name, step, results, sliced)
    if final and sliced:
      reporter.print(reporting.slice_table(name, sliced))
    if config.num_samples:
      texts = texts or [task.decode(row) for row in ids]
      reporter.samples(name, step, split.queries, split.answers, texts[:len(split.answers)],
                       config.num_samples, config.seed, accepted=split.accepted)
    return results

  def boundary(step):  # Where the host must look: log, evaluate, checkpoint or stop.
    return (step % config.log_every_steps == 0 or step % eval_every == 0
            or step % config.checkpoint_every_steps == 0 or step == total_steps)

  rstate = replicate(state)
  pending, fetched = [], []  # Metric sums of the steps since the last log: device, host side.
  step = start_step
  try:
    while step < total_steps and not stopped:
      # Up to K steps per dispatch, ending at the next boundary (one program for every k).
      k = 1
      while k < config.steps_per_dispatch and step + k < total_steps and not boundary(step + k):
        k += 1
      cli.check_stop()  # A stop signal whose KeyboardInterrupt a library swallowed.
      stacked, counts = stack_batches(train_iter, k, config.steps_per_dispatch)
      rstate, sums = p_train_steps(rstate, stacked, counts)
      pending.append(sums)
      step += int(counts[0])
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
            {name: sum(s[name][0] for s in fetched) for name in fetched[0]})
            | (train_iter.metrics() if hasattr(train_iter, "metrics") else {}))
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
    for name in sorted(filter(reporting.is_final, splits), key=lambda n: n != "test"):
      run_eval(name, step, final=True)
    if config.model.attention != "none" and config.num_attention_plots:
      reporter.attention_plots(step, *evaluation.attention(
          model=model, params=flax.jax_utils.unreplicate(rstate.params),
          split=splits["validation"], task=task, count=config.num_attention_plots))
  except BaseException:
    reporter.close()
    ckpt.close(raise_errors=False)
    # A save begun just before the stop may have finished in close(): name what is on disk.
    progress["checkpoint"] = (ckpt.steps_on_disk() or [None])[-1]
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
  cli.define_jax_flags()


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  config = cli.load_config(FLAGS.config, sys.argv)
  if FLAGS.workdir is None:
    print("error: --config and --workdir are required", file=sys.stderr)
    sys.exit(2)
  logging.set_verbosity(logging.WARNING)  # Orbax reports every save at INFO.
  checkpoints.report_failures_once()
  cli.init_distributed()
  cli.use_compilation_cache(FLAGS.compilation_cache)
  cli.stop_on_sigterm()
  exit_on_user_error(train_and_evaluate, config, FLAGS.workdir, FLAGS.allow_config_change)


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=cli.parse_flags)

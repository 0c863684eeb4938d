"""Speed of s2s on this machine: the Keras recipe, time to 99%, a large model, decoding, pmap,
length buckets, the captioning and speech tasks.

  python scripts/benchmark.py [--only keras,to99,large,decode,pmap,buckets,tasks] [--repeats 3]
      [--json] [--data_dir DIR]
  python scripts/benchmark.py --peers [--peer_variants s2s,keras_jax,pytorch] [--repeats 3]
      [--max_epochs 30] [--batch_size 32] [--hidden_size 128] [--num_examples 50000] [--json]

a. keras:  the Keras addition_rnn recipe (3 digits, 45k examples, LSTM 128, batch 32):
           steady-state examples/s and s/epoch of the real training loop (batches from the
           grain pipeline, the pmap'd step), compile time apart.
b. to99:   wall time from process start to the first validation `sequence_accuracy` >= 0.99
           of `python -m s2s.train` on 3-digit addition with --to99_config, in a fresh data
           dir (dataset generation and compilation included); then the same with the
           compilation cache the first run filled (`seconds_warm_cache`).
c. large:  batch 256, hidden 512, 2 encoder and 2 decoder layers: examples/s and GFLOP/s
           (matmul FLOPs counted from the shapes), as a fraction of this machine's fp32 matmul
           peak (the best time of a 4096 x 4096 matmul).
d. decode: greedy and beam-5 decoding throughput of an encoder_decoder (queries/s, batch 1000;
           s2s.inference, as s2s.predict decodes).
e. pmap:   the pmap'd train step over one device against the same step under plain jit.
f. buckets: translation (configs/translation.py) training examples/s with batches padded to the
           corpus's longest sentence and with each of --buckets (4; e.g. 2,3,4) length-bucket
           counts (config.length_buckets), measured alternately in one process, and the share of
           computed positions holding real tokens.
g. tasks:  captioning and speech (configs/captioning.py, configs/speech.py as shipped):
           training examples/s of the real loop, matmul and convolution FLOPs per example counted
           from the train step's jaxpr (scan bodies once per step), and GFLOP/s as a fraction of
           the matmul peak. Speech synthesizes its dataset first (minutes; needs flite and
           espeak-ng): --data_dir keeps the datasets for the next run.
h. peers:  (--peers; needs `pip install -e ".[peers]"`, and torch for `pytorch`) the Keras
           recipe in s2s (configs/addition.py at Keras's constant Adam 1e-3), in Keras 3 on
           JAX and in Keras 3 on TensorFlow (scripts/keras_addition.py), in PyTorch with
           nn.LSTM (scripts/torch_addition.py; cuDNN on a GPU), and s2s's fastest recipe
           (configs/addition_fast.py), and the floor: the Keras recipe in plain JAX written
           for speed alone (scripts/jax_addition.py), each a process of its own, run one after
           another --repeats times: steady-state seconds per epoch (validation included), the
           same per training FLOP, and seconds from process start to the first validation
           per-character accuracy >= 0.99; ratios s2s / peer and floor / Keras of the medians.
           --batch_size, --hidden_size and --num_examples change the recipe in every peer alike
           (the GPU comparison: --batch_size 4096 --hidden_size 1024 --num_examples 100000).

--profile DIR also writes a jax.profiler trace of 160 steps of the Keras recipe's loop to DIR
(open it with TensorBoard's profile plugin or xprof): the per-operation times BENCHMARKS.md
quotes.

Medians over --repeats runs. Numbers vary between runs on shared machines: record them with
the machine (BENCHMARKS.md).
"""

import argparse
import contextlib
import functools
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The peers run in processes of their own, one after another, while this one lives: on a GPU
# no process may take 75% of its memory at start (JAX's default), or the next cannot start.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import flax  # pylint: disable=wrong-import-position
import flax.jax_utils  # pylint: disable=wrong-import-position
import jax  # pylint: disable=wrong-import-position
import jax.extend.core  # pylint: disable=wrong-import-position
import jax.numpy as jnp  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position

from s2s import config as config_lib  # pylint: disable=wrong-import-position
from s2s import dataset  # pylint: disable=wrong-import-position
from s2s import inference  # pylint: disable=wrong-import-position
from s2s import input_pipeline  # pylint: disable=wrong-import-position
from s2s import tasks  # pylint: disable=wrong-import-position
from s2s import train  # pylint: disable=wrong-import-position

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def machine() -> dict:
  cpu = platform.processor()
  try:
    with open("/proc/cpuinfo") as f:
      cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
  except (OSError, StopIteration):
    pass
  return {"cpu": cpu, "cores": os.cpu_count(), "backend": jax.default_backend(),
          "devices": jax.device_count(), "jax": jax.__version__, "flax": flax.__version__,
          "python": platform.python_version(), "date": time.strftime("%Y-%m-%d")}


def matmul_peak_gflops(n=4096, repeats=5) -> float:
  """fp32 GFLOP/s of an n x n matmul, the best of `repeats`."""
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
  matmul = jax.jit(lambda x, y: x @ y)
  matmul(a, a).block_until_ready()
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    matmul(a, a).block_until_ready()
    best = min(best, time.perf_counter() - start)
  return 2 * n**3 / best / 1e9


class Setup:
  """A config's data, model, state and compiled step, outside the train loop."""

  def __init__(self, config, data_dir):
    self.config = config
    sources = dataset.load(config.task, data_dir)
    # A task that fits tokenizers on the training split saves them in a workdir.
    self.workdir = tempfile.mkdtemp(prefix="s2s_benchmark_run_")
    self.task, self.model = tasks.build(config, self.workdir, sources)
    train_source = sources["train"]
    self.train_data = input_pipeline.hold(train_source, self.task, range(len(train_source)),
                                          config.data_memory_mb)
    self.steps_per_epoch = input_pipeline.steps_per_epoch(len(train_source), config.batch_size)
    tx = train.make_optimizer(config, 10 * self.steps_per_epoch)
    self.state = train.init_state(config, self.model, self.task, tx)
    self.step = functools.partial(train.train_step, model=self.model)

  def batches(self, seed=0):
    config = self.config.copy_and_resolve_references()
    config.seed = seed
    return input_pipeline.training_batches(self.train_data, self.task, config)

  def flops_per_example(self) -> float:
    return training_flops_per_example(self.config.model, self.task)


def training_flops_per_example(model, task) -> float:
  """Matmul FLOPs of one training example of a text task (token ids in and out, through
  `task.source` and `task.target` vocabularies): 3x the forward pass (forward, two backward
  products).

  Counted over the padded lengths, as computed. XLA's cost analysis counts a scan's body once,
  not once per time step, so it cannot be used here. The Keras recipe gives 6.2 MFLOP.
  """
  gates = 4 if model.cell == "lstm" else 3
  h, source_v, target_v = model.hidden_size, task.source.size, task.target_vocab_size
  directions = 2 if model.bidirectional else 1

  def layer(inputs, steps):
    return 2 * (inputs + h) * gates * h * steps

  forward = 0
  for i in range(model.encoder_layers):
    width = (model.embed_dim or source_v) if i == 0 else directions * h
    forward += directions * layer(width, task.query_length)
  first_decoder_input = (directions * h if model.name == "repeat"
                         else model.embed_dim or target_v)
  for i in range(model.decoder_layers):
    forward += layer(first_decoder_input if i == 0 else h, task.target_length)
  forward += 2 * h * target_v * task.target_length  # The output Dense.
  return 3 * forward


def jaxpr_flops(jaxpr) -> float:
  """Matmul and convolution FLOPs of a (closed) jaxpr, as it runs: a scan's body counted once per
  iteration (XLA's cost analysis counts it once), a cond's costliest branch. Elementwise
  operations are not counted. A while loop's trip count is unknown: raises ValueError."""
  jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
  total = 0.0
  for eqn in jaxpr.eqns:
    name, params = eqn.primitive.name, eqn.params
    if name == "dot_general":
      (lhs_contract, _), _ = params["dimension_numbers"]
      lhs = eqn.invars[0].aval.shape
      out = eqn.outvars[0].aval.shape
      total += 2 * np.prod(out, dtype=float) * np.prod([lhs[d] for d in lhs_contract], dtype=float)
    elif name == "conv_general_dilated":
      rhs = eqn.invars[1].aval.shape
      spec = params["dimension_numbers"].rhs_spec  # (out features, in features, *spatial).
      per_output = np.prod([rhs[d] for d in spec[1:]], dtype=float)
      total += 2 * np.prod(eqn.outvars[0].aval.shape, dtype=float) * per_output
    elif name == "while":
      if jaxpr_flops(params["body_jaxpr"]):
        raise ValueError("a while loop with matmuls: its trip count is unknown")
    elif name == "cond":
      total += max(jaxpr_flops(b) for b in params["branches"])
    else:
      inner = sum(jaxpr_flops(j) for j in jax.extend.core.jaxprs_in_params(params))
      total += inner * (params["length"] if name == "scan" else 1)
  return total


def step_flops_per_example(setup: "Setup", batch) -> float:
  """Matmul and convolution FLOPs per example of the train step on `batch` (a host batch, as
  `Setup.batches` yields), counted from the step's jaxpr (`jaxpr_flops`)."""
  step = jax.vmap(setup.step, axis_name=train.AXIS)
  state = flax.jax_utils.replicate(setup.state)
  jaxpr = jax.make_jaxpr(step)(state, input_pipeline.shard(batch))
  return jaxpr_flops(jaxpr) / setup.config.batch_size


def time_train_loop(setup: Setup, steps: int) -> dict:
  """Compile time, then `steps` steps of the real loop: grain batches, shard, the pmap'd
  `train_steps` with config.steps_per_dispatch batches per call."""
  k = setup.config.steps_per_dispatch
  p_steps = jax.pmap(functools.partial(train.train_steps, model=setup.model),
                     axis_name=train.AXIS, donate_argnums=(0,))
  state = flax.jax_utils.replicate(setup.state)
  batches = setup.batches()

  seen = set()  # The batch shapes met so far: one compiled step each.

  def run(state, steps, until_every_bucket=False):  # At least `steps` steps; (state, steps run).
    done = 0
    while done < steps or (until_every_bucket and len(seen) < len(buckets)):
      stacked, counts = train.stack_batches(batches, k, k)
      seen.add(tuple(sorted((key, x.shape) for key, x in stacked.items())))
      state, sums = p_steps(state, stacked, counts)
      done += int(counts[0])
    jax.block_until_ready(sums)
    return state, done

  # Length buckets (input_pipeline.Bucketed): a step compiled per bucket. A rare bucket (the
  # long tail holds a batch or two per epoch) must be compiled before the timed steps, or its
  # compilation counts in them, in some measurements and not in others.
  buckets = {tuple(sorted(shape.items())) for shape in getattr(batches, "shapes", [{}])}
  start = time.perf_counter()
  state, _ = run(state, 1)
  compile_s = time.perf_counter() - start
  # Warm up allocations and caches, and compile every length bucket's step.
  state, _ = run(state, 20, until_every_bucket=True)
  warm_shapes = len(seen)
  start = time.perf_counter()
  _, done = run(state, max(k, steps))
  step_s = (time.perf_counter() - start) / done
  return {"compile_s": compile_s, "step_ms": step_s * 1e3, "steps_timed": done,
          "shapes_compiled_while_timed": len(seen) - warm_shapes,
          "examples_per_s": setup.config.batch_size / step_s,
          "s_per_epoch": step_s * setup.steps_per_epoch}


def keras_recipe(data_dir, repeats, profile_dir=None, steps=None):
  """The recipe as configs/addition.py ships it, and with one step per dispatch; `steps`
  timed per repeat (default: an epoch's) and profiled (default: 160)."""
  out = {}
  for k in (load_config("configs/addition.py").steps_per_dispatch, 1):
    config = load_config("configs/addition.py")  # 3 digits, 45k/5k, LSTM 128, batch 32.
    config.steps_per_dispatch = k
    setup = Setup(config, data_dir)
    runs = [time_train_loop(setup, steps or setup.steps_per_epoch) for _ in range(repeats)]
    if profile_dir and k > 1:
      with jax.profiler.trace(profile_dir):
        time_train_loop(setup, steps or 160)
    out |= {f"{name}@k={k}": statistics.median(r[name] for r in runs) for name in runs[0]}
    out[f"compile_s@k={k}"] = runs[0]["compile_s"]  # Later repeats reuse the compiled step.
  return out | {"steps_per_epoch": setup.steps_per_epoch,
                "mflop_per_example": setup.flops_per_example() / 1e6}


def load_config(path, arg=None):
  spec = importlib.util.spec_from_file_location("benchmarked_config", os.path.join(ROOT, path))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg) if arg is not None else module.get_config()


def large_model(data_dir, repeats, peak):
  config = config_lib.base_config()
  config.batch_size = 256
  config.model.hidden_size = 512
  config.model.encoder_layers = config.model.decoder_layers = 2
  setup = Setup(config, data_dir)
  runs = [time_train_loop(setup, 30) for _ in range(repeats)]
  examples_per_s = statistics.median(r["examples_per_s"] for r in runs)
  gflops = setup.flops_per_example() * examples_per_s / 1e9
  return {"examples_per_s": examples_per_s,
          "mflop_per_example": setup.flops_per_example() / 1e6, "gflops": gflops,
          "fraction_of_matmul_peak": gflops / peak}


def decode_throughput(data_dir, repeats):
  config = config_lib.base_config()
  config.model.name = "encoder_decoder"
  sources = dataset.load(config.task, data_dir)
  task, model = tasks.build(config)
  split = input_pipeline.Split(sources["validation"], task, config.data_memory_mb)
  state = train.init_state(config, model, task, train.make_optimizer(config, 1))
  n = min(1000, split.size)

  rows = split.take(np.arange(n))
  args = (state.params, {k: rows[k] for k in task.input_spec})
  out = {"batch": n}
  for name, beam in (("greedy", 1), ("beam5", 5)):
    decode = inference.make_decoder(model, max_length=task.target_length, beam_size=beam)
    decode(*args).block_until_ready()
    calls = 10 if beam == 1 else 2
    times = []
    for _ in range(repeats):
      start = time.perf_counter()
      for _ in range(calls):
        decode(*args).block_until_ready()
      times.append((time.perf_counter() - start) / calls)
    out[f"{name}_queries_per_s"] = n / statistics.median(times)
  return out


def length_buckets(data_dir, repeats, buckets=(4,)):
  """Translation (configs/translation.py) training examples/s over an epoch's steps with every
  batch padded to the corpus's longest sentence, and with each of `buckets` length-bucket
  counts, all measured alternately in one process; and the share of computed positions that
  hold real tokens over an epoch's batches."""
  setups = {}
  for b in (0, *buckets):
    config = load_config("configs/translation.py")
    config.length_buckets = b
    setups[b] = Setup(config, data_dir)
  times = {b: [] for b in setups}
  # A whole epoch's steps each time: the buckets' batches in the proportions training meets.
  for _ in range(repeats):
    for b, setup in setups.items():
      times[b].append(time_train_loop(setup, setup.steps_per_epoch)["examples_per_s"])
  out = {}
  for b, setup in setups.items():
    it = setup.batches()
    real = padded = 0
    for _ in range(setup.steps_per_epoch):
      batch = next(it)
      real += int(batch["input_lengths"].sum()) + int(np.sum(batch["targets"] != 0))
      padded += batch["inputs"].size + batch["targets"].size
    out[f"examples_per_s@buckets={b}"] = statistics.median(times[b])
    out[f"real_token_share@buckets={b}"] = real / padded
  for b in buckets:
    out[f"speedup@buckets={b}"] = (out[f"examples_per_s@buckets={b}"]
                                   / out["examples_per_s@buckets=0"])
  return out


# name -> (config file, its argument: None = as shipped).
TASK_CONFIGS = {"captioning": ("configs/captioning.py", None), "speech": ("configs/speech.py", None)}


def task_throughput(data_dir, repeats, peak, configs=None, steps=100):
  """Training examples/s of each task's default config in the real loop, its matmul and
  convolution FLOPs per example (from the step's jaxpr, averaged over the batches' shapes: length
  buckets differ), and the GFLOP/s that makes as a fraction of the matmul peak."""
  out = {}
  for name, (path, arg) in (configs or TASK_CONFIGS).items():
    setup = Setup(load_config(path, arg), data_dir)
    runs = [time_train_loop(setup, steps) for _ in range(repeats)]
    batches, cache = setup.batches(), {}
    flops = []
    for _ in range(4 * max(1, setup.config.length_buckets)):
      batch = next(batches)
      shapes = tuple(sorted((k, np.shape(v)) for k, v in batch.items()))
      if shapes not in cache:
        cache[shapes] = step_flops_per_example(setup, batch)
      flops.append(cache[shapes])
    examples_per_s = statistics.median(r["examples_per_s"] for r in runs)
    gflops = statistics.mean(flops) * examples_per_s / 1e9
    out[name] = {"examples_per_s": examples_per_s, "step_ms": statistics.median(
        r["step_ms"] for r in runs), "batch_size": setup.config.batch_size,
                 "mflop_per_example": statistics.mean(flops) / 1e6, "gflops": gflops,
                 "fraction_of_matmul_peak": gflops / peak}
  return out


def pmap_vs_jit(data_dir, repeats):
  setup = Setup(config_lib.base_config(), data_dir)
  batch_iter = setup.batches()
  batches = [input_pipeline.shard(next(batch_iter)) for _ in range(1100)]
  variants = {
      "pmap": jax.pmap(setup.step, axis_name=train.AXIS, donate_argnums=(0,)),
      # The same step, vmapped over the size-1 device axis so that its collectives resolve.
      "jit": jax.jit(jax.vmap(setup.step, axis_name=train.AXIS), donate_argnums=(0,)),
  }
  times = {name: [] for name in variants}
  for _ in range(repeats):
    for name, fn in variants.items():
      state = flax.jax_utils.replicate(setup.state)
      for b in batches[:100]:  # Compile, then warm up as time_train_loop does.
        state, sums = fn(state, b)
      jax.block_until_ready(sums)
      start = time.perf_counter()
      for b in batches[100:]:
        state, sums = fn(state, b)
      jax.block_until_ready(sums)
      times[name].append((time.perf_counter() - start) / (len(batches) - 100) * 1e3)
  pmap_ms, jit_ms = (statistics.median(times[k]) for k in ("pmap", "jit"))
  return {"pmap_step_ms": pmap_ms, "jit_step_ms": jit_ms, "pmap_over_jit": pmap_ms / jit_ms}


def validation_events(process, metrics: str, start: float):
  """Yields (seconds since `start`, event) for each validation event `process` (a training
  run) writes to its metrics.jsonl, as the event arrives, until the process exits."""
  seen, running = 0, True
  while running:
    running = process.poll() is None  # Read once more after it exits (config.stop_at).
    time.sleep(0.05)
    if not os.path.exists(metrics):
      continue
    with open(metrics) as f:
      events = [json.loads(l) for l in f.readlines()[seen:] if l.endswith("\n")]
    seen += len(events)
    seconds = time.perf_counter() - start
    yield from ((seconds, e) for e in events if e["split"] == "validation")


def seconds_to(threshold, config_arg, tmp, name, cache):
  """Seconds from starting `python -m s2s.train` (in a fresh data dir) to the first
  validation sequence_accuracy >= threshold, or None if the run ends without reaching it."""
  workdir = os.path.join(tmp, name)
  metrics = os.path.join(workdir, "metrics.jsonl")
  start = time.perf_counter()
  process = subprocess.Popen(
      [sys.executable, "-m", "s2s.train", f"--config={config_arg}", f"--workdir={workdir}",
       f"--config.data_dir={os.path.join(tmp, name + '_tfds')}", "--config.num_samples=0",
       f"--compilation_cache={cache}"],
      cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  reached = next((seconds for seconds, e in validation_events(process, metrics, start)
                  if e["sequence_accuracy"] >= threshold), None)
  process.kill()
  process.wait()
  return reached


def time_to_99(config_arg, repeats, threshold=0.99):
  """Seconds from process start to the first validation sequence_accuracy >= threshold:
  with an empty compilation cache (everything compiled), then again with the cache that run
  filled (as a rerun or a sweep's next run finds it). Both generate their dataset afresh."""
  results = {"cold": [], "warm": []}
  for _ in range(repeats):
    with tempfile.TemporaryDirectory() as tmp:
      cache = os.path.join(tmp, "compilation_cache")
      for name in ("cold", "warm"):
        results[name].append(seconds_to(threshold, config_arg, tmp, name, cache))
  out = {"config": config_arg}
  for name, times in results.items():
    reached = [t for t in times if t is not None]
    suffix = "" if name == "cold" else "_warm_cache"
    out[f"seconds{suffix}"] = statistics.median(reached) if reached else None
    out[f"runs_reaching{suffix}"] = f"{len(reached)}/{len(times)}"
  return out


# ---------------------------------------------------------------------------------------------
# Peers: the Keras recipe in s2s and in Keras 3, one process each, alternating.

PEERS = ("s2s", "keras_jax", "keras_tensorflow", "pytorch", "s2s_fast", "jax_floor")
# The peers that print their validation events as JSON lines on standard output.
SCRIPTED = {"keras_jax": "keras_addition.py", "keras_tensorflow": "keras_addition.py",
            "pytorch": "torch_addition.py", "jax_floor": "jax_addition.py"}
# What each peer needs beyond s2s's own requirements.
PEER_MODULES = {"keras_jax": ["keras"], "keras_tensorflow": ["keras", "tensorflow"],
                "pytorch": ["torch"]}


def keras_flops_per_example(hidden_size=128) -> float:
  """The Keras tutorial's model: 12 one-hot characters, 7 query and 4 answer steps."""
  model = SimpleNamespace(name="repeat", cell="lstm", hidden_size=hidden_size,
                          bidirectional=False,
                          encoder_layers=1, decoder_layers=1, embed_dim=0)
  task = SimpleNamespace(source=SimpleNamespace(size=12), target_vocab_size=12,
                         query_length=7, target_length=4)
  return training_flops_per_example(model, task)


def s2s_flops_per_example(config_path, hidden_size=None) -> float:
  config = load_config(config_path)
  if hidden_size:
    config.model.hidden_size = hidden_size
  task, _ = tasks.build(config)
  return training_flops_per_example(config.model, task)


def peer_command(name, run_dir, *, max_epochs, target, num_examples, batch_size=None,
                 hidden_size=None) -> tuple[list, dict]:
  """The command line and environment of one peer's run in `run_dir`. `batch_size` and
  `hidden_size` replace the recipe's 32 and 128 in every peer alike."""
  if name in SCRIPTED:
    command = [sys.executable, os.path.join(ROOT, "scripts", SCRIPTED[name]),
               f"--max_epochs={max_epochs}", f"--target={target}",
               f"--num_examples={num_examples}"]
    command += [f"--batch_size={batch_size}"] if batch_size else []
    command += [f"--hidden_size={hidden_size}"] if hidden_size else []
    env = dict(os.environ)
    if name.startswith("keras_"):
      env |= {"KERAS_BACKEND": name.removeprefix("keras_"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return command, env
  config = {"s2s": "configs/addition.py", "s2s_fast": "configs/addition_fast.py"}[name]
  command = [sys.executable, "-m", "s2s.train", f"--config={config}",
             f"--workdir={os.path.join(run_dir, 'workdir')}",
             f"--config.data_dir={os.path.join(run_dir, 'tfds')}",
             f"--config.task.num_examples={num_examples}",
             f"--config.task.num_test={num_examples // 10}",
             f"--config.stop_at=padded_char_accuracy>={target}",
             f"--compilation_cache={os.path.join(run_dir, 'cache')}"]
  if name == "s2s":  # The Keras recipe: Adam 1e-3 at a constant rate.
    command += ["--config.schedule=constant", f"--config.num_epochs={max_epochs}"]
  command += [f"--config.batch_size={batch_size}"] if batch_size else []
  command += [f"--config.model.hidden_size={hidden_size}"] if hidden_size else []
  return command, dict(os.environ)


def run_peer(name, tmp, **options) -> list:
  """Runs one peer (`peer_command(name, ..., **options)`) in a process of its own; its
  validation events, each with `seconds` (from starting the process to the event's arrival),
  `epoch` (epochs trained), `epoch_s` (the epoch's seconds, validation included; None for
  configs/addition_fast.py, which evaluates every 100 steps) and `char_accuracy` (validation
  per-character accuracy, padding included, as Keras counts)."""
  run_dir = os.path.join(tmp, name)
  os.makedirs(run_dir)
  stderr_path = os.path.join(run_dir, "stderr.txt")
  command, env = peer_command(name, run_dir, **options)
  events = []
  with open(stderr_path, "w") as stderr:
    start = time.perf_counter()
    scripted = name in SCRIPTED  # Its events come on stdout; s2s's in metrics.jsonl.
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=stderr, text=True,
                               stdout=subprocess.PIPE if scripted else subprocess.DEVNULL)
    if scripted:
      for line in process.stdout:
        event = json.loads(line)
        events.append({"seconds": time.perf_counter() - start, "epoch": event["epoch"],
                       "epoch_s": event["epoch_s"], "char_accuracy": event["val_char_accuracy"]})
    else:
      previous = 0.0
      metrics = os.path.join(run_dir, "workdir", "metrics.jsonl")
      for seconds, e in validation_events(process, metrics, start):
        events.append({"seconds": seconds, "epoch": e["epoch"],
                       # configs/addition.py evaluates once per epoch; addition_fast does
                       # every 100 steps, so its events are not epochs.
                       "epoch_s": e["elapsed_s"] - previous if name == "s2s" else None,
                       "char_accuracy": e["padded_char_accuracy"]})
        previous = e["elapsed_s"]
    if process.wait() != 0:
      with open(stderr_path) as f:
        raise RuntimeError(f"peer {name} exited with {process.returncode}: {f.read()[-2000:]}")
  return events


def summarize_peer(events, target) -> dict:
  """Steady-state seconds per epoch (the median over epochs after the first, which compiles),
  and the seconds and epochs from process start to the first event >= target."""
  reached = next((i for i, e in enumerate(events) if e["char_accuracy"] >= target), None)
  steady = [e["epoch_s"] for e in events[1:] if e["epoch_s"] is not None]
  return {"epoch_s": statistics.median(steady) if steady else None,
          "seconds_to_target": None if reached is None else events[reached]["seconds"],
          "epochs_to_target": None if reached is None else events[reached]["epoch"],
          "final_char_accuracy": events[-1]["char_accuracy"] if events else None}


def peers(repeats, *, variants=PEERS, max_epochs=30, target=0.99, num_examples=50_000,
          batch_size=None, hidden_size=None) -> dict:
  """Each variant `repeats` times, in a rotating order so that drift spreads over all of
  them; medians per variant, then ratios s2s / peer. `batch_size` and `hidden_size` (default:
  the recipe's 32 and 128) apply to every variant."""
  for name in variants:
    if name not in PEERS:
      raise SystemExit(f"unknown peer {name!r} (known: {', '.join(PEERS)})")
    for module in PEER_MODULES.get(name, []):
      if importlib.util.find_spec(module) is None:
        extra = "pip install torch" if module == "torch" else "pip install -e '.[peers]'"
        raise SystemExit(f"peer {name} needs {module}, which is not installed: {extra}")
  runs = {name: [] for name in variants}
  with tempfile.TemporaryDirectory(prefix="s2s_peers_") as tmp:
    for r in range(repeats):
      for name in variants[r % len(variants):] + variants[:r % len(variants)]:
        events = run_peer(name, os.path.join(tmp, str(r)), max_epochs=max_epochs,
                          target=target, num_examples=num_examples, batch_size=batch_size,
                          hidden_size=hidden_size)
        runs[name].append(summarize_peer(events, target))
        # A line per run as it ends: a benchmark stopped part-way still leaves its figures.
        print(json.dumps({"peer": name, "repeat": r} | runs[name][-1]), file=sys.stderr,
              flush=True)

  def median(name, field):
    values = [run[field] for run in runs[name] if run[field] is not None]
    return statistics.median(values) if values else None

  keras_flops = keras_flops_per_example(hidden_size or 128)
  flops = {"keras_jax": keras_flops, "keras_tensorflow": keras_flops, "pytorch": keras_flops,
           "jax_floor": keras_flops,
           "s2s": s2s_flops_per_example("configs/addition.py", hidden_size),
           "s2s_fast": s2s_flops_per_example("configs/addition_fast.py", hidden_size)}
  out = {"target_char_accuracy": target, "max_epochs": max_epochs, "repeats": repeats,
         "batch_size": batch_size or 32, "hidden_size": hidden_size or 128,
         "num_examples": num_examples, "device": jax.devices()[0].device_kind}
  for name in variants:
    out[f"{name}.mflop_per_example"] = flops[name] / 1e6
    for field in ("epoch_s", "seconds_to_target", "epochs_to_target"):
      out[f"{name}.{field}"] = median(name, field)
    reached = sum(r["seconds_to_target"] is not None for r in runs[name])
    out[f"{name}.reached"] = f"{reached}/{repeats}"

  def ratio(a, b):
    return None if a is None or b is None else a / b

  for peer in (v for v in variants if v in SCRIPTED):
    # s2s against each peer; and the floor against Keras: how far below Keras 3 any program
    # of the recipe's operations gets on this machine.
    for ours in ("s2s", "jax_floor"):
      if ours in variants and ours != peer:
        epoch = ratio(out[f"{ours}.epoch_s"], out[f"{peer}.epoch_s"])
        out[f"{ours}/{peer}.epoch_s"] = epoch
        out[f"{ours}/{peer}.epoch_s_per_flop"] = ratio(epoch, flops[ours] / flops[peer])
    for ours in (v for v in variants if v.startswith("s2s")):
      out[f"{ours}/{peer}.seconds_to_target"] = ratio(out[f"{ours}.seconds_to_target"],
                                                      out[f"{peer}.seconds_to_target"])
  out["runs"] = runs
  return out


def main(argv):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--only", default=None,
                 help="Sections, comma-separated (default: all but peers; with --peers: peers).")
  p.add_argument("--peers", action="store_true",
                 help="Compare with Keras 3 on JAX and on TensorFlow (pip install -e '.[peers]').")
  p.add_argument("--peer_variants", default=",".join(PEERS))
  p.add_argument("--max_epochs", type=int, default=30, help="peers: epochs at most per run.")
  p.add_argument("--batch_size", type=int, default=None,
                 help="peers: batch size of every peer (default: the recipe's 32).")
  p.add_argument("--hidden_size", type=int, default=None,
                 help="peers: LSTM width of every peer (default: the recipe's 128).")
  p.add_argument("--num_examples", type=int, default=50_000,
                 help="peers: questions, split 90/10 (default: the recipe's 50,000).")
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--to99_config", default="configs/addition_fast.py")
  p.add_argument("--buckets", type=parse_buckets, default=(4,),
                 help="buckets: length-bucket counts, comma-separated, each measured against "
                      "padded batches in the same alternation (e.g. 2,3,4).")
  p.add_argument("--data_dir", default=None,
                 help="Where the datasets are (built there if absent; default: a fresh "
                      "temporary directory).")
  p.add_argument("--json", action="store_true", help="Print one JSON object instead of a table.")
  p.add_argument("--keras_steps", type=int, default=None,
                 help="keras: steps timed per repeat (default: one epoch, 1,406), and "
                      "profiled with --profile (default: 160).")
  p.add_argument("--profile", metavar="DIR",
                 help="Also write a profiler trace of the Keras recipe's train loop to DIR.")
  args = p.parse_args(argv)
  only = args.only or ("" if args.peers else "keras,to99,large,decode,pmap,buckets,tasks")
  wanted = list(filter(None, only.split(","))) + (["peers"] if args.peers else [])
  if args.json:  # Standard output is the JSON alone; what TFDS prints goes to standard error.
    with contextlib.redirect_stdout(sys.stderr):
      out = measure(args, wanted)
    print(json.dumps(out, indent=2))
    return
  out = measure(args, wanted)
  print(" ".join(f"{k}={v}" for k, v in out.pop("machine").items()))
  for section, values in out.items():
    if isinstance(values, dict):
      for k, v in values.items():
        if isinstance(v, (dict, list)):
          continue  # Per-run details: in --json only.
        print(f"{section:8s} {k:38s} {v:.4g}" if isinstance(v, float) else
              f"{section:8s} {k:38s} {v}")
    else:
      print(f"{section:35s} {values:.4g}")


def parse_buckets(text: str) -> tuple[int, ...]:
  """--buckets "2,3,4" -> (2, 3, 4); a count must be a whole number of at least 1."""
  try:
    counts = tuple(int(t) for t in text.split(","))
  except ValueError:
    counts = ()
  if not counts or min(counts) < 1:
    raise SystemExit(f"error: --buckets must be whole numbers >= 1, comma-separated; got {text!r}")
  return counts


def measure(args, wanted) -> dict:
  out = {"machine": machine()}
  data_dir = args.data_dir or tempfile.mkdtemp(prefix="s2s_benchmark_")
  if {"large", "keras", "tasks"} & set(wanted):
    out["matmul_peak_gflops"] = matmul_peak_gflops()
  if "keras" in wanted:
    out["keras"] = keras_recipe(data_dir, args.repeats, args.profile, args.keras_steps)
  if "to99" in wanted:
    out["to99"] = time_to_99(args.to99_config, args.repeats)
  if "large" in wanted:
    out["large"] = large_model(data_dir, args.repeats, out["matmul_peak_gflops"])
  if "decode" in wanted:
    out["decode"] = decode_throughput(data_dir, args.repeats)
  if "pmap" in wanted:
    out["pmap"] = pmap_vs_jit(data_dir, args.repeats)
  if "buckets" in wanted:
    out["buckets"] = length_buckets(data_dir, args.repeats, args.buckets)
  if "tasks" in wanted:
    out["tasks"] = task_throughput(data_dir, args.repeats,
                                   out["matmul_peak_gflops"])
  if "peers" in wanted:
    out["peers"] = peers(args.repeats, variants=tuple(args.peer_variants.split(",")),
                         max_epochs=args.max_epochs, num_examples=args.num_examples,
                         batch_size=args.batch_size, hidden_size=args.hidden_size)
  return out


if __name__ == "__main__":
  main(sys.argv[1:])

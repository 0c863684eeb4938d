"""Bad configs, config files and script arguments: one `error:` line naming the problem,
exit status 2, no traceback, and nothing created.

Every field of base_config() and of every configs/*.py gets the bad values its rule in
s2s/config.py says it must refuse, through the train CLI run in-process (`cli.parse_flags` and
`main`, as `python -m s2s.train` runs them); a few cases also run as real processes.
"""

import functools
import glob
import json
import os
import re
import signal
import sys

from absl import flags
import pytest

from conftest import ROOT, assert_user_error, load_script, run_cli
from s2s import cli
from s2s import config as config_lib
from s2s import dataset
from s2s import errors
from s2s import metrics
from s2s import models
from s2s import sweeps
from s2s import tokenizers
from s2s import train

# config_flags loads config files with a deprecated importlib call.
pytestmark = pytest.mark.filterwarnings("ignore:the load_module:DeprecationWarning")

TSV = os.path.join(ROOT, "tests", "fixtures", "translation", "fra.txt")
# What a config file needs here: translation reads a small TSV file, not this machine's catalogs.
CONFIG_ARGS = {"translation.py": f"corpus=tsv,path={TSV}"}


def _config_arg(path):
  name = os.path.basename(path)
  return f"{path}:{CONFIG_ARGS[name]}" if name in CONFIG_ARGS else path


# name -> config argument (None: base_config(), through WRAPPER).
BASES = {"base_config": None} | {
    os.path.basename(p)[:-3]: _config_arg(p)
    for p in sorted(glob.glob(os.path.join(ROOT, "configs", "*.py")))}


def load(base):
  arg = BASES[base]
  return config_lib.base_config() if arg is None else sweeps.resolve_config(arg, {})


FIELDS = [(base, field) for base in BASES for field in config_lib.flatten(load(base))]

# A config file that returns a base config, with one field set to any Python literal (which
# no command line can do): `WRAPPER:<config argument or "base">|<field>=<literal>`.
WRAPPER_SOURCE = '''
import ast
import ml_collections
from s2s import config as config_lib
from s2s import sweeps


def get_config(arg):
  base, _, change = arg.partition("|")
  config = config_lib.base_config() if base == "base" else sweeps.resolve_config(base, {})
  if change:
    field, value = change.split("=", 1)
    values = config.to_dict()
    *parents, leaf = field.split(".")
    node = values
    for part in parents:
      node = node[part]
    node[leaf] = ast.literal_eval(value)
    config = ml_collections.ConfigDict(values)
  return config
'''


@pytest.fixture(scope="module")
def wrapper(tmp_path_factory):
  path = tmp_path_factory.mktemp("configs") / "wrapper.py"
  path.write_text(WRAPPER_SOURCE)
  return str(path)


def config_flag(wrapper, base, change=""):
  arg = BASES[base] or "base"
  if not change:
    return f"--config={arg}" if BASES[base] else f"--config={wrapper}:base"
  return f"--config={wrapper}:{arg}|{change}"


@pytest.fixture
def train_in_process(capsys, monkeypatch):
  """Runs `python -m s2s.train ARGS` in this process: -> (exit status, stderr)."""
  FLAGS = flags.FLAGS  # pylint: disable=invalid-name
  if "config" not in FLAGS:
    train.define_flags()
  monkeypatch.delenv("SLURM_NTASKS", raising=False)

  def load_data(*args, **kwargs):
    raise AssertionError("a bad config got past config_lib.check to dataset.load")

  monkeypatch.setattr(dataset, "load", load_data)
  sigterm = signal.getsignal(signal.SIGTERM)

  def reset():
    for name in [n for n in FLAGS if n.startswith("config.")]:
      delattr(FLAGS, name)  # config_flags defines one per override at each parse.
    FLAGS.unparse_flags()
    sys.modules.pop("config_config", None)  # config_flags would rerun a file into it.

  def run(*args):
    argv = ["s2s.train", "--compilation_cache=", *args]
    reset()
    monkeypatch.setattr(sys, "argv", argv)  # config_flags reads the overrides from sys.argv.
    capsys.readouterr()
    try:
      train.main(cli.parse_flags(argv))
      code = 0
    except SystemExit as e:
      code = e.code
    finally:
      signal.signal(signal.SIGTERM, sigterm)  # main() installs its own.
    return code, capsys.readouterr().err

  yield run
  reset()


def assert_refused(code, err, *words):
  """Exit 2 and a single stderr line, `error: ...`, containing `words`; no traceback."""
  lines = [line for line in err.splitlines() if line.strip()]
  assert code == 2, err
  assert "Traceback" not in err, err
  assert len(lines) == 1 and lines[0].startswith("error: "), err
  for word in words:
    assert word in lines[0], lines[0]


def assert_names(err, field):
  assert re.search(rf"config\.{re.escape(field)}\b", err), (field, err)


def rule_of(config, field):
  if field == "task.name":
    return config_lib.Rule(str, choices=tuple(config_lib.TASK_RULES))
  return {**config_lib.RULES, **config_lib.TASK_RULES[config.task.name].fields}[field]


def bad_texts(rule):
  """Command-line values `rule` must refuse: not a number, not finite, out of range, unknown."""
  if rule.kind is bool:
    return ["maybe"]
  if rule.kind is str:
    return ["no_such_choice"] if rule.choices else []  # Free text: any string is one.
  texts = ["abc"] + (["1.5"] if rule.kind is int else ["nan", "inf", "-inf"])
  if rule.min is not None:
    texts.append(str(rule.min - 1 if rule.kind is int else rule.min - 0.5))
  if rule.above is not None:
    texts.append(str(rule.above))
  if rule.below is not None:
    texts.append(str(rule.below))
  if rule.max is not None:
    texts.append(str(rule.max + 1 if rule.kind is int else rule.max * 10.0))
  elif rule.kind is int:
    texts.append(str(config_lib.INT32_MAX + 1))
  return texts


# A value of another type, as a config file (or a sweep) could set it.
WRONG_TYPES = {int: ["'3'", "2.5", "True", "None"], float: ["'0.5'", "None"],
               bool: ["'True'", "1", "None"], str: ["5", "None"]}


def test_every_config_and_sweep_passes():
  for base in BASES:
    config_lib.check(load(base), 1)
  for path in glob.glob(os.path.join(ROOT, "configs", "*.py")):
    arg = _config_arg(path)
    for name in getattr(sweeps.load_module(path), "SWEEPS", {}):
      for run in sweeps.load_sweep(arg, name):
        config = sweeps.resolve_config(arg, run)
        if config.init_from and not os.path.isdir(
            config_lib.init_from_path(config.init_from, config.seed)):
          config.init_from = config.init_from_modules = ""  # Another sweep's run, not made here.
        config_lib.check(config, 1)


@pytest.mark.parametrize("base, field", FIELDS, ids=[f"{b}-{f}" for b, f in FIELDS])
def test_every_field_refuses_bad_values(train_in_process, wrapper, tmp_path, base, field):
  rule = rule_of(load(base), field)
  cases = [(config_flag(wrapper, base), f"--config.{field}={text}") for text in bad_texts(rule)]
  cases += [(config_flag(wrapper, base, f"{field}={literal}"),)
            for literal in WRONG_TYPES[rule.kind]]
  for i, args in enumerate(cases):
    workdir = tmp_path / f"run{i}"
    code, err = train_in_process(*args, f"--workdir={workdir}")
    assert_refused(code, err)
    assert_names(err, field)
    assert not workdir.exists()


def cross_field_cases(base):
  """(overrides, the field the error names): what the task's code and the rules relating
  fields refuse, each field's own rule being kept."""
  config = load(base)
  task = config.task.name
  cases = [({"stop_at": "accuracy>0.9"}, "stop_at"), ({"stop_at": "loss<=1e999"}, "stop_at"),
           ({"task.name": "nope"}, "task.name"),
           ({"num_epochs": "0", "num_steps": "0"}, "num_epochs"),
           ({"init_from": os.path.join(ROOT, "no", "such", "run")}, "init_from"),
           ({"init_from_modules": "encoder"}, "init_from_modules")]
  unreported = [m for m in metrics.EVAL_METRICS if m not in config_lib.TASK_RULES[task].metrics]
  cases += [({"stop_at": f"{m}>=0.5"}, "stop_at") for m in unreported]
  if config.model.name == "repeat":
    cases.append(({"model.attention": "luong"}, "model.attention"))
  else:
    cases.append(({"model.name": "repeat", "model.attention": "bahdanau"}, "model.attention"))
  # Within int32, but a run would not fit in memory (or the batch in the training data).
  huge = {"model.hidden_size": 10**7, "model.embed_dim": 10**9, "model.encoder_layers": 10**8,
          "model.decoder_layers": 10**8, "batch_size": 10**9, "eval_batch_size": 10**9,
          "beam_size": 10**9, "steps_per_dispatch": 10**9}
  if task == "arithmetic":
    huge |= {"task.digits": 10**9, "task.num_terms": 10**9, "task.num_examples": 2 * 10**9,
             "task.num_test": 2 * 10**9}
    cases += [({"task.ops": "+/"}, "task.ops"), ({"task.ops": ""}, "task.ops"),
              ({"task.val_fraction": "1e-9"}, "task.val_fraction"),
              ({"num_epochs": "1e9", "num_steps": "0"}, "num_epochs"),
              ({"task.num_length_generalization": "10",
                "task.length_generalization_digits": str(config.task.digits)},
               "task.length_generalization_digits")]
  elif task == "captioning":
    huge |= {"task.num_examples": 2 * 10**9, "task.cnn_width": 10**9}
    coco = {"task.dataset": "coco", "task.tokenizer": "word"}
    cases += [({"task.ops": "+/"}, "task.ops"), ({"task.ops": ""}, "task.ops"),
              ({"task.val_fraction": "1e-9"}, "task.val_fraction"),
              ({"task.tokenizer": "word"}, "task.tokenizer"),  # Arithmetic reads characters.
              ({"model.encoder_layers": "0"}, "model.bidirectional"),
              ({**coco, "task.captions": ""}, "task.captions"),
              ({**coco, "task.captions": TSV + ".json"}, "task.captions"),
              ({**coco, "task.captions": TSV, "task.images": ""}, "task.images"),
              ({**coco, "task.captions": TSV, "task.images": TSV}, "task.images"),
              ({**coco, "task.test_fraction": "0.95"}, "task.test_fraction")]
  elif task == "speech":
    huge |= {"task.num_examples": 2 * 10**9, "task.conv_channels": 10**9}
    manifest = {"task.dataset": "manifest"}
    cases += [({"task.ops": "+/"}, "task.ops"), ({"task.ops": ""}, "task.ops"),
              ({"task.val_fraction": "1e-9"}, "task.val_fraction"),
              ({"task.tokenizer": "spm"}, "task.tokenizer"),  # Arithmetic reads characters.
              ({"task.held_out_voice": "espeak:en-us"}, "task.held_out_voice"),
              ({"task.held_out_voice": "slt"}, "task.held_out_voice"),
              ({"task.held_out_voice": "flite:nobody"}, "task.held_out_voice"),
              ({**manifest, "task.manifest": ""}, "task.manifest"),
              ({**manifest, "task.manifest": TSV + ".none"}, "task.manifest"),
              ({**manifest, "task.manifest": os.path.dirname(TSV)}, "task.manifest"),
              ({**manifest, "task.manifest": TSV, "task.target": "answer"}, "task.target"),
              ({**manifest, "task.manifest": TSV, "task.test_fraction": "0.95"},
               "task.test_fraction")]
  else:
    huge |= {"task.vocab_size": 2 * 10**9}
    cases += [({"task.src": ""}, "task.src"), ({"task.tgt": config.task.src}, "task.tgt"),
              ({"task.corpus": "gettext", "task.src": "de", "task.tgt": "fr"}, "task.src"),
              ({"task.test_fraction": "0.99"}, "task.test_fraction"),
              ({"task.path": ""}, "task.path"),
              ({"task.path": os.path.join(ROOT, "no", "such.tsv")}, "task.path"),
              ({"task.path": os.path.dirname(TSV)}, "task.path")]  # corpus=tsv: a file.
  cases += [({field: str(value)}, field) for field, value in huge.items()]
  return cases


CROSS = [(base, overrides, field) for base in BASES
         for overrides, field in cross_field_cases(base)]


@pytest.mark.parametrize("base, overrides, field", CROSS,
                         ids=[f"{b}-{','.join(o)}" for b, o, _ in CROSS])
def test_rules_relating_fields(train_in_process, wrapper, tmp_path, base, overrides, field):
  workdir = tmp_path / "run"
  code, err = train_in_process(config_flag(wrapper, base), f"--workdir={workdir}",
                               *(f"--config.{k}={v}" for k, v in overrides.items()))
  assert_refused(code, err)
  assert_names(err, field)
  assert not workdir.exists()


def test_batch_sizes_must_split_over_the_devices():
  with pytest.raises(errors.UserError, match=r"config.batch_size=32 .* the 3 devices"):
    config_lib.check(load("base_config"), 3)
  with pytest.raises(errors.UserError, match="config.model.hidden_size=.* 1 GB of memory"):
    config = load("base_config")
    config.model.hidden_size = 8192  # About 800M parameters: 13 GB with Adam's moments.
    config_lib.check(config, 1, memory_bytes=1e9)


def test_names_in_the_table_are_the_code_s():
  assert set(config_lib.RULES["model.name"].choices) == set(models.MODELS)
  for task in ("translation", "captioning", "speech"):
    assert set(config_lib.TASK_RULES[task].fields["task.tokenizer"].choices) <= set(
        tokenizers.KINDS)
  for task in config_lib.TASK_RULES.values():
    assert set(task.metrics) <= set(metrics.EVAL_METRICS)


@pytest.mark.parametrize("model", [
    dict(name="repeat"), dict(name="repeat", cell="gru", bidirectional=True, encoder_layers=2),
    dict(name="encoder_decoder", embed_dim=8, decoder_layers=2),
    dict(name="encoder_decoder", attention="bahdanau", attention_size=7, bidirectional=True),
    dict(name="encoder_decoder", attention="luong", bidirectional=True, ctc_weight=0.3),
    dict(name="encoder_decoder", attention="luong", cell="gru", embed_dim=8, encoder_layers=2,
         decoder_layers=3, bidirectional=True)])
def test_parameter_estimate_matches_the_models(model):
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  config = config_lib.base_config()
  config.model.hidden_size = 16
  config.model.update(model)
  built = models.build(config.model, vocab_size=20, source=functools.partial(
      models.TokenInput, 30, config.model.embed_dim))
  batch = {"inputs": jnp.zeros((1, 5), jnp.int32), "input_lengths": jnp.ones((1,), jnp.int32),
           "targets": jnp.zeros((1, 4), jnp.int32)}
  params = jax.eval_shape(built.init, jax.random.PRNGKey(0), batch)["params"]
  real = sum(x.size for x in jax.tree.leaves(params))
  estimate = config_lib.estimate_parameters(config_lib.flatten(config), 30, 20)
  assert abs(estimate - real) <= 0.05 * real, (estimate, real)


def test_bad_values_in_real_processes(tmp_path):
  workdir = tmp_path / "run"
  result = run_cli("s2s.train", ["--config=configs/addition.py", f"--workdir={workdir}",
                                 "--config.learning_rate=nan"])
  assert result.returncode == 2
  assert_user_error(result, "config.learning_rate", "finite")
  result = run_cli("s2s.train", [f"--config={BASES['translation']}", f"--workdir={workdir}",
                                 "--config.stop_at=padded_char_accuracy>=0.9"])
  assert result.returncode == 2
  assert_user_error(result, "config.stop_at", "padded_char_accuracy", "translation")
  assert not workdir.exists()


# ---------------------------------------------------------------------------------------------
# Config files.

BAD_FILES = {
    "syntax.py": ("def get_config():\n  config = base_config()\n  return config)\n",
                  ["syntax.py line 3: unmatched ')'"]),
    "no_get_config.py": ("CONFIG = 1\n", ["no_get_config.py defines no get_config function"]),
    "raises.py": ("def get_config():\n  fields = {}\n  return fields['hidden']\n",
                  ["raises.py line 3: KeyError: 'hidden'"]),
    "returns_dict.py": ("def get_config():\n  return {'seed': 0}\n",
                        ["returns_dict.py: get_config() returned dict, not"]),
}


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
  folder = tmp_path_factory.mktemp("bad_configs")
  sweep = "\nSWEEPS = {'s': [{'seed': 0}]}\n"
  for name, (source, _) in BAD_FILES.items():
    (folder / name).write_text(source if name == "syntax.py" else source + sweep)
  return folder


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_config_files_for_train(train_in_process, bad_files, tmp_path, name):
  code, err = train_in_process(f"--config={bad_files / name}", f"--workdir={tmp_path / 'run'}")
  assert_refused(code, err, *BAD_FILES[name][1])
  assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def launch_main():
  return load_script("launch").main


@pytest.fixture(scope="module")
def aggregate_main():
  return load_script("aggregate").main


def call(main, argv, capsys):
  """A script's `sys.exit(exit_on_user_error(main, argv))` in this process."""
  capsys.readouterr()
  with pytest.raises(SystemExit) as exit_info:
    errors.exit_on_user_error(main, [str(a) for a in argv])
  return exit_info.value.code, capsys.readouterr().err


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_config_files_for_launch(launch_main, bad_files, tmp_path, capsys, name):
  code, err = call(launch_main, [f"--config={bad_files / name}", "--sweep=s",
                                 f"--workdir={tmp_path / 'sweep'}", "--dry_run"], capsys)
  assert_refused(code, err, *BAD_FILES[name][1])
  assert not (tmp_path / "sweep").exists()


def test_bad_config_file_in_real_processes(bad_files, tmp_path):
  result = run_cli("s2s.train", [f"--config={bad_files / 'syntax.py'}",
                                 f"--workdir={tmp_path / 'run'}"])
  assert result.returncode == 2
  assert_user_error(result, "syntax.py line 3:")
  result = run_cli("scripts.launch", [f"--config={bad_files / 'no_get_config.py'}", "--sweep=s",
                                      f"--workdir={tmp_path / 'sweep'}"])
  assert result.returncode == 2
  assert_user_error(result, "no_get_config.py defines no get_config function")
  assert not os.listdir(tmp_path)


# ---------------------------------------------------------------------------------------------
# The launcher: every run's config is checked before any run starts.

SWEEP_CONFIG = """\
from configs.addition import get_config  # noqa: F401
from s2s.sweeps import axis, seeds, zip_

SWEEPS = {"two": zip_(axis("model.hidden_size", [16, 8]), seeds(2)),
          "last_is_bad": zip_(axis("model.hidden_size", [16, 8, 0]), seeds(3))}
"""


@pytest.fixture(scope="module")
def sweep_config(tmp_path_factory):
  path = tmp_path_factory.mktemp("sweep_config") / "sweep.py"
  path.write_text(SWEEP_CONFIG)
  return str(path)


@pytest.mark.parametrize("extra, words", [
    (["--set", "learning_rate=nan"], ["run hidden_size=16,seed=0 of sweep 'two'",
                                      "config.learning_rate", "finite"]),
    (["--set", "task.num_test=0"], ["sweep 'two'", "config.task.num_test"]),
    (["--set", "stop_at=bleu>=10"], ["config.stop_at", "'bleu'"]),
    (["--set", "batch_size=x"], ["--set batch_size=x", "config.batch_size", "integer"]),
    (["--set", "model.hiden_size=3"], ["unknown config field 'model.hiden_size'"]),
    (["--parallel=-1"], ["--parallel", "-1"]),
    (["--parallel=x"], ["--parallel", "'x'"]),
    (["--nodes=0"], ["--nodes"]),
    (["--backend=slurm", "--mem_gb=0.01"], ["config.", "0.01 GB of memory"]),
])
def test_launch_refuses_before_any_run(launch_main, sweep_config, tmp_path, capsys, extra,
                                       words):
  workdir = tmp_path / "sweep"
  code, err = call(launch_main, [f"--config={sweep_config}", "--sweep=two",
                                 f"--workdir={workdir}", *extra], capsys)
  assert_refused(code, err, *words)
  assert not workdir.exists()


def test_launch_refuses_a_sweep_with_one_bad_run(launch_main, sweep_config, tmp_path, capsys):
  workdir = tmp_path / "sweep"
  code, err = call(launch_main, [f"--config={sweep_config}", "--sweep=last_is_bad",
                                 f"--workdir={workdir}"], capsys)
  assert_refused(code, err, "run hidden_size=0,seed=2 of sweep 'last_is_bad'",
                 "config.model.hidden_size must be positive")
  assert not workdir.exists()


def test_launch_bad_set_in_a_real_process(sweep_config, tmp_path):
  workdir = tmp_path / "sweep"
  result = run_cli("scripts.launch", [f"--config={sweep_config}", "--sweep=two",
                                      f"--workdir={workdir}", "--set", "learning_rate=inf"])
  assert result.returncode == 2
  assert_user_error(result, "sweep 'two'", "config.learning_rate")
  assert not workdir.exists()


# ---------------------------------------------------------------------------------------------
# Aggregate.

@pytest.fixture
def finished_sweep(tmp_path):
  """A sweep dir as the launcher and two finished runs leave it (seeds 0 and 1)."""
  sweep = tmp_path / "sweep"
  runs = [{"name": f"seed={s}", "overrides": {"seed": s}} for s in (0, 1)]
  sweep.mkdir()
  (sweep / sweeps.SWEEP_FILE).write_text(json.dumps({"config": "c.py", "sweep": "s",
                                                     "common": {}, "runs": runs}))
  for seed in (0, 1):
    run = sweep / f"seed={seed}"
    run.mkdir()
    config = config_lib.base_config()
    config.seed = seed
    (run / "config.json").write_text(config.to_json())
    events = [{"split": split, "step": 10, "epoch": 1.0, "elapsed_s": 2.0, "loss": 0.5,
               "sequence_accuracy": 0.9} for split in ("validation", "test")]
    (run / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (run / "done.json").write_text(json.dumps({"step": 10}))
  return sweep


def test_aggregate_reads_a_good_sweep(aggregate_main, finished_sweep, capsys):
  code = errors.exit_on_user_error(aggregate_main, [str(finished_sweep), "--no_plots"])
  assert code == 0
  assert "2 done" in capsys.readouterr().out


@pytest.mark.parametrize("args, words", [
    (["{missing}"], ["does not exist"]),
    (["{file}"], ["is not a directory"]),
    (["{empty}"], ["holds no runs"]),
    (["{sweep}", "--metric=accuracy"], ["--metric", "'accuracy'"]),
    (["{sweep}", "--metric=bleu"], ["--metric bleu", "none of the 2 finished run(s)"]),
    (["{sweep}", "--by=hidden_size"], ["--by 'hidden_size'", "seed"]),
    (["{sweep}", "--by=a b"], ["--by", "'a b'"]),
    (["{sweep}", "--thresholds=0.9,high"], ["--thresholds", "numbers"]),
    (["{sweep}", "--thresholds=nan"], ["--thresholds", "finite"]),
    (["{sweep}", "--test_metrics=bleu_beam5"], ["--test_metrics bleu_beam5"]),
    (["{sweep}", "--test_metrics=chrf;rm"], ["--test_metrics", "'chrf;rm'"]),
    (["{sweep}", "--out={file}"], ["cannot write the results", "--out"]),
    (["{sweep}", "--nope"], ["unrecognized arguments: --nope"]),
])
def test_aggregate_errors_are_one_line(aggregate_main, finished_sweep, tmp_path, capsys, args,
                                       words):
  (tmp_path / "empty").mkdir()
  (tmp_path / "file").write_text("")
  paths = {"missing": tmp_path / "missing", "file": tmp_path / "file",
           "empty": tmp_path / "empty", "sweep": finished_sweep}
  code, err = call(aggregate_main, [a.format(**paths) for a in args], capsys)
  assert_refused(code, err, *words)
  assert not (finished_sweep / "results.csv").exists()


@pytest.mark.parametrize("damage, words", [
    (lambda s: (s / sweeps.SWEEP_FILE).write_text('{"runs": [{"nam": "x"}]}'),
     [sweeps.SWEEP_FILE, "not the record of a sweep"]),
    (lambda s: (s / "seed=1" / "metrics.jsonl").write_text('{"split": "test"}\n'),
     ["run seed=1", "KeyError"]),
    (lambda s: (s / "seed=1" / "metrics.jsonl").write_text('{"split": \n{}\n'),
     ["seed=1", "metrics.jsonl"]),
])
def test_aggregate_unreadable_results(aggregate_main, finished_sweep, capsys, damage, words):
  damage(finished_sweep)
  code, err = call(aggregate_main, [finished_sweep, "--no_plots"], capsys)
  assert_refused(code, err, *words)


def test_aggregate_bad_argument_in_a_real_process(finished_sweep):
  result = run_cli("scripts.aggregate", [str(finished_sweep), "--by=hidden_size"])
  assert result.returncode == 2
  assert_user_error(result, "--by 'hidden_size' is not a swept parameter")

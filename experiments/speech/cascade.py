"""Speech -> French as a cascade: a spoken-sentence recogniser, then the text translation
model, on test sentences that neither model was trained on; beside them the end-to-end
speech -> French model on the same audio.

  python experiments/speech/cascade.py --recogniser runs/speech_sentences/seed=0 \
      --translator runs/translation --end_to_end runs/speech_fr --out experiments/speech/cascade

The sentences: the spoken-sentence dataset's `test` split (its speech in the held-out voice,
never heard in training; a sentence's split is fixed by a hash of its transcript), kept where
the transcript is also in the translation corpus's `test` split and in none of its training
pairs (the translation corpus splits by a hash of the raw English, so this is where both
models are held out). The audio is the test split's own, synthesized again from its recipe
(voice, speed, pitch, noise) and read as a WAV file, as `s2s.predict` reads a user's clip.

The translator reads three versions of each sentence: the raw English of the corpus (what it
was trained on: its ceiling here), the true transcript as the recogniser writes it (lowercase
words, no punctuation: a perfect recogniser), and the recogniser's output (the cascade).
"""

import argparse
import os
import sys
import tempfile

import ml_collections

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from s2s import audio  # noqa: E402
from s2s import corpora  # noqa: E402
from s2s import metrics as metrics_lib  # noqa: E402
from s2s import workdir as workdir_lib  # noqa: E402
from s2s.errors import UserError, exit_on_user_error  # noqa: E402
from s2s.predict import Predictor  # noqa: E402
from s2s.tasks import speech  # noqa: E402


def held_out_sentences(speech_task, translation_task) -> list[dict]:
  """The spoken-sentence test items both models are held out from: [{index, spoken, raw,
  french, job}], `job` the test split's synthesis recipe of the item."""
  items = speech.sentence_splits(speech_task)
  jobs = speech._spoken_jobs(speech_task, items)["test"]  # pylint: disable=protected-access
  t = translation_task
  corpus = corpora.clean(corpora.read_gettext(os.path.expanduser(t.path), t.tgt),
                         max_source_chars=t.max_source_chars,
                         max_target_chars=t.max_target_chars, drop_format=t.drop_format,
                         drop_markup=t.drop_markup)
  split = corpora.split(corpus.pairs, val_fraction=t.val_fraction, test_fraction=t.test_fraction)
  trained = {speech.normalize_transcript(source) for source, _ in split["train"]}
  test = {}
  for source, target in split["test"]:
    test.setdefault(speech.normalize_transcript(source), (source, target))
  out = []
  for i, ((spoken, _), (_, transcript, _, job)) in enumerate(zip(items["test"], jobs)):
    if transcript in test and transcript not in trained:
      raw, french = test[transcript]
      out.append({"index": i, "spoken": spoken, "transcript": transcript, "raw": raw,
                  "french": french, "job": job})
  return out


def fitted(predictor, queries: list[str]) -> tuple[list[str], int]:
  """`queries` cut, last words first, to what `predictor`'s model reads (a recogniser can
  write more than the translator's longest training sentence); and how many were cut."""
  out = []
  for query in queries:
    words = query.split()
    while True:
      try:
        predictor.task.parse_query(" ".join(words) or query[:1])
        break
      except UserError:
        if not words:
          raise
        words = words[:-1]
    out.append(" ".join(words) or query[:1])
  return out, sum(a != b for a, b in zip(out, queries))


def run_config(workdir: str) -> ml_collections.ConfigDict:
  if not os.path.isdir(workdir):
    raise UserError(f"{workdir!r} is not a directory (give the workdir of a trained run)")
  return ml_collections.ConfigDict(workdir_lib.read_config(workdir))


def main(args):
  recogniser_config = run_config(args.recogniser)
  translator_config = run_config(args.translator)
  task = recogniser_config.task
  if task.name != "speech" or task.dataset != "sentences" or task.target != "transcript":
    raise UserError(f"--recogniser {args.recogniser!r} is not a spoken-sentence recogniser "
                    f"(its task: {task.name}, dataset {task.get('dataset')!r}, target "
                    f"{task.get('target')!r})")
  if translator_config.task.name != "translation" or translator_config.task.corpus != "gettext":
    raise UserError(f"--translator {args.translator!r} is not a gettext translation run")
  if args.end_to_end and run_config(args.end_to_end).task.get("target") != "translation":
    raise UserError(f"--end_to_end {args.end_to_end!r} is not a speech -> text translation run")
  sentences = held_out_sentences(task, translator_config.task)
  if not sentences:
    raise UserError("no spoken test sentence is held out from both models")
  print(f"{len(sentences)} test sentences held out from both models; synthesizing them")
  clips = tempfile.mkdtemp(prefix="s2s_cascade_")
  paths = []
  for s, samples in zip(sentences, audio.synthesize_many([s["job"] for s in sentences])):
    paths.append(os.path.join(clips, f"test_{s['index']:06d}.wav"))
    audio.write_wav(paths[-1], samples)

  recogniser = Predictor(args.recogniser, beam=args.beam)
  heard = recogniser(paths)
  recognition = recogniser.task.text_metrics(heard, [s["transcript"] for s in sentences])
  translator = Predictor(args.translator, beam=args.beam)
  french = [s["french"] for s in sentences]
  rows = {"the corpus's English (the translator's ceiling)": [s["raw"] for s in sentences],
          "the true transcript (a perfect recogniser)": [s["transcript"] for s in sentences],
          "the recogniser's transcript (the cascade)": heard}
  cut = {}
  for name, queries in rows.items():
    rows[name], cut[name] = fitted(translator, queries)
  outputs = {name: translator(queries) for name, queries in rows.items()}
  if args.end_to_end:
    outputs["end to end (speech -> French in one model)"] = Predictor(
        args.end_to_end, beam=args.beam)(paths)
  scores = {name: metrics_lib.text_metrics(out, french) for name, out in outputs.items()}

  os.makedirs(args.out, exist_ok=True)
  decoding = f"beam {args.beam}" if args.beam > 1 else "greedy"
  lines = [f"# Speech -> French: cascade and end to end ({len(sentences)} sentences, {decoding})",
           "", f"- recogniser: `{args.recogniser}`", f"- translator: `{args.translator}`"]
  if args.end_to_end:
    lines.append(f"- end to end: `{args.end_to_end}`")
  lines += ["", f"The recogniser on these clips: CER {100 * recognition['cer']:.1f}%, "
            f"WER {100 * recognition['wer']:.1f}%, exact match {recognition['exact_match']:.3f}.",
            "", "| French from | BLEU | chrF | exact match |", "|---|---|---|---|"]
  for name, s in scores.items():
    lines.append(f"| {name} | {s['bleu']:.1f} | {s['chrf']:.1f} | {s['exact_match']:.3f} |")
  if any(cut.values()):
    lines += ["", "Cut to the translator's longest input, last words first: " + ", ".join(
        f"{n} of {name}" for name, n in cut.items() if n) + "."]
  with open(os.path.join(args.out, "results.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  with open(os.path.join(args.out, "samples.tsv"), "w") as f:
    f.write("\t".join(["test item", "spoken", "heard", "reference"] + list(outputs)) + "\n")
    for i, s in enumerate(sentences):
      f.write("\t".join([str(s["index"]), s["spoken"], heard[i], s["french"]]
                        + [out[i] for out in outputs.values()]) + "\n")
  print("\n".join(lines))


if __name__ == "__main__":
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--recogniser", required=True, help="A spoken-sentence run's workdir.")
  parser.add_argument("--translator", required=True, help="A text translation run's workdir.")
  parser.add_argument("--end_to_end", default="", help="A speech -> French run's workdir.")
  parser.add_argument("--beam", type=int, default=5)
  parser.add_argument("--out", required=True, help="Directory for results.md, samples.tsv.")
  exit_on_user_error(main, parser.parse_args())

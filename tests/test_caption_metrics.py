"""COCO caption metrics: the numbers pycocoevalcap gives, with or without Java; and CER."""

import random
import shutil
import time
import warnings

import pytest

from s2s import caption_metrics

JAVA = shutil.which("java")
needs_java = pytest.mark.skipif(not JAVA, reason="pycocoevalcap's own tokenizer and METEOR "
                                "need a Java runtime")

# Ten images, 3-5 references each, and hypotheses a captioner might write: close, partial,
# wrong, empty, only punctuation.
REFERENCES = [
    ["A man riding a wave on top of a surfboard.", "A surfer rides a large wave in the ocean.",
     "a person on a surf board riding a wave"],
    ["Two dogs playing with a frisbee in the park.", "Dogs run across the grass, chasing a "
     "Frisbee!", "two dogs are playing in a grassy field", "A pair of dogs fight over a toy."],
    ["A kitchen with stainless steel appliances.", "The kitchen has a stove (gas) and a fridge.",
     "an empty kitchen with white cabinets", "A clean kitchen; nobody's cooking."],
    ["A giraffe standing next to a tree.", "The giraffe is eating leaves off a tall tree",
     "A tall giraffe in a zoo enclosure near trees.", "giraffe reaching up into a tree",
     "One giraffe stands by a tree in the sun."],
    ["A red double-decker bus on a city street.", "A bus drives down the road in London.",
     "a double decker bus parked at a bus stop"],
    ["A plate of food with broccoli and rice.", "Chicken, rice & broccoli on a white plate.",
     "A dinner plate that has meat and vegetables on it", "a healthy meal on a plate"],
    ["A cat sleeping on a laptop keyboard.", "The cat's lying on the computer.",
     "A grey cat naps on top of an open laptop."],
    ["People waiting for a train at the station.", "A train pulls into a crowded platform.",
     "commuters stand on a train platform as a train arrives", "A subway train at a station"],
    ["A clock tower with a blue sky behind it.", "The old clock tower reads 3:30.",
     "a tall tower with a clock on each side", "A CLOCK ON A BRICK TOWER"],
    ["A woman holding an umbrella in the rain.", "A lady with an umbrella walks in the rain",
     "woman walking on a wet street with an umbrella", "A person shields herself from rain.",
     "someone's umbrella on a rainy day"],
]
HYPOTHESES = [
    "A man riding a wave on a surfboard.",
    "two dogs playing with a frisbee",
    "",  # Nothing decoded.
    "A giraffe standing next to a tall tree.",
    "a bus on the street",
    "...",  # Only punctuation: no words once tokenized.
    "a cat laying on a laptop computer",
    "A train at a train station.",
    "A tall clock tower, with a sky.",
    "a woman with an umbrella",
]


@pytest.fixture(scope="module")
def scored_both_ways():
  """score() of the example, and what pycocoevalcap's own pipeline gives for it (its
  PTBTokenizer, then its scorers); its tokens; and the METEOR scorers score() made."""
  from pycocoevalcap.bleu.bleu import Bleu
  from pycocoevalcap.cider.cider import Cider
  from pycocoevalcap.meteor.meteor import Meteor
  from pycocoevalcap.rouge.rouge import Rouge
  from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

  tokenizer = PTBTokenizer()
  gts = tokenizer.tokenize({i: [{"caption": c} for c in refs]
                            for i, refs in enumerate(REFERENCES)})
  res = tokenizer.tokenize({i: [{"caption": h}] for i, h in enumerate(HYPOTHESES)})
  bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
  expected = {f"bleu_{n}": bleu[n - 1] for n in range(1, 5)}
  expected["rouge_l"] = Rouge().compute_score(gts, res)[0]
  expected["cider"] = Cider().compute_score(gts, res)[0]
  made = []

  class Recorded(caption_metrics._closing_meteor()):
    def __init__(self):
      super().__init__()
      made.append(self)

    def compute_score(self, our_gts, our_res):
      # pycocoevalcap's own METEOR of its own tokens, in the Java process it started (its
      # __init__, inherited): one start of the jar instead of two, each ~10 s of CPU.
      expected["meteor"] = Meteor.compute_score(self, gts, res)[0]
      return super().compute_score(our_gts, our_res)

  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(caption_metrics, "_closing_meteor", lambda: Recorded)
    ours = caption_metrics.score(HYPOTHESES, REFERENCES)
  return ours, expected, gts, res, made


@needs_java
def test_scores_equal_pycocoevalcap_s_own_pipeline(scored_both_ways):
  ours, expected, _, _, _ = scored_both_ways
  assert list(ours) == list(caption_metrics.METRICS)
  for name in caption_metrics.METRICS:
    assert ours[name] == pytest.approx(expected[name], rel=0, abs=1e-9), name
  # Imperfect hypotheses: every metric strictly between "nothing" and "perfect".
  assert 0.3 < ours["bleu_1"] < 1 and 0 < ours["bleu_4"] < ours["bleu_1"]
  assert 0 < ours["meteor"] < 1 and 0 < ours["rouge_l"] < 1 and 0 < ours["cider"] < 10


@needs_java
def test_tokens_equal_pycocoevalcap_s_own(scored_both_ways):
  _, _, gts, res, _ = scored_both_ways
  flat = caption_metrics.ptb_tokenize([c for refs in REFERENCES for c in refs])
  assert flat == [c for i in range(len(REFERENCES)) for c in gts[i]]
  assert caption_metrics.ptb_tokenize(HYPOTHESES) == [res[i][0] for i in range(len(HYPOTHESES))]
  assert res[2] == res[5] == [""]  # The empty and the punctuation-only hypotheses.


@needs_java
def test_meteor_process_is_ended_when_score_returns(scored_both_ways):
  *_, made = scored_both_ways
  assert len(made) == 1
  assert made[0].meteor_p.poll() is not None
  assert made[0].meteor_p.stdout.closed and made[0].meteor_p.stderr.closed


# Captions with capitals, punctuation, apostrophes, hyphens, numbers, brackets and quotes, and
# what PTBTokenizer (CoreNLP 3.4.1, -preserveLines -lowerCase) then pycocoevalcap make of them.
TOKENIZED = [
    ("A man riding a wave on top of a surfboard.", "a man riding a wave on top of a surfboard"),
    ("Two dogs' toys aren't on the man's bed!", "two dogs toys are n't on the man 's bed"),
    ('The cat can\'t, won\'t eat "fish" (or meat).',
     "the cat ca n't wo n't eat fish -lrb- or meat -rrb-"),
    ("A black-and-white photo of a 1950's car -- very old...",
     "a black-and-white photo of a 1950 's car very old"),
    ("It's 3.5 inches long, costs $5.99 or 10% off; 1,000 people at 10:30 a.m.",
     "it 's 3.5 inches long costs $ 5.99 or 10 % off 1,000 people at 10:30 a.m."),
    ("I'M GONNA eat a 3-year-old's cake w/ 2 forks & [1] knife?!",
     "i 'm gon na eat a 3-year-old 's cake w / 2 forks & -lsb- 1 -rsb- knife ?!"),
    ("Mr. Smith's T.V. shows the U.S. flag; it cannot be 5 7/8 in.",
     "mr. smith 's t.v. shows the u.s. flag it can not be 5\u00a07/8 in"),
    ("A sign reading 'No Parking' next to a 20-mph sign.",
     "a sign reading no parking next to a 20-mph sign"),
    ("Dog.the cat, e.g., a kitten; 'twas café-style…",
     "dog.the cat e.g. a kitten 't was café-style"),
    ("plan B.", "plan b"),  # The next caption starts "A ": "B." ends a sentence.
    ("A dog at 5 p.m. The end etc.", "a dog at 5 p.m. the end etc."),
    ("", ""),
    ("vitamin C.", "vitamin c."),  # The last caption: nothing follows.
]


def test_tokenizer_gives_pycocoevalcap_s_tokens():
  captions, expected = zip(*TOKENIZED)
  assert caption_metrics.ptb_tokenize(list(captions)) == list(expected)
  # Tokens can depend on the next caption, as in pycocoevalcap's one-file tokenization.
  assert caption_metrics.ptb_tokenize(["plan B.", "a dog"]) == ["plan b.", "a dog"]
  assert caption_metrics.ptb_tokenize(["a\nb", "c"]) == ["a b", "c"]


@needs_java
def test_tokenizer_equals_java_ptbtokenizer():
  from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
  # Not the empty caption: pycocoevalcap's own tokenizer loses a last empty line.
  captions = [c for c, _ in TOKENIZED if c] + [
      "Hello. My name is X. A dog.", "He is at St. John's. Dr. Who? Jan. The dog is No. 1",
      "a (555) 123-4567 number, 12/25/2015 and 3/4 cup :) ok", "Yahoo! co-op x-ray's o'clock",
      "“Quoted” ‘single’ — dash – dash", "Rock 'n' roll y'all in the '80s", "THE END."]
  java = PTBTokenizer().tokenize({i: [{"caption": c}] for i, c in enumerate(captions)})
  assert caption_metrics.ptb_tokenize(captions) == [java[i][0] for i in range(len(captions))]


def test_a_hypothesis_equal_to_a_reference_scores_1():
  references = [["a man riding a wave on a surfboard", "a surfer on a big wave"],
                ["two dogs play with a red frisbee in a park", "dogs in the grass"]]
  hypotheses = ["A man riding a wave on a surfboard.", "Two dogs play with a red frisbee in a "
                "park!"]
  out = caption_metrics.score(hypotheses, references, meteor=False)
  assert "meteor" not in out
  for n in range(1, 5):  # Exact n-gram matches, and the closest reference's length.
    assert out[f"bleu_{n}"] == pytest.approx(1, abs=1e-8)
  assert out["rouge_l"] == 1


def test_disjoint_hypotheses_score_0():
  references = [["a man riding a wave"], ["two dogs in a park"]]
  out = caption_metrics.score(["green bicycle", "yellow umbrella"], references, meteor=False)
  for name in ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l", "cider"):
    assert out[name] == pytest.approx(0, abs=1e-8), name


def test_hand_computed_bleu_and_rouge():
  # n-gram precisions 3/4, 2/3, 1/2, 0/1; equal lengths, so no brevity penalty.
  out = caption_metrics.score(["a b c d"], [["a b c e"]], meteor=False)
  assert out["bleu_1"] == pytest.approx(3 / 4)
  assert out["bleu_2"] == pytest.approx((3 / 4 * 2 / 3) ** 0.5)
  assert out["bleu_3"] == pytest.approx((3 / 4 * 2 / 3 * 1 / 2) ** (1 / 3))
  assert out["bleu_4"] == pytest.approx(0, abs=1e-3)
  # LCS 3 of 4 words both ways: precision = recall = F = 3/4.
  assert out["rouge_l"] == pytest.approx(3 / 4)
  # CIDEr-D's idf is over the images scored together: one image alone weighs every n-gram 0.
  assert out["cider"] == 0
  # Brevity penalty exp(1 - 4/2) for a 2-word hypothesis against the 4-word reference.
  out = caption_metrics.score(["a b"], [["a b c e"]], meteor=False)
  assert out["bleu_2"] == pytest.approx(2.718281828459045 ** (1 - 2))


def test_empty_hypotheses_score_as_no_words():
  references = [["a man riding a wave"], ["two dogs in a park"], ["a red bus"]]
  out = caption_metrics.score(["", "two dogs in a park", "!!"], references, meteor=False)
  full = caption_metrics.score(["a man riding a wave", "two dogs in a park", "a red bus"],
                               references, meteor=False)
  # ROUGE-L and CIDEr are means over images: the empty ones add 0.
  assert out["rouge_l"] == pytest.approx(1 / 3)
  assert 0 < out["cider"] < full["cider"]
  assert 0 < out["bleu_1"] < full["bleu_1"] == pytest.approx(1)


@pytest.mark.parametrize("hypotheses, references, words", [
    (["a"], [["a"], ["b"]], "1 hypotheses but 2 lists of references"),
    (["a", "b"], [["a"], []], "image 1 has no reference"),
    (["a"], ["a cat"], r"references\[0\] is a string"),
    ([], [], "no hypotheses"),
    (["a"], [["...", "!"]], "no reference caption has a word"),
])
def test_bad_inputs_are_value_errors(hypotheses, references, words):
  with pytest.raises(ValueError, match=words):
    caption_metrics.score(hypotheses, references, meteor=False)


def test_without_java_meteor_is_left_out_with_one_warning(monkeypatch):
  monkeypatch.setattr(caption_metrics.shutil, "which", lambda name: None)
  monkeypatch.setattr(caption_metrics, "_warned_no_java", False)
  references = [["a man riding a wave"], ["two dogs in a park"]]
  with pytest.warns(RuntimeWarning, match="METEOR needs a Java runtime"):
    out = caption_metrics.score(["a man on a wave", "dogs"], references)
  assert set(out) == set(caption_metrics.METRICS) - {"meteor"}
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    again = caption_metrics.score(["a man on a wave", "dogs"], references)
  assert not caught and again == out


def test_meteor_false_neither_starts_java_nor_warns(monkeypatch):
  def no_meteor():
    raise AssertionError("METEOR started")
  monkeypatch.setattr(caption_metrics, "_closing_meteor", no_meteor)
  monkeypatch.setattr(caption_metrics, "_warned_no_java", False)
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    out = caption_metrics.score(["a dog"], [["a dog runs"]], meteor=False)
  assert "meteor" not in out


# ---------------------------------------------------------------------------------------------
# Character error rate.

def _edit_distance_by_table(a, b):
  row = list(range(len(b) + 1))
  for i, x in enumerate(a, 1):
    previous, row[0] = row[0], i
    for j, y in enumerate(b, 1):
      previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
  return row[-1]


def test_cer_of_hand_computed_examples():
  assert caption_metrics.cer(["kitten"], ["sitting"]) == 3 / 7  # k->s, e->i, +g.
  assert caption_metrics.cer(["sitting"], ["kitten"]) == 3 / 6
  assert caption_metrics.cer(["a dog"], ["a dog"]) == 0
  assert caption_metrics.cer([""], ["abc"]) == 1  # Three deletions.
  assert caption_metrics.cer(["abcdefg"], ["ab"]) == 5 / 2  # Insertions: above 1.
  # Summed over the corpus, not averaged over sentences: (3 + 1) / (7 + 3), not (3/7 + 1/3) / 2.
  assert caption_metrics.cer(["kitten", "abc"], ["sitting", "abd"]) == 4 / 10
  assert caption_metrics.cer(["", "flaw"], ["", "lawn"]) == 2 / 4


def test_cer_edit_distance_matches_the_dynamic_program():
  rng = random.Random(0)
  for _ in range(500):
    a = "".join(rng.choice("ab c") for _ in range(rng.randrange(0, 40)))
    b = "".join(rng.choice("abcd") for _ in range(rng.randrange(0, 90)))
    assert caption_metrics._edit_distance(a, b) == _edit_distance_by_table(a, b), (a, b)


def test_cer_of_5000_captions_is_fast():
  rng = random.Random(1)
  def caption():
    return " ".join(rng.choice(["a", "dog", "man", "riding", "on", "the", "wave", "two"])
                    for _ in range(rng.randrange(5, 15)))
  hypotheses, references = [caption() for _ in range(5000)], [caption() for _ in range(5000)]
  start = time.perf_counter()
  rate = caption_metrics.cer(hypotheses, references)
  assert time.perf_counter() - start < 3  # About 0.2 s; a table per pair would take ~20 s.
  some = range(0, 5000, 50)
  assert 0.3 < rate < 1
  assert (sum(caption_metrics._edit_distance(hypotheses[i], references[i]) for i in some)
          == sum(_edit_distance_by_table(hypotheses[i], references[i]) for i in some))


def test_cer_bad_inputs_are_value_errors():
  with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
    caption_metrics.cer(["a", "b"], ["a"])
  with pytest.raises(ValueError, match="no characters"):
    caption_metrics.cer(["a"], [""])

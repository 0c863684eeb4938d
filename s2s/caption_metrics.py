"""COCO caption metrics, as the COCO caption evaluation (pycocoevalcap) computes them.

`score` gives BLEU-1..4, METEOR, ROUGE-L and CIDEr-D of one hypothesis per image against all
of that image's references: the numbers pycocoevalcap's COCOEvalCap prints, on its scale
(BLEU, METEOR, ROUGE-L in 0-1; CIDEr-D unbounded, about 0-10). `cer` is the character error
rate of s2s.metrics.TABLE.

COCO's evaluation first runs Stanford's PTBTokenizer (CoreNLP 3.4.1, Java) over every caption
and drops punctuation tokens. `ptb_tokenize` reproduces that in Python, so BLEU, ROUGE-L and
CIDEr need no Java; METEOR has no Python port and runs pycocoevalcap's meteor-1.5.jar, so
without a Java runtime it is left out (with one warning per process).

Things about pycocoevalcap a reader of these numbers should know:
  - CIDEr-D's document frequencies come from the references of the images scored together:
    a corpus's CIDEr is not the mean of its batches' CIDEr, and one image alone scores 0
    (every n-gram's idf is log(1/1)).
  - Its PTBTokenizer lowercases before pycocoevalcap drops punctuation, so "(" and ")" reach
    the scorers as the words "-lrb-" and "-rrb-" (its list has only the upper-case forms);
    "?!" and "!!" stay too. `ptb_tokenize` keeps them as well, since the scores must agree.
"""

import functools
import re
import shutil
import threading
import warnings

# pycocoevalcap/tokenizer/ptbtokenizer.py: tokens dropped after PTB tokenization.
PUNCTUATIONS = frozenset(["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-",
                          ".", "?", "!", ",", ":", "-", "--", "...", ";"])

METRICS = ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor", "rouge_l", "cider")

# ---------------------------------------------------------------------------------------------
# PTB tokenization, as `java edu.stanford.nlp.process.PTBTokenizer -preserveLines -lowerCase`
# (CoreNLP 3.4.1, the jar pycocoevalcap ships) does it. Like the JFlex lexer it imitates, it
# takes at each position the longest match of any rule (trailing context counted), the earlier
# rule on a tie; the rules are the lexer's, in its order, as far as they change what the
# scorers see. Rules that only decide whether a sentence-final "." is a token of its own are
# left out (pycocoevalcap drops the "." either way), and so are some rare symbol classes.
# Compared with the jar on 85,000 generated lines (caption words with clitics, numbers,
# abbreviations, quotes, brackets and dashes, and random strings of letters and symbols), the
# output differed on one random string ("5.h!'s").

_NBSP = "\u00a0"  # PTBTokenizer joins the parts of a fraction or phone number with it.
# Java's Character.isLetter: Python's letters less the non-decimal numerals ("²", "½").
_LETTER = (r"(?:(?![\u00b2\u00b3\u00b9\u00bc-\u00be\u2070-\u209f\u2150-\u218f\u2460-\u24ff"
           r"\u2776-\u2793])[^\W\d_])")
_WORD_CHAR = rf"(?:{_LETTER}|[\u00ad\u0300-\u036f]|&[aeiouAEIOU](?i:acute|grave|uml);)"
_ALNUM = rf"(?:{_LETTER}|\d)"
_APOS = r"(?:['\u0092\u2019]|&apos;)"
_APOS_ETC = r"(?:['`\u0091\u0092\u2018\u2019\u201b]|&apos;)"
_SPACE = r"[ \t\u00a0\u2000-\u200a\u3000]"
_NEWLINE = r"(?:\r\n?|[\n\u2028\u2029\u000b\u000c\u0085])"
_HYPHEN = r"[-_\u058a\u2010\u2011]"
_INSENTP = r"[,;:\u3001]"
# Letters and digits, with inner ".", "!" or "?" before a letter ("dog.the", "yahoo!com").
_WORD = rf"{_WORD_CHAR}(?:{_WORD_CHAR}|\d)*(?:[.!?]{_WORD_CHAR}(?:{_WORD_CHAR}|\d)*)*"
_REDAUX = rf"{_APOS}(?:[msdMSD]|(?i:re|ve|ll))"
_SREDAUX = rf"[nN]{_APOS_ETC}[tT]"
_NUM = r"(?:\d*(?:[.:,\u00ad\u066b\u066c]\d+)+|\d+)"
_ACRO = r"(?:[A-Za-z](?:\.[A-Za-z])+)"
_THING_PART = rf"(?:[dDoOlL]{_APOS_ETC}{_ALNUM})?{_ALNUM}+"
_URL_END = r"[^ \t\n\f\r\"<>|.!?(){},-]"
_URL_PATH = rf"(?:/[^ \t\n\f\r\"<>|()]+{_URL_END})?"

_ABBREV1 = (r"(?:(?i:jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec|mon|tues?|wed|thu|thurs|fri"
            r"|ala|ariz|calif|colo|conn|dak|fla|ga|ind|kans?|ky|md|mich|minn|mo|mont|neb|nev"
            r"|okla|penn|tenn|va|vt|wisc?|wyo|inc|cos?|corp|pp?tys?|ltd|plc|bancorp|bhd|assn"
            r"|univ|intl|sys|rt|tel|est|ext|sq|jr|bros|esq|etc|al|seq)"
            r"|A(?i:rk)|D(?i:el)|I(?i:ll)|L(?i:a)|M(?i:ass|iss)|O(?i:re)|P(?i:a)|T(?i:ex)"
            r"|W(?i:ash)|(?i:ed|ph)\.(?i:d))\.")
_ABBREV2 = (r"(?:(?i:mrs?|ms|drs?|profs?|sens?|reps?|attys?|lt|col|gen|messrs|govs?|adm|rev"
            r"|maj|sgt|cpl|pvt|capt|ste?|ave|pres|lieut|hon|brig|co?mdr|pfc|spc|supts?|det"
            r"|mt|ft|sr|vs|alex|wm|jos|cie|a\.k\.a|cf|treas|invt|elec|natl|m[ft]g|dept|blvd"
            r"|rd|ph)|M(?i:iss)|[A-Za-z](?:\.[A-Za-z])*)\.")
_ABBREV3 = r"(?i:ca|figs?|prop|nos?|bldg|pp|op)\."
_SENTENCE_START = (rf"(?:{_SPACE}|{_NEWLINE})+(?:A(?i:bout|ccording|dditionally|fter|n|s|t)?"
                   r"|B(?i:ut)|E(?i:arlier)|H(?i:e|er|ere|owever)|I(?i:f|n|t)|L(?i:ast)"
                   r"|M(?i:any|ore|r\.|s\.)|N(?i:ow)|O(?i:nce|ne|ther|ur)"
                   r"|S(?i:he|ince|o|ome|uch)|T(?i:hat|he|hen|here|hese|hey|his)"
                   rf"|W(?i:e|hen|hile|hat)|Y(?i:et|ou)){_SPACE}")

# (pattern, action). A pattern's group "t", where present, is the token; the rest of the match
# is trailing context, read again. A tuple is a rule's alternatives: each is matched on its own,
# since a Python regex takes the first alternative that matches, not the longest. Actions: _emit.
_RULES = [
    (r"(?i:c\+\+|[cf]#)", "keep"),  # Programming languages.
    (r"(?P<t>(?i:can))(?i:not)", "keep"),  # "cannot" -> "can" "not".
    (rf"(?P<t>{_APOS}(?i:t))(?i:was|is)", "keep"),  # "'twas" -> "'t" "was".
    (r"(?P<t>(?i:gon|wan))(?i:na)", "keep"),  # "gonna" -> "gon" "na".
    (r"(?P<t>(?i:got))(?i:ta)", "keep"),
    (r"(?P<t>(?i:lem|gim))(?i:me)", "keep"),
    (r"<(?:[!?][A-Za-z-][^>\r\n]*|/?[A-Za-z][A-Za-z0-9:.-]*(?: +[A-Za-z][A-Za-z0-9:.-]*"
     r"(?: *= *(?:'[^'\r\n]*'|\"[^\"\r\n]*\"|[A-Za-z][A-Za-z0-9:.-]*))?)* */?)>", "space"),  # SGML.
    (r"(?i:&(?:md|mdash|ndash);)|[\u0096\u0097\u2013\u2014\u2015]", "dash"),
    (r"(?i:&amp;)", "amp"),
    (r"&(?:HT|TL|UR|LR|QC|QL|QR|odq|cdq|#[0-9]+);", "keep"),
    (rf"(?P<t>{_WORD}){_REDAUX}", "keep"),  # "dog" of "dog's".
    (rf"(?P<t>[A-Za-z\u00ad]*[A-MO-Za-mo-z]\u00ad*){_SREDAUX}", "keep"),  # "do" of "don't".
    (_WORD, "word"),
    ((rf"{_APOS}[nN]{_APOS}?", rf"[lLdDjJ]{_APOS}", rf"(?i:dunkin|somethin|ol){_APOS}",
      rf"{_APOS}(?i:em)", rf"[A-HJ-XZn]{_APOS_ETC}{_LETTER}{{2,}}", rf"{_APOS}[2-9]0(?i:s)",
      rf"{_APOS}(?i:till?)", rf"{_LETTER}+[aeiouyAEIOUY]{_APOS_ETC}[aeiouA-Z]{_LETTER}*",
      rf"{_APOS}(?i:cause)", r"(?i:cont'd\.?|nor'easter|c'mon|e'er|s'mores|ev'ry|li'l|nat'l)",
      rf"(?i:o){_APOS_ETC}(?i:o)"),
     "keep"),
    (rf"(?P<t>[yY]{_APOS}){_LETTER}", "keep"),  # "y'" of "y'all".
    (rf"(?i:https?)://[^ \t\n\f\r\"<>|()]+{_URL_END}", "keep"),
    ((rf"(?i:www)\.(?:[^ \t\n\f\r\"<>|.!?(){{}},]+\.)+[a-zA-Z]{{2,4}}{_URL_PATH}",
      rf"(?:[^ \t\n\f\r\"`'<>|.!?(){{}},-_$]+\.)+(?i:com|net|org|edu){_URL_PATH}"), "keep"),
    (r"(?:&lt;|<)?[a-zA-Z0-9][^ \t\n\f\r\"<>|(){}\u00a0]*@(?:[^ \t\n\f\r\"<>|(){}.\u00a0]+\.)*"
     r"[^ \t\n\f\r\"<>|(){}.\u00a0]+(?:&gt;|>)?", "keep"),  # E-mail.
    ((r"@[a-zA-Z_][a-zA-Z_0-9]*", rf"#{_WORD_CHAR}+"), "keep"),  # Twitter names and hashtags.
    (rf"(?P<t>{_REDAUX})[^A-Za-z]", "quote"),
    (_SREDAUX, "quote"),
    (r"\d{1,2}[-/]\d{1,2}[-/]\d{2,4}", "keep"),  # Dates.
    (rf"[-+]?{_NUM}", "word"),
    (r"[\u207a\u207b\u208a\u208b]?(?:[\u2070\u00b9\u00b2\u00b3\u2074-\u2079]+|[\u2080-\u2089]+)",
     "keep"),
    (r"(?:\d{1,4}[- \u00a0])?\d{1,4}(?:\\?/|\u2044)\d{1,4}", "space"),  # Fractions.
    (r"[\u00bc\u00bd\u00be\u2153-\u215e]", "fraction"),
    ((r"-(?:RRB|LRB|RCB|LCB|RSB|LSB)-", r"(?i:c\.d\.s|pro-|anti-|s(?:&|&amp;)p-500|s(?:&|&amp;)ls)",
      rf"(?i:cap{_APOS}n|c{_APOS}est)"), "amp"),
    (r"[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}(?:\\?/[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}){1,2}", "keep"),
    ((r"[A-Z]*\$", "#"), "keep"),
    (r"[\u00a2\u00a3\u00a4\u00a5\u0080\u20a0\u20ac\u060b\u0e3f\u20a4\uffe0\uffe1\uffe5\uffe6]",
     "currency"),
    # A letter or an acronym, then "." and a word that often starts a sentence: the letter's
    # "." is a sentence end ("plan B. It is" -> "b" "." ...); an acronym keeps it.
    (rf"(?P<t>[A-Za-z])\.{_SENTENCE_START}", "keep"),
    (rf"(?P<t>{_ACRO}\.){_SENTENCE_START}", "keep"),
    (rf"(?P<t>{_ABBREV1})[\s\S]{{2}}", "keep"),  # Any two characters of context.
    (_ABBREV1, "keep"),
    (_ABBREV2, "keep"),
    # "no." before a number ("no. 5"), but "no" "." elsewhere.
    (rf"(?P<t>{_ABBREV3})(?:{_SPACE}|{_NEWLINE})?\d", "keep"),
    (rf"(?P<t>{_ACRO})(?:{_SPACE}|{_NEWLINE})", "keep"),
    (rf"(?P<t>{_APOS}\d\d)(?:{_SPACE}|{_NEWLINE})", "keep"),  # "'99".
    (rf"(?P<t>{_WORD}\.){_INSENTP}", "word"),  # "dog." of "dog., and".
    ((r"(?:\([0-9]{2,3}\)[ \u00a0]?|(?:\+\+?)?(?:[0-9]{2,4}[- \u00a0])?[0-9]{2,4}[- \u00a0])"
      r"[0-9]{3,4}[- \u00a0]?[0-9]{3,5}",
      r"(?:(?:\+\+?)?[0-9]{2,4}\.)?[0-9]{2,4}\.[0-9]{3,4}\.[0-9]{3,5}"), "parens"),
    (r"(?P<t>\"|&quot;)[A-Za-z0-9$]", "left_quote"),
    (r"\"|&quot;", "quote"),
    (r"(?P<t>[<>]?[:;=][-o*']?[()DPdpO\\{@|\[\]])[^A-Za-z0-9]", "parens"),  # Smileys.
    (r"<|&lt;|>|&gt;", "keep"),
    (r"[\[\]{}()]", "brackets"),
    (r"-+", "hyphens"),
    ((r"\.{3,5}", r"(?:\.[ \u00a0]){2,4}\.", r"[\u0085\u2026]"), "ellipsis"),
    (r"@+|#+|_+", "keep"),
    (r"\*+|(?:\\\*){1,3}", "keep"),
    (_INSENTP, "keep"),
    (r"[?!]+", "keep"),
    (r"[.\u00a1\u00bf\u037e\u0589\u061f\u06d4\u0700-\u0702\u07fa\u3002]", "keep"),
    (r"=", "keep"),
    (r"/", "keep"),
    (rf"(?P<t>[A-Za-z0-9][A-Za-z0-9.,\u00ad]*(?:-(?:{_ACRO}\.|[A-Za-z0-9\u00ad]+))+\.)"
     rf"{_INSENTP}", "word"),
    (rf"[A-Za-z0-9][A-Za-z0-9.,\u00ad]*(?:-(?:{_ACRO}\.|[A-Za-z0-9\u00ad]+))+", "word"),
    (rf"(?P<t>{_THING_PART}(?:{_HYPHEN}{_THING_PART})*\.){_INSENTP}", "keep"),
    (rf"{_THING_PART}(?:{_HYPHEN}{_THING_PART})*", "keep"),
    (r"(?P<t>[A-Z]+(?:(?:[+&]|&amp;)[A-Z]+)+\.)[,;:\u3001]", "amp"),
    (r"[A-Z]+(?:(?:[+&]|&amp;)[A-Z]+)+", "amp"),
    (r"(?P<t>')[A-Za-z][^ \t\n\r\u00a0]", "left_quote"),
    (_REDAUX, "quote"),
    ((r"''", _APOS, r"[`\u2018\u2019\u201a\u201b\u201c\u201d\u0091\u0092\u0093\u0094\u201e"
      r"\u201f\u2039\u203a\u00ab\u00bb]{1,2}"), "quote"),
    (r"<<|>>", "keep"),
    (r"[-\^x=~<>']_[-\^x=~<>']|\([-\^x=~<>'][_.]?[-\^x=~<>']\)", "parens"),
    (r"[+%&~^|\\\u00a6\u00a7\u00a8\u00a9\u00ac\u00ae\u00af\u00b0-\u00ba\u00d7\u00f7\u0387"
     r"\u05be\u05c0\u05c3\u05c6\u05f3\u05f4\u0600-\u0603\u0606-\u060a\u060c\u0614\u061b"
     r"\u061e\u066a\u066d\u0703-\u070d\u07f6-\u07f8\u0964\u0965\u0e4f\u1fbd\u2016\u2017"
     r"\u2020-\u2023\u2030-\u2038\u203b\u203e-\u2042\u2044\u207a-\u207f\u208a-\u208e"
     r"\u2100-\u214f\u2190-\u21ff\u2200-\u2bff\u3012\u30fb\uff01-\uff0f\uff1a-\uff20"
     r"\uff3b-\uff40\uff5b-\uff65]", "keep"),
]
_COMPILED = [(re.compile(alternative), action) for patterns, action in _RULES
             for alternative in ((patterns,) if isinstance(patterns, str) else patterns)]
_LINE_BREAKS = re.compile(_NEWLINE)
_SKIP = re.compile(rf"(?:{_SPACE}|{_NEWLINE}|[\0\u200b\u200e\u200f\ufeff]|&nbsp;)+")
# Most words are ASCII letters up to a space, which no other rule splits or extends: a fast
# path past the rules.
_PLAIN = re.compile(r"[A-Za-z]+(?=[ \n])")
_NOT_PLAIN = re.compile(r"(?i:cannot|gonna|gotta|lemme|gimme|wanna)")

_LEFT_QUOTES = str.maketrans({"'": "`", '"': "``"})
_QUOTES = [("&apos;", "'"), ("&quot;", "''"), ('"', "''"), ("\u0091", "`"), ("\u2018", "`"),
           ("\u201b", "`"), ("\u2039", "`"), ("\u0092", "'"), ("\u2019", "'"), ("\u203a", "'"),
           ("\u0093", "``"), ("\u201c", "``"), ("\u00ab", "``"), ("\u0094", "''"),
           ("\u201d", "''"), ("\u00bb", "''")]
_BRACKETS = {"(": "-LRB-", ")": "-RRB-", "[": "-LSB-", "]": "-RSB-", "{": "-LCB-", "}": "-RCB-"}
_FRACTIONS = {"\u00bc": "1/4", "\u00bd": "1/2", "\u00be": "3/4", "\u2153": "1/3"}
_CURRENCY = {"\u00a2": "cents", "\u00a3": "#", "\u0080": "$", "\u00a4": "$", "\u20a0": "$",
             "\u20ac": "$"}


def _emit(text: str, action: str) -> str:
  """The token PTBTokenizer writes for `text`, matched by a rule of `action`."""
  if action == "word":  # Soft hyphens go.
    return text.replace("\u00ad", "") or "-"
  if action == "dash":
    return "--"
  if action == "amp":
    return re.sub("(?i:&amp;)", "&", text)
  if action in ("quote", "left_quote"):
    if action == "left_quote":
      text = text.replace("&apos;", "`").replace("&quot;", "``").translate(_LEFT_QUOTES)
    for old, new in _QUOTES:
      text = text.replace(old, new)
    return text
  if action == "brackets":
    return "".join(_BRACKETS.get(c, c) for c in text)
  if action == "hyphens":
    return "--" if 3 <= len(text) <= 4 else text
  if action == "ellipsis":
    return "..."
  if action == "space":
    return text.replace(" ", _NBSP)
  if action == "parens":
    return text.replace(" ", _NBSP).replace("(", "-LRB-").replace(")", "-RRB-")
  if action == "fraction":
    return _FRACTIONS.get(text, text)
  if action == "currency":
    return _CURRENCY.get(text, text)
  return text


def _ptb_tokens(text: str, stop: int) -> list[str]:
  """PTBTokenizer's tokens, before lowercasing, of those starting in text[:stop]; the rest of
  `text` is only read as context (the next caption's first words)."""
  tokens = []
  pos = 0
  while pos < stop:
    skip = _SKIP.match(text, pos)
    if skip:
      pos = skip.end()
      continue
    plain = _PLAIN.match(text, pos)
    if plain and not _NOT_PLAIN.fullmatch(plain.group()):
      tokens.append(plain.group())
      pos = plain.end()
      continue
    best, best_length = None, 0
    for pattern, action in _COMPILED:
      match = pattern.match(text, pos)
      if match and match.end() - pos > best_length:
        best, best_length = (match, action), match.end() - pos
    if best is None:  # Untokenizable (an emoji, a control character): PTBTokenizer drops it.
      pos += 1
      continue
    match, action = best
    end = match.end("t") if "t" in match.re.groupindex else match.end()
    tokens.append(_emit(text[pos:end], action))
    pos = end
  return tokens


@functools.lru_cache(maxsize=1 << 17)  # Evaluations re-tokenize the same references.
def _tokenize_line(line: str, following: str | None) -> str:
  """One line of pycocoevalcap's tokenized file; `following` is the next line (None if none)."""
  text = line if following is None else f"{line}\n{following}"
  tokens = (t.lower() for t in _ptb_tokens(text, len(line)))
  return " ".join(t for t in tokens if t not in PUNCTUATIONS)


def ptb_tokenize(captions: list[str]) -> list[str]:
  """`captions` as pycocoevalcap's PTBTokenizer hands them to the scorers: PTB tokens,
  lowercased, punctuation tokens dropped, joined by single spaces ("" if nothing is left).

  pycocoevalcap tokenizes all captions as the lines of one file, so a caption's tokens may
  depend on the start of the next one ("plan B." keeps its "b." unless the next caption starts
  "A ..."); pass them in the order pycocoevalcap would (image by image) to get its tokens.
  """
  # A line break inside a caption would split it into two lines of that file (pycocoevalcap
  # only replaces "\n"), shifting every later caption: here it is a space.
  lines = [_LINE_BREAKS.sub(" ", c) for c in captions]
  return [_tokenize_line(line, lines[i + 1] if i + 1 < len(lines) else None)
          for i, line in enumerate(lines)]


# ---------------------------------------------------------------------------------------------
# Scoring.

_warned_no_java = False


def _check(hypotheses, references) -> None:
  if len(hypotheses) != len(references):
    raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} lists of references; "
                     "each image needs one of each")
  if not hypotheses:
    raise ValueError("no hypotheses to score")
  for i, refs in enumerate(references):
    if isinstance(refs, str):  # Its characters would each become a reference.
      raise ValueError(f"references[{i}] is a string; it should be the list of image {i}'s "
                       "captions")
    if not refs:
      raise ValueError(f"image {i} has no reference caption")


def score(hypotheses: list[str], references: list[list[str]], *, meteor: bool = True) -> dict:
  """COCO caption metrics of one hypothesis per image against all of that image's references.

  Args:
    hypotheses: [N] strings, the caption generated for each image.
    references: [N] lists of strings, every reference caption of each image (any number >= 1).
    meteor: whether to compute METEOR (starts a Java process: about ten seconds).

  Returns:
    {"bleu_1", ..., "bleu_4", "meteor", "rouge_l", "cider"}: floats, pycocoevalcap's corpus
    scores (BLEU over the corpus; METEOR over the corpus' alignment statistics; ROUGE-L and
    CIDEr-D the means of the images' scores). "meteor" is absent if `meteor` is False or no
    Java runtime is found (then warned about once per process).

  Captions are tokenized by `ptb_tokenize`, hypotheses and references each as one file, as
  pycocoevalcap does. An empty hypothesis (or one of only punctuation) is scored as no words,
  as pycocoevalcap scores it: 0 for the image in every metric (ROUGE-L gives 1 if a reference
  is empty too), and a shorter corpus for BLEU's brevity penalty. Raises ValueError if the
  lengths differ or an image has no reference.
  """
  _check(hypotheses, references)
  # Only captioning needs pycocoevalcap.
  from pycocoevalcap.bleu.bleu import Bleu  # pylint: disable=import-outside-toplevel
  from pycocoevalcap.cider.cider import Cider  # pylint: disable=import-outside-toplevel
  from pycocoevalcap.rouge.rouge import Rouge  # pylint: disable=import-outside-toplevel

  flat = ptb_tokenize([r for refs in references for r in refs])
  if not any(flat):  # CIDEr's document frequencies would be empty, and it fails on max([]).
    raise ValueError("no reference caption has a word once punctuation is dropped")
  gts, start = {}, 0
  for i, refs in enumerate(references):
    gts[i], start = flat[start:start + len(refs)], start + len(refs)
  res = {i: [h] for i, h in enumerate(ptb_tokenize(hypotheses))}

  bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)  # verbose=1 would print its counts.
  out = {f"bleu_{n}": bleu[n - 1] for n in range(1, 5)}
  if meteor and _java_found():
    out["meteor"] = _meteor(gts, res)
  out["rouge_l"] = Rouge().compute_score(gts, res)[0]
  out["cider"] = Cider().compute_score(gts, res)[0]
  return {name: float(value) for name, value in out.items()}


def _java_found() -> bool:
  global _warned_no_java
  if shutil.which("java"):
    return True
  if not _warned_no_java:
    warnings.warn("METEOR needs a Java runtime (`java` on PATH), and none was found: caption "
                  "scores leave METEOR out", RuntimeWarning, stacklevel=3)
    _warned_no_java = True
  return False


def _meteor(gts: dict, res: dict) -> float:
  """pycocoevalcap's METEOR of tokenized captions ({image: [captions]}), in a Java process
  started for this call and ended before it returns."""
  scorer = _closing_meteor()()
  try:
    return scorer.compute_score(gts, res)[0]
  except (ValueError, OSError) as e:  # An empty answer or a broken pipe: Java has stopped.
    raise RuntimeError(f"METEOR's Java process stopped answering ({e}); it said: "
                       f"{scorer.stderr_tail()!r}") from e
  finally:
    scorer.close()


@functools.cache
def _closing_meteor():
  """pycocoevalcap's Meteor, made safe to end (a class, made on first use)."""
  from pycocoevalcap.meteor.meteor import Meteor  # pylint: disable=import-outside-toplevel

  class ClosingMeteor(Meteor):
    """pycocoevalcap's Meteor with a `close` that always ends its process.

    The parent's __del__ takes the lock compute_score holds while it talks to Java; a
    compute_score that raised still holds it, and that __del__ would then wait forever (in the
    garbage collector, or at exit). Nor does the parent read the process' stderr pipe: a JVM
    that wrote a pipe's worth of warnings to it would block, and compute_score with it.
    """

    def __init__(self):
      self._stderr = []
      super().__init__()
      self._drain = threading.Thread(target=self._read_stderr, daemon=True)
      self._drain.start()

    def _read_stderr(self):
      for chunk in iter(lambda: self.meteor_p.stderr.read1(4096), b""):
        self._stderr = (self._stderr + [chunk])[-4:]

    def stderr_tail(self) -> str:
      return b"".join(self._stderr).decode(errors="replace")[-2000:]

    def close(self):
      process = getattr(self, "meteor_p", None)  # None if Java did not start.
      if process is None or process.returncode is not None:
        return
      try:
        process.stdin.close()
      except OSError:  # Lines it could not write any more, Java having stopped.
        pass
      process.kill()
      process.wait()
      self._drain.join()
      process.stdout.close()
      process.stderr.close()

    def __del__(self):
      self.close()

  return ClosingMeteor


# ---------------------------------------------------------------------------------------------
# Character error rate.

def _edit_distance(a: str, b: str) -> int:
  """Levenshtein distance of `a` and `b` (unit substitutions, insertions, deletions), by the
  bit-parallel algorithm of Myers (1999) as Hyyro (2001) writes it: one pass over `b` with the
  rows of the dynamic program for all of `a` packed in integers."""
  if len(a) > len(b):
    a, b = b, a
  if not a:
    return len(b)
  mask = (1 << len(a)) - 1
  last = 1 << (len(a) - 1)
  match = {}
  for i, c in enumerate(a):
    match[c] = match.get(c, 0) | 1 << i
  positive, negative, distance = mask, 0, len(a)  # Vertical deltas +1 / -1; column distance.
  for c in b:
    eq = match.get(c, 0)
    xv = eq | negative
    xh = (((eq & positive) + positive) ^ positive) | eq
    h_positive = negative | (~(xh | positive) & mask)
    h_negative = positive & xh
    if h_positive & last:
      distance += 1
    elif h_negative & last:
      distance -= 1
    h_positive = ((h_positive << 1) | 1) & mask
    h_negative = (h_negative << 1) & mask
    positive = h_negative | (~(xv | h_positive) & mask)
    negative = h_positive & xv
  return distance


def cer(hypotheses: list[str], references: list[str]) -> float:
  """Character error rate: the character edit distances (substitutions + insertions +
  deletions) of [N] hypotheses from their [N] references, summed, over the references' summed
  length; 0 for a perfect corpus, and above 1 if hypotheses run long."""
  if len(hypotheses) != len(references):
    raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
  characters = sum(len(r) for r in references)
  if not characters:
    raise ValueError("the references have no characters to compare with")
  return sum(_edit_distance(h, r) for h, r in zip(hypotheses, references)) / characters


def distinct(hypotheses: list[str]) -> float:
  """Distinct hypotheses over hypotheses (1 = every image captioned differently)."""
  if not hypotheses:
    raise ValueError("no hypotheses")
  return len(set(hypotheses)) / len(hypotheses)

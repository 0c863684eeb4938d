"""Parallel corpora for translation: readers, cleaning and a split by source sentence.

Two sources of (source, target) sentence pairs, read without downloading anything:

- Anki/Tatoeba tab-separated files (`fra.txt`: `English<TAB>French[<TAB>attribution]`);
- gettext message catalogs (`.po` and `.mo`) of a language, found under a directory such as
  `/usr/share/locale` or a site-packages directory.

A reader keeps what a file holds and counts what it leaves out (`Corpus.skipped`, reason ->
count); `clean` then applies the rules that make pairs into one-line training examples, and
`split` assigns each pair to train, validation or test by a hash of its source, so a source
sentence never appears in two splits and always lands in the same one.
"""

import codecs
import collections
import dataclasses
import hashlib
import os
import re
import struct
import sys

from s2s.errors import UserError

SPLITS = ("train", "validation", "test")


@dataclasses.dataclass
class Corpus:
  """Sentence pairs and the count of what was left out, by reason."""
  pairs: list[tuple[str, str]]  # (source, target)
  skipped: collections.Counter  # reason ("fuzzy", "duplicate source", ...) -> count
  files: int = 0  # files read

  def report(self) -> str:
    """One line: `61,237 pairs from 87 files; skipped: 9,120 duplicate source, ...`."""
    line = f"{_count(len(self.pairs), 'pair')} from {_count(self.files, 'file')}; "
    return line + _skips(self.skipped)


def _count(n: int, noun: str) -> str:
  return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _skips(skipped: collections.Counter) -> str:
  """`skipped: 9,120 duplicate source, 1,003 plural form` (most frequent first)."""
  items = sorted(((n, reason) for reason, n in skipped.items() if n), key=lambda x: (-x[0], x[1]))
  if not items:
    return "nothing skipped"
  return "skipped: " + ", ".join(f"{n:,} {reason}" for n, reason in items)


# Tab-separated files.


def read_tsv(path: str, *, swap: bool = False) -> Corpus:
  """Pairs from an Anki/Tatoeba file: `source<TAB>target[<TAB>attribution]` per line (UTF-8).

  Each side is stripped of surrounding whitespace. Lines with other than 2 or 3 columns
  ("wrong column count") or with an empty side ("empty side") are skipped and counted; blank
  lines are ignored. With `swap`, the second column is the source.
  """
  if os.path.isdir(path):
    raise UserError(f"{path} is a directory, not a tab-separated corpus file")
  try:
    with open(path, "rb") as f:
      data = f.read()
  except FileNotFoundError:
    raise UserError(f"corpus file {path} does not exist") from None
  except OSError as e:
    raise UserError(f"cannot read corpus file {path}: {e.strerror or e}") from None
  if data.startswith(codecs.BOM_UTF8):
    data = data[len(codecs.BOM_UTF8):]
  pairs, skipped = [], collections.Counter()
  for number, raw in enumerate(data.split(b"\n"), 1):
    try:
      line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
      raise UserError(f"line {number} of {path} is not UTF-8 ({e.reason} at byte {e.start})") from None
    if not line.strip():
      continue
    columns = line.rstrip("\r").split("\t")
    if len(columns) not in (2, 3):
      skipped["wrong column count"] += 1
      continue
    source, target = columns[0].strip(), columns[1].strip()
    if not source or not target:
      skipped["empty side"] += 1
      continue
    pairs.append((target, source) if swap else (source, target))
  if not pairs:
    raise UserError(f"corpus file {path} has no usable sentence pairs ({_skips(skipped)})")
  return Corpus(pairs, skipped, files=1)


# gettext catalogs.


class _CatalogError(Exception):
  """A catalog file that cannot be read: the message says why (and where, for a .po file)."""


@dataclasses.dataclass
class _Message:
  """One catalog entry, strings still as bytes in the catalog's charset."""
  msgid: bytes
  msgstr: bytes  # msgstr, or msgstr[0] of a plural entry
  plural: bool = False
  fuzzy: bool = False
  obsolete: bool = False
  header: bool = False


def read_gettext(root: str, lang: str, *, swap: bool = False) -> Corpus:
  """Pairs (msgid, msgstr) from every `.po`/`.mo` file in any `<lang>/LC_MESSAGES` under root.

  `root` itself may be `<lang>/LC_MESSAGES` or any directory above it: `/usr/share/locale`,
  or a site-packages directory (`django/conf/locale/fr/LC_MESSAGES/django.po`). `lang` is
  matched exactly (`fr` does not match `fr_CA`). Files are read in sorted path order and the
  messages of a file in catalog order; the message context is dropped. With `swap`, the
  translation is the source.

  Left out and counted, under the first reason that applies: "obsolete" (`#~` entries),
  "header" (the empty msgid), "fuzzy", "plural form" (entries with msgid_plural) and
  "untranslated" (empty msgstr). A catalog that cannot be read or parsed is named in a
  `warning:` line on stderr and counted as "unreadable file"; the others are still read.
  Strings are kept exactly as the catalog has them (`clean` strips them).
  """
  if not lang or lang in (".", "..") or "/" in lang or os.sep in lang:
    raise UserError(f"the language must be a directory name such as 'fr', got {lang!r}")
  if not os.path.exists(root):
    raise UserError(f"catalog root {root} does not exist")
  if not os.path.isdir(root):
    raise UserError(f"catalog root {root} is not a directory")
  found, languages = _message_dirs(os.path.normpath(root), lang)
  if not found:
    raise UserError(f"there is no {lang}/LC_MESSAGES directory under {root} "
                    f"({_languages_there(languages, lang)})")
  pairs, skipped, files = [], collections.Counter(), 0
  paths = []
  for directory in found:
    try:
      names = os.listdir(directory)
    except OSError as e:
      print(f"warning: skipping {directory}: {e.strerror or e}", file=sys.stderr)
      continue
    paths.extend(os.path.join(directory, name) for name in names if name.endswith((".po", ".mo"))
                 and os.path.isfile(os.path.join(directory, name)))
  paths.sort()
  for path in paths:
    try:
      messages, charset = (_parse_mo if path.endswith(".mo") else _parse_po)(_read_bytes(path))
      file_pairs, file_skipped = _usable(messages, charset)
    except _CatalogError as e:
      print(f"warning: skipping {path}: {e}", file=sys.stderr)
      skipped["unreadable file"] += 1
      continue
    files += 1
    skipped.update(file_skipped)
    pairs.extend((t, s) if swap else (s, t) for s, t in file_pairs)
  if not pairs:
    raise UserError(f"no usable {lang} sentence pairs under {root}: "
                    f"{_count(len(paths), 'catalog file')} in {lang}/LC_MESSAGES, {_skips(skipped)}")
  return Corpus(pairs, skipped, files=files)


def _message_dirs(root: str, lang: str) -> tuple[list[str], set[str]]:
  """The `<lang>/LC_MESSAGES` directories under root, and every language that has one."""
  found, languages, seen = [], set(), set()
  for dirpath, dirnames, _ in os.walk(root, followlinks=True):
    real = os.path.realpath(dirpath)
    if real in seen:  # A symbolic link back up the tree.
      dirnames[:] = []
      continue
    seen.add(real)
    dirnames.sort()
    if os.path.basename(dirpath) == "LC_MESSAGES":
      language = os.path.basename(os.path.dirname(os.path.abspath(dirpath)))
      languages.add(language)
      if language == lang:
        found.append(dirpath)
  return found, languages


def _languages_there(languages: set[str], lang: str, limit: int = 10) -> str:
  """`languages there: fr_CA, de, es, ... and 120 more`, those closest to `lang` first."""
  if not languages:
    return "no <language>/LC_MESSAGES directory at all"
  base = re.split(r"[_@.]", lang)[0]
  ordered = sorted(languages, key=lambda name: (re.split(r"[_@.]", name)[0] != base, name))
  more = f" and {len(ordered) - limit} more" if len(ordered) > limit else ""
  return f"languages there: {', '.join(ordered[:limit])}{more}"


def _read_bytes(path: str) -> bytes:
  try:
    with open(path, "rb") as f:
      return f.read()
  except OSError as e:
    raise _CatalogError(e.strerror or str(e)) from None


def _usable(messages: list[_Message], charset: str) -> tuple[list[tuple[str, str]], collections.Counter]:
  """The (msgid, msgstr) pairs worth keeping, decoded, and the count of the others by reason."""
  try:
    codecs.lookup(charset)
  except LookupError:
    raise _CatalogError(f"unknown charset {charset!r}") from None
  pairs, skipped = [], collections.Counter()
  for m in messages:
    reason = ("obsolete" if m.obsolete else "header" if m.header else "fuzzy" if m.fuzzy
              else "plural form" if m.plural else "untranslated" if not m.msgstr else None)
    if reason:
      skipped[reason] += 1
      continue
    try:
      pairs.append((m.msgid.decode(charset), m.msgstr.decode(charset)))
    except UnicodeDecodeError as e:
      raise _CatalogError(f"a message is not valid {charset} ({e.reason})") from None
  return pairs, skipped


def _charset(header: bytes) -> str:
  """The charset named by a header's Content-Type line; UTF-8 when none (or `CHARSET`)."""
  for line in header.split(b"\n"):
    key, _, value = line.partition(b":")
    if key.strip().lower() == b"content-type":
      match = re.search(rb"charset\s*=\s*([^\s;]+)", value)
      if match and match.group(1).upper() != b"CHARSET":
        return match.group(1).decode("ascii", "replace")
  return "utf-8"


_MO_MAGIC = 0x950412de


def _parse_mo(data: bytes) -> tuple[list[_Message], str]:
  """The messages of a GNU .mo file (either byte order) and its charset."""
  if len(data) < 20:
    raise _CatalogError("too short to be a .mo file")
  for order in "<>":
    if struct.unpack(order + "I", data[:4])[0] == _MO_MAGIC:
      break
  else:
    raise _CatalogError("not a .mo file (bad magic number)")
  revision, count, originals, translations = struct.unpack(order + "4I", data[4:20])
  if revision >> 16 > 1:
    raise _CatalogError(f"unknown .mo format revision {revision >> 16}")

  def string(table: int, i: int) -> bytes:
    at = table + 8 * i
    if at + 8 > len(data):
      raise _CatalogError("string table runs past the end of the file")
    length, offset = struct.unpack(order + "2I", data[at:at + 8])
    if offset + length > len(data):
      raise _CatalogError("a string runs past the end of the file")
    return data[offset:offset + length]

  messages, charset = [], "utf-8"
  for i in range(count):
    key, value = string(originals, i), string(translations, i)
    msgid = key.rpartition(b"\x04")[2]  # "context\x04msgid"
    if not key:
      charset = _charset(value)
    messages.append(_Message(msgid.split(b"\x00")[0], value.split(b"\x00")[0],
                             plural=b"\x00" in msgid, header=not key))
  return messages, charset


_PO_KEYWORD = re.compile(rb"(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)[ \t]*(.*)")
_PO_STRING = re.compile(rb'"((?:[^"\\]|\\.)*)"[ \t]*')
_PO_ESCAPE = re.compile(rb"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|(.))", re.DOTALL)
_PO_ESCAPES = {b"n": b"\n", b"t": b"\t", b"r": b"\r", b"a": b"\a", b"b": b"\b", b"f": b"\f",
               b"v": b"\v", b"\\": b"\\", b'"': b'"', b"'": b"'", b"?": b"?"}


def _parse_po(data: bytes) -> tuple[list[_Message], str]:
  """The messages of a .po file, in file order, and its charset.

  Parsed as bytes, so any ASCII-compatible charset works; the header's charset decodes the
  strings afterwards (multi-byte charsets whose second bytes can be `\\` or `"`, such as
  Shift_JIS, are not supported).
  """
  messages = []
  entry = _PoEntry()
  if data.startswith(codecs.BOM_UTF8):
    data = data[len(codecs.BOM_UTF8):]
  for number, line in enumerate(data.split(b"\n"), 1):
    line = line.strip(b" \t\r")
    try:
      obsolete = line.startswith(b"#~")
      if obsolete:
        line = line[2:].lstrip(b" \t")
        if line.startswith(b"|"):  # `#~| msgid ...`: the previous msgid of an obsolete entry.
          continue
      if not line:
        continue
      if line.startswith(b"#"):
        if entry.strings:
          messages.append(entry.message())
          entry = _PoEntry()
        if line.startswith(b"#,"):
          entry.flags.update(flag.strip() for flag in line[2:].split(b","))
        continue
      if line.startswith(b'"'):
        entry.extend(_po_string(line))
        continue
      match = _PO_KEYWORD.fullmatch(line)
      if not match:
        raise _CatalogError("expected a keyword, a quoted string or a comment")
      keyword, index, rest = match.groups()
      if entry.strings and keyword in (b"msgctxt", b"msgid"):
        messages.append(entry.message())
        entry = _PoEntry()
      entry.obsolete |= obsolete
      entry.add(keyword, int(index) if index is not None else None, _po_string(rest))
    except _CatalogError as e:
      raise _CatalogError(f"line {number}: {e}") from None
  if entry.msgid is not None:
    try:
      messages.append(entry.message())
    except _CatalogError as e:
      raise _CatalogError(f"at the end: {e}") from None
  header = next((m.msgstr for m in messages if m.header and not m.obsolete), b"")
  return messages, _charset(header)


def _po_string(text: bytes) -> bytes:
  """The bytes of one quoted .po string, C escapes resolved."""
  match = _PO_STRING.fullmatch(text)
  if not match:
    raise _CatalogError("expected a quoted string")

  def unescape(m):
    octal, hexadecimal, char = m.groups()
    if char is not None:
      if char not in _PO_ESCAPES:
        raise _CatalogError(f"unknown escape \\{char.decode('latin-1')}")
      return _PO_ESCAPES[char]
    value = int(octal, 8) if octal is not None else int(hexadecimal, 16)
    if value > 255:
      raise _CatalogError(f"octal escape \\{octal.decode()} is more than a byte")
    return bytes([value])

  return _PO_ESCAPE.sub(unescape, match.group(1))


class _PoEntry:
  """A .po entry being read: its flags and keywords so far."""

  def __init__(self):
    self.flags = set()
    self.obsolete = False
    self.msgctxt = self.msgid = self.msgid_plural = None
    self.strings = {}  # msgstr index (0 for a plain msgstr) -> bytes
    self.last = None  # the (keyword, index) a continued string line extends

  def add(self, keyword: bytes, index: int | None, value: bytes):
    if keyword == b"msgctxt":
      if self.msgctxt is not None or self.msgid is not None:
        raise _CatalogError("msgctxt after msgctxt or msgid")
      self.msgctxt = value
    elif keyword == b"msgid":
      if self.msgid is not None:
        raise _CatalogError("msgid without a msgstr before it")
      self.msgid = value
    else:
      if self.msgid is None:
        raise _CatalogError(f"{keyword.decode()} without a msgid")
      if keyword == b"msgid_plural":
        if self.msgid_plural is not None or self.strings:
          raise _CatalogError("msgid_plural out of place")
        self.msgid_plural = value
      else:
        index = 0 if index is None else index
        if index in self.strings:
          raise _CatalogError(f"msgstr[{index}] given twice")
        self.strings[index] = value
    self.last = (keyword, index)

  def extend(self, value: bytes):
    if self.last is None:
      raise _CatalogError("a string continues no keyword")
    keyword, index = self.last
    if keyword.startswith(b"msgstr"):
      self.strings[0 if index is None else index] += value
    else:
      name = keyword.decode()
      setattr(self, name, getattr(self, name) + value)

  def message(self) -> _Message:
    if self.msgid is None or not self.strings:
      raise _CatalogError("an entry without msgid or msgstr")
    return _Message(self.msgid, self.strings.get(0, b""), plural=self.msgid_plural is not None,
                    fuzzy=b"fuzzy" in self.flags, obsolete=self.obsolete,
                    header=self.msgid == b"" and self.msgctxt is None)


# Cleaning.

# printf (`%s`, `%.255s`, `%13lu`, `%1$s`, `%<PRIu64>`), Python (`%(name)s`), and brace
# (`{0}`, `{name}`, `{}`, `{0:>8}`, `{name!r}`) specifiers. After `%`, a space is not taken
# as printf's space flag, so `100% sure` and a final `100%` are plain text; `%%` is a literal
# percent sign.
_FORMAT = re.compile(r"""
    %%
  | (?P<spec>
      %(?:\d+\$|\([^()\s]+\))?[-+#0']*(?:\d+|\*)?(?:\.(?:\d+|\*)?)?
        (?:hh|h|ll|l|L|q|j|z|Z|t|I64|I32)?[diouxXeEfFgGaAcCsSpnm]
    | %<PRI\w+>
    | \{(?:\d+|[A-Za-z_]\w*)?(?:\.\w+|\[\w+\])*(?:![rsa])?(?::[^{}\s]*)?\}
  )""", re.VERBOSE)

# Markup: `<b>`, `</a>`, `<br/>`, `<a href="x">`, `<link>...</link>`. A tag is `<`, an
# optional `/`, a name (a letter, then letters, digits, `-`, `_`, `:` or `.`), optional
# `name="value"` attributes, an optional `/`, and `>`. It counts as markup when it is a
# closing tag, a self-closing tag, an HTML element name, or an opening tag whose closing tag
# follows in the same string. So placeholder text such as `<file>`, `<unknown>` or
# `<no dynamic symbols>` is not markup (nor is `<a few words>`: attributes need a value).
_TAG = re.compile(r"""
    <(?P<close>/)?(?P<name>[A-Za-z][-\w:.]*)
    (?:\s+[A-Za-z_:][-\w:.]*\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'<>=`]+))*
    \s*(?P<selfclose>/)?>""", re.VERBOSE)
_HTML = frozenset("""
    a abbr acronym address article aside audio b big blockquote body br button caption center
    cite code col dd del details dfn div dl dt em embed figure font footer form h1 h2 h3 h4 h5
    h6 head header hr html i img input ins kbd label li link main mark meta nav ol option p
    pre q s samp section select small source span strike strong style sub summary sup table
    tbody td textarea tfoot th thead title tr tt u ul var video wbr""".split())

# Everything str.splitlines breaks at, and the tab: translation examples are one line.
_MULTI_LINE = re.compile("[\n\r\t\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


def has_format_specifier(text: str) -> bool:
  """Whether text holds a printf, Python `%(name)s` or brace `{0}` format specifier."""
  return any(m.group("spec") for m in _FORMAT.finditer(text))


def has_markup(text: str) -> bool:
  """Whether text holds an XML/HTML-like tag (see `_TAG` for what counts)."""
  for m in _TAG.finditer(text):
    name = m.group("name")
    if m.group("close") or m.group("selfclose") or name.lower() in _HTML:
      return True
    if re.search(rf"</{re.escape(name)}\s*>", text[m.end():]):
      return True
  return False


def clean(corpus: Corpus, *, max_source_chars: int = 0, max_target_chars: int = 0,
          drop_format: bool = False, drop_markup: bool = False) -> Corpus:
  """A new corpus of one-line, stripped pairs, each source once; skip counts add to the input's.

  Both sides are stripped; then a pair is dropped, under the first reason that applies, for:
  "empty side"; "multi-line" (a line break or tab left in either side); with `drop_format`,
  "format specifier" (`%s`, `%1$s`, `%(name)s`, `{0}`, ... in either side; not `100% sure`);
  with `drop_markup`, "markup" (a tag such as `<b>` or `</a>` in either side); "source too
  long" / "target too long" (more characters than a nonzero limit); "duplicate source" (a
  source already kept: the first kept pair wins). A corpus may come out empty.
  """
  for name, value in (("max_source_chars", max_source_chars), ("max_target_chars", max_target_chars)):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
      raise UserError(f"{name} must be a non-negative integer (0 for no limit), got {value!r}")
  pairs, skipped, seen = [], collections.Counter(corpus.skipped), set()
  for source, target in corpus.pairs:
    source, target = source.strip(), target.strip()
    if not source or not target:
      reason = "empty side"
    elif _MULTI_LINE.search(source) or _MULTI_LINE.search(target):
      reason = "multi-line"
    elif drop_format and (has_format_specifier(source) or has_format_specifier(target)):
      reason = "format specifier"
    elif drop_markup and (has_markup(source) or has_markup(target)):
      reason = "markup"
    elif max_source_chars and len(source) > max_source_chars:
      reason = "source too long"
    elif max_target_chars and len(target) > max_target_chars:
      reason = "target too long"
    elif source in seen:
      reason = "duplicate source"
    else:
      seen.add(source)
      pairs.append((source, target))
      continue
    skipped[reason] += 1
  return Corpus(pairs, skipped, files=corpus.files)


# Splits.


def split(pairs: list[tuple[str, str]], *, val_fraction: float,
          test_fraction: float) -> dict[str, list[tuple[str, str]]]:
  """Train/validation/test lists of pairs, disjoint by source, each in input order.

  A pair's split depends only on its source: u = sha256(source as UTF-8), read as a number
  in [0, 1); u < val_fraction is validation, u >= 1 - test_fraction is test, the rest is
  train. So the same source lands in the same split whatever else is in the corpus, in any
  process, and changing one fraction moves no pair into or out of the other held-out split.
  """
  for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
      raise UserError(f"{name} must be a number in [0, 1), got {value!r}")
  if val_fraction + test_fraction >= 1:
    raise UserError(f"val_fraction + test_fraction must be less than 1 to leave pairs for "
                    f"training, got {val_fraction} + {test_fraction}")
  splits = {name: [] for name in SPLITS}
  for pair in pairs:
    u = source_hash(pair[0])
    name = ("validation" if u < val_fraction else "test" if u >= 1 - test_fraction
            else "train")
    splits[name].append(pair)
  return splits


def source_hash(source: str) -> float:
  """A number in [0, 1) that depends only on the source string (not on PYTHONHASHSEED)."""
  digest = hashlib.sha256(source.encode("utf-8")).digest()
  return int.from_bytes(digest[:8], "big") / 2**64

"""Parallel corpora: TSV and gettext readers, skip counts, cleaning rules, splits by source."""

import collections
import gettext
import os
import shutil
import struct
import subprocess
import sys

import pytest

from s2s import corpora
from s2s.corpora import Corpus
from s2s.errors import UserError

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "translation")
LOCALE = os.path.join(FIXTURES, "locale")
SYSTEM_FR = "/usr/share/locale/fr/LC_MESSAGES"

DEMO_PAIRS = [
    ("Hello, world!", "Bonjour, le monde !"),
    ("Open the file", "Ouvrir le fichier"),
    ("Quit", "Quitter"),  # msgctxt "menu"
    ("Open", "Ouvrir"),  # msgctxt "verb"
    ("A long message that is continued on a second line.",
     "Un long message qui continue sur une deuxième ligne."),
    ('Tab\there, quote "x", backslash \\ and a newline\n',
     "Tabulation\tici, guillemet « x », barre \\ et un saut\n"),
    ("Coffee", "Café"),  # octal escapes of UTF-8 bytes
    ("Delete", "Supprimer"),
]
LEGACY_PAIRS = [("Summer", "Été"), ("Yes", "Oui")]  # an ISO-8859-1 catalog


def write_mo(path, messages, byteorder="<"):
  """A GNU .mo file of `messages` (key -> value, str or bytes), strings sorted as msgfmt does."""
  items = sorted((k.encode() if isinstance(k, str) else k, v.encode() if isinstance(v, str) else v)
                 for k, v in messages.items())
  n = len(items)
  originals, translations, blob = [], [], b""
  start = 28 + 16 * n  # header (7 words), then the two tables of (length, offset)
  for table, index in ((originals, 0), (translations, 1)):
    for item in items:
      table.append((len(item[index]), start + len(blob)))
      blob += item[index] + b"\x00"
  data = struct.pack(byteorder + "7I", 0x950412de, 0, n, 28, 28 + 8 * n, 0, 0)
  for length, offset in originals + translations:
    data += struct.pack(byteorder + "2I", length, offset)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "wb") as f:
    f.write(data + blob)


MO_MESSAGES = {
    "": "Project-Id-Version: demo\nContent-Type: text/plain; charset=UTF-8\n"
        "Plural-Forms: nplurals=2; plural=(n > 1);\n",
    "Hello": "Bonjour",
    "menu\x04Quit": "Quitter",
    "One file\x00%d files": "Un fichier\x00%d fichiers",
    "Save": "",
    "Yes": "Oui",
}
# Catalog order is the sorted order of the keys: "Hello" < "One file..." < "Save" < "Yes" < "menu...".
MO_PAIRS = [("Hello", "Bonjour"), ("Yes", "Oui"), ("Quit", "Quitter")]
MO_SKIPPED = {"header": 1, "plural form": 1, "untranslated": 1}


# Reports.


def test_report_is_one_line_most_frequent_skip_first():
  corpus = Corpus([("a", "b")] * 61237, collections.Counter(
      {"plural form": 1003, "duplicate source": 9120, "header": 87}), files=87)
  assert corpus.report() == ("61,237 pairs from 87 files; "
                             "skipped: 9,120 duplicate source, 1,003 plural form, 87 header")
  assert Corpus([("a", "b")], collections.Counter(), files=1).report() == (
      "1 pair from 1 file; nothing skipped")


# Tab-separated files.


def test_tsv_pairs_and_exact_skip_counts():
  corpus = corpora.read_tsv(os.path.join(FIXTURES, "fra.txt"))
  assert corpus.pairs == [("Go.", "Va !"), ("Hi.", "Salut !"), ("Run!", "Cours !"),
                          ("Wow!", "Ça alors !"), ("I'm OK.", "Je vais bien.")]
  # Blank and whitespace-only lines are not counted; 1 and 4 columns are; so are empty sides.
  assert corpus.skipped == {"wrong column count": 2, "empty side": 2}
  assert corpus.files == 1
  assert corpus.report() == "5 pairs from 1 file; skipped: 2 empty side, 2 wrong column count"


def test_tsv_swap_makes_the_second_column_the_source():
  corpus = corpora.read_tsv(os.path.join(FIXTURES, "fra.txt"), swap=True)
  assert corpus.pairs[:2] == [("Va !", "Go."), ("Salut !", "Hi.")]
  assert len(corpus.pairs) == 5 and corpus.skipped == {"wrong column count": 2, "empty side": 2}


def test_tsv_with_no_usable_line_names_the_file_and_the_skips():
  path = os.path.join(FIXTURES, "malformed.txt")
  with pytest.raises(UserError) as e:
    corpora.read_tsv(path)
  assert str(e.value) == (f"corpus file {path} has no usable sentence pairs "
                          "(skipped: 3 wrong column count, 1 empty side)")


def test_tsv_bad_paths_are_user_errors(tmp_path):
  missing = str(tmp_path / "nope.txt")
  with pytest.raises(UserError, match=f"^corpus file {missing} does not exist$"):
    corpora.read_tsv(missing)
  with pytest.raises(UserError, match=f"^{tmp_path} is a directory"):
    corpora.read_tsv(str(tmp_path))
  (tmp_path / "latin1.txt").write_bytes(b"Yes\tOui\nSummer\t\xc9t\xe9\n")
  with pytest.raises(UserError, match=r"^line 2 of .*latin1.txt is not UTF-8"):
    corpora.read_tsv(str(tmp_path / "latin1.txt"))


# gettext catalogs.


def test_po_catalog_pairs_and_exact_skip_counts():
  corpus = corpora.read_gettext(LOCALE, "fr")
  assert corpus.pairs == DEMO_PAIRS + LEGACY_PAIRS  # demo.po, then legacy.po: sorted paths
  # Headers of both files (demo's is also fuzzy), the fuzzy "Close the window", the plural
  # "One file", the untranslated "Save", and two obsolete entries (one of them fuzzy).
  assert corpus.skipped == {"header": 2, "fuzzy": 1, "plural form": 1, "untranslated": 1,
                            "obsolete": 2}
  assert corpus.files == 2


def test_gettext_swap_makes_the_translation_the_source():
  corpus = corpora.read_gettext(os.path.join(LOCALE, "de"), "de", swap=True)
  assert corpus.pairs == [("Hallo, Welt!", "Hello, world!")]
  assert corpus.skipped == {"header": 1}


def test_root_may_be_the_lc_messages_directory_itself():
  corpus = corpora.read_gettext(os.path.join(LOCALE, "fr", "LC_MESSAGES"), "fr")
  assert corpus.pairs == DEMO_PAIRS + LEGACY_PAIRS


@pytest.mark.parametrize("byteorder", ["<", ">"], ids=["little-endian", "big-endian"])
def test_mo_catalog_drops_context_and_skips_plurals(tmp_path, byteorder):
  path = str(tmp_path / "fr" / "LC_MESSAGES" / "demo.mo")
  write_mo(path, MO_MESSAGES, byteorder)
  with open(path, "rb") as f:
    assert f.read(4) == (b"\xde\x12\x04\x95" if byteorder == "<" else b"\x95\x04\x12\xde")
  with open(path, "rb") as f:  # The writer makes files that gettext itself reads.
    assert gettext.GNUTranslations(f).pgettext("menu", "Quit") == "Quitter"
  corpus = corpora.read_gettext(str(tmp_path), "fr")
  assert corpus.pairs == MO_PAIRS
  assert corpus.skipped == MO_SKIPPED
  assert corpus.files == 1


def test_mo_catalog_is_decoded_by_its_charset(tmp_path):
  write_mo(str(tmp_path / "fr" / "LC_MESSAGES" / "legacy.mo"),
           {"": "Content-Type: text/plain; charset=ISO-8859-1\n", "Summer": "Été".encode("latin-1")},
           byteorder=">")
  assert corpora.read_gettext(str(tmp_path), "fr").pairs == [("Summer", "Été")]


def test_unreadable_catalogs_are_warned_about_and_skipped(tmp_path, capsys):
  messages = tmp_path / "fr" / "LC_MESSAGES"
  write_mo(str(messages / "a.mo"), MO_MESSAGES)
  (messages / "b.mo").write_bytes(b"This is not a catalog at all.")
  write_mo(str(messages / "c.mo"), MO_MESSAGES, ">")
  with open(messages / "c.mo", "r+b") as f:
    f.truncate(100)  # Tables intact, strings cut off.
  (messages / "d.po").write_text('msgid "Hello"\nmsgid "World"\nmsgstr "Monde"\n')
  (messages / "e.po").write_bytes(
      b'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
      b'msgid "Summer"\nmsgstr "\xc9t\xe9"\n')
  corpus = corpora.read_gettext(str(tmp_path), "fr")
  assert corpus.pairs == MO_PAIRS
  assert corpus.skipped == {**MO_SKIPPED, "unreadable file": 4}
  assert corpus.files == 1
  assert capsys.readouterr().err.splitlines() == [
      f"warning: skipping {messages / 'b.mo'}: not a .mo file (bad magic number)",
      f"warning: skipping {messages / 'c.mo'}: a string runs past the end of the file",
      f"warning: skipping {messages / 'd.po'}: line 2: msgid without a msgstr before it",
      f"warning: skipping {messages / 'e.po'}: a message is not valid UTF-8 "
      "(invalid continuation byte)",
  ]


def test_django_layout_inside_site_packages_is_found():
  corpus = corpora.read_gettext(os.path.join(FIXTURES, "site-packages"), "fr")
  assert corpus.pairs == [("Arabic", "arabe"),
                          ("Enter a valid value.", "Saisissez une valeur valide."),
                          ("This field is required.", "Ce champ est obligatoire.")]
  assert corpus.skipped == {"header": 1, "plural form": 1}


def test_every_catalog_under_root_is_read_in_sorted_path_order(tmp_path):
  shutil.copytree(os.path.join(FIXTURES, "site-packages"), tmp_path / "site-packages")
  write_mo(str(tmp_path / "a" / "fr" / "LC_MESSAGES" / "z.mo"), MO_MESSAGES)
  corpus = corpora.read_gettext(str(tmp_path), "fr")
  assert corpus.pairs[:3] == MO_PAIRS  # a/... sorts before site-packages/...
  assert [s for s, _ in corpus.pairs[3:]] == ["Arabic", "Enter a valid value.",
                                              "This field is required."]
  assert corpus.files == 2


def test_unknown_language_lists_the_languages_there():
  with pytest.raises(UserError) as e:
    corpora.read_gettext(LOCALE, "pt")
  assert str(e.value) == (f"there is no pt/LC_MESSAGES directory under {LOCALE} "
                          "(languages there: pt_BR, de, fr)")
  with pytest.raises(UserError) as e:  # es/ has no LC_MESSAGES, so it is no language here.
    corpora.read_gettext(LOCALE, "es")
  assert str(e.value).endswith("(languages there: de, fr, pt_BR)")


def test_language_list_is_cut_at_ten(tmp_path):
  for i in range(13):
    os.makedirs(tmp_path / f"l{i:02d}" / "LC_MESSAGES")
  with pytest.raises(UserError) as e:
    corpora.read_gettext(str(tmp_path), "fr")
  assert str(e.value).endswith(
      "(languages there: l00, l01, l02, l03, l04, l05, l06, l07, l08, l09 and 3 more)")


def test_bad_roots_and_empty_catalogs_are_user_errors(tmp_path):
  with pytest.raises(UserError, match=f"^catalog root {tmp_path / 'nope'} does not exist$"):
    corpora.read_gettext(str(tmp_path / "nope"), "fr")
  with pytest.raises(UserError, match="no <language>/LC_MESSAGES directory at all"):
    corpora.read_gettext(str(tmp_path), "fr")
  with pytest.raises(UserError, match="must be a directory name"):
    corpora.read_gettext(LOCALE, "fr/LC_MESSAGES")
  messages = tmp_path / "fr" / "LC_MESSAGES"
  messages.mkdir(parents=True)
  (messages / "only.po").write_text(
      'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\nmsgid "Save"\nmsgstr ""\n')
  with pytest.raises(UserError) as e:
    corpora.read_gettext(str(tmp_path), "fr")
  assert str(e.value) == (f"no usable fr sentence pairs under {tmp_path}: 1 catalog file in "
                          "fr/LC_MESSAGES, skipped: 1 header, 1 untranslated")


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="msgfmt (GNU gettext) is not installed")
def test_po_and_its_compiled_mo_give_the_same_pairs(tmp_path):
  po = os.path.join(LOCALE, "fr", "LC_MESSAGES", "demo.po")
  mo = tmp_path / "fr" / "LC_MESSAGES" / "demo.mo"
  mo.parent.mkdir(parents=True)
  subprocess.run(["msgfmt", "-o", str(mo), po], check=True)
  # msgfmt leaves out fuzzy, obsolete and untranslated entries; the plural stays, and is skipped.
  corpus = corpora.read_gettext(str(tmp_path), "fr")
  assert sorted(corpus.pairs) == sorted(DEMO_PAIRS)
  assert corpus.skipped == {"header": 1, "plural form": 1}


@pytest.mark.skipif(not os.path.isdir(SYSTEM_FR),
                    reason=f"{SYSTEM_FR} does not exist on this machine")
def test_system_french_catalogs_give_many_pairs():
  corpus = corpora.read_gettext("/usr/share/locale", "fr")
  assert len(corpus.pairs) > 1000
  assert corpus.files >= 1 and "unreadable file" not in corpus.skipped


# Cleaning.


@pytest.mark.parametrize("text", [
    "%s", "Value: %d.", "%.255s", "%13lu", "%1$s and %2$s", "%(name)s", "%(count)d files",
    "%-10s|", "%ld", "%zu bytes", "%<PRIu64> bytes", "{0}", "{name}", "{}", "{0:>8}", "{name!r}",
    "100%% of %s"])
def test_format_specifiers_are_found(text):
  assert corpora.has_format_specifier(text)


@pytest.mark.parametrize("text", [
    "100% sure", "It is 100%", "50 % off", "100%% sure", "5 % 3", "a {b c} d", "{not a field}",
    "Usage: foo [options]"])
def test_plain_text_is_not_a_format_specifier(text):
  assert not corpora.has_format_specifier(text)


@pytest.mark.parametrize("text", [
    "<b>bold</b>", "click </a>", "line<br/>", "line<br />", '<a href="https://x.org">here</a>',
    '<span weight="bold">Warning</span>', "<B>Shout", "<link>manual</link>", "<img src='x.png'/>"])
def test_markup_is_found(text):
  assert corpora.has_markup(text)


@pytest.mark.parametrize("text", [
    "<no dynamic symbols>", "Usage: cp <file> <dir>", "<unknown>", "a < b and c > d",
    "<a few words>", "x<y>z", "<>"])
def test_placeholder_text_is_not_markup(text):
  assert not corpora.has_markup(text)


def corpus_of(*pairs, **skipped):
  return Corpus(list(pairs), collections.Counter(skipped), files=3)


def test_clean_strips_and_drops_empty_and_multi_line_pairs():
  corpus = corpus_of(("  Hi  ", " Salut\n"), ("   ", "Vide"), ("Two\nlines", "Deux lignes"),
                     ("Tab", "Tabu\tlation"), ("Line\u2028separator", "x"),
                     ("Usage: foo\n", "Utilisation : foo\n"), header=3)
  cleaned = corpora.clean(corpus)
  assert cleaned.pairs == [("Hi", "Salut"), ("Usage: foo", "Utilisation : foo")]
  assert cleaned.skipped == {"header": 3, "empty side": 1, "multi-line": 3}
  assert cleaned.files == 3
  assert len(corpus.pairs) == 6 and corpus.skipped == {"header": 3}  # The input is unchanged.


def test_clean_drops_format_specifiers_only_when_asked():
  corpus = corpus_of(("100% sure", "sûr à 100 %"), ("Copy %s", "Copier %s"),
                     ("Hello", "Bonjour {name}"), ("%(n)d files", "%(n)d fichiers"))
  assert corpora.clean(corpus).pairs == corpus.pairs
  cleaned = corpora.clean(corpus, drop_format=True)
  assert cleaned.pairs == [("100% sure", "sûr à 100 %")]
  assert cleaned.skipped == {"format specifier": 3}


def test_clean_drops_markup_only_when_asked():
  corpus = corpus_of(("<b>Bold</b>", "<b>Gras</b>"), ("Line<br/>", "Ligne<br/>"),
                     ("Copy <file>", "Copier <fichier>"), ("No", "<i>Non</i>"))
  assert corpora.clean(corpus).pairs == corpus.pairs
  cleaned = corpora.clean(corpus, drop_markup=True)
  assert cleaned.pairs == [("Copy <file>", "Copier <fichier>")]
  assert cleaned.skipped == {"markup": 3}


def test_clean_length_limits_count_characters_after_stripping():
  corpus = corpus_of(("Hello", "Bonjour"), (" Hello ", "Salut"), ("Hello!", "Salut !"),
                     ("Hi", "Bonjour à tous"), ("Été", "Summer"))
  cleaned = corpora.clean(corpus, max_source_chars=5, max_target_chars=7)
  assert cleaned.pairs == [("Hello", "Bonjour"), ("Été", "Summer")]
  assert cleaned.skipped == {"source too long": 1, "target too long": 1, "duplicate source": 1}
  assert corpora.clean(corpus, max_source_chars=3).pairs == [("Hi", "Bonjour à tous"),
                                                             ("Été", "Summer")]


def test_clean_keeps_the_first_kept_pair_of_each_source():
  corpus = corpus_of(("Hi", "Salut\nà tous"), ("Hi", "Salut"), (" Hi", "Coucou"), ("hi", "salut"),
                     ("Go", "Va"), ("Hi", "Bonjour"))
  cleaned = corpora.clean(corpus)
  assert cleaned.pairs == [("Hi", "Salut"), ("hi", "salut"), ("Go", "Va")]
  assert cleaned.skipped == {"multi-line": 1, "duplicate source": 2}
  assert cleaned.report() == "3 pairs from 3 files; skipped: 2 duplicate source, 1 multi-line"


@pytest.mark.parametrize("limits", [{"max_source_chars": -1}, {"max_target_chars": 2.5},
                                    {"max_source_chars": True}])
def test_clean_rejects_bad_limits(limits):
  with pytest.raises(UserError, match=f"^{next(iter(limits))} must be a non-negative integer"):
    corpora.clean(corpus_of(("a", "b")), **limits)


# Splits.

SYNTHETIC = [(f"sentence number {i}", f"phrase numéro {i}") for i in range(10_000)]


def membership(splits):
  return {pair: name for name, pairs in splits.items() for pair in pairs}


def test_split_fractions_are_roughly_respected_and_exactly_reproducible():
  splits = corpora.split(SYNTHETIC, val_fraction=0.1, test_fraction=0.2)
  sizes = {name: len(pairs) for name, pairs in splits.items()}
  assert sizes == {"train": 7056, "validation": 976, "test": 1968}  # sha256 never changes.
  assert abs(sizes["validation"] - 1000) < 100 and abs(sizes["test"] - 2000) < 130
  position = {pair: i for i, pair in enumerate(SYNTHETIC)}
  for pairs in splits.values():  # Input order within each split.
    assert pairs == sorted(pairs, key=position.get)


def test_split_is_disjoint_by_source():
  pairs = [(f"source {i % 300}", f"target {i}") for i in range(1200)]  # 4 targets per source
  splits = corpora.split(pairs, val_fraction=0.2, test_fraction=0.2)
  sources = {name: {s for s, _ in ps} for name, ps in splits.items()}
  assert not sources["train"] & sources["validation"]
  assert not sources["train"] & sources["test"]
  assert not sources["validation"] & sources["test"]
  assert sum(len(ps) for ps in splits.values()) == 1200
  assert all(len(ps) % 4 == 0 for ps in splits.values())


def test_split_of_a_pair_depends_only_on_its_source():
  whole = membership(corpora.split(SYNTHETIC, val_fraction=0.1, test_fraction=0.1))
  part = membership(corpora.split(SYNTHETIC[:3000] + [("new", "nouveau")] * 5,
                                  val_fraction=0.1, test_fraction=0.1))
  assert all(part[pair] == whole[pair] for pair in SYNTHETIC[:3000])
  # A larger validation fraction moves pairs from train to validation, never into or out of test.
  wider = membership(corpora.split(SYNTHETIC, val_fraction=0.3, test_fraction=0.1))
  assert {p for p, n in wider.items() if n == "test"} == {p for p, n in whole.items() if n == "test"}
  assert {p for p, n in whole.items() if n == "validation"} < {
      p for p, n in wider.items() if n == "validation"}


def test_split_does_not_depend_on_the_python_hash_seed():
  code = ("from s2s import corpora; "
          "pairs = [(f's{i}', 't') for i in range(200)]; "
          "print([len(v) for v in corpora.split(pairs, val_fraction=0.3, test_fraction=0.3)"
          ".values()], [s for s, _ in corpora.split(pairs, val_fraction=0.3, test_fraction=0.3)"
          "['test']][:5])")
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  outputs = {subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                            env={**os.environ, "PYTHONHASHSEED": seed}, check=True).stdout
             for seed in ("1", "2")}
  here = corpora.split([(f"s{i}", "t") for i in range(200)], val_fraction=0.3, test_fraction=0.3)
  assert outputs == {f"{[len(v) for v in here.values()]} {[s for s, _ in here['test']][:5]}\n"}


@pytest.mark.parametrize("fractions, field", [
    ((-0.1, 0.1), "val_fraction"), ((0.1, 1.0), "test_fraction"), ((True, 0.1), "val_fraction"),
    (("0.1", 0.1), "val_fraction")])
def test_split_rejects_bad_fractions(fractions, field):
  with pytest.raises(UserError, match=f"^{field} must be a number in \\[0, 1\\)"):
    corpora.split(SYNTHETIC[:10], val_fraction=fractions[0], test_fraction=fractions[1])


def test_split_must_leave_pairs_for_training():
  with pytest.raises(UserError, match="^val_fraction \\+ test_fraction must be less than 1"):
    corpora.split(SYNTHETIC[:10], val_fraction=0.5, test_fraction=0.5)

"""Offline speech for speech recognition: words, synthesis, noise, audio files and log-mel features.

Nothing here downloads anything. Speech comes from two synthesizers installed as Debian packages
(`sudo scripts/install_system_data.sh`), run as subprocesses:

  flite      CMU's Festival-lite, voices kal and kal16 (diphone, male), awb (Scottish male),
             rms (male) and slt (female); see FLITE_VOICES
  espeak-ng  a formant synthesizer: every English accent it lists (en-us, en-gb-x-rp, ...)
             alone or crossed with a voice variant (m1, f3, klatt, ...); see `espeak_voices`

A voice is named "engine:name" ("flite:slt", "espeak:en-us+f3"). Both engines are
deterministic: the same text, voice, speed and pitch give the same samples, run after run
(checked for every flite voice, and every espeak-ng variant of en-us).

The task this serves is spoken arithmetic: "12+345" is read as `spoken_expression` spells it,
"twelve plus three hundred forty five", synthesized, optionally perturbed (`perturb`: speed,
noise, gain, each drawn from a Generator the caller seeds), and turned into log-mel frames
(`log_mel`). `synthesize_many` runs many such jobs on all cores, `features_many` the same
returning their log-mels. Real recordings come in through `read_audio` (WAV or FLAC, any rate,
mixed to mono, resampled). All audio is float32 samples in [-1, 1] at 16 kHz (SAMPLE_RATE)
unless a `rate` says otherwise.
"""

import dataclasses
import functools
import math
import multiprocessing
import os
import re
import shutil
import subprocess
import tempfile
from typing import Optional, Sequence

import numpy as np
import soundfile
from scipy import signal
from tqdm import tqdm

from s2s.errors import UserError

SAMPLE_RATE = 16000  # Hz; every function's default.
MEL_BINS = 80

# Words.

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**9, "billion"), (10**6, "million"), (10**3, "thousand"))
MAX_NUMBER = 10**12 - 1
_OPERATOR_WORDS = {"+": "plus", "-": "minus", "*": "times", "/": "divided by",
                   "(": "open bracket", ")": "close bracket", "=": "equals"}


def _below_thousand(n: int) -> list[str]:
  """The words of 1 <= n <= 999 (empty for 0): "three hundred forty five"."""
  words = []
  if n >= 100:
    words += [_ONES[n // 100], "hundred"]
    n %= 100
  if n >= 20:
    words.append(_TENS[n // 10])
    n %= 10
  if n:
    words.append(_ONES[n])
  return words


def number_words(n: int) -> str:
  """`n` in American English words, lowercase, single spaces, without "and" or hyphens.

  0 "zero", 45 "forty five", 345 "three hundred forty five", 12005 "twelve thousand five",
  1000000 "one million"; a negative number is "minus" and its magnitude's words. Raises
  ValueError beyond +-999,999,999,999 (MAX_NUMBER) or for anything that is not an integer.
  """
  if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
    raise ValueError(f"number_words takes an integer, got {n!r}")
  n = int(n)
  if abs(n) > MAX_NUMBER:
    raise ValueError(f"number_words reads numbers up to {MAX_NUMBER:,} in magnitude, got {n:,}")
  if n < 0:
    return "minus " + number_words(-n)
  if n == 0:
    return "zero"
  words = []
  for size, name in _SCALES:
    if n >= size:
      words += _below_thousand(n // size) + [name]
      n %= size
  return " ".join(words + _below_thousand(n))


def spoken_expression(text: str) -> str:
  """An arithmetic expression read aloud: "12+345" -> "twelve plus three hundred forty five".

  `text` holds digits and the operators + - * / ( ) =; spaces are ignored (removed before
  reading, so "12 + 345" reads as "12+345"). Each run of digits is one number read by
  `number_words` (leading zeros are not read: "007" is "seven"); "+" is "plus", "-" "minus"
  (binary or unary: "-3" is "minus three"), "*" "times", "/" "divided by", "(" "open bracket",
  ")" "close bracket", "=" "equals". Raises ValueError naming any other character.
  """
  words = []
  for match in re.finditer(r"\d+|.", text.replace(" ", "")):
    token = match.group()
    if token.isdigit() and token.isascii():
      words.append(number_words(int(token)))
    elif token in _OPERATOR_WORDS:
      words.append(_OPERATOR_WORDS[token])
    else:
      raise ValueError(f"cannot read {token!r} in {text!r} aloud: expressions hold digits and "
                       f"the operators {' '.join(_OPERATOR_WORDS)}")
  return " ".join(words)


# Voices.

FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")  # Not awb_time: it only tells the time.
# The duration_stretch a flite voice sets for itself (measured: kal and kal16 with 1.1 give
# the same samples as with nothing set), so that speed 1 is the voice's own tempo.
_FLITE_DURATION_STRETCH = {"kal": 1.1, "kal16": 1.1}
ENGINES = ("flite", "espeak")
_BINARIES = {"flite": "flite", "espeak": "espeak-ng"}
# espeak-ng variants not offered, measured on espeak-ng 1.51: "fast" (a developer's test file)
# gives the same samples as no variant, and "caleb" and "klatt6" the same samples as "klatt";
# listing them would only weight those voices two or three times. Every other variant, the
# "novelty" ones included, was kept: each read a test sentence at an ordinary length (1.7 to
# 2.6 s), unclipped, with formants where speech has them. whisper and whisperf have no voicing,
# and croak, grandma and grandpa a strong pitch wobble, but people understand whispered and
# shaky speech, and a recogniser that meets them in training is the better for it.
_EXCLUDED_VARIANTS = frozenset({"fast", "caleb", "klatt6"})
SPEED_RANGE = (0.5, 2.0)  # Beyond these espeak-ng's words/min leave its 80..450 range.
PITCH_RANGE = (0.5, 2.0)


@dataclasses.dataclass(frozen=True)
class Voice:
  """A synthesizer voice: engine "flite" (name in FLITE_VOICES) or "espeak" (name "LANG" or
  "LANG+VARIANT" as `espeak-ng -v` takes it). `str(voice)` is "engine:name", which
  `Voice.parse` reads back."""
  engine: str
  name: str

  def __post_init__(self):
    if self.engine not in ENGINES:
      raise ValueError(f"a voice's engine is one of {', '.join(ENGINES)}, got {self.engine!r}")
    if not self.name or ":" in self.name:
      raise ValueError(f"a {self.engine} voice needs a name without ':', got {self.name!r}")

  def __str__(self):
    return f"{self.engine}:{self.name}"

  @classmethod
  def parse(cls, text: str) -> "Voice":
    """Reads "flite:slt" as Voice("flite", "slt"); raises ValueError for text not of that form."""
    engine, colon, name = text.partition(":")
    if not colon:
      raise ValueError(f"a voice is written engine:name (flite:slt, espeak:en-us+f3), got {text!r}")
    return cls(engine, name)


def _require(engine: str) -> str:
  """The path of `engine`'s program; a UserError saying how to install it if it is missing."""
  binary = _BINARIES[engine]
  path = shutil.which(binary)
  if path is None:
    raise UserError(f"{binary} is not installed; run `sudo scripts/install_system_data.sh`, "
                    f"which installs flite and espeak-ng")
  return path


def _espeak_listing(which: str) -> list[tuple[str, str]]:
  """(language, file) of each row of `espeak-ng --voices=<which>`; the file is relative to
  espeak-ng's voices folder ("gmw/en-US", "mb/mb-us1", "!v/f3") and may hold a space."""
  result = subprocess.run([_require("espeak"), f"--voices={which}"], capture_output=True,
                          text=True, check=True)
  rows = []
  # Pty, Language, Age/Gender, VoiceName (no spaces), File (may hold one), then "(lang pty)"s.
  row = re.compile(r"\s*\d+\s+(\S+)\s+\S+\s+\S+\s+(.*?)\s*(?:\(\S+ \d+\)\s*)*$")
  for line in result.stdout.splitlines()[1:]:
    if m := row.fullmatch(line):
      rows.append((m.group(1), m.group(2)))
  return rows


@functools.lru_cache(maxsize=None)
def _espeak_voices() -> tuple[Voice, ...]:
  # mbrola voices ("mb/...") need the separate mbrola program and its databases; "!v/" rows in
  # the English list are variants that name a preferred language.
  languages = sorted({lang for lang, file in _espeak_listing("en")
                      if lang.startswith("en") and not file.startswith(("mb/", "!v/"))})
  variants = sorted({file[len("!v/"):] for _, file in _espeak_listing("variant")
                     if file.startswith("!v/")} - _EXCLUDED_VARIANTS)
  return tuple(Voice("espeak", name) for lang in languages
               for name in [lang] + [f"{lang}+{variant}" for variant in variants])


def espeak_voices() -> list[Voice]:
  """Every English espeak-ng voice this machine has, as `espeak-ng --voices` lists them: each
  English accent (en-029, en-gb, en-gb-scotland, en-gb-x-gbclan, en-gb-x-gbcwmd, en-gb-x-rp,
  en-us, en-us-nyc on espeak-ng 1.51), alone and with each voice variant (m1..m8, f1..f5,
  klatt..klatt5 and about 90 more), sorted by accent then variant. mbrola voices are left out,
  as are three variants that sound exactly like others. Listed once per process."""
  return list(_espeak_voices())


def _check_voice(voice: Voice) -> None:
  if voice.engine == "flite" and voice.name not in FLITE_VOICES:
    raise ValueError(f"{voice} is not a flite voice; flite voices are "
                     f"{', '.join(FLITE_VOICES)}")
  if voice.engine == "espeak" and voice not in _espeak_voices():
    # espeak-ng itself quietly falls back to its default voice for a name it does not know.
    raise ValueError(f"{voice} is not one of the {len(_espeak_voices())} English espeak-ng "
                     f"voices (see s2s.audio.espeak_voices())")


# Synthesis.


def _trim(samples: np.ndarray, rate: int, threshold_db: float = -40.0,
          margin_s: float = 0.05) -> np.ndarray:
  """`samples` from `margin_s` before the first to `margin_s` after the last sample louder than
  `threshold_db` below the peak; padded with zeros where the engine left less quiet than that
  (espeak-ng starts speaking after about 12 ms), so every clip has the same margins."""
  peak = np.abs(samples).max(initial=0.0)
  if peak == 0:
    return samples
  loud = np.flatnonzero(np.abs(samples) >= peak * 10**(threshold_db / 20))
  margin = round(margin_s * rate)
  start, stop = loud[0] - margin, loud[-1] + 1 + margin
  return np.pad(samples[max(0, start):stop], (max(0, -start), max(0, stop - len(samples))))


def _resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
  """float32 [N] at rate_in -> float32 [ceil(N * rate_out / rate_in)] at rate_out (polyphase
  filtering by the exact ratio, which scipy reduces)."""
  if rate_in == rate_out:
    return samples.astype(np.float32)
  return signal.resample_poly(samples, rate_out, rate_in).astype(np.float32)


def synthesize(text: str, voice: Voice, *, speed: float = 1.0, pitch: float = 1.0,
               rate: int = SAMPLE_RATE) -> np.ndarray:
  """`text` spoken by `voice`: float32 [N] in [-1, 1] at `rate` Hz.

  speed (0.5..2) scales the tempo: 1.25 speaks in about 1/1.25 of the time. pitch (0.5..2)
  scales the voice's mean F0 for flite (its feature f0_shift multiplies int_f0_target_mean,
  whose default is the voice's own: about 91 Hz for kal and kal16, 136 awb, 174 slt); flite's
  rms ignores it (its SPAM F0 model overwrites the shifted contour). For espeak-ng pitch sets
  `-p` to 50 * pitch (clipped to 0..99), which moves F0 by less than the factor (-p 75 is
  about 1.3 times -p 50). The synthesizer's output (8 kHz for kal, 16 kHz for other flite
  voices, 22.05 kHz for espeak-ng) is resampled to `rate`, and the silence before and after the
  speech (quieter than 40 dB below the peak) trimmed, or padded with zeros, to 50 ms. The same
  arguments give the same samples. Raises ValueError for empty text, an unknown voice, or a
  speed or pitch out of range, and a UserError if the engine is not installed.
  """
  program = _require(voice.engine)
  if not text.strip():
    raise ValueError("synthesize needs some text to speak, got an empty string")
  _check_voice(voice)
  for name, value, (low, high) in (("speed", speed, SPEED_RANGE), ("pitch", pitch, PITCH_RANGE)):
    if not low <= value <= high:
      raise ValueError(f"{name} must be in [{low}, {high}], got {value!r}")
  with tempfile.TemporaryDirectory(prefix="s2s-speech-") as tmp:
    wav = os.path.join(tmp, "speech.wav")
    if voice.engine == "flite":
      stretch = _FLITE_DURATION_STRETCH.get(voice.name, 1.0) / speed
      command = [program, "-voice", voice.name, "--setf", f"duration_stretch={stretch:.6f}",
                 "--setf", f"f0_shift={pitch:.6f}", "-t", text, "-o", wav]
    else:
      text_file = os.path.join(tmp, "text.txt")  # A file, so text starting with "-" is no option.
      with open(text_file, "w", encoding="utf-8") as f:
        f.write(text)
      command = [program, "-v", voice.name, "-s", str(round(175 * speed)),
                 "-p", str(min(99, max(0, round(50 * pitch)))), "-w", wav, "-f", text_file]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not os.path.exists(wav):
      raise RuntimeError(f"{' '.join(command[:3])} ... failed on {text!r} with status "
                         f"{result.returncode}: {result.stderr.strip()}")
    samples, rate_in = soundfile.read(wav, dtype="float32")
  if samples.ndim == 2:
    samples = samples.mean(axis=1)
  samples = np.clip(_resample(samples, rate_in, rate), -1.0, 1.0)  # Resampling can overshoot.
  return _trim(samples, rate)


# Augmentation.


def _check_range(name: str, bounds, positive: bool = False) -> tuple[float, float]:
  low, high = (float(b) for b in bounds)
  if not low <= high or (positive and low <= 0):
    raise ValueError(f"{name} must be a range (low, high) with low <= high"
                     f"{' and low > 0' if positive else ''}, got {bounds!r}")
  return low, high


def _pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
  """float64 [n] of unit RMS whose power falls as 1/f (white noise shaped in the frequency
  domain; the DC bin is zero)."""
  spectrum = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
  spectrum[0] = 0
  spectrum[1:] /= np.sqrt(np.arange(1, n // 2 + 1))
  noise = np.fft.irfft(spectrum, n)
  return noise / max(np.sqrt(np.mean(noise**2)), 1e-12)


def perturb(samples: np.ndarray, rng: np.random.Generator, *,
            speed: Optional[Sequence[float]] = (0.9, 1.1),
            snr_db: Optional[Sequence[float]] = (15.0, 35.0),
            gain_db: Optional[Sequence[float]] = (-6.0, 0.0)) -> np.ndarray:
  """`samples` (float [N]) as if recorded again differently: float32 [M] in [-1, 1].

  In order, each step skipped when its range is None:
    speed    Kaldi-style speed perturbation: a factor drawn uniformly in `speed` and rounded to
             0.01 (so the resampling ratio is exact), the clip resampled to round(N / factor)
             samples (within one) and played at the same rate: tempo and pitch change together.
    snr_db   noise at a signal-to-noise ratio drawn uniformly in `snr_db`, relative to the
             clip's mean power: a mix of white noise (hiss) and pink noise (power falling as
             1/f, like room and fan rumble), the share of white drawn uniformly in [0, 1].
    gain_db  a gain drawn uniformly in `gain_db` decibels.
  The result is clipped to [-1, 1]. Every draw comes from `rng`, so the same Generator state
  and arguments give the same samples.
  """
  samples = np.asarray(samples, np.float64)
  if samples.ndim != 1:
    raise ValueError(f"perturb takes samples of shape [N], got shape {samples.shape}")
  if speed is not None:
    low, high = _check_range("speed", speed, positive=True)
    percent = max(1, round(100 * rng.uniform(low, high)))
    samples = signal.resample_poly(samples, 100, percent)
  if snr_db is not None and len(samples):
    low, high = _check_range("snr_db", snr_db)
    snr, white_share = rng.uniform(low, high), rng.uniform()
    white = rng.standard_normal(len(samples))
    noise = (np.sqrt(white_share) * white / max(np.sqrt(np.mean(white**2)), 1e-12)
             + np.sqrt(1 - white_share) * _pink_noise(len(samples), rng))
    noise *= np.sqrt(np.mean(samples**2) / 10**(snr / 10) / max(np.mean(noise**2), 1e-30))
    samples = samples + noise
  if gain_db is not None:
    low, high = _check_range("gain_db", gain_db)
    samples = samples * 10**(rng.uniform(low, high) / 20)
  return np.clip(samples, -1.0, 1.0).astype(np.float32)


# Audio files.


def read_audio(path: str, rate: int = SAMPLE_RATE) -> np.ndarray:
  """The audio file at `path` as float32 [N] at `rate` Hz, mono.

  WAV (8-, 16-, 24- and 32-bit PCM, 32- and 64-bit float) and FLAC, or anything else libsndfile
  reads, at any sample rate. Channels are averaged; PCM is scaled to [-1, 1). A missing file, a
  directory, a file that is not audio and a file with no samples each raise a one-sentence
  UserError naming the path.
  """
  if os.path.isdir(path):
    raise UserError(f"{path} is a directory, not an audio file")
  if not os.path.exists(path):
    raise UserError(f"{path} does not exist")
  try:
    samples, rate_in = soundfile.read(path, dtype="float32", always_2d=True)
  except soundfile.LibsndfileError as e:
    raise UserError(f"{path} is not a WAV or FLAC file soundfile can read "
                    f"({e.error_string.strip().rstrip('.')})") from None
  except (soundfile.SoundFileError, RuntimeError, OSError) as e:
    raise UserError(f"{path} is not a WAV or FLAC file soundfile can read ({e})") from None
  if samples.size == 0:
    raise UserError(f"{path} holds no audio (zero samples)")
  return _resample(samples.mean(axis=1), rate_in, rate)


def write_wav(path: str, samples: np.ndarray, rate: int = SAMPLE_RATE) -> None:
  """Writes float [N] samples to `path` as 16-bit PCM WAV at `rate` Hz, clipped to [-1, 1]."""
  samples = np.asarray(samples)
  if samples.ndim != 1 or not np.issubdtype(samples.dtype, np.floating):
    raise ValueError(f"write_wav takes float samples of shape [N], got {samples.dtype} "
                     f"of shape {samples.shape}")
  soundfile.write(path, np.clip(samples, -1.0, 1.0), rate, subtype="PCM_16", format="WAV")


# Features.


def _hz_to_mel(hz):
  return 2595.0 * np.log10(1.0 + np.asarray(hz, np.float64) / 700.0)


def _mel_to_hz(mel):
  return 700.0 * (10.0**(np.asarray(mel, np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int = MEL_BINS, n_fft: int = 512, rate: int = SAMPLE_RATE,
                   fmin: float = 0.0, fmax: Optional[float] = None) -> np.ndarray:
  """Triangular filters on the HTK mel scale: float32 [n_fft // 2 + 1, n_mels].

  mel(f) = 2595 log10(1 + f / 700). The n_mels + 2 edges are equally spaced in mel from fmin to
  fmax (default rate / 2); filter j rises from edge j to 1 at edge j + 1 and falls to 0 at
  edge j + 2, linearly in mel as HTK and Kaldi draw them, and is sampled at the frequencies of
  the rfft bins, k * rate / n_fft. Filters are not normalised by their area. Raises ValueError
  unless 0 <= fmin < fmax <= rate / 2.
  """
  fmax = rate / 2 if fmax is None else fmax
  if not 0 <= fmin < fmax <= rate / 2:
    raise ValueError(f"mel_filterbank needs 0 <= fmin < fmax <= rate / 2 = {rate / 2:g}, "
                     f"got fmin={fmin:g}, fmax={fmax:g}")
  edges = np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2)
  bins = _hz_to_mel(np.arange(n_fft // 2 + 1) * rate / n_fft)[:, None]
  rising = (bins - edges[None, :-2]) / (edges[1:-1] - edges[:-2])
  falling = (edges[None, 2:] - bins) / (edges[2:] - edges[1:-1])
  return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


def log_mel(samples: np.ndarray, rate: int = SAMPLE_RATE, *, n_mels: int = MEL_BINS,
            win_ms: float = 25.0, hop_ms: float = 10.0, n_fft: int = 512, fmin: float = 0.0,
            fmax: Optional[float] = None) -> np.ndarray:
  """Log mel-filterbank energies of float [N] samples: float32 [frames, n_mels].

  Frames of win = round(rate * win_ms / 1000) samples every hop = round(rate * hop_ms / 1000)
  (400 and 160 at 16 kHz), frames = 1 + (N - win) // hop; a clip shorter than one window is
  padded with zeros to one. Each frame is multiplied by a periodic Hann window (no
  pre-emphasis and no mean removal: the synthesizers' output needs neither), its power
  spectrum |rfft(frame, n_fft)|^2 weighted by `mel_filterbank(n_mels, n_fft, rate, fmin, fmax)`,
  and the natural log taken of max(energy, 1e-10), so silence reads log(1e-10) = -23.03.
  """
  samples = np.asarray(samples, np.float32)
  if samples.ndim != 1:
    raise ValueError(f"log_mel takes samples of shape [N], got shape {samples.shape}")
  win, hop = round(rate * win_ms / 1000), round(rate * hop_ms / 1000)
  if not 0 < win <= n_fft or hop <= 0:
    raise ValueError(f"log_mel needs 0 < window ({win} samples) <= n_fft ({n_fft}) and a "
                     f"positive hop ({hop} samples)")
  if len(samples) < win:
    samples = np.pad(samples, (0, win - len(samples)))
  frames = np.lib.stride_tricks.sliding_window_view(samples, win)[::hop]
  power = np.abs(np.fft.rfft(frames * signal.get_window("hann", win).astype(np.float32),
                             n=n_fft, axis=-1))**2
  energy = power @ mel_filterbank(n_mels, n_fft, rate, fmin, fmax)
  return np.log(np.maximum(energy, 1e-10)).astype(np.float32)


# Many clips at once.


def synthesize_job(text: str, voice: str, speed: float = 1.0, pitch: float = 1.0,
                   perturb_seed: Optional[int] = None,
                   snr_db: Optional[Sequence[float]] = (15.0, 35.0),
                   resample: Optional[Sequence[float]] = (0.9, 1.1)) -> np.ndarray:
  """One clip of `synthesize_many`: `text` spoken by the voice named `voice` ("flite:slt"),
  then, unless perturb_seed is None, `perturb`ed by a Generator seeded with perturb_seed (its
  speed factor drawn in `resample`, noise at `snr_db`, either None for none; gain at perturb's
  default range). float32 [N] in [-1, 1] at SAMPLE_RATE."""
  samples = synthesize(text, Voice.parse(voice), speed=speed, pitch=pitch)
  if perturb_seed is not None:
    samples = perturb(samples, np.random.default_rng(perturb_seed), speed=resample,
                      snr_db=snr_db)
  return samples


def _synthesize(job: tuple) -> np.ndarray:
  return synthesize_job(*job)


def _features(job: tuple) -> np.ndarray:
  return log_mel(synthesize_job(*job))


# Below this many jobs one process is faster: a spawned worker imports the program's main
# module (JAX, TFDS: 2-3 s) before its first clip, and a short clip takes about 25 ms.
MIN_JOBS_PER_POOL = 256


def _run_all(fn, jobs: Sequence[tuple], processes: Optional[int], desc: str) -> list:
  """[fn(job) for job in jobs] on `processes` processes (default: every core, or one for fewer
  than MIN_JOBS_PER_POOL jobs), in job order, with a progress bar. Workers are spawned, not
  forked: a parent that has started JAX's threads cannot be forked safely."""
  jobs = list(jobs)
  if processes is None and len(jobs) < MIN_JOBS_PER_POOL:
    processes = 1
  processes = min(processes or os.cpu_count() or 1, max(1, len(jobs)))
  bar = functools.partial(tqdm, total=len(jobs), desc=desc, mininterval=5, leave=False)
  if processes == 1:
    return [fn(job) for job in bar(jobs)]
  chunksize = max(1, math.ceil(len(jobs) / (processes * 8)))  # Few round trips, balanced ends.
  with multiprocessing.get_context("spawn").Pool(processes) as pool:
    return list(bar(pool.imap(fn, jobs, chunksize=chunksize)))


def synthesize_many(jobs: Sequence[tuple], processes: Optional[int] = None,
                    desc: str = "synthesizing") -> list[np.ndarray]:
  """`synthesize_job(*job)` for each job, in the order of `jobs`, on `processes` processes
  (default: every core) with a progress bar: float32 [N_i] each.

  A job is a tuple of synthesize_job's arguments, (text, voice, speed, pitch, perturb_seed,
  snr_db, resample), the last ones optional. Each job carries its own seed, so the results do not
  depend on the number of processes.
  """
  return _run_all(_synthesize, jobs, processes, desc)


def features_many(jobs: Sequence[tuple], processes: Optional[int] = None,
                  desc: str = "synthesizing") -> list[np.ndarray]:
  """`log_mel` of each of `synthesize_many`'s clips, computed in the workers (frames are
  smaller to send back than samples): float32 [frames_i, MEL_BINS] each, in job order."""
  return _run_all(_features, jobs, processes, desc)

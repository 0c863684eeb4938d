"""Spoken arithmetic: words, offline synthesis, augmentation, audio files and log-mel features."""

import math
import re

import numpy as np
import pytest
import soundfile

from conftest import needs_voices
from s2s import audio
from s2s.audio import Voice
from s2s.errors import UserError

RATE = 16000
SLT = Voice("flite", "slt")
ESPEAK = Voice("espeak", "en-us+m3")


def tone(freq, seconds, rate, amplitude=0.5):
  return (amplitude * np.sin(2 * np.pi * freq * np.arange(round(seconds * rate)) / rate))


def peak_frequency(samples, rate):
  return np.argmax(np.abs(np.fft.rfft(samples))) * rate / len(samples)


def median_f0(samples, rate):
  """The median pitch in Hz of the loud 40 ms frames whose autocorrelation has a clear peak
  between 60 and 400 Hz."""
  win, hop = int(0.04 * rate), int(0.01 * rate)
  frames = np.lib.stride_tricks.sliding_window_view(samples, win)[::hop]
  frames = frames - frames.mean(1, keepdims=True)
  loud = np.sqrt((frames**2).mean(1)) > 0.05 * np.abs(samples).max()
  pitches = []
  for frame in frames[loud]:
    ac = np.correlate(frame, frame, "full")[win - 1:]
    low, high = rate // 400, rate // 60
    lag = low + np.argmax(ac[low:high])
    if ac[lag] > 0.5 * ac[0]:
      pitches.append(rate / lag)
  return float(np.median(pitches))


# Words.


def test_number_words_read_american_english():
  table = {0: "zero", 1: "one", 7: "seven", 11: "eleven", 13: "thirteen", 15: "fifteen",
           19: "nineteen", 20: "twenty", 40: "forty", 45: "forty five", 90: "ninety",
           100: "one hundred", 101: "one hundred one", 345: "three hundred forty five",
           1000: "one thousand", 12005: "twelve thousand five",
           1000000: "one million", 2000300: "two million three hundred",
           10**9: "one billion", audio.MAX_NUMBER: "nine hundred ninety nine billion nine "
           "hundred ninety nine million nine hundred ninety nine thousand nine hundred ninety nine",
           -7: "minus seven", -345: "minus three hundred forty five"}
  for n, words in table.items():
    assert audio.number_words(n) == words, n
  assert audio.number_words(np.int64(45)) == "forty five"
  for bad in (10**12, -10**12, 1.5, "12", True):
    with pytest.raises(ValueError):
      audio.number_words(bad)


def test_spoken_expression_reads_numbers_and_operators():
  assert audio.spoken_expression("12+345") == "twelve plus three hundred forty five"
  assert audio.spoken_expression("(1+2)*3") == "open bracket one plus two close bracket times three"
  assert audio.spoken_expression("10/5=2") == "ten divided by five equals two"
  assert audio.spoken_expression("-3+-40") == "minus three plus minus forty"
  assert audio.spoken_expression(" 12 + 345 ") == audio.spoken_expression("12+345")
  with pytest.raises(ValueError, match="'%'"):
    audio.spoken_expression("12%3")
  with pytest.raises(ValueError, match="'x'"):
    audio.spoken_expression("2x3")


# Synthesis.


@needs_voices
def test_synthesis_is_deterministic_and_voices_sound_different():
  text = audio.spoken_expression("12+345")
  clips = {}
  for voice in (SLT, Voice("flite", "awb"), ESPEAK, Voice("espeak", "en-us+f3")):
    first = audio.synthesize(text, voice)
    np.testing.assert_array_equal(first, audio.synthesize(text, voice))
    assert first.dtype == np.float32 and first.ndim == 1
    assert -1 <= first.min() and first.max() <= 1 and np.abs(first).max() > 0.1
    assert 1.0 < len(first) / RATE < 4.0, voice  # About 2.3 s of speech.
    clips[str(voice)] = first
  assert len({c.tobytes() for c in clips.values()}) == 4
  # Same voice, different speed or pitch: different samples.
  assert not np.array_equal(audio.synthesize(text, SLT, pitch=1.2), clips["flite:slt"])
  assert not np.array_equal(audio.synthesize(text, ESPEAK, speed=0.9), clips["espeak:en-us+m3"])


@needs_voices
def test_synthesis_is_at_the_requested_rate_and_pitch():
  text = "one two three four"
  # espeak-ng speaks at 22.05 kHz and flite's kal at 8 kHz: read at 16 kHz unconverted, the
  # voices would sound 28% lower and an octave higher.
  espeak = audio.synthesize(text, ESPEAK)
  assert 85 < median_f0(espeak, RATE) < 125  # en-us+m3 speaks at about 105 Hz.
  kal = audio.synthesize(text, Voice("flite", "kal"))
  assert 75 < median_f0(kal, RATE) < 110  # About 91 Hz.
  half = audio.synthesize(text, ESPEAK, rate=8000)
  assert abs(len(half) - len(espeak) / 2) < 0.01 * len(espeak)
  slt = audio.synthesize(text, SLT)
  ratio = median_f0(audio.synthesize(text, SLT, pitch=1.3), RATE) / median_f0(slt, RATE)
  assert 1.2 < ratio < 1.4


@needs_voices
@pytest.mark.parametrize("voice", [SLT, Voice("flite", "kal"), ESPEAK])
def test_speed_shortens_speech_and_silence_is_trimmed_to_50_ms(voice):
  text = "three hundred forty five times six"
  normal, fast = (audio.synthesize(text, voice, speed=s) for s in (1.0, 1.25))
  margin = round(0.05 * RATE)
  for clip in (normal, fast):
    loud = np.flatnonzero(np.abs(clip) >= 0.01 * np.abs(clip).max())
    assert loud[0] == margin and len(clip) - 1 - loud[-1] == margin
  ratio = (len(fast) - 2 * margin) / (len(normal) - 2 * margin)
  assert abs(ratio - 1 / 1.25) < 0.15 / 1.25


@needs_voices
def test_every_flite_voice_speaks():
  assert audio.FLITE_VOICES == ("kal", "kal16", "awb", "rms", "slt")
  for name in audio.FLITE_VOICES:
    clip = audio.synthesize("seven", Voice("flite", name))
    assert 0.3 < len(clip) / RATE < 2.0 and np.sqrt(np.mean(clip**2)) > 0.01, name


@needs_voices
def test_espeak_voices_are_english_and_parse_back():
  voices = audio.espeak_voices()
  names = [v.name for v in voices]
  assert len(voices) > 50 and len(set(voices)) == len(voices)
  assert all(v.engine == "espeak" and v.name.startswith("en") for v in voices)
  assert {"en-us", "en-us+m3", "en-us+f3", "en-gb-x-rp+klatt"} <= set(names)
  assert not any(n.startswith(("en-uk", "en-us+fast")) for n in names)  # mbrola; a duplicate.
  for voice in voices:
    assert Voice.parse(str(voice)) == voice
  assert str(Voice.parse("espeak:en-gb-x-rp+f2")) == "espeak:en-gb-x-rp+f2"
  for voice in voices[::len(voices) // 3]:  # A few across the accents speak.
    assert np.abs(audio.synthesize("nine", voice)).max() > 0.05, voice


@needs_voices
def test_unknown_voices_and_settings_are_refused():
  with pytest.raises(ValueError, match="engine:name"):
    Voice.parse("slt")
  with pytest.raises(ValueError, match="festival"):
    Voice.parse("festival:kal")
  # espeak-ng would quietly fall back to its default voice for either.
  for voice in (Voice("espeak", "en-us+nosuch"), Voice("espeak", "fr"),
                Voice("flite", "awb_time")):
    with pytest.raises(ValueError, match=re.escape(str(voice))):
      audio.synthesize("one", voice)
  with pytest.raises(ValueError, match="speed"):
    audio.synthesize("one", SLT, speed=3.0)
  with pytest.raises(ValueError, match="empty"):
    audio.synthesize("  ", SLT)


def test_a_missing_synthesizer_says_how_to_install_it(monkeypatch, tmp_path):
  monkeypatch.setenv("PATH", str(tmp_path))
  for voice, program in ((SLT, "flite"), (ESPEAK, "espeak-ng")):
    with pytest.raises(UserError) as e:
      audio.synthesize("one", voice)
    assert program in str(e.value) and "sudo scripts/install_system_data.sh" in str(e.value)


# Features.


def mel(f):
  return 1127 * math.log(1 + f / 700)  # HTK's definition, the same as 2595 log10(1 + f / 700).


def htk_centres(n_mels=80, rate=RATE):
  """The frequencies in Hz where HTK's filters peak: n_mels points equally spaced in mel
  strictly between 0 and rate / 2."""
  step = mel(rate / 2) / (n_mels + 1)
  return np.array([700 * (math.exp((j + 1) * step / 1127) - 1) for j in range(n_mels)])


def htk_filter(j, k, n_mels=80, n_fft=512, rate=RATE):
  """Filter j's weight at rfft bin k, from HTK's definition written out again."""
  step = mel(rate / 2) / (n_mels + 1)
  low, centre, high = j * step, (j + 1) * step, (j + 2) * step
  m = mel(k * rate / n_fft)
  if low < m <= centre:
    return (m - low) / (centre - low)
  if centre < m < high:
    return (high - m) / (high - centre)
  return 0.0


def test_mel_filterbank_is_htk_triangles_at_increasing_frequencies():
  bank = audio.mel_filterbank(80, 512, RATE)
  assert bank.shape == (257, 80) and bank.dtype == np.float32
  assert (bank >= 0).all() and (bank <= 1).all() and (bank.sum(0) > 0).all()
  for j, k in ((0, 1), (1, 1), (28, 32), (28, 33), (40, 70), (79, 250), (79, 256), (10, 200)):
    assert bank[k, j] == pytest.approx(htk_filter(j, k), abs=1e-6), (j, k)
  assert bank[32, 28] > 0.4  # Not a test of zeros only.
  fine = audio.mel_filterbank(80, 8192, RATE)  # Bins dense enough to see each peak.
  peaks = fine.argmax(0) * RATE / 8192
  assert (np.diff(peaks) > 0).all()
  np.testing.assert_allclose(peaks, htk_centres(), atol=RATE / 8192)
  with pytest.raises(ValueError, match="fmax"):
    audio.mel_filterbank(80, 512, RATE, fmax=9000)


def test_log_mel_of_a_tone_peaks_at_its_filter_and_scales_with_loudness():
  sine = tone(1000, 1.0, RATE)
  features = audio.log_mel(sine)
  assert features.dtype == np.float32
  assert features.shape == (1 + (RATE - 400) // 160, audio.MEL_BINS) == (98, 80)
  assert (features.argmax(1) == np.argmin(np.abs(htk_centres() - 1000))).all()
  louder = audio.log_mel(2 * sine)
  audible = features > -20
  np.testing.assert_allclose((louder - features)[audible], np.log(4), atol=1e-4)
  silence = audio.log_mel(np.zeros(RATE, np.float32))
  assert (silence == np.float32(np.log(1e-10))).all()


@pytest.mark.parametrize("n, frames", [(0, 1), (100, 1), (399, 1), (400, 1), (559, 1),
                                       (560, 2), (16000, 98)])
def test_log_mel_frame_count(n, frames):
  assert audio.log_mel(np.full(n, 0.1, np.float32)).shape == (frames, 80)
  assert audio.log_mel(np.full(n, 0.1), 8000, win_ms=25, hop_ms=10, n_fft=256, n_mels=40).shape \
      == (max(1, 1 + (n - 200) // 80), 40)


# Audio files.


@pytest.mark.parametrize("rate, subtype", [(8000, "PCM_U8"), (8000, "PCM_16"), (44100, "PCM_24"),
                                           (44100, "PCM_32"), (22050, "FLOAT")])
def test_read_audio_resamples_and_keeps_the_pitch(tmp_path, rate, subtype):
  path = str(tmp_path / "tone.wav")
  soundfile.write(path, tone(440, 0.75, rate), rate, subtype=subtype)
  samples = audio.read_audio(path)
  assert samples.dtype == np.float32 and abs(len(samples) - 0.75 * RATE) <= 1
  assert abs(peak_frequency(samples, RATE) - 440) <= 2
  assert np.abs(samples[1000:-1000]).max() == pytest.approx(0.5, abs=0.02)


@needs_voices
def test_read_audio_mixes_stereo_down_and_reads_flac(tmp_path):
  left, right = tone(1000, 0.5, 44100), np.zeros(22050)
  soundfile.write(str(tmp_path / "stereo.wav"), np.stack([left, right], 1), 44100)
  mono = audio.read_audio(str(tmp_path / "stereo.wav"))
  assert abs(len(mono) - 8000) <= 1 and abs(peak_frequency(mono, RATE) - 1000) <= 2
  assert np.abs(mono[1000:-1000]).max() == pytest.approx(0.25, abs=0.01)  # The mean.
  speech = audio.synthesize("forty two", SLT)
  soundfile.write(str(tmp_path / "speech.flac"), speech, RATE)
  np.testing.assert_allclose(audio.read_audio(str(tmp_path / "speech.flac")), speech,
                             atol=1 / 32768)
  assert len(audio.read_audio(str(tmp_path / "speech.flac"), rate=8000)) == math.ceil(
      len(speech) / 2)


def test_write_wav_writes_16_bit_pcm_and_clips(tmp_path):
  path = str(tmp_path / "out.wav")
  samples = np.array([0.0, 0.5, -0.5, 1.5, -2.0, 0.25], np.float32)
  audio.write_wav(path, samples)
  info = soundfile.info(path)
  assert (info.format, info.subtype, info.samplerate, info.channels) == ("WAV", "PCM_16", RATE, 1)
  np.testing.assert_allclose(audio.read_audio(path), np.clip(samples, -1, 1), atol=1 / 32768)
  with pytest.raises(ValueError, match="float"):
    audio.write_wav(path, np.zeros(4, np.int16))


def test_read_audio_refuses_in_one_sentence_naming_the_path(tmp_path):
  text = tmp_path / "notes.wav"
  text.write_text("not a sound\n")
  empty_file = tmp_path / "empty_file.wav"
  empty_file.write_bytes(b"")
  no_samples = tmp_path / "no_samples.wav"
  soundfile.write(str(no_samples), np.zeros(0), RATE)
  cases = ((tmp_path / "missing.wav", "does not exist"),
           (tmp_path, "is a directory"),
           (text, "is not a WAV or FLAC file soundfile can read ("),
           (empty_file, "is not a WAV or FLAC file soundfile can read ("),
           (no_samples, "holds no audio"))
  for path, words in cases:
    with pytest.raises(UserError) as e:
      audio.read_audio(str(path))
    message = str(e.value)
    assert message.startswith(f"{path} {words}") and "\n" not in message, message


# Augmentation.


@pytest.fixture(scope="module")
def speech():
  return audio.synthesize("three hundred forty five", SLT)


@needs_voices
def test_perturb_depends_only_on_the_seed(speech):
  def draw(seed):
    return audio.perturb(speech, np.random.default_rng(seed))
  np.testing.assert_array_equal(draw(3), draw(3))
  assert not np.array_equal(draw(3), draw(4))
  lengths = {len(draw(seed)) for seed in range(10)}
  assert len(lengths) > 3 and all(0.89 * len(speech) < n < 1.12 * len(speech) for n in lengths)
  out = draw(5)
  assert out.dtype == np.float32 and np.abs(out).max() <= 1
  np.testing.assert_array_equal(audio.perturb(speech, np.random.default_rng(0), speed=None,
                                              snr_db=None, gain_db=None), speech)


@pytest.mark.parametrize("factor", [0.8, 1.2])
def test_perturb_speed_changes_tempo_and_pitch_together(factor):
  sine = tone(440, 1.0, RATE).astype(np.float32)
  fast = audio.perturb(sine, np.random.default_rng(0), speed=(factor, factor), snr_db=None,
                       gain_db=None)
  assert abs(len(fast) - RATE / factor) <= 1
  assert abs(peak_frequency(fast, RATE) - 440 * factor) <= 2


@needs_voices
def test_perturb_adds_noise_at_the_drawn_snr_and_applies_the_gain(speech):
  def snr(clean, noisy):
    return 10 * np.log10(np.mean(clean.astype(np.float64)**2)
                         / np.mean((noisy.astype(np.float64) - clean)**2))
  noisy = [audio.perturb(speech, np.random.default_rng(seed), speed=None, gain_db=None)
           for seed in range(8)]
  measured = [snr(speech, n) for n in noisy]
  assert all(15 - 0.01 <= s <= 35 + 0.01 for s in measured) and np.ptp(measured) > 5
  # The noise's colour varies, from about white (a share of 500 / 8000 of its power below
  # 500 Hz) to mostly pink (most of it there).
  low = []
  for n in noisy:
    power = np.abs(np.fft.rfft(n - speech))**2
    low.append(power[:len(power) * 500 // 8000].sum() / power.sum())
  assert min(low) < 0.2 and max(low) > 0.4
  exact = audio.perturb(speech, np.random.default_rng(1), speed=None, snr_db=(20, 20),
                        gain_db=None)
  assert snr(speech, exact) == pytest.approx(20, abs=0.01)
  quieter = audio.perturb(speech, np.random.default_rng(1), speed=None, snr_db=None,
                          gain_db=(-6, -6))
  np.testing.assert_allclose(quieter, speech * 10**(-6 / 20), atol=1e-6)


# Many clips.


@needs_voices
def test_synthesize_many_is_in_job_order_and_independent_of_processes():
  jobs = [("one", "flite:slt"), ("two plus two", "espeak:en-us+f3", 1.1, 0.9, 7),
          ("three", "flite:kal", 1.0, 1.0, 3, None), ("four hundred", "espeak:en-gb", 0.9),
          ("five", "flite:awb", 1.0, 1.2, 11, (20.0, 20.0))]
  serial = audio.synthesize_many(jobs, processes=1)
  parallel = audio.synthesize_many(jobs, processes=2)
  assert len(serial) == len(parallel) == len(jobs)
  for job, a, b in zip(jobs, serial, parallel):
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, audio.synthesize_job(*job))
  assert len({len(a) for a in serial}) == len(jobs)  # Distinct clips, not one repeated.
  # A job's seed drives `perturb`, whose noise it can switch off.
  three = audio.synthesize("three", Voice("flite", "kal"))
  np.testing.assert_array_equal(
      serial[2], audio.perturb(three, np.random.default_rng(3), snr_db=None))
  np.testing.assert_array_equal(serial[0], audio.synthesize("one", SLT))
  features = audio.features_many(jobs, processes=2)
  for a, f in zip(serial, features):
    np.testing.assert_array_equal(f, audio.log_mel(a))

from setuptools import find_packages, setup

setup(
    name="s2s",
    version="0.1.0",
    description="LSTM sequence-to-sequence models in JAX/Flax: arithmetic as translation and beyond",
    packages=find_packages(include=["s2s", "s2s.*"]),
    python_requires=">=3.10",
    install_requires=[
        "jax>=0.4.30",
        "flax>=0.10",
        "optax>=0.2.3",
        "ml_collections>=0.1.1",
        "tensorflow-datasets>=4.9.6",
        "importlib_resources",  # tensorflow-datasets needs it for builders in packages.
        "grain>=0.2.10",
        "orbax-checkpoint>=0.11",
        "array_record>=0.5",
        "tensorboardX>=2.6",
        "absl-py",
        "numpy",
        "tqdm",
        "submitit>=1.5",  # scripts/launch.py --backend slurm.
        "matplotlib>=3.7",  # scripts/aggregate.py plots, attention heatmaps.
        "sentencepiece>=0.2",  # Translation: subword tokenizers.
        "sacrebleu>=2.4",  # Translation: BLEU and chrF.
        "scikit-learn>=1.3",  # Captioning: its bundled handwritten digits (load_digits).
        "scipy>=1.10",  # Captioning: redrawing handwritten digits (ndimage).
        "Pillow>=9",  # Captioning: image files.
        "pycocoevalcap>=1.2",  # Captioning: the COCO caption scorer (METEOR needs Java).
        "soundfile>=0.12",  # Speech: WAV and FLAC files.
        "jiwer>=3.0",  # Speech: WER and CER.
    ],
    extras_require={
        "wandb": ["wandb>=0.18"],
        # pytest-xdist: the suite runs on both cores (-n 2), one worker per test file.
        # keras: tests/test_benchmark.py runs the Keras 3 (JAX backend) peer of --peers.
        "test": ["pytest>=8", "pytest-xdist>=3.5", "wandb>=0.18", "tensorboard>=2.15",
                 "keras>=3.5"],
        # scripts/benchmark.py --peers: the Keras recipe in Keras 3 on JAX and on TensorFlow.
        "peers": ["keras>=3.5", "tensorflow-cpu>=2.16"],
    },
)

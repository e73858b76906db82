"""A localisation check: can a small classifier tell, from one binaural observation (one env
step of audio, turned into an audio feature), where a sound comes from?

Samples. For every apartment of the train split (to fit) and of the held-out test split (to
evaluate): ``sources_per_scene`` source nodes of the navigation graph, and for each of them
receivers drawn from the other nodes (half in the source's room, half elsewhere, at least
``min_distance`` away). One RIR per (source, receiver) (``compute_rirs``, head-independent),
rendered for every head at ``headings_per_pair`` uniformly random headings (each a sample). The
source plays a random "heard" sound (``sound_names("heard")``, looped as the env loops it) and
the observation is the 1-second step heard from a random point of its loop where the source is
heard sounding (``sounds.active_starts``: the excerpt holds at least half the energy of the
loudest one, so never only a telephone's pause), with the reverberation of what it played before (the
env's ``StepConvolver`` / ``features.hear`` for a start past one RIR length), clipped at the env's
full scale (±4). Every feature of ``cues.FEATURES`` is computed from that same audio.

Labels, all relative to the head (azimuth counter-clockwise from its forward direction, 90° = left):
- LOS (the RIR has a direct path: its first arrival's delay is the straight distance / c):
  ``azimuth-8``, the source's azimuth in 8 bins (bin k centred on k·45°), and ``front-back``
  (0: front half, 1: back half; samples within ±15° of the ±90° boundary are dropped);
- NLOS (no direct path and the receiver in another room than the source): ``door-8``, the
  direction of the first arrival (the path through the door), 8 bins. Pairs without any
  arrival are skipped; a same-room pair without a direct path (furniture in the way) is
  neither LOS nor NLOS and is dropped (counted in ``counts``).

Classifier: per (head, feature, label) a small CNN (two conv + pool blocks, a linear layer),
inputs standardised per element with the training set's mean and std, trained with Adam for
``epochs`` epochs; the epoch kept is the best on the validation scenes (the last
``val_fraction`` of the train scenes), and it is evaluated once on the test scenes. 95% CIs:
percentiles of 1000 bootstrap draws of the test scenes (resampled with replacement; a scene's
samples go together).

Controls (``rir_part``): "direct" hears only each RIR's first arrival (the direct path with line
of sight, the door path without), "early" only its discrete arrivals within 50 ms of the first
(image sources and door paths), neither with the diffuse tail: they tell what the room's
reverberation takes away from the same samples, labels and classifiers.

``run_localisation(config)`` returns the results dict and writes ``results.json`` and
``table.md`` to ``config.out`` (and, with ``cache_features``, the generated features as
``features.npz`` keyed by the sampling settings, reused by the next run with the same ones).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..cli import option
from ..files import atomic_path, write_json_atomic, write_text_atomic
from ..scenes import NavGraph, generate_apartment, split_seeds
from ..scenes.lru import LRU
from .config import AUDIO_FULL_SCALE, AudioConfig
from .cues import FEATURES
from .features import excerpt_fft_size, excerpt_spectrum, hear_excerpts
from .heads import load_head
from .rir import compute_rirs
from .sounds import active_starts, make_sound, sound_names

ENV_FULL_SCALE = AUDIO_FULL_SCALE  # the env's microphones clip at ±4 (acoustics.config)
LABELS = ("azimuth-8", "front-back", "door-8")
LABEL_TITLES = {"azimuth-8": "LOS azimuth-8", "front-back": "LOS front/back", "door-8": "NLOS door-8"}
CHANCE = {"azimuth-8": 1 / 8, "front-back": 1 / 2, "door-8": 1 / 8}
TARGETS = {"azimuth-8": 0.55, "front-back": 0.85, "door-8": 0.30}
BOUNDARY_MARGIN_DEG = 15.0
LOS_TOLERANCE_M = 1e-3
RIR_PARTS = ("full", "direct", "early")
EARLY_SECONDS = 0.05


@dataclass
class LocalisationConfig:
    """Options of the localisation check (``scripts/validate_acoustics.py localisation``)."""

    out: str = option("outputs/localisation", "folder for results.json, table.md (and features.npz)", nonempty=True)
    train_scenes: int = option(60, "train-split apartments to fit on (the last val_fraction of them select the epoch)",
                               low=2, high=10_000)
    test_scenes: int = option(25, "held-out test-split apartments to evaluate on", low=1, high=100)
    sources_per_scene: int = option(2, "source nodes per apartment", low=1, high=20)
    receivers_per_source: int = option(20, "receiver nodes per source (half in its room, half elsewhere)", low=1,
                                       high=500)
    min_distance: float = option(1.0, "m, smallest source-receiver distance", low=0.0, high=10.0)
    headings_per_pair: int = option(1, "headings each source-receiver pair is heard at (each a sample: a heading "
                                    "costs no new acoustic simulation)", low=1, high=16)
    heads: str = option("sphere,kemar", "comma-separated heads (sphere, kemar or HRIR file paths)", nonempty=True)
    features: str = option("all", "comma-separated features of acoustics.cues.FEATURES, or all", nonempty=True)
    labels: str = option(",".join(LABELS), f"comma-separated labels of {', '.join(LABELS)}", nonempty=True)
    seed: int = option(0, "seed of the sampling and of the classifiers", low=0)
    epochs: int = option(12, "training epochs per classifier", low=1, high=500)
    batch_size: int = option(64, "minibatch size", low=1, high=4096)
    lr: float = option(1e-3, "Adam learning rate", low=1e-6, high=1.0)
    val_fraction: float = option(0.15, "fraction of the train scenes that select the epoch", low=0.0, high=0.5)
    bootstrap: int = option(1000, "bootstrap draws over test scenes", low=10, high=100_000)
    threads: int = option(2, "torch CPU threads", low=1, high=256)
    cache_features: bool = option(True, "keep the generated features in out/features.npz and reuse them")
    rir_part: str = option("full", "what of each RIR is heard: full (the check), or controls: direct (the first "
                           "arrival alone: the direct path, or the door path without line of sight), early (the "
                           "arrivals of the first 50 ms, no diffuse tail)", choices=RIR_PARTS)

    def head_list(self) -> list[str]:
        return [h.strip() for h in self.heads.split(",") if h.strip()]

    def feature_list(self) -> list[str]:
        if self.features.strip() == "all":
            return list(FEATURES)
        return [f.strip() for f in self.features.split(",") if f.strip()]

    def label_list(self) -> list[str]:
        return [x.strip() for x in self.labels.split(",") if x.strip()]

    def check(self) -> None:
        unknown = [f for f in self.feature_list() if f not in FEATURES]
        if unknown or not self.feature_list():
            raise ValueError(f"features: unknown {unknown}; choose from {', '.join(FEATURES)} or 'all'")
        bad = [x for x in self.label_list() if x not in LABELS]
        if bad or not self.label_list():
            raise ValueError(f"labels: unknown {bad}; choose from {', '.join(LABELS)}")
        if not self.head_list():
            raise ValueError("heads: name at least one head")
        for h in self.head_list():
            AudioConfig(head=h)  # raises a clear error for an unknown head


# ---------------------------------------------------------------------------- labels
def relative_azimuth(direction, heading) -> np.ndarray:
    """Azimuth in [0, 2π) of world-frame ``direction`` (..., 2 or 3) relative to a head facing
    ``heading`` (radians CCW from +x): 0 ahead, π/2 left."""
    d = np.asarray(direction, np.float64)
    return np.mod(np.arctan2(d[..., 1], d[..., 0]) - np.asarray(heading, np.float64), 2 * np.pi)


def azimuth_bin(azimuth, bins: int = 8) -> np.ndarray:
    """Bin k is centred on k·360°/bins (bin 0 straight ahead, bin 2 of 8 on the left)."""
    width = 2 * np.pi / bins
    return (np.floor(np.mod(np.asarray(azimuth, np.float64) + width / 2, 2 * np.pi) / width).astype(np.int64)) % bins


def front_back(azimuth, margin_deg: float = BOUNDARY_MARGIN_DEG) -> np.ndarray:
    """0 (front half), 1 (back half) or -1 (within ``margin_deg`` of the ±90° boundary: dropped)."""
    a = np.abs(np.arctan2(np.sin(azimuth), np.cos(azimuth)))  # 0 ahead .. π behind
    label = np.where(a < np.pi / 2, 0, 1).astype(np.int64)
    return np.where(np.abs(a - np.pi / 2) < np.radians(margin_deg), -1, label)


def classify_rir(rir, src, rec, same_room: bool, speed_of_sound: float):
    """("los", direction to the source) when the RIR has a direct path, ("nlos", first arrival's
    direction) when it has none and the receiver is in another room, ("none", None) when it has no
    arrival, ("blocked", None) for a same-room pair without a direct path."""
    if len(rir.delays) == 0:
        return "none", None
    first = int(np.argmin(rir.delays))
    dist = float(np.linalg.norm(np.asarray(src) - np.asarray(rec)))
    if abs(rir.delays[first] * speed_of_sound - dist) < LOS_TOLERANCE_M:
        return "los", (np.asarray(src, np.float64) - np.asarray(rec, np.float64)) / max(dist, 1e-12)
    if same_room:
        return "blocked", None
    return "nlos", np.asarray(rir.directions[first], np.float64)


def rir_part(rir, part: str):
    """``rir`` itself ("full"), or a copy that keeps only its first arrival ("direct") or its
    arrivals within ``EARLY_SECONDS`` of the first ("early"), without the diffuse tail: controls
    that tell what the room's reverberation takes away."""
    if part == "full" or len(rir.delays) == 0:
        return rir
    from dataclasses import replace

    first = rir.delays.min()
    if part == "direct":
        keep = np.arange(len(rir.delays)) == int(np.argmin(rir.delays))
    else:
        keep = rir.delays < first + EARLY_SECONDS
    # a tail that would start after 1000 s is never heard
    return replace(rir, delays=rir.delays[keep], gains=rir.gains[keep], directions=rir.directions[keep],
                   tail_onset=1e3, tail_full=1e3, _cache={})


# ---------------------------------------------------------------------------- samples
_sounds: LRU = LRU(32)


def _sound(sound: str, sample_rate: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(one period of the built-in ``sound``, the starts of its ``window``-sample excerpts where it
    is heard sounding: ``sounds.active_starts``), made once per process for the few sounds used."""
    def make():
        wave = make_sound(sound, sample_rate)
        return wave, active_starts(wave, window)

    return _sounds.get_or_create((sound, sample_rate, window), make)


def _scene_rng(seed: int, split: str, scene_seed: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), {"train": 1, "test": 2, "val": 3}[split], int(scene_seed)])


def scene_samples(scene_seed: int, split: str, cfg: LocalisationConfig, audio: AudioConfig | None = None,
                  heads: dict | None = None, features: list[str] | None = None) -> dict:
    """The samples of one apartment: metadata arrays (kind 0 LOS / 1 NLOS, azimuth, labels, ...)
    and ``feats[head][feature]`` (S, H, W, C) float16. Deterministic in (cfg.seed, split, scene)."""
    audio = audio or AudioConfig()
    heads = heads if heads is not None else {h: load_head(audio.replace(head=h)) for h in cfg.head_list()}
    features = features if features is not None else cfg.feature_list()
    rng = _scene_rng(cfg.seed, split, scene_seed)
    scene = generate_apartment(int(scene_seed))
    graph = NavGraph.build(scene, spacing=0.5)
    pos = graph.positions
    rooms = np.array([scene.room_at(p) for p in pos])
    sounds = sound_names("heard")
    c = audio.speed_of_sound
    meta = {k: [] for k in ("kind", "azimuth", "heading", "distance", "sound", "offset", "src", "rec")}
    drops = {"none": 0, "blocked": 0}
    audios = []
    n, m = audio.step_samples, int(round(audio.rir_seconds * audio.sample_rate))
    size = None
    for _ in range(cfg.sources_per_scene):
        s = int(rng.integers(len(pos)))
        far = np.linalg.norm(pos[:, :2] - pos[s, :2], axis=1) >= cfg.min_distance
        inside = np.flatnonzero(far & (rooms == rooms[s]))
        outside = np.flatnonzero(far & (rooms != rooms[s]))
        k_out = min(len(outside), cfg.receivers_per_source // 2)
        k_in = min(len(inside), cfg.receivers_per_source - k_out)
        rec = np.r_[rng.choice(inside, k_in, replace=False) if k_in else np.zeros(0, np.int64),
                    rng.choice(outside, k_out, replace=False) if k_out else np.zeros(0, np.int64)].astype(np.int64)
        if len(rec) == 0:
            continue
        src = pos[s] + [0, 0, audio.source_height]
        ears = pos[rec] + [0, 0, audio.ear_height]
        rirs = compute_rirs(scene, src, ears, audio, check_free_space=False)
        for r_node, ear, rir in zip(rec, ears, rirs):
            # draws happen for every pair, kept or not, so that a drop does not shift later samples
            draws = []
            for _ in range(cfg.headings_per_pair):
                heading = float(rng.uniform(0, 2 * np.pi))
                sound = sounds[int(rng.integers(len(sounds)))]
                # a moment when the source is heard sounding (acoustics.sounds.active_starts)
                active = _sound(sound, audio.sample_rate, n)[1]
                draws.append((heading, sound, int(active[int(rng.integers(len(active)))])))
            kind, direction = classify_rir(rir, src, ear, rooms[r_node] == rooms[s], c)
            if kind in drops:
                drops[kind] += cfg.headings_per_pair
                continue
            heard_rir = rir_part(rir, cfg.rir_part)
            for heading, sound, offset in draws:
                wave = _sound(sound, audio.sample_rate, n)[0]
                binaural = np.stack([heard_rir.binaural(heading, hrtf=h) for h in heads.values()])  # (heads, 2, m)
                m = binaural.shape[-1]
                if size is None:
                    size = excerpt_fft_size(n, m)
                spec = excerpt_spectrum(wave, m - 1 + offset, m, n, size)
                heard = np.clip(hear_excerpts(spec, binaural, size, m, n), -ENV_FULL_SCALE, ENV_FULL_SCALE)
                audios.append(heard)
                meta["kind"].append(0 if kind == "los" else 1)
                meta["azimuth"].append(relative_azimuth(direction, heading))
                meta["heading"].append(heading)
                meta["distance"].append(float(np.linalg.norm(src - ear)))
                meta["sound"].append(sounds.index(sound))
                meta["offset"].append(offset)
                meta["src"].append(src)
                meta["rec"].append(ear)
            rir.drop_render_cache()
            heard_rir.drop_render_cache()
    out = {k: np.asarray(v) for k, v in meta.items()}
    out["src"] = out["src"].reshape(-1, 3)
    out["rec"] = out["rec"].reshape(-1, 3)
    out["azimuth"] = out["azimuth"].astype(np.float64)
    out["kind"] = out["kind"].astype(np.int64)
    out["drops"] = drops
    feats = {}
    for hi, h in enumerate(heads):
        feats[h] = {}
        for f in features:
            rows = [np.asarray(FEATURES[f](a[hi], audio), np.float32) for a in audios]
            feats[h][f] = np.stack(rows).astype(np.float16) if rows else None
    out["feats"] = feats
    return out


def sample_labels(kind: np.ndarray, azimuth: np.ndarray) -> dict[str, np.ndarray]:
    """Per label (S,) int64 classes, -1 where a sample does not take part."""
    los, nlos = kind == 0, kind == 1
    az8 = azimuth_bin(azimuth)
    return {"azimuth-8": np.where(los, az8, -1), "front-back": np.where(los, front_back(azimuth), -1),
            "door-8": np.where(nlos, az8, -1)}


def _sampling_key(cfg: LocalisationConfig, audio: AudioConfig) -> str:
    keys = {k: getattr(cfg, k) for k in ("train_scenes", "test_scenes", "sources_per_scene", "receivers_per_source",
                                         "min_distance", "seed", "rir_part", "headings_per_pair")}
    keys.update(heads=cfg.head_list(), features=cfg.feature_list(), audio=asdict(audio), version=2)
    return hashlib.sha256(json.dumps(keys, sort_keys=True, default=str).encode()).hexdigest()[:16]


def generate_samples(cfg: LocalisationConfig, audio: AudioConfig | None = None, log=print) -> dict:
    """All samples: ``scene`` (S,) apartment seed, ``split`` (S,) 0 train / 1 test, the metadata of
    ``scene_samples``, ``labels`` and ``feats[head][feature]`` (S, H, W, C) float16."""
    audio = audio or AudioConfig()
    heads = {h: load_head(audio.replace(head=h)) for h in cfg.head_list()}
    features = cfg.feature_list()
    key = _sampling_key(cfg, audio)
    cache = Path(cfg.out) / "features.npz"
    if cfg.cache_features and cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            if str(z["key"]) == key:
                log(f"features: reusing {cache}")
                data = {k: z[k] for k in z.files if not k.startswith("feat:") and k != "key"}
                data["feats"] = {h: {f: z[f"feat:{h}:{f}"] for f in features} for h in heads}
                data["drops"] = json.loads(str(data.pop("drops_json")))
                data["labels"] = sample_labels(data["kind"], data["azimuth"])
                return data
    jobs = [("train", s) for s in list(split_seeds("train"))[: cfg.train_scenes]] + \
           [("test", s) for s in list(split_seeds("test"))[: cfg.test_scenes]]
    parts, t0 = [], time.time()
    drops = {"none": 0, "blocked": 0}
    for i, (split, s) in enumerate(jobs):
        p = scene_samples(s, split, cfg, audio, heads, features)
        p["scene"] = np.full(len(p["kind"]), s, np.int64)
        p["split"] = np.full(len(p["kind"]), 0 if split == "train" else 1, np.int64)
        for k in drops:
            drops[k] += p["drops"][k]
        parts.append(p)
        if (i + 1) % 10 == 0 or i + 1 == len(jobs):
            log(f"samples: {i + 1}/{len(jobs)} scenes, {sum(len(q['kind']) for q in parts)} samples, "
                f"{time.time() - t0:.0f} s")
    data = {k: np.concatenate([p[k] for p in parts if len(p[k])]) for k in
            ("scene", "split", "kind", "azimuth", "heading", "distance", "sound", "offset", "src", "rec")}
    data["feats"] = {h: {f: np.concatenate([p["feats"][h][f] for p in parts if p["feats"][h][f] is not None])
                         for f in features} for h in heads}
    data["drops"] = drops
    data["labels"] = sample_labels(data["kind"], data["azimuth"])
    if cfg.cache_features:
        arrays = {k: v for k, v in data.items() if isinstance(v, np.ndarray)}
        arrays["drops_json"] = np.array(json.dumps(drops))
        arrays["key"] = np.array(key)
        for h in heads:
            for f in features:
                arrays[f"feat:{h}:{f}"] = data["feats"][h][f]
        with atomic_path(cache) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
    return data


# ---------------------------------------------------------------------------- classifier
def _network(in_shape: tuple[int, int, int], classes: int):
    import torch.nn as nn

    h, w, c = in_shape
    hh, ww = -(-(-(-h // 2)) // 2), -(-(-(-w // 2)) // 2)
    return nn.Sequential(
        nn.Conv2d(c, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
        nn.Conv2d(64, 32, 1), nn.ReLU(), nn.Flatten(), nn.Dropout(0.3),
        nn.Linear(32 * hh * ww, 128), nn.ReLU(), nn.Linear(128, classes))


def train_classifier(x_train, y_train, x_val, y_val, classes: int, cfg: LocalisationConfig, seed: int):
    """Fit a small CNN on (N, H, W, C) inputs; returns ``predict(x) -> (N,) classes`` and a log.
    Inputs are standardised per element with the training set's statistics; the weights kept are
    those of the epoch with the best validation accuracy (the last epoch when there is none)."""
    import torch

    torch.manual_seed(seed)
    gen = np.random.default_rng(seed)
    xt = np.asarray(x_train, np.float32)
    mean = xt.mean(axis=0)
    std = np.maximum(xt.std(axis=0), 1e-3)

    def prep(x):
        return torch.from_numpy(np.ascontiguousarray(((np.asarray(x, np.float32) - mean) / std).transpose(0, 3, 1, 2)))

    net = _network(xt.shape[1:], classes)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    xt_t, yt_t = prep(xt), torch.from_numpy(np.asarray(y_train, np.int64))
    xv_t = prep(x_val) if len(x_val) else None

    def predict_tensor(x):
        net.eval()
        with torch.no_grad():
            return torch.cat([net(x[i:i + 512]).argmax(1) for i in range(0, len(x), 512)]).numpy()

    best, best_state, history = -1.0, None, []
    for epoch in range(cfg.epochs):
        net.train()
        order = gen.permutation(len(xt_t))
        total = 0.0
        for i in range(0, len(order), cfg.batch_size):
            idx = torch.from_numpy(order[i:i + cfg.batch_size])
            if len(idx) < 2:
                continue
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xt_t[idx]), yt_t[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        val = float(np.mean(predict_tensor(xv_t) == y_val)) if xv_t is not None else float("nan")
        history.append({"epoch": epoch + 1, "loss": total / len(order), "val_acc": val})
        if xv_t is None or val > best:
            best = val
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    net.load_state_dict(best_state)
    return (lambda x: predict_tensor(prep(x)) if len(x) else np.zeros(0, np.int64)), history


def bootstrap_ci(correct: np.ndarray, groups: np.ndarray, draws: int, seed: int) -> tuple[float, float, float]:
    """Accuracy and its 95% percentile interval over ``draws`` resamplings of the groups (test
    scenes) with replacement."""
    correct = np.asarray(correct, np.float64)
    if len(correct) == 0:
        return float("nan"), float("nan"), float("nan")
    ids, inverse = np.unique(groups, return_inverse=True)
    hits = np.bincount(inverse, weights=correct, minlength=len(ids))
    counts = np.bincount(inverse, minlength=len(ids)).astype(np.float64)
    rng = np.random.default_rng(seed)
    pick = rng.integers(len(ids), size=(draws, len(ids)))
    accs = hits[pick].sum(axis=1) / np.maximum(counts[pick].sum(axis=1), 1)
    lo, hi = np.percentile(accs, [2.5, 97.5])
    return float(correct.mean()), float(lo), float(hi)


# ---------------------------------------------------------------------------- the check
def run_localisation(cfg: LocalisationConfig, audio: AudioConfig | None = None, log=print) -> dict:
    """Generate samples, fit and evaluate every (head, feature, label) classifier; write
    ``results.json`` and ``table.md`` to ``cfg.out`` and return the results."""
    import torch

    cfg.check()
    torch.set_num_threads(cfg.threads)
    audio = audio or AudioConfig()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    data = generate_samples(cfg, audio, log)
    t_samples = time.time() - t0
    split, scene = data["split"], data["scene"]
    train_seeds = list(split_seeds("train"))[: cfg.train_scenes]
    n_val = int(round(cfg.val_fraction * len(train_seeds)))
    val_seeds = set(train_seeds[len(train_seeds) - n_val:]) if n_val else set()
    is_val = np.isin(scene, list(val_seeds)) & (split == 0)
    fit = (split == 0) & ~is_val
    test = split == 1
    results = {"config": asdict(cfg), "audio": asdict(audio), "drops": data["drops"], "rows": [],
               "counts": {}, "targets": TARGETS, "chance": CHANCE}
    for label in cfg.label_list():
        y = data["labels"][label]
        results["counts"][label] = {"fit": int(((y >= 0) & fit).sum()), "val": int(((y >= 0) & is_val).sum()),
                                    "test": int(((y >= 0) & test).sum()),
                                    "test_scenes": int(len(np.unique(scene[(y >= 0) & test])))}
    log(f"samples: {len(split)} ({int((data['kind'] == 0).sum())} LOS, {int((data['kind'] == 1).sum())} NLOS; "
        f"dropped {data['drops']}) in {t_samples:.0f} s; counts {results['counts']}")
    k = 0
    for head in cfg.head_list():
        for feature in cfg.feature_list():
            x = data["feats"][head][feature]
            row = {"head": head, "feature": feature, "shape": list(x.shape[1:]), "labels": {}}
            for label in cfg.label_list():
                k += 1
                y = data["labels"][label]
                classes = 2 if label == "front-back" else 8
                use_fit, use_val, use_test = (y >= 0) & fit, (y >= 0) & is_val, (y >= 0) & test
                t1 = time.time()
                predict, history = train_classifier(x[use_fit], y[use_fit], x[use_val], y[use_val], classes, cfg,
                                                    seed=cfg.seed * 1000 + k)
                pred = predict(x[use_test])
                correct = pred == y[use_test]
                acc, lo, hi = bootstrap_ci(correct, scene[use_test], cfg.bootstrap, cfg.seed)
                majority = float(np.mean(y[use_test] == np.bincount(y[use_fit], minlength=classes).argmax())) \
                    if use_test.any() else float("nan")
                row["labels"][label] = {"acc": acc, "ci": [lo, hi], "n_test": int(use_test.sum()),
                                        "n_fit": int(use_fit.sum()), "majority": majority,
                                        "best_val": max(h["val_acc"] for h in history), "history": history,
                                        "seconds": time.time() - t1}
                log(f"[{k}] {head:>6} {feature:<14} {label:<10} acc {acc:.3f} [{lo:.3f}, {hi:.3f}] "
                    f"(n={int(use_test.sum())}, val {row['labels'][label]['best_val']:.3f}, {time.time() - t1:.0f} s)")
            results["rows"].append(row)
    results["seconds"] = {"samples": t_samples, "total": time.time() - t0}
    write_json_atomic(out / "results.json", results)
    write_text_atomic(out / "table.md", results_table(results))
    log(f"wrote {out / 'results.json'} and {out / 'table.md'} ({time.time() - t0:.0f} s)")
    return results


def results_table(results: dict) -> str:
    """The markdown table: rows head × feature, columns the labels as "acc [lo, hi]"."""
    labels = [x for x in LABELS if x in results["counts"]]
    part = results["config"].get("rir_part", "full")
    title = "" if part == "full" else f"RIR heard: {part} (a control)\n\n"
    head = title + "| head | feature | " + " | ".join(LABEL_TITLES[x] for x in labels) + " |"
    lines = [head, "|" + "---|" * (2 + len(labels))]
    lines.append("| target | | " + " | ".join(f"≥ {TARGETS[x]:.2f} (chance {CHANCE[x]:.3f})" for x in labels) + " |")
    for row in results["rows"]:
        cells = []
        for x in labels:
            r = row["labels"][x]
            cells.append(f"{r['acc']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]")
        lines.append(f"| {row['head']} | {row['feature']} | " + " | ".join(cells) + " |")
    counts = results["counts"]
    lines.append("| n (fit / val / test, test scenes) | | " + " | ".join(
        f"{counts[x]['fit']} / {counts[x]['val']} / {counts[x]['test']}, {counts[x]['test_scenes']}" for x in labels)
        + " |")
    return "\n".join(lines) + "\n"


__all__ = ["CHANCE", "LABELS", "LocalisationConfig", "TARGETS", "azimuth_bin", "bootstrap_ci", "classify_rir",
           "front_back", "generate_samples", "relative_azimuth", "results_table", "rir_part", "run_localisation",
           "sample_labels", "scene_samples", "train_classifier"]

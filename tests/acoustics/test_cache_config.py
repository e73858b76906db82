"""The precompute fills what the env reads (one default), and a cache filled with other audio
settings is reported once, naming them."""

import json
import logging

import numpy as np
import pytest

from earshot.acoustics import AudioConfig, RIRCache
from earshot.acoustics.cache_files import CONFIG_RECORD
from earshot.acoustics.precompute import PrecomputeConfig, make_jobs, run
from earshot.scenes import shoebox

MISMATCH = "was filled with"


@pytest.fixture(scope="module")
def room():
    return shoebox(6.0, 5.0, 3.0, "plaster")


def _mismatches(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "earshot.acoustics.cache" and MISMATCH in r.getMessage()]


def _fill(root, room, config, sources=((1.0, 1.0, 1.5), (2.0, 1.5, 1.5))):
    cache = RIRCache(root)
    for s in sources:
        cache.get(room, s, [4.0, 3.0, 1.5], config=config)
    cache.flush()


def test_default_precompute_fills_what_a_default_env_reads():
    from earshot.av_env.config import EnvConfig

    env_config = EnvConfig.from_kwargs().acoustics.config
    assert PrecomputeConfig().audio_config() == AudioConfig()
    assert PrecomputeConfig().audio_config().config_hash == env_config.config_hash
    # the precompute's options change only what they name; every other field is AudioConfig's default
    custom = PrecomputeConfig(tail="parametric", ism_order=2, sample_rate=44_100).audio_config()
    assert custom == AudioConfig().replace(tail="parametric", ism_order=2, sample_rate=44_100)


def test_config_folders_record_their_config(tmp_path, room):
    config = AudioConfig(tail="parametric")
    _fill(tmp_path, room, config)
    records = list(tmp_path.rglob(CONFIG_RECORD))
    assert len(records) == 1 and records[0].parent == RIRCache(tmp_path).path(room, [1, 1, 1.5], config=config).parent
    record = json.loads(records[0].read_text())
    assert record["config_hash"] == config.config_hash and record["audio_config"]["tail"] == "parametric"


def test_cache_of_another_config_warns_once_naming_the_setting(tmp_path, room, caplog):
    _fill(tmp_path, room, AudioConfig(tail="parametric"))
    caplog.set_level(logging.WARNING, logger="earshot.acoustics.cache")
    ours = AudioConfig()
    for _ in range(2):  # two caches in one process (a precompute opens one per job): still one warning
        cache = RIRCache(tmp_path)
        for s in ([1.0, 1.0, 1.5], [2.0, 1.5, 1.5], [3.0, 2.0, 1.5]):
            assert cache.lookup(room, s, [4.0, 3.0, 1.5], config=ours) is None
    messages = _mismatches(caplog)
    assert len(messages) == 1
    assert messages[0] == (f"the RIR cache at {tmp_path} was filled with tail='parametric'; this env uses "
                           "tail='traced': nothing in it will be read; rerun scripts/precompute_rirs.py with the "
                           "env's settings")


def test_mismatch_names_every_differing_setting_and_unrecorded_folders(tmp_path, room, caplog):
    _fill(tmp_path, room, AudioConfig(tail="parametric", ism_order=1))
    caplog.set_level(logging.WARNING, logger="earshot.acoustics.cache")
    RIRCache(tmp_path).lookup(room, [1.0, 1.0, 1.5], [4.0, 3.0, 1.5], config=AudioConfig(tail="parametric"))
    (message,) = _mismatches(caplog)
    assert "filled with ism_order=1; this env uses ism_order=3" in message
    # a folder filled before configs were recorded: named by its hash
    for record in tmp_path.rglob(CONFIG_RECORD):
        record.unlink()
    caplog.clear()
    RIRCache(tmp_path).lookup(room, [1.0, 1.0, 1.5], [4.0, 3.0, 1.5], config=AudioConfig(tail="parametric", ism_order=2))
    (message,) = _mismatches(caplog)
    folder = RIRCache(tmp_path).path(room, [1, 1, 1.5], config=AudioConfig(tail="parametric", ism_order=1)).parent.name
    assert f"filled with other audio settings (config hash {folder}…, not recorded)" in message


def test_no_warning_when_the_cache_holds_its_own_config_or_nothing(tmp_path, room, caplog):
    caplog.set_level(logging.WARNING, logger="earshot.acoustics.cache")
    ours = AudioConfig(tail="parametric")
    RIRCache(tmp_path / "empty").lookup(room, [1.0, 1.0, 1.5], [4.0, 3.0, 1.5], config=ours)
    _fill(tmp_path / "both", room, ours)
    _fill(tmp_path / "both", room, AudioConfig(tail="parametric", ism_order=1))  # (this filler is warned)
    caplog.clear()
    cache = RIRCache(tmp_path / "both")
    assert cache.lookup(room, [1.0, 1.0, 1.5], [4.0, 3.0, 1.5], config=ours) is not None
    assert cache.lookup(room, [3.0, 3.0, 1.5], [4.0, 3.0, 1.5], config=ours) is None  # a source not stored: no warning
    assert _mismatches(caplog) == []


def test_precompute_with_other_settings_is_reported_to_a_default_reader(tmp_path, caplog):
    """A precompute run with the parametric tail, then the default config's jobs over it (what a
    default env looks up): one warning naming the tail; the default's own precompute reads its own."""
    seed = 1_000_001
    run(make_jobs([seed], 0.5, str(tmp_path), PrecomputeConfig(tail="parametric").audio_config(), sources=1), progress=False)
    caplog.set_level(logging.WARNING, logger="earshot.acoustics.cache")
    from earshot.acoustics.precompute import is_done

    default_jobs = make_jobs([seed], 0.5, str(tmp_path), PrecomputeConfig().audio_config(), sources=1)
    assert not any(is_done(j) for j in default_jobs)
    (message,) = _mismatches(caplog)
    assert "filled with tail='parametric'; this env uses tail='traced'" in message
    assert np.all([j.config == AudioConfig() for j in default_jobs])

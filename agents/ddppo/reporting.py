"""What rank 0 of a DD-PPO run reports: TensorBoard scalars and videos (``RUN/tb``), the val
evaluations with ``checkpoints/best`` and a filmed val episode, and the progress lines. A part of
``DDPPOTrainer`` (``earshot.agents.ddppo.trainer``), kept apart from its loop."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .. import checkpoints
from .distributed import all_gather_floats


class Reporting:
    """``DDPPOTrainer``'s reporting: it reads the trainer's ``config``, ``world``, ``run_dir``,
    ``writer``, ``time_split`` and ``_meta``."""

    def _tb(self):
        """Rank 0's TensorBoard writer (``RUN/tb``), opened on first use."""
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.run_dir / "tb"))
        return self.writer

    def _log(self, tag: str, value: float, step: int) -> None:
        """A TensorBoard scalar (rank 0; ``RUN/tb``)."""
        if self.world.rank != 0:
            return
        self._tb().add_scalar(tag, value, step)

    def _val_video(self, policy, steps: int) -> Path | None:
        """Rank 0 with ``eval_videos``: the val evaluation's first episode filmed again (sampled
        actions, as ``earshot.agents.evaluation.run_episodes`` films it) as
        ``RUN/videos/val_step_NNNNNNNNNN.mp4`` (its audio as a .wav beside it), and shown in
        TensorBoard as ``eval/video`` (an animated GIF: see ``_log_video``). A failure is a
        warning, never the end of the training run; returns the MP4 or None."""
        if self.world.rank != 0 or not getattr(self.config, "eval_videos", False):
            return None
        import tempfile

        from ..evaluation import episode_order, eval_env, run_episodes

        c = self.config
        try:
            out = self.run_dir / "videos" / f"val_step_{steps:010d}.mp4"
            out.parent.mkdir(parents=True, exist_ok=True)
            env = eval_env(c.task, "val", c.eval_episodes, c.kwargs, agent=c.agent)
            was_training = policy.training
            policy.eval()
            try:
                with tempfile.TemporaryDirectory(dir=out.parent, prefix=".recording-") as tmp:
                    first = episode_order(env, c.eval_episodes)[:1]
                    run_episodes(env, c.kind.actor(policy, env, deterministic=False), first, videos=1,
                                 video_dir=Path(tmp), agent=c.agent)
                    recorded = Path(tmp) / f"episode_{first[0]:05d}.mp4"
                    if recorded.with_suffix(".wav").exists():
                        os.replace(recorded.with_suffix(".wav"), out.with_suffix(".wav"))
                    os.replace(recorded, out)
            finally:
                env.close()
                policy.train(was_training)
            self._log_video("eval/video", out, steps)
            return out
        except Exception as exc:  # noqa: BLE001  (a video is never worth a training run)
            from ... import jobs

            jobs.say(f"warning: no val video at {steps:,} steps: {type(exc).__name__}: {exc}")
            return None

    def _log_video(self, tag: str, video: Path, step: int, width: int = 320, fps: float = 4.0,
                   max_frames: int = 240) -> None:
        """``video`` in TensorBoard as ``tag``: an animated GIF (what ``SummaryWriter.add_video``
        writes, without its moviepy), at most ``width`` px wide, one frame per env step (the
        recorder holds each step for ``frames_per_step`` frames) played at ``fps``, at most
        ``max_frames`` frames (a longer episode is subsampled further)."""
        import imageio.v2 as imageio
        import imageio.v3 as iio
        from PIL import Image
        from tensorboard.compat.proto.summary_pb2 import Summary

        from ...av_env.visualize import FPS

        with imageio.get_reader(video) as reader:
            per_step = max(1, int(round(float(reader.get_meta_data().get("fps", FPS)))))
            frames = [f for i, f in enumerate(reader) if i % per_step == per_step - 1]
        if not frames:
            raise ValueError(f"{video} holds no frames")
        frames = frames[::-(-len(frames) // max_frames)]
        h, w = frames[0].shape[:2]
        if w > width:
            h, w = max(1, round(h * width / w)), width
            frames = [np.asarray(Image.fromarray(f).resize((w, h), Image.BILINEAR)) for f in frames]
        gif = iio.imwrite("<bytes>", np.stack(frames), extension=".gif", duration=1000 / fps, loop=0)
        image = Summary.Image(height=h, width=w, colorspace=3, encoded_image_string=gif)
        self._tb()._get_file_writer().add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)

    def _evaluate(self, policy, steps: int, updates: int) -> None:
        """Rank 0: SR/SPL/... on the val split (``RUN/eval.csv`` and TensorBoard's ``eval/``),
        ``checkpoints/best`` when its SPL is the best so far, and (``eval_videos``) one val episode
        filmed (``_val_video``); the other ranks wait for it at the next all-reduce."""
        if self.world.rank != 0:
            return
        from ..callbacks import evaluate_on, record_eval
        from ..evaluation import FAILURES, METRICS

        summary = evaluate_on(self.config, policy)
        for k in METRICS:
            self._log(f"eval/{k}", summary[k]["mean"], steps)
        for k in FAILURES:  # shares of the episodes failed each way
            self._log(f"eval/{k}", summary[k]["share"], steps)
        record_eval(self.run_dir, steps, summary)
        spl = summary["spl"]["mean"]
        self.last_val = (summary["success"]["mean"], spl)
        best_dir = self.run_dir / "checkpoints" / "best"
        try:
            best = checkpoints.read_meta(best_dir)["val"]["spl"]
        except (OSError, ValueError, KeyError):
            best = None
        line = (f"val at {steps:,} steps: success {summary['success']['mean']:.2f}, SPL {spl:.3f} "
                f"({summary['episodes']} episodes)")
        video = self._val_video(policy, steps)
        if best is None or spl > best:
            val = {"spl": spl, "success": summary["success"]["mean"], "episodes": summary["episodes"], "steps": steps}
            checkpoints.save_checkpoint(best_dir, policy, None, {**self._meta(steps, updates), "val": val})
            line += f"; the best so far: {best_dir}"
        if video is not None:
            line += f"; video: {video}"
        from ... import jobs

        jobs.say(line)  # above the progress bar

    def _report(self, steps: int, local_steps: int, elapsed: float, updates: int, state, stats: dict,
                final: bool = False) -> dict:
        split = self.time_split
        gathered = all_gather_floats([local_steps / max(elapsed, 1e-9),
                                      split["collect"] / max(split["collect"] + split["update"], 1e-9)], self.world)
        rates, shares = [g[0] for g in gathered], [g[1] for g in gathered]
        total = sum(rates)
        if self.world.rank == 0:
            eps = list(state.episodes)
            for k, v in stats.items():
                self._log(f"train/{k}", v, steps)
            self._log("time/steps_per_s", total, steps)
            if eps:
                for i, name in enumerate(("ep_rew_mean", "ep_len_mean", "success", "spl")):
                    self._log(f"rollout/{name}", float(np.mean([e[i] for e in eps])), steps)
            if final or not self.config.progress:
                per_rank = ", ".join(f"rank {r}: {v:.0f} ({share:.0%} collecting)"
                                     for r, (v, share) in enumerate(zip(rates, shares)))
                episodes = (f"; rank 0's last {len(eps)} episodes: return {np.mean([e[0] for e in eps]):.2f}, "
                            f"length {np.mean([e[1] for e in eps]):.0f}, success {np.mean([e[2] for e in eps]):.2f}"
                            if eps else "")
                losses = ", ".join(f"{k} {v:.3f}" for k, v in stats.items())
                head = f"trained: {updates:,} updates" if final else f"update {updates:,}"
                print(f"{head}, {steps:,} steps: steps/s {per_rank}; all {total:.0f}{episodes}"
                      + (f"; {losses}" if losses else ""), flush=True)
        return {"steps_per_s": total, "rank_steps_per_s": rates, "rank_collect_share": shares}

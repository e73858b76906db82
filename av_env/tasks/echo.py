from .base import Task


class EchoDepthTask(Task):
    """Echo-based depth estimation (VisualEchoes): at every step the agent emits a chirp from its
    head and observes the binaural echo (``echo``, a spectrogram) beside ``rgb`` and the
    ground-truth ``depth`` to learn from. Nothing is to be reached: the reward is 0, the episode
    ends at STOP or after ``max_steps``, and the navigation metrics in ``info`` do not apply."""

    name = "echo_depth"
    uses_audio = False
    echoes = True

    def success(self, stopped: bool, distance: float, success_distance: float) -> bool:
        return False

    def reward(self, previous_distance: float, distance: float, success: bool, stopped: bool = False,
               spl: float = 1.0, repeated: bool = False) -> float:
        return 0.0

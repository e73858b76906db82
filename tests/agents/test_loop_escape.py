"""``PolicyActor``'s loop escape: a deterministic policy that comes back to a pose repeats itself,
so its argmax can spin in place or press a blocked step until the step limit; with
``loop_escape`` it leaves, never stops by chance, and acts the same under the same seed."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import earshot.av_env  # noqa: F401
from earshot.agents.actors import PolicyActor
from earshot.agents.evaluation import EvalConfig
from earshot.agents.kinds import AGENT_KINDS
from earshot.scenes import Action

STOP, FORWARD, LEFT = Action.STOP, Action.MOVE_FORWARD, Action.TURN_LEFT


class FixedPolicy(torch.nn.Module):
    """A policy whose action probabilities never change (it ignores what it observes): its
    argmax is the same action at every step."""

    def __init__(self, probs):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.log(torch.as_tensor(probs, dtype=torch.float32)), requires_grad=False)

    def initial_state(self, batch, device=None):
        return torch.zeros(1, batch, 1)

    def log_policy(self, obs, starts, hidden, masks=None):
        logits = self.logits[None] if masks is None else self.logits[None].masked_fill(~masks, float("-inf"))
        return torch.log_softmax(logits, -1), hidden

    def act(self, obs, starts, hidden, masks=None, generator=None, deterministic=False, temperature=1.0):
        action = self.log_policy(obs, starts, hidden, masks)[0].argmax(-1)
        return action, None, None, hidden


def _walk(probs, loop_escape, seed=0, steps=300):
    """(actions, positions, blocked forward steps per pose) of one episode's first ``steps``."""
    env = gym.make("earshot/PointGoal-v0", split="val", scenes=1, max_steps=steps,
                   sensors=["pointgoal_with_gps_compass"])
    u = env.unwrapped
    actor = AGENT_KINDS["recurrent-ppo"].actor(FixedPolicy(probs), env, deterministic=True, loop_escape=loop_escape)
    torch.manual_seed(seed)
    obs, _ = env.reset(seed=3)
    actions, positions, blocked = [], [u.pose_key()[:2]], {}
    for _ in range(steps):
        pose = u.pose_key()
        a = actor(obs)
        obs, _, term, trunc, _ = env.step(a)
        actions.append(a)
        positions.append(u.pose_key()[:2])
        if a == FORWARD and u.pose_key() == pose:
            blocked[pose] = blocked.get(pose, 0) + 1
        if term or trunc:
            break
    env.close()
    return actions, positions, blocked


SPIN = [1e-6, 0.05, 0.9, 0.05]  # turn left, always (STOP all but impossible)
WALL = [1e-6, 0.9, 0.05, 0.05]  # forward, always: into the first wall, then against it


def test_plain_argmax_loops_and_the_escape_leaves():
    actions, positions, _ = _walk(SPIN, loop_escape=0)
    assert set(actions) == {LEFT} and len(set(positions)) == 1 and len(actions) == 300  # spins to the limit
    actions, positions, _ = _walk(SPIN, loop_escape=2)
    left = next(i for i, p in enumerate(positions) if p != positions[0])
    # the first K visits of each of the 4 headings are argmax turns, then sampling, then random moves
    assert left <= 40, left
    assert len(set(positions)) >= 5  # it goes on moving, not only one step
    assert STOP not in actions  # a random move is never STOP, and the policy all but never samples it


def test_a_blocked_step_is_not_pressed_again_and_again():
    _, _, blocked = _walk(WALL, loop_escape=0)
    assert max(blocked.values()) > 100  # the plain argmax presses the wall until the limit
    k = 2
    _, positions, blocked = _walk(WALL, loop_escape=k)
    # argmax for K visits, samples for K+1 more (each may press it); then never again at that pose
    assert blocked and max(blocked.values()) <= 2 * k + 1, blocked
    assert len(set(positions)) >= 5


def test_same_seed_same_actions_and_another_seed_differs():
    a = _walk(SPIN, loop_escape=2, seed=5)[0]
    assert a == _walk(SPIN, loop_escape=2, seed=5)[0]
    assert a != _walk(SPIN, loop_escape=2, seed=6)[0]


def test_loop_escape_refuses_what_it_cannot_apply_to():
    policy = FixedPolicy(SPIN)
    with pytest.raises(ValueError, match="deterministic"):
        PolicyActor(policy, deterministic=False, loop_escape=2, pose=lambda: (0, 0, 0))
    with pytest.raises(ValueError, match="pose"):
        PolicyActor(policy, deterministic=True, loop_escape=2)
    with pytest.raises(ValueError, match="loop_escape must be"):
        PolicyActor(policy, deterministic=True, loop_escape=-1, pose=lambda: (0, 0, 0))
    with pytest.raises(ValueError, match="--deterministic"):
        EvalConfig(checkpoint="audiogoal", loop_escape=2).check()
    with pytest.raises(ValueError, match="--deterministic"):
        EvalConfig(baseline="random", deterministic=True, loop_escape=2).check()
    EvalConfig(checkpoint="audiogoal", deterministic=True, loop_escape=2).check()


def test_with_action_masks_the_escape_chooses_among_allowed_actions_and_never_stop():
    """The waypoint agent's escape: at a decision pose visited again and again, argmax for K
    visits, then samples of the masked policy, then random allowed waypoints, never STOP."""
    probs = [1e-3] * 82
    probs[5], probs[81] = 0.5, 0.3  # waypoint 5 is its argmax, STOP its runner-up
    allowed = np.zeros(82, bool)
    allowed[[5, 7, 40, 81]] = True
    k = 2
    actor = PolicyActor(FixedPolicy(probs), deterministic=True, masks=lambda: allowed, loop_escape=k,
                        pose=lambda: (0, 0, 0), stop=81)  # never leaves its pose: every decision revisits it
    torch.manual_seed(0)
    actions = [actor({}) for _ in range(200)]
    assert actions[:k] == [5] * k
    assert set(actions) <= {5, 7, 40, 81}  # never a masked waypoint
    assert 81 not in actions[2 * k + 1:]  # random choices are never STOP
    assert set(actions[2 * k + 1:]) == {5, 7, 40}  # uniform over the allowed waypoints
    actor.reset()
    assert [actor({}) for _ in range(k)] == [5] * k  # a new episode forgets the visits


def _waypoint_walk(loop_escape, decisions=30):
    """(actions, visits per pose, every action allowed) of a waypoint agent whose argmax is always
    the waypoint one graph step behind it: plain argmax shuttles back and forth."""
    from earshot.agents.waypoint import WaypointEnv
    from earshot.av_env.oracles import STOP as WAYPOINT_STOP

    env = WaypointEnv(gym.make("earshot/PointGoal-v0", split="val", scenes=1, max_steps=500, resolution=32,
                               sensors=["depth", "pointgoal_with_gps_compass"]))
    probs = [1e-3] * (WAYPOINT_STOP + 1)
    probs[3 * 9 + 4] = 0.9  # (1 back, 0 left): one step back, then back again from where it faces
    actor = AGENT_KINDS["waypoint"].actor(FixedPolicy(probs), env, deterministic=True, loop_escape=loop_escape)
    torch.manual_seed(0)
    env.reset(seed=3)
    actions, visits, allowed = [], {}, True
    for _ in range(decisions):
        pose = env.unwrapped.pose_key()
        visits[pose] = visits.get(pose, 0) + 1
        a = actor(env.observation())
        allowed &= bool(env.action_masks()[a])
        actions.append(a)
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            break
    env.close()
    return actions, visits, allowed


def test_the_waypoint_agent_escapes_through_its_kind():
    from earshot.av_env.oracles import STOP as WAYPOINT_STOP

    actions, visits, allowed = _waypoint_walk(loop_escape=0)
    assert allowed and len(actions) == 30 and len(visits) <= 3  # plain argmax: a loop on a few poses
    actions, visits, allowed = _waypoint_walk(loop_escape=1)
    assert allowed and WAYPOINT_STOP not in actions  # under the masks, never STOP by chance
    assert len(visits) >= 5  # it leaves the loop and goes on moving

"""SemanticAudioGoal's goal area: the view points of every instance of the category (SAVi's
``DISTANCE_TO: VIEW_POINTS``), seen from any side of an object and never through a wall."""

from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest

import earshot.av_env  # noqa: F401  (registers the envs)
from earshot.av_env.tasks.semantic import SemanticAudioGoalTask, view_nodes
from earshot.scenes import NavGraph

FAST = {"resolution": 32, "sensors": ["depth", "category"], "scenes": 2}


def _scene_with_a_panel():
    """An 8 x 6 x 3 m room; a "sofa" box (x 3.75–4.25, y 2–4, z 0–1, object 0) and, 0.35 m to its
    left, a full-height panel (x 3.3–3.4, y 1–5) with nothing to see through."""
    import trimesh

    from earshot.scenes import Scene, SemanticObject, get_material, shoebox

    room = shoebox(8.0, 6.0, 3.0, "plaster")
    box = lambda size, centre: trimesh.creation.box(size, trimesh.transformations.translation_matrix(centre))  # noqa: E731
    sofa, panel = box((0.5, 2.0, 1.0), [4.0, 3.0, 0.5]), box((0.1, 4.0, 3.0), [3.35, 3.0, 1.5])
    mesh = trimesh.util.concatenate([room.mesh, sofa, panel])
    faces = np.r_[np.full(len(room.mesh.faces), -1), np.zeros(len(sofa.faces), int), np.full(len(panel.faces), -1)]
    obj = SemanticObject("sofa", np.array([4.0, 3.0, 0.5]), np.array([3.75, 2.0, 0.0]), np.array([4.25, 4.0, 1.0]))
    return Scene(mesh, np.zeros(len(mesh.faces), np.int32), [get_material("plaster")], objects=[obj], face_objects=faces)


def _footprint_distance(xy, obj):
    return np.linalg.norm(xy - np.clip(xy, obj.bbox_min[:2], obj.bbox_max[:2]), axis=1)


def test_view_points_surround_the_object_but_not_through_a_wall():
    scene = _scene_with_a_panel()
    graph = NavGraph.build(scene)
    obj, xy = scene.objects[0], graph.positions[:, :2]
    seen = view_nodes(scene, graph, 0, 1.0)
    near = _footprint_distance(xy, obj)
    assert seen and (near[seen] <= 1.0 + 1e-9).all()
    # every side the agent can reach: the far side (x > 4.25) and both ends (y < 2, y > 4)
    assert (xy[seen, 0] > 4.25).any() and (xy[seen, 1] < 2.0).any() and (xy[seen, 1] > 4.0).any()
    # behind the panel: within 1 m of the footprint, yet not a view point
    behind = np.flatnonzero((xy[:, 0] < 3.3) & (near <= 1.0))
    assert len(behind) > 0, "the scene should have nodes behind the panel within 1 m of the sofa"
    assert not set(behind.tolist()) & set(seen)
    # the same nodes, with the panel gone from the rays' way (a wider radius never loses one)
    assert set(seen) <= set(view_nodes(scene, graph, 0, 2.0))


def test_goal_area_choices_and_the_old_behaviour():
    scene = _scene_with_a_panel()
    graph = NavGraph.build(scene)
    sim = SimpleNamespace(ctx=SimpleNamespace(scene=scene), graph=graph)
    episode = SimpleNamespace(category="sofa", goal_node=int(graph.nearest_node(scene.objects[0].center[:2])))
    old = SemanticAudioGoalTask(goal_area="object_node").goal_nodes(sim, episode)
    new = SemanticAudioGoalTask().goal_nodes(sim, episode)
    assert old == [episode.goal_node]
    assert set(new) == set(view_nodes(scene, graph, 0, 1.0)) and len(new) > len(old)
    made = gym.make("earshot/SemanticAudioGoal-v0", goal_area="object_node", view_radius=0.5, **FAST).unwrapped.task_obj
    assert (made.goal_area, made.view_radius) == ("object_node", 0.5)  # flat env kwargs, as every task option
    with pytest.raises(ValueError, match="goal_area"):
        SemanticAudioGoalTask(goal_area="nearby")
    with pytest.raises(ValueError, match="view_radius"):
        SemanticAudioGoalTask(view_radius=0.0)


def test_episodes_spread_over_distances_to_the_goal_area_and_the_oracle_ends_on_a_view_point():
    env = gym.make("earshot/SemanticAudioGoal-v0", **FAST)
    u = env.unwrapped
    bins = set()
    for index in range(8):
        env.reset(options={"episode_index": index})
        # the episodes spread over the distance bins by the start's distance to the goal area
        bins.add(int(np.digitize(u.distance_to_goal(), [3.0, 6.0, 10.0])))
        assert u.distance_to_goal() >= 1.0
        area = u.goal_nodes()
        instances = u.sim.ctx.scene.objects_of(u.episode.category)
        xy = u.sim.graph.positions[area, :2]
        assert (np.min([_footprint_distance(xy, o) for o in instances], axis=0) <= 1.0 + 1e-9).all()
        # the oracle walks to the nearest view point: SPL 1
        for _ in range(500):
            _, _, terminated, truncated, info = env.step(u.oracle_action())
            if terminated or truncated:
                break
        assert info["success"] == 1.0 and info["spl"] == pytest.approx(1.0)
        assert u.sim.node in area
    assert len(bins) >= 3
    env.close()


def test_a_checkpoint_without_goal_area_trained_on_the_object_node():
    """A record from before ``goal_area`` existed trained with the old behaviour, not the new
    default: evaluating it now says so."""
    from earshot.agents.checkpoints import simulator_differences, simulator_record

    env = gym.make("earshot/SemanticAudioGoal-v0", **FAST)
    record = simulator_record(env)
    old = {**record, "task": {k: v for k, v in record["task"].items() if k not in ("goal_area", "view_radius")}}
    assert simulator_differences({"simulator": record}, env) == []
    lines = simulator_differences({"simulator": old}, env)
    assert lines == ["task.goal_area: trained with 'object_node', now 'view_points'"]
    env.close()


def test_evaluate_under_the_old_goal_area(tmp_path):
    """``evaluate.py --task-options`` sets task options over a checkpoint's (here a baseline's):
    the old goal area runs its own episodes (not spread by the distance to the view points) and
    is recorded in the summary; anything but a task option is one clear error."""
    import csv
    import json

    from earshot.agents.evaluation import EvalConfig, evaluate

    rows = {}
    for area in ("view_points", "object_node"):
        out = tmp_path / area
        config = EvalConfig(baseline="oracle", task="earshot/SemanticAudioGoal-v0", episodes=4, out=str(out),
                            task_options=json.dumps({"goal_area": area}), progress=False)
        config.check()
        result = evaluate(config)["oracle"]
        assert result["spl"]["mean"] == 1.0
        assert json.loads((out / "summary.json").read_text())["task_options"] == {"goal_area": area}
        rows[area] = [r["geodesic_distance"] for r in csv.DictReader((out / "episodes.csv").open())]
    assert rows["view_points"] != rows["object_node"]
    with pytest.raises(ValueError, match="resolution is not a task option"):
        EvalConfig(baseline="oracle", task_options='{"resolution": 64}').check()


def test_the_map_shows_the_goal_area():
    """The video's top-down map marks a semantic episode's view points: the pixels that change
    are the goal's red, one dot per node, and the legend names them."""
    from earshot.scenes import topdown as td

    scene = _scene_with_a_panel()
    graph = NavGraph.build(scene)
    area = np.asarray(view_nodes(scene, graph, 0, 1.0))
    plain = td.draw_topdown(graph, legend=False, scale_bar=False)
    marked = td.draw_topdown(graph, legend=False, scale_bar=False, goal_area=area)
    changed = (plain != marked).any(axis=-1)
    assert changed.sum() >= len(area)
    assert (marked[changed] == np.asarray(td.GOAL, np.uint8)).all()
    labels = [e[0] for e in td.legend_entries(graph, goal_area=True)]
    assert "goal area" in labels and "goal area" not in [e[0] for e in td.legend_entries(graph)]

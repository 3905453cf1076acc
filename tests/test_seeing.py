"""Each tab's "what you are seeing" sentence (capsexplorer.analysis.seeing): its figures are the data's, and each verdict
is said only when the numbers make it true (issue 22)."""
import numpy as np
import pytest

from capsexplorer.analysis import seeing
from capsexplorer.net.trace import RoutingTrace

NAMES = [str(d) for d in range(10)]


def trace_with(to_leader: float, leader: int = 4, iterations: int = 3) -> RoutingTrace:
    """A trace of one input whose every primary capsule sends `to_leader` of its vote to `leader` at the last
    iteration (uniform before), with û of rising length so that the active tenth is well defined."""
    i, j = 1152, 10
    coupling = np.full((iterations, 1, i, j), 1 / j, np.float32)
    last = np.full((i, j), (1 - to_leader) / (j - 1), np.float32)
    last[:, leader] = to_leader
    coupling[-1, 0] = last
    lengths = np.full((iterations, 1, j), 0.05, np.float32)
    lengths[:, 0, leader], lengths[:, 0, 7] = 0.9, 0.2
    u_hat = np.ones((1, i, j, 16), np.float32) * np.linspace(0.1, 1, i, dtype=np.float32)[None, :, None, None]
    zeros = np.zeros
    return RoutingTrace(images=zeros((1, 28, 28)), logits=zeros((iterations, 1, i, j)), coupling=coupling,
                        lengths=lengths, iteration_poses=zeros((iterations, 1, j, 16)), poses=zeros((1, j, 16)),
                        prediction=np.array([leader]), primary_poses=zeros((1, i, 8)),
                        primary_lengths=np.full((1, i), 0.5), reconstruction=zeros((1, 28, 28)), seconds=0.0,
                        u_hat=u_hat)


@pytest.mark.parametrize("to_leader, verdict", [(0.11, "barely moved"), (0.15, "moved them a little"),
                                                (0.6, "moved them far")])
def test_routing_says_how_far_the_couplings_moved_from_uniform(to_leader, verdict):
    text = seeing.routing(trace_with(to_leader), 2, NAMES)
    assert text.startswith("Iteration 3 of 3: 4 is longest (‖v‖ = 0.90; next 7, 0.20)")
    assert f"send {to_leader:.1%} of their vote to 4 (uniform 10.0%)" in text and verdict in text
    others = {"barely moved", "moved them a little", "moved them far"} - {verdict}
    assert not any(o in text for o in others)


def test_routing_at_the_first_iteration_says_routing_has_not_acted():
    text = seeing.routing(trace_with(0.6), 0, NAMES)
    assert "Iteration 1 of 3" in text and "splits its vote evenly (c = 1/10)" in text and "moved" not in text


def test_votes_say_how_many_points_change_size():
    still, moved = seeing.votes(trace_with(0.1), 2, 4, NAMES), seeing.votes(trace_with(0.6), 2, 4, NAMES)
    assert "moved 0.0000 on average; every point keeps its size within 25% of its area" in still
    assert "moved 0.5000 on average; 1152 of 1152 points changed area by more than 25% (most: capsule 0, ×6.0)" \
        in moved and "the others" not in moved
    few = trace_with(0.1)
    few.coupling[-1, 0, 7, 4] = 0.26  # one vote's coupling grows: its point is 2.6× its first area
    text = seeing.votes(few, 2, 4, NAMES)
    assert "moved 0.0001 on average; 1 of 1152 points changed area by more than 25% (most: capsule 7, ×2.6); " \
           "the others keep their size" in text
    assert "every point has the base size" in seeing.votes(trace_with(0.6), 0, 4, NAMES)


def test_primary_names_its_largest_coupling_and_how_it_compares_with_uniform():
    assert "goes to 4, c = 0.600 (6.0× uniform, 1/10 = 0.100)" in seeing.primary(trace_with(0.6), 2, 5, NAMES, 0)
    near = seeing.primary(trace_with(0.11), 2, 5, NAMES, 0)
    assert "its vote is still split almost evenly — its couplings 0.099 … 0.110, within 2 points of uniform 1/10" \
        in near and "goes to" not in near
    first = seeing.primary(trace_with(0.6), 0, 5, NAMES, 0)  # iteration 1: every coupling 1/J, no class named
    assert "its vote is split evenly — every coupling 1/10 = 0.100." in first and "goes to" not in first
    none = seeing.primary(trace_with(0.6), 2, -1, NAMES, 3)
    assert none.startswith("No primary capsule chosen") and "of the 1152 (3 switched off)" in none


def test_probe_says_whether_the_answer_and_the_length_hold():
    before = np.array([0.1, 0.9] + [0.0] * 8)
    held = seeing.probe({"rotate": 30.0, "scale": 1.0}, np.array([0.1, 0.88] + [0.0] * 8), before, NAMES)
    assert held == "Transformed (rotate +30°), the input is still read as 1; the length of 1 holds (-2.2%: 0.900 → 0.880)."
    lost = seeing.probe({"shift-x": -3.0}, np.array([0.7, 0.5] + [0.0] * 8), before, NAMES)
    assert lost == ("Transformed (shift-x -3 px), the input is read as 0, no longer 1; the length of 1 falls 44.4% "
                    "(0.900 → 0.500).")
    assert "untransformed" in seeing.probe({"rotate": 0.0}, before, before, NAMES)


def test_sweep_names_where_the_answer_first_changes_nearest_the_input():
    values = np.array([-60.0, -30.0, 0.0, 30.0, 60.0])
    stays = seeing.sweep("rotate", values, np.full(5, 4), 4, np.array([-0.01, 0, 0, 0.02, 0.03]), NAMES)
    assert "stays 4 all the way" in stays and "held within ±5% (-1% … +3%)" in stays
    changes = seeing.sweep("rotate", values, np.array([7, 4, 4, 9, 9]), 4, np.array([-0.5, -0.1, 0, 0.02, -0.4]),
                           NAMES)
    assert changes == ("Over rotate from -60° to +60°, the answer stays 4 at 2 of 5 steps; the step nearest the input "
                       "that reads otherwise: +30° (9); the length of 4 fell by up to 50%.")
    tie = seeing.sweep("rotate", values, np.array([7, 8, 4, 9, 9]), 4, np.zeros(5), NAMES)
    assert "the steps nearest the input that read otherwise: -30° (8) and +30° (9)" in tie


def test_figure4_counts_the_tiles_read_as_another_class():
    assert "every tile is still read as 4" in seeing.figure4(4, [[4, 4, 4]] * 16, 16, "±2σ", NAMES)
    rows = [[4, 4, 4]] * 14 + [[9, 4, 4], [7, 7, 4]]
    assert "3 of 48 tiles (in 2 rows) are read as another class" in seeing.figure4(4, rows, 16, "±2σ", NAMES)


def test_heldout_and_robustness_give_the_figures_their_tabs_show():
    labels = np.array([0, 1, 2, 3])
    capsnet, cnn = np.eye(10)[[0, 1, 2, 5]], np.eye(10)[[0, 1, 2, 3]]
    assert seeing.heldout(labels, capsnet, cnn, 3, "digit") == (
        "These 4 held-out digits: the CapsNet (3 iterations) reads 75.00% right, 1 wrong; the CNN 100.00%, 0 wrong.")
    assert seeing.heldout(labels, capsnet, None, 3, "image", whole=0.75).endswith("1 wrong.")
    assert "(the status bar's 91.14% is the model file's own figure, measured on its whole test set" in \
        seeing.heldout(labels, capsnet, None, 3, "image", whole=0.9114)
    assert seeing.robustness(None).startswith("Not measured yet")
    assert seeing.robustness(None, baseline=False).startswith("Nothing to compare: no CNN baseline")
    result = {"affine-mix": {"capsnet": 0.8, "cnn": 0.7}, "capsnet": {"rotate": {"-45": 0.5, "0": 0.99}},
              "cnn": {"rotate": {"45": 0.4}}}
    assert seeing.robustness(result) == ("Accuracy under each transform on 1,000 test digits. The affine mix: CapsNet "
                                         "80.0%, CNN 70.0%; the worst single transform: CapsNet 50.0% at rotate -45°, "
                                         "CNN 40.0% at rotate +45°.")


def test_pair_says_why_it_waits_for_a_single_digit_model():
    assert "reads one digit at a time" in seeing.pair(None, False, "digit", NAMES)
    lengths = np.array([0.1, 0.8, 0.0, 0.0, 0.0, 0.0, 0.0, 0.95, 0.0, 0.0])
    assert seeing.pair(lengths, True, "digit", NAMES).startswith("Read as 7 (‖v‖ = 0.95) and 1 (0.80)")


def test_figure4_s_caption_names_each_row_s_lost_tiles_in_the_model_s_words():
    """From a student's run: on the clothing model the caption read '… of row 7 (1, as Coat) — tiles, and the
    class mostly read: there the row stops being the digit'."""
    from types import SimpleNamespace

    from capsexplorer.app.panels.grid_panel import still_read_text

    grid = SimpleNamespace(digit=2)
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"]
    rows = [{"dimension": k + 1, "read_as": [2, 2, 2]} for k in range(16)]
    assert still_read_text(grid, rows, names.__getitem__, "image") == \
        "The network reads every tile as Pullover: each row stays that image."
    rows[6]["read_as"] = [4, 2, 2]
    rows[11]["read_as"] = [0, 4, 4]
    assert still_read_text(grid, rows, names.__getitem__, "image") == (
        "In 4 tiles (framed in red) the network reads another class than Pullover: row 7 (1 tile, as Coat), "
        "row 12 (3 tiles, mostly as Coat) — there the row stops being that image.")


def test_a_two_digit_model_s_answer_is_its_two_longest_capsules():
    """From a student's run: the Probe said "the network says 7" beside a Prediction of "7 + 1"."""
    lengths = np.array([0.0, 0.85, 0, 0, 0, 0, 0, 0.88, 0, 0])
    assert seeing.answer(lengths, NAMES, two=True) == "7 + 1" and seeing.answer(lengths, NAMES) == "7"
    swapped = np.array([0.0, 0.9, 0, 0, 0, 0, 0, 0.8, 0, 0])
    assert "still read as 1 + 7" in seeing.probe({"rotate": 10.0}, swapped, lengths, NAMES, two=True)
    other = np.array([0.0, 0.9, 0, 0, 0.85, 0, 0, 0.1, 0, 0])
    assert "read as 1 + 4, no longer 7 + 1" in seeing.probe({"rotate": 10.0}, other, lengths, NAMES, two=True)


def test_pose_says_whose_pose_the_sliders_start_from():
    assert seeing.pose(3, 0.949, 3, 16, NAMES) == ("The sliders start at the 16 pose values the network gave 3 after "
                                                   "the last iteration (‖v‖ = 0.95, the winner); drag one and the "
                                                   "decoder redraws it from the bent pose.")
    assert "(‖v‖ = 0.04, not the winner, 3)" in seeing.pose(4, 0.04, 3, 16, NAMES)


def test_a_two_digit_sweep_follows_its_digit_in_the_pair():
    """From a student's run: a two-digit model's sweep said "the answer stays 7" for an answer that is a pair."""
    values = np.array([-30.0, 0.0, 30.0])
    lengths = np.zeros((3, 10))
    lengths[:, 7], lengths[:, 1] = [0.9, 0.9, 0.2], [0.8, 0.8, 0.8]
    lengths[2, 4] = 0.7
    text = seeing.sweep("rotate", values, lengths.argmax(1), 7, np.array([0.0, 0.0, -0.78]), NAMES, lengths)
    assert text == ("Over rotate from -30° to +30°, 7 stays in the answer at 2 of 3 steps; the step nearest the input "
                    "that reads otherwise: +30° (1 + 4); the length of 7 fell by up to 78%.")


def test_the_sweep_caption_reads_a_two_digit_model_s_answers_as_pairs():
    """From a third check: the two-digit model's Sweep caption listed single classes ("still read as 7 at 14 %")."""
    from types import SimpleNamespace

    from capsexplorer.app.panels.sweep_panel import runs_text

    sweep = SimpleNamespace(values=np.array([-30.0, 0.0, 30.0, 60.0]), prediction_runs=lambda: [(7, -30.0, 60.0)])
    assert runs_text(sweep, str, "°") == "7 (-30 to +60°)"
    assert runs_text(sweep, str, "°", ["7 + 1", "7 + 1", "1 + 4", "1 + 4"]) == "7 + 1 (-30 to +0°) → 1 + 4 (+30 to +60°)"


@pytest.mark.parametrize("router", ["uniform", "attention", "self-attention"])
def test_the_routing_sentence_names_the_router_in_use(router):
    """Issue 24: with a one-pass router the sentence said 'routing acts from iteration 2' — there is none."""
    import torch

    from capsexplorer.net.config import CapsNetConfig
    from capsexplorer.net.model import CapsNet

    torch.manual_seed(0)
    model = CapsNet(CapsNetConfig(routing=router)).eval()
    image = np.zeros((28, 28), np.float32)
    image[6:22, 12:16] = 1.0
    trace = model.trace(image[None], iterations=3)
    names = [str(d) for d in range(10)]
    first = seeing.routing(trace, 0, names, router)
    if router == "uniform":
        assert "no routing step" in first and "iteration 2" not in first
    elif router == "attention":
        assert "attention acts from iteration 2" in first
    else:
        assert "self-attention's one pass" in first and "evenly" not in first


def test_the_routers_sentence_says_agreement_and_each_coupling_in_numbers():
    from capsexplorer.analysis.router_comparison import RouterView

    def view(name, answer, second, passes, to_answer, pair=False):
        coupling = np.full((passes, 10), 0.1)
        coupling[-1, answer] = to_answer
        lengths = np.full((passes, 10), 0.05)
        lengths[:, answer], lengths[:, second] = 0.9, 0.6
        split = np.zeros((passes, 36, 36)) if pair else None
        return RouterView(name, f"mnist-{name}", coupling, lengths, answer, second, split)

    names = [str(d) for d in range(10)]
    same = [view("dynamic", 7, 1, 3, 0.13), view("uniform", 7, 1, 1, 0.1)]
    text = seeing.routers(same, 2, names)
    assert text.startswith("All 2 routers answer 7.") and "dynamic routing 0.130" in text and "uniform couplings 0.100" in text
    apart = [view("dynamic", 7, 1, 3, 0.13), view("attention", 1, 7, 3, 0.2)]
    assert seeing.routers(apart, 2, names).startswith("The routers disagree: dynamic routing 7, attention 1.")
    pairs = [view("dynamic", 7, 1, 3, 0.13, pair=True), view("attention", 1, 7, 3, 0.2, pair=True)]
    assert seeing.routers(pairs, 2, names).startswith("All 2 routers read 1 and 7.")
    assert seeing.routers([], 0, names) == ""


def test_self_attention_s_coupling_is_read_against_its_own_even_split():
    """A student's run: self-attention's priors make its couplings sum to about 0.33, and 0.069 read 'below uniform'."""
    from capsexplorer.analysis.router_comparison import RouterView

    coupling = np.full((1, 10), 0.025)
    coupling[0, 4] = 0.069  # the largest of its column
    lengths = np.full((1, 10), 0.05)
    lengths[0, 4] = 0.9
    view = RouterView("self-attention", "mnist-self-attention", coupling, lengths, 4, 0)
    assert view.even(0) == pytest.approx(0.0294)
    assert "self-attention 0.069 (its even split 0.029)" in seeing.routers([view], 0, [str(d) for d in range(10)], 1)

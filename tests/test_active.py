"""The ``active`` executor (Theorem 1): the per-input path bit-identical to the reference on every
input, the batched path too where its blocks are CSR (within rounding where GEMM), ``dense`` within
rounding; counted twin = reference = Definition 1 measured independently, and ops ≤ p + 4ω."""

import naive
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.executors import active, active_batch, active_view, dense, measure
from kernels.memorizer import Memorizer
from kernels.model.data import validate
from kernels.model.network import Layer, Network
from kernels.random_networks import random_network
from kernels.theory import bounds
from kernels.verify import verify

ACTS = ("relu", "threshold", "sign", "identity")


def bits(a):
    a = np.ascontiguousarray(a)
    return a.view(np.int64 if a.dtype == np.float64 else np.int32)


def awkward_inputs(p, m=60, seed=0):
    """Gaussian rows, rows with exact zeros and −0.0, all-zero, negative, huge and integer rows."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, p))
    X[::3, : max(1, p // 2)] = 0.0
    X[1::4, -1] = -0.0
    X[2] = 0.0
    X[3] = -np.abs(X[3])
    X[4] *= 1e6
    X[5] = rng.integers(-2, 3, p)
    X[6] = -0.0
    return X


TOL = {np.dtype("float64"): 1e-10, np.dtype("float32"): 1e-4}


def close(Y, R):
    t = TOL[R.dtype]
    np.testing.assert_allclose(Y, R, rtol=t, atol=t * (1 + np.abs(R).max(initial=0)))


def paths_agree(net, X, Y_ref):
    """Per-input and batched-CSR paths: the reference's bits; batched GEMM, dense: rounding."""
    assert np.array_equal(bits(active.predict(net, X, path="per-input")), bits(Y_ref))
    Xc = np.ascontiguousarray(X)  # the batched kernel's own input: C-contiguous (as predict makes)
    assert np.array_equal(bits(active_batch.predict(net, Xc, "csr", tile=16)), bits(Y_ref))
    assert np.array_equal(bits(active.predict(net, X, path="batched", force="csr")), bits(Y_ref))
    close(active_batch.predict(net, Xc, "gemm", tile=16), Y_ref)
    close(active.predict(net, X), Y_ref)
    close(dense.predict(net, X), Y_ref)


def nets():
    out = []
    for act in ACTS:
        for s in (0.0, 0.5, 0.9):
            for skip in (0.0, 1.0):
                out.append(dict(activation=act, sparsity=s, skip_prob=skip))
    return out


@pytest.mark.parametrize("kw", nets(), ids=lambda k: "{activation}-s{sparsity}-skip{skip_prob}"
                         .format(**k))
def test_active_equals_reference_and_counts(kw):
    rn = random_network(6, 3, 24, r=3, zero_fraction=0.7, bias_fraction=0.5, seed=11, **kw)
    net = rn.network
    X = awkward_inputs(6)
    Y_ref, c_ref = naive.active_run(net, X)
    paths_agree(net, X, Y_ref)
    c = active.count(net, X)
    for key in c:
        assert np.array_equal(c[key], c_ref[key]), key
    sets = measure.active_sets(net, X)
    for key in ("active_neurons", "active_weights", "computed_weights"):
        assert np.array_equal(c[key], sets[key]), key
    assert np.array_equal(c["active_neurons"], sets["neurons"].sum(axis=1))
    # Theorem 1 under the module's accounting: always against the terms it forms; against the
    # paper's ω wherever Definition 1 applies (φ(0) = 0).
    assert (c["total"] <= bounds.theorem1_ops_bound(net.p, c["computed_weights"])).all()
    if kw["activation"] != "threshold":
        assert (c["computed_weights"] <= c["active_weights"]).all()
        assert (c["total"] <= bounds.theorem1_ops_bound(net.p, c["active_weights"])).all()


@pytest.mark.parametrize("act", ACTS)
def test_float32_bitwise(act):
    net = random_network(5, 2, 16, r=2, sparsity=0.5, skip_prob=0.5, zero_fraction=0.6,
                         activation=act, seed=3).network.astype("float32")
    X = awkward_inputs(5).astype(np.float32)
    Y_ref = naive.active(net, X)
    assert Y_ref.dtype == np.float32
    paths_agree(net, X, Y_ref)


def test_exact_cancellation_and_ties():
    """Integer weights and inputs: fields cancel to exactly 0 (ReLU ties, sign 0, threshold 0)."""
    rng = np.random.default_rng(5)
    p = 4
    layers = [Layer(rng.integers(-1, 2, (8, p)).astype(float), None, "relu"),
              Layer(rng.integers(-1, 2, (8, 8 + p)).astype(float), None, "sign", (0, 1)),
              Layer(rng.integers(-1, 2, (6, 16)).astype(float), None, "threshold", (1, 2)),
              Layer(rng.integers(-1, 2, (2, 6 + p)).astype(float), np.array([0.0, 1.0]),
                    "identity", (0, 3))]
    net = Network.from_layers(p, layers)
    X = np.array(np.meshgrid(*[np.arange(-1.0, 2.0)] * p)).reshape(p, -1).T  # 3^4 lattice
    Y_ref, c_ref = naive.active_run(net, X)
    paths_agree(net, X, Y_ref)
    np.testing.assert_array_equal(dense.predict(net, X), Y_ref)  # integers: exact in any order
    c = active.count(net, X)
    for key in c:
        assert np.array_equal(c[key], c_ref[key]), key
    assert (c["total"] <= net.p + 4 * c["computed_weights"]).all()


def test_negative_zero_is_zero_definition_1():
    """±0 is zero (Definition 1): a −0.0 bias is stored as +0.0 and is no input; a neuron whose
    pre-activation is −0.0 because none of its inputs is non-zero is inactive; counts equal the
    independent reference (adjacency rebuilt from the dense weights)."""
    W1 = np.array([[-1.0, 0.0], [1.0, -1.0], [0.0, -2.0]])
    W2 = np.array([[-1.0, -1.0, 1.0]])
    net = Network.from_layers(2, [Layer(W1, np.array([-0.0, -0.0, 0.0]), "identity"),
                                  Layer(W2, np.array([-0.0]), "relu")])
    assert not np.signbit(net.bias).any()
    assert not np.signbit(Network.from_layers(1, [Layer([[1.0]], [-1e-60], "relu")])
                          .astype("float32").bias).any()  # an underflow to float32: +0.0
    X = np.array([[0.0, 0.0], [-0.0, 0.0], [0.0, -0.0], [-0.0, -0.0], [1.0, 0.0], [0.0, 1.0],
                  [-1.0, -0.0]])
    Y_ref, c_ref = naive.active_run(net, X)
    paths_agree(net, X, Y_ref)
    c = active.count(net, X)
    for key in c:
        assert np.array_equal(c[key], c_ref[key]), key
    assert c["active_neurons"][0] == 0 and c["total"][0] == 2  # all-zero input: nothing active
    # a −0.0 forced into the stored bias still counts as zero: the same counts, equal outputs
    net.bias[:] = np.array([-0.0, -0.0, 0.0, -0.0])
    c = active.count(net, X)
    for key in c:
        assert np.array_equal(c[key], c_ref[key]), key
    np.testing.assert_array_equal(active.predict(net, X), Y_ref)


def test_negative_zero_pre_activation_from_an_underflow():
    """x = 1e-200 times w = −1e-200 underflows to −0.0: h1 is active (its input is non-zero) with
    pre-activation −0.0, outputs zero, and its successor, reached by nothing else, is inactive."""
    net = Network.from_layers(1, [Layer([[-1e-200], [1.0]], None, "identity"),
                                  Layer([[3.0, 0.0]], None, "relu"),
                                  Layer([[1.0]], None, "identity")])
    X = np.array([[1e-200], [0.0], [2.0]])
    Y_ref, c_ref = naive.active_run(net, X)
    assert np.signbit(-1e-200 * 1e-200) and Y_ref[0, 0] == 0.0
    c = active.count(net, X)
    for key in c:
        assert np.array_equal(c[key], c_ref[key]), key
    # input 0: h1 (−0.0) and h2 (1e-200) active; h3 reached by h1 only: inactive, o inactive
    assert c["active_neurons"].tolist() == [2, 0, 3]  # input 2: h3 active, outputs 0
    paths_agree(net, X, Y_ref)


def hand_network(bias_h2=0.0):
    """x ∈ R²; h1 = relu(x1 + x2), h2 = relu(−x1 + b), h3 = relu(x2); o = h1 + h2 + 2·h3."""
    return Network.from_layers(2, [Layer(np.array([[1.0, 1.0], [-1.0, 0.0], [0.0, 1.0]]),
                                         np.array([0.0, bias_h2, 0.0]), "relu"),
                                   Layer(np.array([[1.0, 1.0, 2.0]]), None, "identity")])


def test_hand_counted_example():
    net = hand_network()
    c = active.count(net, np.array([[1.0, 0.0]]))
    # 2 input tests; h1: 1 mul, relu + output test; h2: 1 mul, relu + test (output −0.0);
    # h3 inactive; o: 1 mul (from h1 only), identity, no successors -> no test.
    assert {k: int(v[0]) for k, v in c.items()} == {
        "mul": 3, "add": 0, "cmp": 6, "total": 9, "active_neurons": 3,
        "active_weights": 4,  # x1->h1, x1->h2, h1->o, h2->o (h2 active with output 0)
        "computed_weights": 3}
    assert dense.count(net, np.array([[1.0, 0.0]]))["total"][0] == 13
    sets = measure.active_sets(net, np.array([[1.0, 0.0]]), weights=True)
    assert sets["neurons"].tolist() == [[True, True, False, True]]
    # stored weights in CSR order: h1<-x1, h1<-x2, h2<-x1, h3<-x2, o<-h1, o<-h2, o<-h3
    assert sets["weights"].tolist() == [[True, False, True, False, True, True, False]]
    # a non-zero bias makes h2 always active (Definition 1 with x̄ = [1; x])
    c0 = active.count(hand_network(0.5), np.zeros((1, 2)))
    assert int(c0["active_neurons"][0]) == 2 and int(c0["active_weights"][0]) == 2
    assert np.array_equal(active.predict(hand_network(0.5), np.zeros((1, 2))), [[0.5]])


def test_plan_keeps_the_view_and_outgoing_adjacency():
    net = hand_network()
    plan = active.make_plan(net)
    v = plan.view
    assert v["out_ptr"].tolist() == active_view.view(net)["out_ptr"].tolist()
    assert v["out_ptr"].tolist() == [0, 2, 4, 5, 6, 7, 7]
    assert v["out_dst"].tolist() == [0, 1, 0, 2, 3, 3, 3]


def test_dense_ops_far_above_active_on_sparse_network():
    rn = random_network(32, 4, 400, r=2, sparsity=0.99, zero_fraction=0.95, seed=2)
    net = rn.network
    X = np.random.default_rng(9).standard_normal((200, 32))
    Ya = active.predict(net, X, path="per-input")
    assert np.array_equal(bits(active.predict(net, X, path="batched", force="csr")), bits(Ya))
    close(dense.predict(net, X), Ya)
    c = active.count(net, X)
    dense_ops = dense.analytic_cost(net)["total"]
    assert c["total"].max() * 3 < dense_ops
    assert (c["total"] <= net.p + 4 * c["active_weights"]).all()


def test_memorizer_executor_and_verify_record():
    rn = random_network(4, 2, 12, r=2, sparsity=0.5, zero_fraction=0.5, seed=4)
    X = np.random.default_rng(1).standard_normal((30, 4))
    D = dense.predict(rn.network, X)
    m = Memorizer("random", validate(X, D), network=rn.network, executors=("dense", "active"))
    close(m.predict(X, executor="active"), m.predict(X, executor="dense"))
    rec = verify(m)
    assert rec["exact"]
    a = rec["executors"]["active"]
    assert {"active_neurons", "active_weights", "ops"} <= set(a)
    c = m.count_ops(X, executor="active")
    assert a["active_weights"]["max"] == int(c["active_weights"].max())
    assert rec["bounds"]["ops_lower"] == bounds.theorem3_floor(30, 4)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), depth=st.integers(0, 4), width=st.integers(1, 9),
       s=st.sampled_from([0.0, 0.5, 0.9, 0.99]), skip=st.sampled_from([0.0, 0.5, 1.0]),
       act=st.sampled_from(ACTS), z=st.sampled_from([None, 0.3, 0.9]),
       bf=st.sampled_from([0.0, 0.5, 1.0]))
def test_random_networks_property(seed, depth, width, s, skip, act, z, bf):
    net = random_network(3, depth, width, r=2, sparsity=s, skip_prob=skip, zero_fraction=z,
                         bias_fraction=bf, activation=act, seed=seed, n_calibration=16,
                         measure=False).network
    X = awkward_inputs(3, m=20, seed=seed)
    Y_ref, c_ref = naive.active_run(net, X)
    paths_agree(net, X, Y_ref)
    c = active.count(net, X)
    for key in c:
        assert np.array_equal(c[key], c_ref[key]), key
    assert (c["total"] <= net.p + 4 * c["computed_weights"]).all()


def test_route_and_workspace():
    """Small batches go one input at a time; a batch on a network whose every neuron is active
    goes batched; a bad path is refused; the per-input workspace is reused across calls."""
    net = random_network(8, 2, 64, sparsity=0.5, zero_fraction=0.5, seed=0,
                         measure=False).network
    X = np.random.default_rng(0).standard_normal((300, 8))
    assert active.route(net, X[:10]) == "per-input"
    assert active.route(net, X) == "batched"
    with pytest.raises(ValueError):
        active.predict(net, X, path="sideways")
    plan = active.make_plan(net)
    a = active.predict(net, X[:5], path="per-input", plan=plan)
    ws = plan.push["threads"].ws
    assert np.array_equal(bits(active.predict(net, X[:5], path="per-input", plan=plan)), bits(a))
    assert plan.push["threads"].ws is ws  # this thread's workspace, kept in the plan
    assert np.array_equal(bits(active.predict_one(net, X[4], plan=plan)), bits(a[4]))
    assert np.array_equal(bits(active.predict(net, X[:5], path="per-input")), bits(a))
    assert plan.probe_ops is None and active.route(net, X, plan) == "batched"
    assert plan.probe_ops is not None  # counted once, on the first large batch


@pytest.mark.parametrize("per_input", [5, 20, 40])
def test_queue_order_paths(per_input):
    """A wide layer reached at a few scattered ids from several inputs: the per-input kernel puts
    its queue in id order by a span scan, an insertion sort or a sort (c ≤ 15, ≤ 60, up to 120
    queued of 3,000), and the output layer's sums keep the reference's bits."""
    rng = np.random.default_rng(per_input)
    p, width = 3, 3000
    W1 = np.zeros((width, p))
    for k in range(p):
        W1[rng.choice(width, per_input, replace=False), k] = rng.standard_normal(per_input)
    W2 = rng.standard_normal((2, width))
    net = Network.from_layers(p, [Layer(W1, None, "relu"), Layer(W2, None, "identity")])
    X = rng.standard_normal((30, p))
    X[::4, 1] = 0.0
    Y_ref = naive.active(net, X)
    assert np.array_equal(bits(active.predict(net, X, path="per-input")), bits(Y_ref))
    assert np.array_equal(bits(active.predict(net, X, path="batched")), bits(Y_ref))

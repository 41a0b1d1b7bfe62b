"""Losses of every method against values computed by hand in the test.

The fake models are lookup tables: each view carries a row id in its pixels (ids are a random
permutation, so a method that mixes up the (B, V) -> B·V layout reads the wrong rows), and the
model returns the stored row. Expected values use explicit loops over images and views and
torch's own softmax / log_softmax / cosine_similarity, never kdaug.methods helpers."""
import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kdaug.errors import KdaugError
from kdaug.methods import get_method, list_methods

K = 5  # classes
D = 4  # feature / embedding width


# ---------------------------------------------------------------- fake models
def row_ids(x):
    return x.flatten(1)[:, 0].round().long()


class Table(nn.Module):
    """Plain classifier: view with id i -> logits[i] (features[i] for the heads below)."""

    def __init__(self, logits, feats=None):
        super().__init__()
        self.logits = nn.Parameter(logits.clone())
        self.feats = nn.Parameter(feats.clone()) if feats is not None else None

    def forward(self, x):
        return self.logits[row_ids(x)]

    def features(self, x):
        return self.feats[row_ids(x)]


class FakeAux(nn.Module):
    """kind "hsakd": (logits, [aux logits (N, 4K)]); branches are linear maps of the features."""

    def __init__(self, logits, feats, num_branches=2):
        super().__init__()
        self.backbone = Table(logits, feats)
        self.branches = nn.ModuleList(nn.Linear(D, 4 * K) for _ in range(num_branches))
        self.detach_aux = None  # the method must choose

    def forward(self, x):
        f = self.backbone.features(x)
        if self.detach_aux:
            f = f.detach()
        return self.backbone(x), [b(f) for b in self.branches]


class FakeSSKD(nn.Module):
    """kind "sskd": (logits, proj_head(features))."""

    def __init__(self, logits, feats, identity_head=False):
        super().__init__()
        self.backbone = Table(logits, feats)
        self.proj_head = nn.Linear(D, D)
        if identity_head:
            with torch.no_grad():
                self.proj_head.weight.copy_(torch.eye(D))
                self.proj_head.bias.zero_()

    def forward(self, x):
        return self.backbone(x), self.proj_head(self.backbone.features(x))


def make_views(B, V, seed=0):
    """Views (B, V, 1, 1, 1) holding a random permutation of row ids; ids[b, v] is that id."""
    ids = torch.randperm(B * V, generator=torch.Generator().manual_seed(seed)).view(B, V)
    return ids.float().view(B, V, 1, 1, 1), ids


def table(per_view_rows, ids):
    """Rows given per (image, view) -> a table indexed by view id."""
    B, V = ids.shape
    out = torch.empty(B * V, *per_view_rows.shape[2:])
    for b in range(B):
        for v in range(V):
            out[ids[b, v]] = per_view_rows[b, v]
    return out


def kl_hand(s, t, T):
    p = torch.softmax(t / T, 0)
    return float((p * (torch.log(p) - torch.log_softmax(s / T, 0))).sum())


def ce_hand(z, y):
    return float(-torch.log_softmax(z, 0)[y])


def value(t):
    return float(t.detach())


# ---------------------------------------------------------------- registry and views
def test_registry_lists_all_seven_with_their_contract():
    methods = list_methods()
    assert set(methods) == {"ce", "kd", "ccd", "hsakd-teacher", "hsakd", "sskd-teacher", "sskd"}
    assert get_method("ccd").teacher_required and get_method("ccd").teacher_kind == "plain"
    assert get_method("hsakd").teacher_kind == "hsakd" and get_method("hsakd").model_kind == "hsakd"
    assert get_method("sskd").teacher_kind == "sskd" and get_method("sskd").model_kind == "sskd"
    assert get_method("hsakd-teacher").trains_teacher and not get_method("hsakd-teacher").teacher_required
    assert get_method("sskd-teacher").trains_teacher and get_method("sskd-teacher").teacher_required
    assert all(m.summary and "\n" not in m.summary for m in methods.values())
    with pytest.raises(KeyError, match="unknown method 'nope'"):
        get_method("nope")


def test_each_registered_method_is_its_catalog_entry():
    # `kdaug list methods` reads the torch-free catalog; the classes take their contract from it
    from kdaug.methods.catalog import ATTRIBUTES, METHODS

    methods = list_methods()
    assert set(methods) == set(METHODS)
    for name, cls in methods.items():
        assert cls.info is METHODS[name]
        assert {a: getattr(cls, a) for a in ATTRIBUTES} == dataclasses.asdict(METHODS[name])


@pytest.mark.parametrize("name, good, bad", [
    ("ce", [1, 2, 3], [0]),
    ("kd", [1, 2, 4], [0]),
    ("ccd", [2, 3], [1]),
    ("hsakd-teacher", [4], [1, 3, 5]),
    ("hsakd", [4], [2, 5]),
    ("sskd-teacher", [4], [1, 3]),
    ("sskd", [4], [2, 8]),
])
def test_check_views_refuses_wrong_view_counts(name, good, bad):
    cls = get_method(name)
    for v in good:
        cls.check_views(v)
    for v in bad:
        with pytest.raises(ValueError, match=f"method {name} uses"):
            cls.check_views(v)


def test_view_family_follows_the_view_count():
    kd = get_method("kd")
    assert kd.family_for(1) == "plain" and kd.family_for(2) == "jda" and kd.family_for(3) == "jda"
    assert get_method("ccd").family_for(2) == "jda"
    assert get_method("ce").family_for(2) == "plain"
    assert get_method("hsakd").family_for(4) == "rotation"
    assert get_method("sskd").family_for(4) == "rotation-crop"


def test_unknown_hparam_is_refused():
    with pytest.raises(ValueError, match="no hyper-parameter beta"):
        get_method("kd")(Table(torch.zeros(2, K)), Table(torch.zeros(2, K)), K, beta=1.0)


def test_every_hyper_parameter_has_a_range_that_holds_its_default():
    declared = {(m, n): p for m, cls in list_methods().items() for n, p in cls.hparams.items()}
    assert ("kd", "alpha") in declared and ("sskd", "ratio_ss") in declared
    for (method, name), spec in declared.items():
        spec.check(name, spec.default)
    with pytest.raises(ValueError, match="alpha=1.5 is out of range: alpha >= 0 and <= 1"):
        get_method("kd")(Table(torch.zeros(2, K)), Table(torch.zeros(2, K)), K, alpha=1.5)


# ---------------------------------------------------------------- ce, kd, ccd
def test_ce_is_the_mean_cross_entropy_over_every_view():
    B, V = 3, 2
    views, ids = make_views(B, V)
    z = torch.randn(B, V, K)
    y = torch.tensor([0, 3, 4])
    out = get_method("ce")(Table(table(z, ids)), None, K)(views, y)
    expected = sum(ce_hand(z[b, v], y[b]) for b in range(B) for v in range(V)) / (B * V)
    assert set(out.losses) == {"ce"}
    assert value(out.losses["ce"]) == pytest.approx(expected, rel=1e-5)
    assert torch.equal(out.logits, z[:, 0])


@pytest.mark.parametrize("V, hp", [(1, {}), (3, {}), (2, {"T": 3.0, "alpha": 0.1, "scale": 1.0})])
def test_kd_matches_hand_computation(V, hp):
    B = 4
    views, ids = make_views(B, V, seed=V)
    zs, zt = torch.randn(B, V, K), 3 * torch.randn(B, V, K)
    y = torch.tensor([1, 0, 4, 2])
    out = get_method("kd")(Table(table(zs, ids)), Table(table(zt, ids)), K, **hp)(views, y)
    T, alpha, scale = hp.get("T", 4.0), hp.get("alpha", 0.5), hp.get("scale", 2.0)
    rows = [(b, v) for b in range(B) for v in range(V)]
    ce = sum(ce_hand(zs[b, v], y[b]) for b, v in rows) / len(rows)
    kl = sum(kl_hand(zs[b, v], zt[b, v], T) for b, v in rows) / len(rows)
    assert value(out.losses["ce"]) == pytest.approx(scale * alpha * ce, rel=1e-5)
    assert value(out.losses["kd"]) == pytest.approx(scale * (1 - alpha) * T * T * kl, rel=1e-5)
    assert torch.equal(out.logits, zs[:, 0])


def ccd_expected(zs, zt, y, T=4.0):
    B, V = zs.shape[:2]
    ce = sum(ce_hand(zs[b, v], y[b]) for b in range(B) for v in range(V)) / (B * V)
    kl_orig = sum(kl_hand(zs[b, 0], zt[b, 0], T) for b in range(B)) / B
    terms = []
    for b in range(B):
        for v in range(1, V):
            a, o = zt[b, v], zt[b, 0]
            w = 1 + float(a @ o) / (float(a.norm()) * float(o.norm()))
            terms.append(w * kl_hand(zs[b, v], zt[b, v], T))
    kl_aug = sum(terms) / len(terms)
    return ce, T * T * kl_orig / 2, T * T * kl_aug / 2


@pytest.mark.parametrize("V", [2, 3])
def test_ccd_matches_hand_computation(V):
    B = 4
    views, ids = make_views(B, V, seed=10 + V)
    zs, zt = torch.randn(B, V, K), 2 * torch.randn(B, V, K)
    y = torch.tensor([2, 2, 0, 1])
    out = get_method("ccd")(Table(table(zs, ids)), Table(table(zt, ids)), K)(views, y)
    ce, kd_orig, kd_aug = ccd_expected(zs, zt, y)
    assert value(out.losses["ce"]) == pytest.approx(ce, rel=1e-5)
    assert value(out.losses["kd_orig"]) == pytest.approx(kd_orig, rel=1e-5)
    assert value(out.losses["kd_aug"]) == pytest.approx(kd_aug, rel=1e-5)
    assert torch.equal(out.logits, zs[:, 0])


def test_ccd_weight_is_two_for_identical_and_zero_for_opposite_teacher_logits():
    B, V, T = 3, 2, 4.0
    views, ids = make_views(B, V, seed=3)
    zs = torch.randn(B, V, K)
    orig = torch.randn(B, K)
    y = torch.tensor([0, 1, 2])
    kl_aug = sum(kl_hand(zs[b, 1], orig[b], T) for b in range(B)) / B  # same teacher as view 0

    same = torch.stack([orig, orig], 1)
    out = get_method("ccd")(Table(table(zs, ids)), Table(table(same, ids)), K)(views, y)
    assert value(out.losses["kd_aug"]) == pytest.approx(T * T * 2 * kl_aug / 2, rel=1e-5)  # w = 2

    opposite = torch.stack([orig, -orig], 1)
    out = get_method("ccd")(Table(table(zs, ids)), Table(table(opposite, ids)), K)(views, y)
    assert value(out.losses["kd_aug"]) == pytest.approx(0.0, abs=1e-6)  # w = 0
    assert value(out.losses["kd_orig"]) > 0.01

    # raw logits, not probabilities: a scaled copy is at cosine 1 although its softmax differs
    scaled = torch.stack([orig, 5 * orig], 1)
    out = get_method("ccd")(Table(table(zs, ids)), Table(table(scaled, ids)), K)(views, y)
    kl_scaled = sum(kl_hand(zs[b, 1], 5 * orig[b], T) for b in range(B)) / B
    assert value(out.losses["kd_aug"]) == pytest.approx(T * T * 2 * kl_scaled / 2, rel=1e-5)


@pytest.mark.parametrize("name", ["kd", "ccd"])
def test_gradients_reach_the_student_only(name):
    B, V = 2, 2
    views, ids = make_views(B, V)
    student, teacher = Table(torch.randn(B * V, K)), Table(torch.randn(B * V, K))
    method = get_method(name)(student, teacher, K)
    method.train()
    assert not teacher.training and not teacher.logits.requires_grad
    out = method(views, torch.tensor([0, 1]))
    sum(out.losses.values()).backward()
    assert teacher.logits.grad is None
    assert student.logits.grad.abs().sum() > 0


# ---------------------------------------------------------------- hsakd
def aux_rows(model, feats):
    """Branch outputs per (image, view), computed from the features in the test."""
    with torch.no_grad():
        return [branch(feats) for branch in model.branches]  # each (B, V, 4K)


def test_hsakd_teacher_loss_and_joint_training():
    B, V = 3, 4
    torch.manual_seed(0)
    views, ids = make_views(B, V, seed=5)
    z, f = torch.randn(B, V, K), torch.randn(B, V, D)
    y = torch.tensor([4, 0, 2])
    model = FakeAux(table(z, ids), table(f, ids))
    method = get_method("hsakd-teacher")(model, None, K)
    out = method(views, y)

    ce = sum(ce_hand(z[b, 0], y[b]) for b in range(B)) / B
    aux = 0.0
    for a in aux_rows(model, f):
        aux += sum(ce_hand(a[b, k], 4 * int(y[b]) + k) for b in range(B) for k in range(4)) / (4 * B)
    assert value(out.losses["ce"]) == pytest.approx(ce, rel=1e-5)
    assert value(out.losses["aux"]) == pytest.approx(aux, rel=1e-5)
    assert torch.equal(out.logits, z[:, 0])

    # joint training from scratch: the branch CE reaches the backbone (reference grad=True)
    assert model.detach_aux is False
    sum(out.losses.values()).backward()
    assert model.backbone.feats.grad.abs().sum() > 0  # only the branches read the features
    assert model.backbone.logits.grad.abs().sum() > 0
    assert all(b.weight.grad.abs().sum() > 0 for b in model.branches)


def test_hsakd_teacher_on_a_plain_teacher_freezes_the_copied_backbone():
    B, V = 2, 4
    views, ids = make_views(B, V, seed=6)
    plain = Table(torch.randn(B * V, K), torch.randn(B * V, D))
    model = FakeAux(torch.zeros(B * V, K), torch.zeros(B * V, D))
    method = get_method("hsakd-teacher")(model, plain, K)
    assert torch.equal(model.backbone.logits, plain.logits)
    assert torch.equal(model.backbone.feats, plain.feats)
    assert method.teacher is None and model.detach_aux is True
    method.train()
    assert not model.backbone.training and model.branches.training
    out = method(views, torch.tensor([1, 3]))
    sum(out.losses.values()).backward()
    assert model.backbone.logits.grad is None and model.backbone.feats.grad is None
    assert all(b.weight.grad.abs().sum() > 0 for b in model.branches)


def test_hsakd_teacher_refuses_a_plain_teacher_of_another_shape():
    model = FakeAux(torch.zeros(8, K), torch.zeros(8, D))
    with pytest.raises(KdaugError, match="does not fit the backbone"):
        get_method("hsakd-teacher")(model, Table(torch.zeros(8, K + 1), torch.zeros(8, D)), K)


def test_hsakd_student_matches_hand_computation():
    B, V, T = 3, 4, 3.0
    torch.manual_seed(1)
    views, ids = make_views(B, V, seed=7)
    zs, fs = torch.randn(B, V, K), torch.randn(B, V, D)
    zt, ft = 2 * torch.randn(B, V, K), torch.randn(B, V, D)
    y = torch.tensor([1, 4, 1])
    student = FakeAux(table(zs, ids), table(fs, ids))
    teacher = FakeAux(table(zt, ids), table(ft, ids))
    method = get_method("hsakd")(student, teacher, K)
    out = method(views, y)

    rows = [(b, k) for b in range(B) for k in range(4)]
    ce = sum(ce_hand(zs[b, 0], y[b]) for b in range(B)) / B
    kd_aux = 0.0
    for s, t in zip(aux_rows(student, fs), aux_rows(teacher, ft)):
        kd_aux += T * T * sum(kl_hand(s[b, k], t[b, k], T) for b, k in rows) / len(rows)
    kd = T * T * sum(kl_hand(zs[b, k], zt[b, k], T) for b, k in rows) / len(rows)
    assert value(out.losses["ce"]) == pytest.approx(ce, rel=1e-5)
    assert value(out.losses["kd_aux"]) == pytest.approx(kd_aux, rel=1e-5)
    assert value(out.losses["kd"]) == pytest.approx(kd, rel=1e-5)
    assert torch.equal(out.logits, zs[:, 0])

    assert student.detach_aux is False  # reference student: grad=True
    sum(out.losses.values()).backward()
    assert student.backbone.feats.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())


def test_hsakd_refuses_unpaired_branches():
    views, ids = make_views(1, 4)
    student = FakeAux(torch.randn(4, K), torch.randn(4, D), num_branches=3)
    teacher = FakeAux(torch.randn(4, K), torch.randn(4, D), num_branches=2)
    with pytest.raises(KdaugError, match="teacher has 2, the student 3"):
        get_method("hsakd")(student, teacher, K)(views, torch.tensor([0]))


# ---------------------------------------------------------------- sskd
def cos(a, b):
    return float(F.cosine_similarity(a, b, dim=0))


def similarity_by_hand(emb):
    """emb (B, 4, D) -> list over rows (b, k=1..3) of [cos with the 0-degree view of image j]."""
    B = emb.shape[0]
    return torch.tensor([[cos(emb[b, k], emb[j, 0]) for j in range(B)]
                         for b in range(B) for k in range(1, 4)])


def with_rank(rank, values):
    """A row whose entry 0 is values[rank] and whose others are the remaining values in order, so
    that, once the target is moved to column ``target``, the target ranks ``rank``."""
    rest = [v for i, v in enumerate(values) if i != rank]
    return [values[rank]] + rest


def place(row, target):
    """Move entry 0 of ``row`` to column ``target`` (the others keep their order)."""
    out = row[1:]
    out.insert(target, row[0])
    return out


# Teacher's rank of the true class on each rotated view (rows image-major, k = 1..3) ...
TF_RANKS = [[0, 1, 0], [2, 0, 0], [0, 0, 0], [0, 4, 3]]
# ... and of the view's own image in the similarity matrix (4 images -> ranks 0..3).
SS_RANKS = [[0, 0, 0], [1, 0, 0], [0, 2, 0], [3, 0, 1]]


def crafted_sskd_teacher(y):
    """Teacher logits and embeddings (B=4, V=4) with the ranks above."""
    B = 4
    zt = 2 * torch.randn(B, 4, K)
    et = torch.zeros(B, 4, D)
    for b in range(B):
        et[b, 0, b] = 1.0  # 0-degree embeddings one-hot: cos(row, upright j) ∝ row[j]
        for k in range(1, 4):
            zt[b, k] = torch.tensor(place(with_rank(TF_RANKS[b][k - 1], [5., 4., 3., 2., 1.]), int(y[b])))
            et[b, k] = torch.tensor(place(with_rank(SS_RANKS[b][k - 1], [4., 3., 2., 1.]), b))
    return zt, et


@pytest.mark.parametrize("hp, tf_rows, ss_rows", [
    # ratio_tf 1.0 keeps all 12 rotated rows; ratio_ss 0.75 keeps 3 of the 4 wrong similarity
    # rows (ranks 1, 2, 3, 1): row 9 (image 3, k=1, rank 3) is dropped.
    ({}, list(range(12)), [r for r in range(12) if r != 9]),
    # ratio_tf 0.5: wrong rotated rows 1, 3, 10, 11 have ranks 1, 2, 4, 3 -> keep rows 1 and 3.
    ({"ratio_tf": 0.5, "ratio_ss": 0.0}, [r for r in range(12) if r not in (10, 11)],
     [0, 1, 2, 4, 5, 6, 8, 10]),
])
def test_sskd_student_matches_hand_computation_with_ranking_filters(hp, tf_rows, ss_rows):
    B, V = 4, 4
    torch.manual_seed(2)
    views, ids = make_views(B, V, seed=8)
    y = torch.tensor([0, 3, 1, 3])
    zt, et = crafted_sskd_teacher(y)
    zs, fs = torch.randn(B, V, K), torch.randn(B, V, D)
    student = FakeSSKD(table(zs, ids), table(fs, ids))
    teacher = FakeSSKD(table(zt, ids), table(et, ids), identity_head=True)
    out = get_method("sskd")(student, teacher, K, **hp)(views, y)

    with torch.no_grad():
        es = student.proj_head(fs)
    t_sim, s_sim = similarity_by_hand(et), similarity_by_hand(es)
    # the crafted ranks really are the teacher's ranks
    for r in range(12):
        b, k = divmod(r, 3)
        assert int((t_sim[r] > t_sim[r, b]).sum()) == SS_RANKS[b][k]
        assert int((zt[b, k + 1] > zt[b, k + 1, y[b]]).sum()) == TF_RANKS[b][k]

    rot = [(r // 3, r % 3 + 1) for r in range(12)]
    ce = sum(ce_hand(zs[b, 0], y[b]) for b in range(B)) / B
    kd = 16 * sum(kl_hand(zs[b, 0], zt[b, 0], 4.0) for b in range(B)) / B
    tf = 16 * sum(kl_hand(zs[rot[r]], zt[rot[r]], 4.0) for r in tf_rows) / len(tf_rows)
    ss = 0.25 * sum(kl_hand(s_sim[r], t_sim[r], 0.5) for r in ss_rows) / len(ss_rows)
    assert value(out.losses["ce"]) == pytest.approx(0.1 * ce, rel=1e-5)
    assert value(out.losses["kd"]) == pytest.approx(0.9 * kd, rel=1e-5)
    assert value(out.losses["tf"]) == pytest.approx(2.7 * tf, rel=1e-5)
    assert value(out.losses["ss"]) == pytest.approx(10 * ss, rel=1e-5)
    assert torch.equal(out.logits, zs[:, 0])

    sum(out.losses.values()).backward()
    assert student.proj_head.weight.grad.abs().sum() > 0 and student.backbone.feats.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())


def test_sskd_teacher_trains_the_head_contrastively_on_a_frozen_copy():
    B, V = 3, 4
    torch.manual_seed(3)
    views, ids = make_views(B, V, seed=9)
    z, f = torch.randn(B, V, K), torch.randn(B, V, D)
    plain = Table(table(z, ids), table(f, ids))
    model = FakeSSKD(torch.zeros(B * V, K), torch.zeros(B * V, D))
    method = get_method("sskd-teacher")(model, plain, K)
    assert torch.equal(model.backbone.feats, plain.feats) and method.teacher is None
    method.train()
    assert not model.backbone.training and model.proj_head.training
    out = method(views, torch.tensor([0, 1, 2]))

    with torch.no_grad():
        sim = similarity_by_hand(model.proj_head(f))
    # raw cosines (no temperature), target = the row's own image
    expected = sum(ce_hand(sim[r], r // 3) for r in range(3 * B)) / (3 * B)
    assert set(out.losses) == {"ss"}
    assert value(out.losses["ss"]) == pytest.approx(expected, rel=1e-5)
    assert torch.equal(out.logits, z[:, 0])

    out.losses["ss"].backward()
    assert model.backbone.logits.grad is None and model.backbone.feats.grad is None
    assert model.proj_head.weight.grad.abs().sum() > 0


# ---------------------------------------------------------------- mixed precision
def bf16_models(name, B, V):
    torch.manual_seed(4)
    z, f = torch.randn(B * V, K), torch.randn(B * V, D)
    if name in ("ce", "kd", "ccd"):
        return Table(z), (None if name == "ce" else Table(2 * z))
    if name.startswith("hsakd"):
        return FakeAux(z, f), (FakeAux(2 * z, f) if name == "hsakd" else None)
    return FakeSSKD(z, f), (FakeSSKD(2 * z, -f) if name == "sskd" else Table(z, f))


@pytest.mark.parametrize("name", ["ce", "kd", "ccd", "hsakd-teacher", "hsakd", "sskd-teacher", "sskd"])
def test_losses_are_float32_when_models_return_bfloat16(name):
    B, V = 4, max(get_method(name).default_views, 2)
    views, ids = make_views(B, V)
    y = torch.tensor([0, 1, 2, 3])
    student, teacher = bf16_models(name, B, V)
    method = get_method(name)(student, teacher, K)
    full = {k: value(v) for k, v in method(views, y).losses.items()}
    if teacher is not None:
        teacher.to(torch.bfloat16)
    half = get_method(name)(student.to(torch.bfloat16), teacher, K)
    out = half(views, y)
    for key, loss in out.losses.items():
        assert loss.dtype == torch.float32 and loss.dim() == 0
        assert math.isfinite(value(loss))
        assert value(loss) == pytest.approx(full[key], rel=0.05, abs=1e-3)

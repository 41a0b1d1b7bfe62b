"""Model zoo, staged interface, HSAKD/SSKD wrappers and weight loading.

Reference figures below were obtained by instantiating the reference definitions
(HobbitLong/RepDistiller models/, winycg/HSAKD models/) with num_classes=100."""
import copy

import pytest
import torch
import torchvision
from torch import nn

from kdaug.errors import KdaugError
from kdaug.models import AuxModel, SSKDModel, aux_param_count, build, create, list_models, load_state

# RepDistiller parameter counts, 100 classes.
REFERENCE_PARAMS = {
    "resnet8": 83892, "resnet14": 181108, "resnet20": 278324, "resnet32": 472756, "resnet44": 667188,
    "resnet56": 861620, "resnet110": 1736564, "resnet8x4": 1233540, "resnet32x4": 7433860,
    "wrn_16_1": 180916, "wrn_16_2": 703284, "wrn_40_1": 569780, "wrn_40_2": 2255156,
    "vgg8": 3965028, "vgg11": 9277284, "vgg13": 9462180, "vgg16": 14774436, "vgg19": 20086692,
    "ResNet50": 23705252, "MobileNetV2": 812836, "ShuffleV1": 949258, "ShuffleV2": 1355528,
}
# Parameters of HSAKD's Auxiliary_Classifier for the same backbones, 100 classes.
REFERENCE_AUX_PARAMS = {
    "resnet8": 281968, "resnet56": 2206064, "resnet32x4": 18907056, "wrn_16_1": 522384,
    "wrn_40_2": 5769328, "vgg8": 16833984, "vgg13": 37049664, "MobileNetV2": 4671496,
    "ShuffleV1": 3118740, "ShuffleV2": 4519988, "ResNet50": 76976704,
}
THREE_BRANCHES = ("resnet", "wrn_", "Shuffle")  # CIFAR name prefixes; the others have four
CIFAR = sorted(REFERENCE_PARAMS)
IMAGENET = ["resnet18", "resnet34", "resnet50", "mobilenet_v2"]
TORCHVISION = {name: getattr(torchvision.models, name) for name in IMAGENET}


def n_branches(arch):
    return 3 if arch in REFERENCE_PARAMS and arch.startswith(THREE_BRANCHES) else 4


def image(arch, n=2):
    size = 32 if arch in REFERENCE_PARAMS else 64
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(0))


def test_registry_lists_the_whole_zoo():
    models = list_models()
    assert set(models) == set(CIFAR) | set(IMAGENET)
    for name in CIFAR:
        assert models[name] == {"family": "cifar", "input": 32, "params": REFERENCE_PARAMS[name]}
    for name in IMAGENET:  # torchvision's own constructor is the reference
        expected = sum(p.numel() for p in TORCHVISION[name](num_classes=1000).parameters())
        assert models[name] == {"family": "imagenet", "input": 224, "params": expected}


@pytest.mark.parametrize("arch", ["resnet8x4", "wrn_40_2", "MobileNetV2", "ShuffleV2"])
def test_listed_counts_equal_real_instances(arch):
    assert sum(p.numel() for p in create(arch, 100).parameters()) == REFERENCE_PARAMS[arch]


def test_unknown_names_raise_keyerror_listing_known_ones():
    with pytest.raises(KeyError, match="unknown model 'resnet9'.*resnet8x4.*mobilenet_v2"):
        create("resnet9", 10)
    with pytest.raises(KeyError, match="unknown model kind 'crd'.*plain.*hsakd.*sskd"):
        build("crd", "resnet8", 10)


@pytest.mark.parametrize("arch", CIFAR + IMAGENET)
def test_forward_and_staged_interface(arch):
    torch.manual_seed(0)
    model = create(arch, 10).eval()
    x = image(arch)
    with torch.no_grad():
        logits = model(x)
        feats, pooled = model.forward_features(x)
        # the stages, pooling head and classifier composed by hand give the same logits
        h = x
        for stage in model.stages():
            h = stage(h)
        by_hand = model.classifier(model.head_pool(h))
    assert logits.shape == (2, 10)
    assert isinstance(model.classifier, nn.Linear) and model.classifier.out_features == 10
    assert len(feats) == n_branches(arch)
    assert pooled.shape == (2, model.feature_dim) == (2, model.classifier.in_features)
    torch.testing.assert_close(model.classifier(pooled), logits)
    torch.testing.assert_close(by_hand, logits)
    # every stage keeps or halves the resolution, the last one is the deepest
    sizes = [f.shape[-1] for f in feats]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] < x.shape[-1]


@pytest.mark.parametrize("arch", IMAGENET)
def test_torchvision_adapter_matches_torchvision_forward(arch):
    torch.manual_seed(0)
    model = create(arch, 10).eval()
    reference = TORCHVISION[arch](num_classes=10).eval()
    load_state(model, reference.state_dict(), f"{arch}-torchvision.pth")  # torchvision key names
    with torch.no_grad():
        torch.testing.assert_close(model(image(arch)), reference(image(arch)))


def test_cifar_stage_shapes_follow_reference_taps():
    shapes = {
        "resnet8x4": [(64, 32), (128, 16), (256, 8)],
        "wrn_16_2": [(32, 32), (64, 16), (128, 8)],
        "vgg8": [(64, 32), (128, 16), (256, 8), (512, 4)],
        "MobileNetV2": [(12, 16), (16, 8), (48, 4), (160, 2)],  # RepDistiller's stride-2 stem
        "ShuffleV2": [(116, 16), (232, 8), (464, 4)],
    }
    for arch, expected in shapes.items():
        with torch.no_grad():
            feats, _ = create(arch, 10).eval().forward_features(image(arch))
        assert [(f.shape[1], f.shape[-1]) for f in feats] == expected, arch


@pytest.mark.parametrize("arch", CIFAR)
def test_aux_model_branches(arch):
    torch.manual_seed(0)
    model = build("hsakd", arch, 5).eval()
    assert isinstance(model, AuxModel)
    x = image(arch)
    with torch.no_grad():
        logits, aux = model(x)
        plain = model.backbone(x)
    torch.testing.assert_close(logits, plain)
    assert len(model.branches) == len(aux) == n_branches(arch)
    assert all(a.shape == (2, 20) for a in aux)


@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v2"])
def test_aux_model_torchvision(arch):
    model = build("hsakd", arch, 3).eval()
    with torch.no_grad():
        logits, aux = model(image(arch))
    assert logits.shape == (2, 3) and [a.shape for a in aux] == [(2, 12)] * 4


@pytest.mark.parametrize("arch", sorted(REFERENCE_AUX_PARAMS))
def test_aux_parameter_counts_equal_hsakd(arch):
    with torch.device("meta"):  # shapes only
        model = build("hsakd", arch, 100)
    assert aux_param_count(model) == REFERENCE_AUX_PARAMS[arch]
    assert aux_param_count(model) == sum(p.numel() for p in model.parameters()) - REFERENCE_PARAMS[arch]


def test_aux_branches_are_fresh_copies():
    model = build("hsakd", "resnet20", 10)
    backbone_storage = {p.data_ptr() for p in model.backbone.parameters()}
    assert not backbone_storage & {p.data_ptr() for p in model.branches.parameters()}
    # branch 0 starts with a copy of layer2: same shapes, different (re-initialised) weights
    copied, original = model.branches[0][0][0].conv1.weight, model.backbone.layer2[0].conv1.weight
    assert copied.shape == original.shape and not torch.equal(copied, original)


@pytest.mark.parametrize("detach", [True, False])
def test_detach_aux_stops_gradients_into_backbone(detach):
    model = AuxModel(create("resnet8", 10), detach_aux=detach)
    _, aux = model(image("resnet8"))
    sum(a.square().sum() for a in aux).backward()
    backbone_grads = [p.grad for p in model.backbone.parameters() if p is not model.backbone.fc.weight
                      and p is not model.backbone.fc.bias]
    if detach:
        assert all(g is None for g in backbone_grads)
    else:
        assert model.backbone.conv1.weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.branches.parameters())


def test_sskd_model():
    model = build("sskd", "wrn_16_2", 10)
    assert isinstance(model, SSKDModel)
    d = model.backbone.feature_dim
    head = model.proj_head
    assert [type(m) for m in head] == [nn.Linear, nn.ReLU, nn.Linear]
    assert (head[0].in_features, head[0].out_features, head[2].out_features) == (d, d, d)
    x = image("wrn_16_2")
    model.eval()
    with torch.no_grad():
        logits, emb = model(x)
        torch.testing.assert_close(logits, model.backbone(x))
        torch.testing.assert_close(emb, head(model.backbone.forward_features(x)[1]))
    assert emb.shape == (2, d)

    model.detach_features = True
    model(x)[1].sum().backward()
    assert model.backbone.conv1.weight.grad is None and head[0].weight.grad is not None


# ---- load_state ---------------------------------------------------------------------------
def test_load_state_round_trip_with_ddp_prefix_and_container():
    source, target = create("resnet8", 10).eval(), create("resnet8", 10).eval()
    wrapped = {"epoch": 3, "model": {f"module.{k}": v for k, v in source.state_dict().items()}}
    load_state(target, wrapped, "run/last.pt")
    with torch.no_grad():
        torch.testing.assert_close(target(image("resnet8")), source(image("resnet8")))


def test_load_state_size_mismatch_message():
    with pytest.raises(KdaugError) as err:
        load_state(create("resnet32x4", 10), create("resnet32x4", 100).state_dict(), "teacher.pt")
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("checkpoint teacher.pt does not fit resnet32x4: ")
    assert "size mismatch for fc.weight (checkpoint 100x256, model 10x256)" in msg
    assert "fc.bias (checkpoint 100, model 10)" in msg


def test_load_state_missing_and_unexpected_keys():
    with pytest.raises(KdaugError) as err:  # resnet14 has 2 blocks per stage, resnet8 one
        load_state(create("resnet14", 10), create("resnet8", 10).state_dict(), "r8.pt")
    msg = str(err.value)
    assert "does not fit resnet14" in msg and "missing layer1.1.conv1.weight" in msg and "more)" in msg
    assert "unexpected" not in msg
    with pytest.raises(KdaugError, match=r"does not fit resnet8: unexpected layer1\.1\."):
        load_state(create("resnet8", 10), create("resnet14", 10).state_dict(), "r14.pt")
    with pytest.raises(KdaugError, match="checkpoint notes.pt holds no model weights"):
        load_state(create("resnet8", 10), {"epoch": 1}, "notes.pt")


def test_load_state_other_layouts():
    # RepDistiller's MobileNetV2 keeps its Linear in a Sequential: classifier.0.*
    source = create("MobileNetV2", 10).eval()
    repdistiller = {k.replace("classifier.", "classifier.0."): v for k, v in source.state_dict().items()}
    target = create("MobileNetV2", 10).eval()
    load_state(target, repdistiller, "mbv2.pth")
    # the backbone of an HSAKD checkpoint loads into the plain model (e.g. as a KD teacher)
    hsakd = build("hsakd", "resnet8", 10)
    plain = create("resnet8", 10).eval()
    load_state(plain, hsakd.state_dict(), "hsakd_teacher.pt")
    with torch.no_grad():
        torch.testing.assert_close(target(image("MobileNetV2")), source(image("MobileNetV2")))
        torch.testing.assert_close(plain(image("resnet8")), hsakd.backbone.eval()(image("resnet8")))
    # a plain checkpoint into a wrapper: the message names the kind and the missing head only
    with pytest.raises(KdaugError) as err:
        load_state(build("sskd", "resnet8", 10), copy.deepcopy(plain.state_dict()), "plain.pt")
    assert str(err.value) == ("checkpoint plain.pt does not fit resnet8 (sskd): missing proj_head.0.weight, "
                              "proj_head.0.bias, proj_head.2.weight (+1 more)")


def test_torch_free_catalog_matches_the_registry():
    # `kdaug list models` prints the catalog without importing torch: it must not drift
    from kdaug.models.catalog import FAMILIES, MODELS

    assert {name: {"family": info.family, "input": FAMILIES[info.family][0], "params": info.params}
            for name, info in MODELS.items()} == list_models()

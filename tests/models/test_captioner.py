"""The captioner: shapes, the decoder equations, the loss, greedy and beam search, the encoders
(the torchvision backbone through a stand-in module: torchvision itself is not installed here)."""

from __future__ import annotations

import itertools
import subprocess
import sys
import types

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.errors import ConfigError, UserError
from rnnlab.models.captioner import Captioner, CaptionerConfig, caption_loss
from rnnlab.models.image_encoder import ImageEncoder, load_weights_file

PAD, START, END = 0, 1, 2


def tiny(V=9, **kw) -> Captioner:
    torch.manual_seed(0)
    cfg = CaptionerConfig(
        channels=[4, 8], feature_size=6, embed_size=5, hidden_size=7, attention_size=4, **kw
    )
    return Captioner(V, cfg, START, END, PAD).eval()


def test_shapes_and_attention_weights():
    m = tiny()
    images, inputs = torch.rand(3, 3, 32, 32), torch.randint(3, 9, (3, 4))
    logits, alphas = m(images, inputs)
    assert logits.shape == (3, 4, 9) and alphas.shape == (3, 4, 64)  # 32 / 2 / 2 = 8x8 grid
    assert m.encoder.grid == (8, 8) and m.encoder.grid_for(56) == (14, 14)
    torch.testing.assert_close(alphas.sum(-1), torch.ones(3, 4))
    assert (alphas > 0).all()


def test_forward_is_the_decoder_equations():
    """Recompute one step by hand from the module's parameters: init from the mean feature,
    Bahdanau attention on h_{t-1}, the scalar gate, the LSTM on [E y; z], the deep output."""
    m = tiny()
    images, inputs = torch.rand(2, 3, 32, 32), torch.tensor([[START, 4, 5], [START, 6, 3]])
    logits, alphas = m(images, inputs)
    a = m.encoder(images)  # (B, L, D)
    hc = torch.tanh(m.init_state(a.mean(1))).view(2, 2, 7)
    h, c = hc[:, 0], hc[:, 1]
    lstm = nn.LSTMCell(6 + 5, 7)
    lstm.load_state_dict({k.replace("_l0", ""): v for k, v in m.rnn.state_dict().items()})
    att = m.attention
    for t in range(3):
        e = att.v(torch.tanh(att.W(h)[:, None] + att.U(a))).squeeze(-1)  # (B, L)
        alpha = F.softmax(e, -1)
        z = torch.sigmoid(m.gate(h)) * (alpha[..., None] * a).sum(1)
        emb = m.embedding(inputs[:, t])
        h, c = lstm(torch.cat([emb, z], -1), (h, c))
        out = m.out(emb + m.out_h(h) + m.out_z(z))
        torch.testing.assert_close(alphas[:, t], alpha)
        torch.testing.assert_close(logits[:, t], out)


@pytest.mark.parametrize(
    "kw",
    [
        {"gate": "vector"},
        {"gate": "none", "deep_output": False},
        {"attention": "luong-general"},
        {"cell": "gru", "num_layers": 2},
        {"variant": {"layer_norm": True}},
    ],
)
def test_variants_run_and_learn_a_step(kw):
    m = tiny(**kw).train()
    images, inputs, targets = (
        torch.rand(2, 3, 32, 32),
        torch.randint(3, 9, (2, 3)),
        torch.randint(3, 9, (2, 3)),
    )
    logits, alphas = m(images, inputs)
    loss = caption_loss(logits, alphas, targets, PAD, 1.0)[0]
    loss.backward()
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad)
    assert torch.isfinite(loss)


def test_config_errors():
    with pytest.raises(ConfigError, match="hidden_size == feature_size"):
        CaptionerConfig(attention="luong-dot").validate()
    with pytest.raises(ConfigError, match="channels"):
        CaptionerConfig(channels=[]).validate()
    with pytest.raises(ConfigError, match=r"\[model\]"):
        Captioner(5, CaptionerConfig(cell="lstm", variant={"reset": "before"}), 1, 2)
    with pytest.raises(ConfigError, match="encoder"):
        ImageEncoder(kind="vit")


def test_loss_masks_padding_and_matches_the_formulas():
    torch.manual_seed(0)
    logits, alphas = torch.randn(2, 4, 6), F.softmax(torch.randn(2, 4, 5), -1)
    targets = torch.tensor([[3, 4, 2, 0], [5, 2, 0, 0]])
    loss, ce, reg, n = caption_loss(logits, alphas, targets, PAD, 0.5)
    assert n == 5
    manual_ce = (
        sum(
            F.cross_entropy(logits[b, t : t + 1], targets[b, t : t + 1])
            for b in range(2)
            for t in range(4)
            if targets[b, t] != PAD
        )
        / 5
    )
    seen = torch.stack([alphas[0, :3].sum(0), alphas[1, :2].sum(0)])  # padded steps not counted
    manual_reg = 0.5 * ((1 - seen) ** 2).sum() / 5
    torch.testing.assert_close(ce, manual_ce)
    torch.testing.assert_close(reg, manual_reg)
    torch.testing.assert_close(loss, manual_ce + manual_reg)
    # more padding changes nothing
    wider = caption_loss(
        torch.cat([logits, torch.randn(2, 2, 6)], 1),
        torch.cat([alphas, F.softmax(torch.randn(2, 2, 5), -1)], 1),
        torch.cat([targets, torch.zeros(2, 2, dtype=torch.long)], 1),
        PAD,
        0.5,
    )
    torch.testing.assert_close(wider[0], loss)
    assert float(caption_loss(logits, alphas, targets, PAD, 0.0)[2]) == 0.0


@torch.no_grad()
def _log_prob(m, image, words):
    """log p(words + <end> | image) by teacher forcing."""
    inputs = torch.tensor([[START, *words]])
    logits, _ = m(image[None], inputs)
    targets = torch.tensor([*words, END])
    return float(F.log_softmax(logits[0], -1).gather(1, targets[:, None]).sum())


def test_greedy_matches_step_by_step_argmax_and_reports_its_log_prob():
    m = tiny()
    images = torch.rand(3, 3, 32, 32)
    out = m.greedy(images, max_len=6)
    for b in range(3):
        words = out.tokens[b]
        assert END not in words and len(words) <= 6
        # re-decode with teacher forcing: every emitted word is the argmax after its prefix
        inputs = torch.tensor([[START, *words]])
        logits, alphas = m(images[b : b + 1], inputs)
        steps = logits[0].argmax(-1).tolist()
        assert steps[: len(words)] == words
        torch.testing.assert_close(out.alphas[b], alphas[0, : len(out.alphas[b])])
        if len(words) < 6:  # it ended: the <end> step's attention is the last row
            assert steps[len(words)] == END and len(out.alphas[b]) == len(words) + 1
            assert out.scores[b] == pytest.approx(_log_prob(m, images[b], words), abs=1e-4)


def test_beam_search_finds_the_exact_best_caption_on_a_tiny_vocabulary():
    """With a beam wider than the number of hypotheses, beam search is exhaustive: compare it
    with enumerating every caption of at most 3 words over the 2 real words."""
    torch.manual_seed(3)
    m = tiny(V=5)  # pad, start, end, and words 3, 4
    with torch.no_grad():
        m.out.bias[END] += 1.0  # make short and long captions compete
    image = torch.rand(3, 32, 32)
    best, best_lp = None, -float("inf")
    for n in range(4):
        for words in itertools.product([3, 4], repeat=n):
            lp = _log_prob(m, image, list(words))
            if lp > best_lp:
                best, best_lp = list(words), lp
    out = m.beam_search(image, beam_size=50, max_len=4)
    assert out.tokens[0] == best
    assert out.scores[0] == pytest.approx(best_lp, abs=1e-4)
    assert out.alphas[0].shape == (len(best) + 1, 64)
    # beam 1 is greedy
    g = m.greedy(image[None], max_len=4)
    b1 = m.beam_search(image, beam_size=1, max_len=4)
    assert b1.tokens == g.tokens
    assert m.decode(image[None], 4, beam_size=3).tokens[0] == m.beam_search(image, 3, 4).tokens[0]


def test_beam_search_without_an_end_returns_the_best_live_caption():
    m = tiny(V=5)
    with torch.no_grad():
        m.out.bias[END] -= 100.0  # <end> never wins
    out = m.beam_search(torch.rand(3, 32, 32), beam_size=2, max_len=3)
    assert len(out.tokens[0]) == 3 and out.alphas[0].shape == (3, 64)


# ---------------------------------------------------------------------- encoders
def test_small_cnn_coords_and_receptive_field():
    torch.manual_seed(0)
    enc = ImageEncoder("small", 8, [4, 4, 4], coords=True).eval()
    assert enc.net.body[0].in_channels == 5
    assert ImageEncoder("small", 8, [4], coords=False).net.body[0].in_channels == 3
    # a change in one pixel reaches only the cells within the 31-pixel receptive field
    x = torch.rand(1, 3, 56, 56)
    y = x.clone()
    y[0, :, 4, 4] += 1.0
    diff = (enc(x) - enc(y)).abs().sum(-1).view(7, 7)
    assert diff[0, 0] > 0 and diff[:3, :3].gt(0).all()
    assert diff[3:, :].eq(0).all() and diff[:, 3:].eq(0).all()


class _TinyResNet(nn.Module):
    """Stands in for a torchvision ResNet: children conv, bn, relu, layer, avgpool, fc."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.layer1 = nn.Conv2d(4, 6, 3, stride=2, padding=1)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 10)


@pytest.fixture
def fake_torchvision(monkeypatch):
    calls = []

    def get_model(name, weights=None):
        calls.append((name, weights))
        if name != "resnet18":
            raise ValueError(f"Unknown model {name}")
        return _TinyResNet()

    tv = types.ModuleType("torchvision")
    tv.models = types.SimpleNamespace(get_model=get_model)
    monkeypatch.setitem(sys.modules, "torchvision", tv)
    return calls


def test_frozen_backbone_loads_local_weights_and_stays_fixed(tmp_path, fake_torchvision):
    from safetensors.torch import save_file

    torch.manual_seed(1)
    ref = _TinyResNet()
    save_file(ref.state_dict(), str(tmp_path / "w.safetensors"))
    torch.save(ref.state_dict(), tmp_path / "w.pth")
    for path in ("w.safetensors", "w.pth"):
        enc = ImageEncoder(
            "torchvision", 5, backbone="resnet18", backbone_weights=str(tmp_path / path), grid=2
        )
        assert fake_torchvision[-1] == ("resnet18", None)  # never asks torchvision to download
        trunk = enc.net[0].trunk
        torch.testing.assert_close(trunk[0].weight, ref.conv1.weight)  # the file's weights
        assert len(trunk) == 4  # avgpool and fc cut off
        assert not any(p.requires_grad for p in trunk.parameters())
        enc.train()
        assert not trunk.training  # frozen batch norm keeps its statistics
        out = enc(torch.rand(2, 3, 32, 32))
        assert out.shape == (2, 4, 5) and enc.grid == (2, 2)  # 8x8 map pooled to 2x2
        out.sum().backward()
        assert trunk[0].weight.grad is None and enc.net[1].weight.grad is not None


def test_finetuned_backbone_trains_and_bad_weights_are_user_errors(tmp_path, fake_torchvision):
    enc = ImageEncoder("torchvision", 5, backbone="resnet18", finetune=True).train()
    assert enc.net[0].trunk.training
    enc(torch.rand(2, 3, 16, 16)).sum().backward()
    assert enc.net[0].trunk[0].weight.grad is not None
    with pytest.raises(ConfigError, match="frozen backbone needs pretrained weights"):
        ImageEncoder("torchvision", 5, backbone="resnet18")
    with pytest.raises(UserError, match="not found"):
        ImageEncoder("torchvision", 5, backbone_weights=str(tmp_path / "none.pt"))
    with pytest.raises(UserError, match="not a torchvision model"):
        ImageEncoder("torchvision", 5, backbone="nosuchnet", finetune=True)
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "wrong.pt")
    with pytest.raises(UserError, match="does not fit torchvision's resnet18"):
        ImageEncoder("torchvision", 5, backbone_weights=str(tmp_path / "wrong.pt"))


class _Evil:
    def __reduce__(self):  # unpickling this would run code: weights_only must refuse it
        return (print, ("unpickled!",))


def test_weights_are_never_unpickled(tmp_path):
    torch.save({"x": _Evil()}, tmp_path / "evil.pt")
    with pytest.raises(UserError, match="cannot read backbone weights"):
        load_weights_file(tmp_path / "evil.pt")
    torch.save({"state_dict": {"a": torch.ones(2)}}, tmp_path / "wrapped.pt")
    assert list(load_weights_file(tmp_path / "wrapped.pt")) == ["a"]
    torch.save([torch.ones(1)], tmp_path / "list.pt")
    with pytest.raises(UserError, match="state dict of tensors"):
        load_weights_file(tmp_path / "list.pt")


def test_torchvision_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # makes `import torchvision` fail
    with pytest.raises(UserError, match="needs torchvision, which is not installed"):
        ImageEncoder("torchvision", 5, finetune=True)


def test_rnnlab_never_imports_torchvision():
    code = (
        "import sys, rnnlab.models.captioner, rnnlab.tasks.caption, rnnlab.tasks.caption_cli;"
        "import rnnlab.models.image_encoder as e; e.ImageEncoder('small');"
        "assert 'torchvision' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

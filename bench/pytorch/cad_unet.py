"""A module-for-module PyTorch mirror of CadStream's denoiser (src/Model/Networks) and of one
CadTrainer step (src/Model/Training/CadTrainer.cs): the same layers, initialisation, loss,
optimiser, clipping and EMA, so that the same spec gives the same parameter count and the same
work per step. Standard library and torch only; runs on torch 1.13 (Debian 12) and 2.x.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

SINUSOID_INPUT_SCALE = 1000.0
MIN_GAMMA, MAX_GAMMA = 1e-9, 1.0


class Spec:
    """The fields of ModelSpec that shape the network and the step (C# names, from its JSON)."""

    def __init__(self, d):
        self.channels = int(d.get("Channels", 1))
        self.image_size = int(d.get("ImageSize", 28))
        self.num_classes = int(d.get("NumClasses", len(d.get("Classes", [])) or 10))
        self.width = int(d.get("Width", 48))
        self.mults = [int(m) for m in d.get("ChannelMultipliers", [1, 2, 2])]
        self.blocks = int(d.get("ResBlocksPerLevel", 2))
        self.mid_attention = bool(d.get("MidAttention", True))
        self.heads = int(d.get("AttentionHeads", 4))
        self.groups = int(d.get("NormGroups", 8))
        self.dropout = float(d.get("Dropout", 0.0))
        self.patch = int(d.get("PatchSize", 2))
        self.padded = int(d.get("PaddedSize", 0))
        self.extra_inputs = int(d.get("ExtraInputChannels", 0))
        self.mode = str(d.get("Mode", "cad")).lower()
        self.filter_threshold = float(d.get("FilterThreshold", 0.5))
        self.cfg_dropout = float(d.get("CfgDropout", 0.1))
        self.schedule = str(d.get("Schedule", "sigmoid")).lower()
        self.lr = float(d.get("LearningRate", 5e-4))
        self.weight_decay = float(d.get("WeightDecay", 0.0))
        self.warmup = int(d.get("WarmupSteps", 200))
        self.grad_clip = float(d.get("GradClip", 1.0))
        self.ema_decay = float(d.get("EmaDecay", 0.999))
        self.batch = int(d.get("Batch", 64))
        self.seed = int(d.get("Seed", 0))

    @property
    def emb_dim(self):
        return self.width * 4

    @property
    def unet_size(self):
        # ModelSpec.UNetSize: the smallest side >= the image, an even distance away, divisible by patch * 2^(levels-1).
        if self.padded > 0:
            return self.padded
        factor = self.patch << max(0, len(self.mults) - 1)
        s = self.image_size
        while s % factor != 0 or (s - self.image_size) % 2 != 0:
            s += 1
        return s


def sinusoidal(values, dim):
    """SinusoidalEmbedding.Embed: [sin(v f), cos(v f)], f_i = 10000^(-i/half)."""
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32, device=values.device) * (-math.log(10000.0) / half))
    args = values.float().unsqueeze(1) * freqs.unsqueeze(0)
    return torch.cat([args.sin(), args.cos()], 1)


def norm(groups, channels):
    # Layers.Norm: GroupNorm with weight 1, bias 0 (torch's own default here).
    return nn.GroupNorm(groups, channels)


def conv3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


def zero_init(module):
    with torch.no_grad():
        for p in module.parameters():
            p.zero_()
    return module


class ResidualBlock(nn.Module):
    def __init__(self, cin, cout, emb, groups, dropout):
        super().__init__()
        self.norm1 = norm(groups, cin)
        self.conv1 = conv3(cin, cout)
        self.film = nn.Linear(emb, 2 * cout)
        self.norm2 = norm(groups, cout)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = zero_init(conv3(cout, cout))
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        ss = self.film(F.silu(emb)).unsqueeze(-1).unsqueeze(-1)
        scale, shift = ss.chunk(2, 1)
        h = self.norm2(h) * (scale + 1) + shift
        h = self.conv2(self.dropout(F.silu(h)))
        return h + self.skip(x)


def attention(q, k, v):
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v)
    # torch 1.13 has no fused attention: the same maths, unfused.
    w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    return w @ v


class SelfAttention(nn.Module):
    def __init__(self, channels, heads, groups):
        super().__init__()
        self.heads = heads
        self.norm = norm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = zero_init(nn.Conv2d(channels, channels, 1))

    def forward(self, x):
        b, c, h, w = x.shape
        t = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).permute(1, 0, 2, 4, 3)
        a = attention(t[0], t[1], t[2])
        y = a.permute(0, 1, 3, 2).reshape(b, c, h, w)
        return x + self.proj(y)


class UNet(nn.Module):
    def __init__(self, cin, cout, base, mults, blocks, emb, groups, dropout, mid_attention, heads):
        super().__init__()
        self.levels, self.blocks = len(mults), blocks
        self.conv_in = conv3(cin, base)
        down, downs, skips = [], [], [base]
        ch = base
        for level, m in enumerate(mults):
            out = base * m
            for _ in range(blocks):
                down.append(ResidualBlock(ch, out, emb, groups, dropout))
                ch = out
                skips.append(ch)
            if level < self.levels - 1:
                downs.append(conv3(ch, ch, stride=2))
                skips.append(ch)
        self.mid1 = ResidualBlock(ch, ch, emb, groups, dropout)
        self.mid_attention = SelfAttention(ch, heads, groups) if mid_attention else nn.Identity()
        self.mid2 = ResidualBlock(ch, ch, emb, groups, dropout)
        up, ups = [], []
        for level in reversed(range(self.levels)):
            out = base * mults[level]
            for _ in range(blocks + 1):
                up.append(ResidualBlock(ch + skips.pop(), out, emb, groups, dropout))
                ch = out
            if level > 0:
                ups.append(conv3(ch, ch))
        self.down_blocks = nn.ModuleList(down)
        self.downsamples = nn.ModuleList(downs)
        self.up_blocks = nn.ModuleList(up)
        self.upsample_convs = nn.ModuleList(ups)
        self.norm_out = norm(groups, ch)
        self.conv_out = zero_init(conv3(ch, cout))

    def forward(self, x, emb):
        h = self.conv_in(x)
        skips = [h]
        block = 0
        for level in range(self.levels):
            for _ in range(self.blocks):
                h = self.down_blocks[block](h, emb)
                block += 1
                skips.append(h)
            if level < self.levels - 1:
                h = self.downsamples[level](h)
                skips.append(h)
        h = self.mid2(self.mid_attention(self.mid1(h, emb)), emb)
        block, up_level = 0, 0
        for level in reversed(range(self.levels)):
            for _ in range(self.blocks + 1):
                h = self.up_blocks[block](torch.cat([h, skips.pop()], 1), emb)
                block += 1
            if level > 0:
                h = F.interpolate(h, scale_factor=2.0, mode="nearest")
                h = self.upsample_convs[up_level](h)
                up_level += 1
        return self.conv_out(F.silu(self.norm_out(h)))


class ClassCoherenceEncoder(nn.Module):
    """(1 + scale(c)) * E[y] + shift(c); the null class is index num_classes."""

    def __init__(self, num_classes, emb, sinusoid_dim):
        super().__init__()
        self.sinusoid_dim = sinusoid_dim
        self.null_class = num_classes
        self.class_embedding = nn.Embedding(num_classes + 1, emb)
        self.coherence_mlp = nn.Sequential(nn.Linear(sinusoid_dim, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.scale_shift = zero_init(nn.Linear(emb, 2 * emb))

    def forward(self, coherence, labels):
        c = self.coherence_mlp(sinusoidal(coherence * SINUSOID_INPUT_SCALE, self.sinusoid_dim))
        scale, shift = self.scale_shift(F.silu(c)).chunk(2, 1)
        return self.class_embedding(labels) * (scale + 1) + shift


class CadDenoiser(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        emb = spec.emb_dim
        self.sinusoid_dim = spec.width
        self.pad = (spec.unet_size - spec.image_size) // 2
        self.noise_level_mlp = nn.Sequential(nn.Linear(spec.width, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.condition = ClassCoherenceEncoder(spec.num_classes, emb, spec.width)
        fold = spec.patch * spec.patch
        self.unet = UNet((spec.channels + spec.extra_inputs) * fold, spec.channels * fold, spec.width, spec.mults,
                         spec.blocks, emb, spec.groups, spec.dropout, spec.mid_attention, spec.heads)

    def forward(self, xt, gamma, coherence, labels):
        emb = self.noise_level_mlp(sinusoidal(gamma * SINUSOID_INPUT_SCALE, self.sinusoid_dim)) + self.condition(coherence, labels)
        x = xt
        p = self.pad
        if p > 0:
            x = F.pad(x, [p, p, p, p])
        if self.spec.patch > 1:
            x = F.pixel_unshuffle(x, self.spec.patch)
        eps = self.unet(x, emb)
        if self.spec.patch > 1:
            eps = F.pixel_shuffle(eps, self.spec.patch)
        if p > 0:
            s = self.spec.image_size
            eps = eps[:, :, p:p + s, p:p + s]
        return eps.contiguous()


def gamma_of(schedule, t):
    """NoiseSchedule.Gamma(Tensor): signal variance g(t), clamped."""
    if schedule == "sigmoid":
        start, end, tau = -3.0, 3.0, 0.9
        s = lambda v: 1.0 / (1.0 + math.exp(-v))
        v_start, v_end = s(start / tau), s(end / tau)
        g = (v_end - ((t * (end - start) + start) / tau).sigmoid()) / (v_end - v_start)
    elif schedule == "cosine":
        g = ((t + 2e-4) / (1 + 2.5e-4) * (math.pi / 2)).cos().square()
    elif schedule == "linear":
        g = 1 - t
    else:
        raise ValueError(f"unknown schedule '{schedule}'")
    return g.clamp_(MIN_GAMMA, MAX_GAMMA)


def parameter_count(module):
    return sum(p.numel() for p in module.parameters())


class Trainer:
    """CadTrainer.Step: eps-prediction MSE, the training modes, AdamW with linear warm-up,
    gradient clipping, the non-finite guard and the EMA lerp."""

    def __init__(self, spec, device, foreach=None):
        self.spec, self.device = spec, device
        torch.manual_seed(spec.seed)
        self.model = CadDenoiser(spec).to(device)
        self.ema = CadDenoiser(spec).to(device).eval()
        self.ema.load_state_dict(self.model.state_dict())
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.params = list(self.model.parameters())
        self.ema_params = list(self.ema.parameters())
        # TorchSharp 0.107's optim.AdamW defaults (betas 0.9/0.999, eps 1e-8, no amsgrad), which the trainer keeps.
        # foreach=None: what torch picks by itself (multi-tensor on CUDA, per tensor on the CPU), as a PyTorch user gets it.
        self.optimizer = torch.optim.AdamW(self.params, lr=spec.lr, betas=(0.9, 0.999), eps=1e-8,
                                           weight_decay=spec.weight_decay, foreach=foreach)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(spec.seed)
        import random
        self.host_random = random.Random(spec.seed)
        self.steps = 0
        self.null_class = spec.num_classes

    def learning_rate(self):
        return self.spec.lr * min(1.0, (self.steps + 1) / max(1, self.spec.warmup))

    def prepare(self, images_u8, labels, coherence):
        """Mode handling on the host, as CadTrainer.Prepare: returns images, labels, coherence, weights."""
        labels, coherence = list(labels), list(coherence)
        images = images_u8.to(self.device).float() / 127.5 - 1
        weights = None
        mode = self.spec.mode
        if mode == "baseline":
            coherence = [1.0] * len(coherence)
        elif mode == "filtered":
            keep = [i for i, c in enumerate(coherence) if c > self.spec.filter_threshold]
            if len(keep) < len(coherence):
                images = images.index_select(0, torch.tensor(keep, device=self.device))
                labels = [labels[i] for i in keep]
            coherence = [1.0] * len(keep)
        elif mode == "weighted":
            mean = sum(coherence) / len(coherence)
            weights = torch.tensor([c / mean for c in coherence], dtype=torch.float32, device=self.device)
            coherence = [1.0] * len(coherence)
        elif mode == "cfg":
            labels = [self.null_class if self.host_random.random() < self.spec.cfg_dropout else y for y in labels]
            coherence = [1.0] * len(coherence)
        return (images, torch.tensor(labels, dtype=torch.int64, device=self.device),
                torch.tensor(coherence, dtype=torch.float32, device=self.device), weights)

    def step(self, images_u8, labels, coherence, timer=None):
        """One step; timer(name) marks the end of a phase (data, forward, backward, clip, optimizer, ema)."""
        mark = timer or (lambda name: None)
        images, labels_t, coh_t, weights = self.prepare(images_u8, labels, coherence)
        mark("data")
        self.model.train()
        n = images.shape[0]
        t = torch.rand(n, generator=self.generator, device=self.device)
        eps = torch.randn(images.shape, generator=self.generator, device=self.device)
        gamma = gamma_of(self.spec.schedule, t)
        g = gamma.reshape(-1, 1, 1, 1)
        xt = g.sqrt() * images + (1 - g).sqrt() * eps
        pred = self.model(xt, gamma, coh_t, labels_t)
        per_sample = (pred - eps).square().mean([1, 2, 3])
        loss = per_sample.mean() if weights is None else (per_sample * weights).mean()
        loss_value = loss.item()
        mark("forward")
        if not math.isfinite(loss_value):
            return loss_value, False
        self.optimizer.zero_grad(set_to_none=False)
        loss.backward()
        mark("backward")
        total = float(torch.nn.utils.clip_grad_norm_(self.params, self.spec.grad_clip))
        mark("clip")
        if not math.isfinite(total):
            self.optimizer.zero_grad(set_to_none=False)
            return loss_value, False
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate()
        self.optimizer.step()
        self.steps += 1
        mark("optimizer")
        decay = min(self.spec.ema_decay, (1.0 + self.steps) / (10.0 + self.steps))
        with torch.no_grad():
            if hasattr(torch, "_foreach_lerp_"):
                torch._foreach_lerp_(self.ema_params, self.params, 1 - decay)
            else:
                for e, p in zip(self.ema_params, self.params):
                    e.lerp_(p, 1 - decay)
        mark("ema")
        return loss_value, True

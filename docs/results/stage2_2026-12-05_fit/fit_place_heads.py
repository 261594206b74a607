"""The per-place detail logits of a run's heads set from a logistic regression instead of Adam updates (fifteenth
session, issue #17). From the repository root:
    .venv/bin/python docs/results/stage2_2026-12-05_fit/fit_place_heads.py RUN_DIR OUT_DIR [BATCHES [GRAIN_SHARE
    [HIDDEN]]]
Opens RUN_DIR's state.pt (a run with `--disc-local`, per-place heads) and, on BATCHES training batches that no run
draws (steps 10**7 + i), takes exactly what its detail head sees in the discriminator update: the crops of the
student's output (noise input as trained), of the student plus grain (`--disc-grain`'s draw, where the run has it)
at that strength and at twice it, and of the real video; each head's standardised per-block statistics at the
flattest places. A weighted logistic regression per head (real video 1; student and grainy students 0, the grainy
students GRAIN_SHARE of the negatives' weight, default 1/3, split evenly between the two strengths) is fitted on the
first 3/4 of the batches (held-out accuracy per sample type printed), then on all; its weights and bias become the
head's `place_detail`, the discriminator optimiser's moments of those two tensors are dropped, and the state (step,
student and the rest unchanged) is written to OUT_DIR/state.pt with RUN_DIR's log.jsonl beside it (OUT_DIR "-":
nothing written). HIDDEN > 0: the per-place logit becomes a two-layer MLP of that hidden width (`--disc-place-hidden
HIDDEN`, which a run resumed from OUT_DIR must be given), fitted by `mlp_fit` instead, with a fresh optimiser state
for the discriminator."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vsadcvsr.files import atomic_write
from vsadcvsr.train.config import TrainConfig
from vsadcvsr.train.discriminators import BackboneDiscriminator, DepthHeads, flattest_positions, place_logit
from vsadcvsr.train.probe import logistic_fit, open_run
from vsadcvsr.train.trainer import Trainer

#: rows[kind][head]: one (places, 2C) tensor of standardised per-place statistics per batch
Rows = dict[str, list[list[torch.Tensor]]]


def _fine_detail(x: torch.Tensor) -> torch.Tensor:
    """`x` less its 5x5 Gaussian blur (sigma 1.5), edges replicated: its own fine detail, in place (the blur of
    ../stage2_2026-12-05_degrid/probe_texture.py, which runs at import and so cannot be imported)."""
    k = torch.exp(-torch.arange(-2, 3, dtype=torch.float32) ** 2 / (2 * 1.5 ** 2))
    k = (k[:, None] * k[None]) / k.sum() ** 2
    flat = x.flatten(0, -3)[:, None]
    return x - F.conv2d(F.pad(flat, (2, 2, 2, 2), mode="replicate"), k[None, None]).view_as(x)


def collect_rows(tr: Trainer, n: int, probe: bool = False) -> Rows:
    """What each per-place head of `tr`'s discriminator sees on `n` unseen batches, per sample type; with `probe`,
    also "probe: student + real detail" (the student's output plus the real video's own fine detail, as
    ../stage2_2026-12-05_degrid/probe_texture.py), which `labelled` leaves out."""
    d = tr.disc
    assert isinstance(d, BackboneDiscriminator) and d.local, "collect_rows: needs a run with --disc-local"
    heads = [h for h in d.heads if isinstance(h, DepthHeads)]
    grains = (tr.cfg.disc_grain, 2 * tr.cfg.disc_grain) if tr.cfg.disc_grain else ()
    kinds = ["student", "real_video"] + [f"grainy_student {g:g}" for g in grains]
    kinds += ["probe: student + real detail"] if probe else []
    rows: Rows = {k: [[] for _ in heads] for k in kinds}
    at = tr.step
    for i in range(n):
        tr.step = 10**7 + i
        b = tr.batch(tr.step)
        with torch.no_grad():
            tr.gen.eval()
            x_s = tr.gen(b["lr"], None, b.get("noise"))[0]
            images = {"student": x_s, "real_video": b["hr"]}
            if probe:
                images["probe: student + real detail"] = x_s + _fine_detail(b["hr"])
            for g in grains:
                images[f"grainy_student {g:g}"] = tr._grainy(x_s, 0, g)
            for j, k in enumerate(kinds):
                frames = tr._disc_crops(images[k], 1 + j).flatten(0, 1).contiguous()
                keep = flattest_positions(frames, d.local)
                for h, head, f in zip(range(len(heads)), heads, d.features(frames)):
                    ps = head.place_statistics(f)
                    ps = ps.gather(2, keep[:, None].expand(-1, ps.shape[1], -1)).transpose(1, 2).flatten(0, 1)
                    rows[k][h].append((ps - head.place_shift) * head.place_scale)
    tr.step = at
    return rows


def labelled(rows: Rows, h: int, part: slice, grain_share: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                                           list[int]]:
    """Rows of head `h` over the batches `part`: x, labels (real video 1), weights (each kind its share, real video
    as much as all negatives together) and the row count per kind (in `rows`' order, probe kinds left out)."""
    kinds = [k for k in rows if not k.startswith("probe")]
    grains = sum(k.startswith("grainy") for k in kinds)
    xs = [torch.cat(rows[k][h][part]) for k in kinds]
    share = {k: 1.0 if k == "real_video" else grain_share / grains if k.startswith("grainy") else
             1 - grain_share if grains else 1.0 for k in kinds}
    y = torch.cat([torch.full((x.shape[0],), float(k == "real_video")) for k, x in zip(kinds, xs)])
    wt = torch.cat([torch.full((x.shape[0],), share[k] / x.shape[0]) for k, x in zip(kinds, xs)])
    return torch.cat(xs), y, wt, [x.shape[0] for x in xs]


def mlp_fit(x: torch.Tensor, y: torch.Tensor, wt: torch.Tensor, hidden: int, steps: int = 400) -> nn.Module:
    """`DepthHeads`' per-place MLP (`place_logit`) fitted to labels `y` by Adam (lr 1e-2, weight decay 1e-4) on the
    `wt`-weighted log loss, full batch, seed 0."""
    torch.manual_seed(0)
    net = place_logit(x.shape[1], hidden)
    opt = torch.optim.Adam(net.parameters(), 1e-2, weight_decay=1e-4)
    wt = wt / wt.mean()
    with torch.enable_grad():
        for _ in range(steps):
            opt.zero_grad()
            F.binary_cross_entropy_with_logits(net(x)[:, 0], y, wt).backward()
            opt.step()
    return net.eval()


def _with_mlp_heads(tr: Trainer, nets: list[nn.Module], hidden: int) -> dict[str, object]:
    """`tr`'s state with its heads' per-place logits replaced by `nets` (the configuration saying so) and a fresh
    discriminator optimiser state for the new layout."""
    cfg = TrainConfig(**{**json.loads(tr.cfg.to_json()), "disc_place_hidden": hidden})
    tr2 = Trainer(cfg)
    assert tr.disc is not None and isinstance(tr2.disc, BackboneDiscriminator) and tr2.opt_d is not None
    old = {k: v for k, v in tr.disc.state_dict().items() if ".place_detail." not in k}
    missing, unexpected = tr2.disc.load_state_dict(old, strict=False)
    assert not unexpected and all(".place_detail." in k for k in missing), (missing, unexpected)
    for head, net in zip(tr2.disc.heads, nets):
        assert isinstance(head, DepthHeads) and head.place_detail is not None
        head.place_detail.load_state_dict(net.state_dict())
    st = tr.state()
    st.update(config=cfg.to_json(), disc=tr2.disc.state_dict(), opt_d=tr2.opt_d.state_dict())
    return st


def main() -> None:
    torch.set_num_threads(1)
    run, out = Path(sys.argv[1]), Path(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 24
    grain_share = float(sys.argv[4]) if len(sys.argv) > 4 else 1 / 3
    hidden = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    if str(out) != "-" and out.exists():
        sys.exit(f"fit_place_heads: {out} exists; choose a new run folder")
    with open_run(run) as tr:
        rows = collect_rows(tr, n)
        assert isinstance(tr.disc, BackboneDiscriminator)
        heads = [h for h in tr.disc.heads if isinstance(h, DepthHeads)]
        cut = (3 * n) // 4
        nets = []
        for h, head in enumerate(heads):
            x, y, wt, _ = labelled(rows, h, slice(0, cut), grain_share)
            x_te, y_te, _, sizes = labelled(rows, h, slice(cut, n), grain_share)
            if hidden:
                logit = mlp_fit(x, y, wt, hidden)(x_te)[:, 0].detach()
            else:
                w, c = logistic_fit(x, y, wt)
                logit = x_te @ w + c
            right = ((logit > 0).float() == y_te).float().split(sizes)
            held = ", ".join(f"{k} {float(r.mean()):.3f}" for k, r in zip(rows, right))  # no probe kinds here
            print(f"head {h} (conv {tr.cfg.disc_depths[h]}): held-out accuracy {held}", flush=True)
            x, y, wt, _ = labelled(rows, h, slice(0, n), grain_share)
            if hidden:
                nets.append(mlp_fit(x, y, wt, hidden))
                continue
            w, c = logistic_fit(x, y, wt)
            assert isinstance(head.place_detail, nn.Linear)
            with torch.no_grad():
                head.place_detail.weight.copy_(w[None])
                head.place_detail.bias.copy_(c)
            if tr.opt_d is not None:
                for p in head.place_detail.parameters():
                    tr.opt_d.state.pop(p, None)
            print(f"head {h}: |w| {float(w.norm()):.3f}, bias {float(c):+.3f}", flush=True)
        if str(out) == "-":
            return
        out.mkdir(parents=True)
        if hidden:
            with atomic_write(out / "state.pt") as tmp:
                torch.save(_with_mlp_heads(tr, nets, hidden), tmp)
        else:
            tr.save_state(out / "state.pt")
        shutil.copy(run / "log.jsonl", out / "log.jsonl")
        print(f"wrote {out / 'state.pt'} (step {tr.step})")


if __name__ == "__main__":
    main()

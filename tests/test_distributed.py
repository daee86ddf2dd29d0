"""Two CPU processes (gloo) reproduce the single-process loss and gradients of a global batch."""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cimp.loss import info_nce, siglip

GLOBAL_BATCH = 8
KINDS = ("infonce", "siglip")


def _model_and_batch():
    torch.manual_seed(0)
    model = torch.nn.ModuleDict(
        {
            "image": torch.nn.Linear(6, 4),
            "meta": torch.nn.Linear(3, 4),
        }
    )
    scale = torch.nn.Parameter(torch.tensor(2.0))
    bias = torch.nn.Parameter(torch.tensor(-1.0))
    pixels, fields = torch.randn(GLOBAL_BATCH, 6), torch.randn(GLOBAL_BATCH, 3)
    fields[1] = fields[0] + 0.01  # a near-duplicate: a multi-positive pair across the split
    return model, scale, bias, pixels, fields


def _loss(kind, model, scale, bias, pixels, fields):
    image = torch.nn.functional.normalize(model["image"](pixels), dim=1)
    meta = torch.nn.functional.normalize(model["meta"](fields), dim=1)
    if kind == "infonce":
        return info_nce(image, meta, scale, fields, positive_radius=0.1)
    return siglip(image, meta, scale, bias, targets=fields, positive_radius=0.1)


def _grads(model, scale, bias):
    return [p.grad.clone() for p in [*model.parameters(), scale, bias] if p.grad is not None]


def _worker(rank, world, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    results = {}
    for kind in KINDS:
        model, scale, bias, pixels, fields = _model_and_batch()
        part = slice(rank * GLOBAL_BATCH // world, (rank + 1) * GLOBAL_BATCH // world)
        loss = _loss(kind, model, scale, bias, pixels[part], fields[part])
        loss.backward()
        grads = _grads(model, scale, bias)
        for g in grads:  # what DistributedDataParallel does: average over processes
            dist.all_reduce(g)
            g /= world
        total = loss.detach().clone()
        dist.all_reduce(total)
        results[kind] = {"loss": total / world, "grads": grads}
    if rank == 0:
        torch.save(results, out)
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_process_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist") / "dist.pt"
    mp.spawn(_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    return torch.load(out)


@pytest.mark.parametrize("kind", KINDS)
def test_two_processes_match_one(kind, two_process_results):
    distributed = two_process_results[kind]

    model, scale, bias, pixels, fields = _model_and_batch()
    loss = _loss(kind, model, scale, bias, pixels, fields)
    loss.backward()
    assert distributed["loss"].item() == pytest.approx(loss.item(), rel=1e-5)
    single = _grads(model, scale, bias)
    assert len(single) == len(distributed["grads"])
    for a, b in zip(single, distributed["grads"], strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)

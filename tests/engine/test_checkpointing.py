import os

import torch

from training.engine.base_model import LoraSettings, load_causal_lm
from training.engine.checkpointing import has_state, load_state, save_state


def _train_one_step(model):
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 / (s + 1))
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    model(input_ids=ids, labels=ids).loss.backward()
    optimizer.step()
    scheduler.step()
    return optimizer, scheduler


def _fresh(model_path, lora):
    model = load_causal_lm(model_path, lora=LoraSettings(r=4) if lora else None)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 / (s + 1))
    return model, optimizer, scheduler


def _check_round_trip(tiny_model_path, tmp_path, lora):
    model = load_causal_lm(tiny_model_path, lora=LoraSettings(r=4) if lora else None)
    optimizer, scheduler = _train_one_step(model)
    save_state(
        tmp_path / "ckpt",
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        step=7,
        extra={"epoch": 1, "best": 0.5},
    )
    expected_rand = torch.rand(3)

    model2, optimizer2, scheduler2 = _fresh(tiny_model_path, lora)
    step, extra = load_state(
        tmp_path / "ckpt", model=model2, optimizer=optimizer2, scheduler=scheduler2
    )
    assert (step, extra) == (7, {"epoch": 1, "best": 0.5})
    assert torch.equal(torch.rand(3), expected_rand)  # RNG continues where it was saved
    for (name, a), (_, b) in zip(
        model.state_dict().items(), model2.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    assert scheduler2.state_dict()["last_epoch"] == 1
    state1, state2 = optimizer.state_dict()["state"], optimizer2.state_dict()["state"]
    assert state1.keys() == state2.keys()
    assert all(torch.equal(state1[k]["exp_avg"], state2[k]["exp_avg"]) for k in state1)
    return model2


def test_full_model_round_trip(tiny_model_path, tmp_path):
    model = _check_round_trip(tiny_model_path, tmp_path, lora=False)
    # lm_head is not stored (tied) but must be the embedding again after loading
    assert model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    assert (tmp_path / "ckpt" / "model" / "config.json").exists()  # loadable as a model


def test_lora_round_trip_stores_adapter_only(tiny_model_path, tmp_path):
    _check_round_trip(tiny_model_path, tmp_path, lora=True)
    assert (tmp_path / "ckpt" / "model" / "adapter_model.safetensors").exists()
    assert not (tmp_path / "ckpt" / "model" / "model.safetensors").exists()


def test_absent_checkpoint_is_none(tmp_path):
    assert load_state(tmp_path / "nothing") is None
    assert not has_state(tmp_path / "nothing")


def test_overwrite_keeps_one_whole_checkpoint(tiny_model_path, tmp_path):
    model = load_causal_lm(tiny_model_path)
    save_state(tmp_path / "ckpt", model=model, step=1)
    save_state(tmp_path / "ckpt", model=model, step=2)
    assert load_state(tmp_path / "ckpt")[0] == 2
    assert sorted(os.listdir(tmp_path)) == ["ckpt"]  # no temp or moved-aside leftovers


def test_kill_between_renames_falls_back_to_previous(tiny_model_path, tmp_path):
    model = load_causal_lm(tiny_model_path)
    save_state(tmp_path / "ckpt", model=model, step=3)
    os.rename(tmp_path / "ckpt", tmp_path / ".ckpt.old")  # the state right after the first rename
    assert load_state(tmp_path / "ckpt")[0] == 3
    save_state(tmp_path / "ckpt", model=model, step=4)
    assert load_state(tmp_path / "ckpt")[0] == 4 and not (tmp_path / ".ckpt.old").exists()
